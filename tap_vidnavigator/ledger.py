"""The purchase ledger: what the tap bought, kept outside STATE, so nothing is bought twice.

Singer STATE reaches the state backend only when the whole pipeline succeeds, and can be
lost or reset (a failed loader, a retried shard, ``--full-refresh``, a new state ID).
What was bought must be known outside it. One ledger, one folder (``ledger_dir``), two
policies:

**Reuse** (scrapes and searches: a task per request, cheap, short-lived). Each task
bought is remembered until it expires; before submitting, a run reuses an unexpired task
bought for exactly the same request (and polls it, free) instead of buying it again.
``use_ledger: false`` turns this policy off; ``force_new_tasks: true`` makes the run
buy a new task for every request (it still writes what it buys, for later runs).

**Never again** (per-video paid jobs: speech-to-text now, extraction later). A video is
claimed before its submit is sent, and a claimed video is never bought again by any run
sharing the folder, whatever happens to STATE: always on (``use_ledger`` and
``force_new_tasks`` do not touch it). A submit whose answer was lost after the body was
sent (client.AmbiguousSubmitError) leaves the claim *uncertain*: the task may or may
not exist. It is reported in the run summary and not bought again until the user
releases it (``release_uncertain_purchases``). A claim is written before the submit: a
run killed between the two leaves a claim without a task, also uncertain.

API (what the lifecycle and the enrichments call)::

    ledger = Ledger.for_settings(settings, logger=...)
    # reuse policy
    entry = ledger.reuse(kind, subject, filters)       # Entry | None (None: buy)
    ledger.bought(kind, subject, filters, task_id, expires_at)
    ledger.update_expiry(kind, subject, filters, task_id, expires_at)
    ledger.forget(entry)                               # the task is gone (404)
    ledger.sweep()                                     # expired entries removed
    # never-again policy
    claim = ledger.claim(kind, video_id, video_url)    # Claim; claim.granted or .earlier
    claim.submitted(task_id)                           # the submit was answered
    claim.settled(task_id, status, credits)            # the task ended
    ledger.settled(kind, video_id, task_id, status, credits)  # (a task resumed from STATE)
    claim.uncertain(reason)                            # the submit's answer was lost
    claim.not_bought(reason)                           # refused for sure: may buy later
    ledger.release_unsent()                            # claims of this run never sent
    ledger.uncertain()                                 # Purchase list, for the summary
    ledger.release_uncertain()                         # the user decided to buy again

Where (``ledger_dir``; :meth:`Ledger.for_settings`): when set, that folder. Unset, when
Meltano runs the tap (it sets ``MELTANO_PROJECT_ROOT`` for its plugins),
``<project>/.meltano/tap-vidnavigator/ledger``. Unset outside Meltano, the reuse policy
is off and the never-again file is ``.tap-vidnavigator/purchases.jsonl`` in the working
directory. The deprecated ``transcripts.ledger_path`` (today's speech-to-text ledger)
is still read, so that an upgrade buys nothing again; set alone (without ``ledger_dir``)
it stays the file written.

Formats. Reuse: one small JSON file per task, written to a temporary name and renamed
into place (atomic on one filesystem), so parallel shards never write the same file and
a reader never sees half an entry::

    <folder>/<fingerprint hash>--<task id>.json
    {"version": 1, "kind": "profile", "subject": "https://www.tiktok.com/@x",
     "filters": {...as sent...}, "api_url": "...", "key": "<sha256 of the key, 16 hex>",
     "task_id": "...", "submitted_at": "...", "expires_at": "..."}

The fingerprint is the request as sent: kind, subject and filters (with the incremental
floor), plus the API URL and a hash of the API key (never the key): an entry of another
account or API is foreign and never matches. Expired entries are ignored and removed.

Never again: an append-only JSON Lines file, locked while a claim is decided so that two
runs sharing it (shards) never both buy one video; each line one event of one video::

    {"kind":"speech-to-text","video_id":"...","status":"claimed","video_url":"...","at":"..."}
    {"kind":"speech-to-text","video_id":"...","status":"submitted","task_id":"...","at":"..."}
    {"kind":"speech-to-text","video_id":"...","status":"completed","task_id":"...","credits":0.02}

Statuses: ``claimed``, ``submitted``, ``completed``, ``failed``, ``uncertain``, and
``released`` (the claim is withdrawn: the video may be bought again). Lines without a
``kind`` (today's ``transcriptions.jsonl``) are speech-to-text's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import typing as t
import uuid
from pathlib import Path

from tap_vidnavigator.state import parse_time

if t.TYPE_CHECKING:
    from tap_vidnavigator.settings import Settings

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock between processes
    fcntl = None  # type: ignore[assignment]

VERSION = 1
#: Where Meltano runs the tap from (its project); the ledger's default lives inside.
PROJECT_ROOT_VARIABLE = "MELTANO_PROJECT_ROOT"
DEFAULT_FOLDER = Path(".meltano") / "tap-vidnavigator" / "ledger"
#: Outside Meltano without ``ledger_dir``: the never-again file's folder (relative to
#: the working directory, where today's tap kept ``transcriptions.jsonl``).
STANDALONE_FOLDER = Path(".tap-vidnavigator")
#: The never-again file in the ledger's folder.
PURCHASES_FILE = "purchases.jsonl"
#: The kind of a never-again line that names none (today's ``transcriptions.jsonl``).
LEGACY_KIND = "speech-to-text"
#: A task that expires sooner than this is not worth reusing: its results could not
#: all be read in time.
MARGIN = dt.timedelta(minutes=5)

#: Never-again statuses.
CLAIMED = "claimed"
SUBMITTED = "submitted"
COMPLETED = "completed"
FAILED = "failed"
UNCERTAIN = "uncertain"
RELEASED = "released"
#: A purchase in one of these may exist and was never answered: bought or not, unknown.
UNSURE = (CLAIMED, UNCERTAIN)

#: The reuse policy's modes: read and write; write only (``force_new_tasks``); off.
REUSE_ON, REUSE_WRITE_ONLY, REUSE_OFF = "on", "write-only", "off"


def default_folder(environ: t.Mapping[str, str] = os.environ) -> Path | None:
    """The ledger's folder when ``ledger_dir`` is unset: inside the Meltano project."""
    root = environ.get(PROJECT_ROOT_VARIABLE)
    return Path(root) / DEFAULT_FOLDER if root else None


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One task of the reuse policy."""

    task_id: str
    submitted_at: str | None
    expires_at: str | None
    path: Path


@dataclasses.dataclass
class Purchase:
    """What the never-again policy knows of one video's paid job of one kind."""

    kind: str
    video_id: str
    status: str
    task_id: str | None = None
    credits: float | None = None
    video_url: str | None = None
    reason: str | None = None
    #: What the claim said of the purchase beyond the video (an extraction's schema
    #: fingerprint, what found the video), as its claiming product gave it.
    details: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def unsure(self) -> bool:
        """Claimed and never answered: the API may or may not have created the task."""
        return self.status in UNSURE and self.task_id is None


class Claim:
    """The answer to :meth:`Ledger.claim`: granted (go ahead and buy) or not.

    Not granted, ``earlier`` says what an earlier claim knows (do not buy).
    """

    def __init__(self, ledger: Ledger, purchase: Purchase, *, granted: bool) -> None:
        self._ledger = ledger
        self.purchase = purchase
        self.granted = granted

    @property
    def earlier(self) -> Purchase | None:
        """What an earlier claim says, when this one was refused."""
        return None if self.granted else self.purchase

    def submitted(self, task_id: str) -> None:
        """The submit was answered with this task."""
        self._ledger._event(self.purchase, SUBMITTED, task_id=task_id)

    def settled(self, task_id: str, status: str, credits: float | None) -> None:
        """The task ended (completed or failed) and cost this much."""
        self._ledger._event(self.purchase, status, task_id=task_id, credits=credits)

    @property
    def video_id(self) -> str:
        """The video claimed."""
        return self.purchase.video_id

    def uncertain(self, reason: str) -> None:
        """The submit's answer was lost after its body was sent: bought or not, unknown."""
        self._ledger._event(self.purchase, UNCERTAIN, reason=reason)

    def not_bought(self, reason: str) -> None:
        """The submit was refused for sure (or never sent): a later run may buy it."""
        self._ledger._event(self.purchase, RELEASED, reason=reason)


class Ledger:
    """What one API key bought at one API URL, in one folder, under both policies."""

    def __init__(
        self,
        folder: Path | None,
        *,
        api_url: str,
        api_key: str,
        logger: logging.Logger,
        reuse: str = REUSE_ON,
        purchases_file: Path | None = None,
        legacy_files: t.Sequence[Path] = (),
        now: t.Callable[[], dt.datetime] = _now,
    ) -> None:
        """``folder``: the reuse policy's folder (None: reuse off); ``purchases_file``:
        the never-again file (default ``<folder>/purchases.jsonl``); ``legacy_files``:
        never-again files of today's tap, read only."""
        self.folder = folder
        self.api_url = api_url
        self._key = _digest(api_key, 16)
        self.logger = logger
        self.now = now
        self.reuse_mode = reuse if folder is not None else REUSE_OFF
        self._broken = False
        if purchases_file is None:
            purchases_file = (folder or STANDALONE_FOLDER) / PURCHASES_FILE
        self.purchases_file = purchases_file
        self._legacy = [p for p in dict.fromkeys(legacy_files) if p != purchases_file]
        self._legacy_read = False
        self._known: dict[tuple[str, str], Purchase] = {}
        self._read_to = 0
        #: Claims granted to this run and not yet answered, by (kind, video id).
        self._mine: dict[tuple[str, str], Purchase] = {}
        #: Task ids whose reuse entry this run wrote or found.
        self._held: set[str] = set()
        #: The folder's reuse entries by fingerprint prefix, listed once (a listing per
        #: submit would cost the square of the tasks); kept up to date by this run.
        self._index: dict[str, set[Path]] | None = None

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        *,
        logger: logging.Logger,
        environ: t.Mapping[str, str] = os.environ,
    ) -> Ledger:
        """The run's ledger, where the settings say (module docstring)."""
        chosen = Path(settings.ledger_dir) if settings.ledger_dir else default_folder(environ)
        mode = REUSE_OFF
        if settings.use_ledger and chosen is not None:
            mode = REUSE_WRITE_ONLY if settings.force_new_tasks else REUSE_ON
        deprecated = settings.transcripts.ledger_path
        given = settings.deprecated_ledger_path is not None
        purchases = (
            Path(deprecated)
            if given and chosen is None
            else (chosen or STANDALONE_FOLDER) / PURCHASES_FILE
        )
        return cls(
            chosen,
            api_url=settings.api_url,
            api_key=settings.api_key,
            logger=logger,
            reuse=mode,
            purchases_file=purchases,
            legacy_files=(Path(deprecated),),
        )

    # ================================================================ reuse
    def _fingerprint(self, kind: str, subject: str, filters: t.Mapping[str, t.Any]) -> dict:
        return {
            "kind": kind,
            "subject": subject,
            "filters": dict(sorted(filters.items())),
            "api_url": self.api_url,
            "key": self._key,
        }

    def _prefix(self, fingerprint: t.Mapping[str, t.Any]) -> str:
        return _digest(json.dumps(fingerprint, sort_keys=True, default=str), 32)

    def bought(
        self,
        kind: str,
        subject: str,
        filters: t.Mapping[str, t.Any],
        task_id: str,
        expires_at: str | None,
    ) -> bool:
        """Remember a task just bought (or a newer expiry of one), for later runs;
        whether its entry is on disk."""
        if self._broken or self.folder is None or self.reuse_mode == REUSE_OFF:
            return False
        fingerprint = self._fingerprint(kind, subject, filters)
        entry = {
            "version": VERSION,
            **fingerprint,
            "task_id": task_id,
            "submitted_at": self.now().isoformat(),
            "expires_at": expires_at,
        }
        path = self.folder / f"{self._prefix(fingerprint)}--{_safe(task_id)}.json"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
            temporary.write_text(json.dumps(entry, sort_keys=True))
            os.replace(temporary, path)
            if self._index is not None:
                self._index.setdefault(self._prefix(fingerprint), set()).add(path)
        except OSError as exc:
            # The reuse policy saves credits; it never stops a run.
            self._broken = True
            self.logger.warning(
                "Cannot write the task ledger in %s (%s): this run keeps no ledger, so a "
                "rerun after a failed loader buys its tasks again. Set ledger_dir to a "
                "writable folder, or use_ledger false.",
                self.folder,
                exc,
            )
            return False
        self._held.add(task_id)
        return True

    def holds(self, task_id: str) -> bool:
        """Whether this run wrote (or found) the task's reuse entry on disk: a rerun
        reuses it whatever the STATE says (state.py's rule for when STATE goes out)."""
        return task_id in self._held

    def update_expiry(
        self,
        kind: str,
        subject: str,
        filters: t.Mapping[str, t.Any],
        task_id: str,
        expires_at: t.Any,
    ) -> None:
        """A finished task's exact expiry replaces the submit's estimate."""
        if isinstance(expires_at, str):
            self.bought(kind, subject, filters, task_id, expires_at)

    def forget(self, entry: Entry) -> None:
        """Drop an entry whose task is gone."""
        self._held.discard(entry.task_id)
        self._unindex(entry.path)
        _remove(entry.path)

    def reuse(self, kind: str, subject: str, filters: t.Mapping[str, t.Any]) -> Entry | None:
        """The unexpired task bought for exactly this request, newest first, if any.

        None as well when the policy does not read (``use_ledger`` false,
        ``force_new_tasks``). Expired entries met on the way are removed; foreign ones
        never match (their fingerprint differs) and are left to their own account's runs.
        """
        if self.folder is None or self.reuse_mode != REUSE_ON:
            return None
        fingerprint = self._fingerprint(kind, subject, filters)
        found: list[tuple[str, Entry]] = []
        now = self.now()
        for path in sorted(self._listed(self._prefix(fingerprint))):
            content = _read_entry(path)
            if content is None:
                continue
            if {k: content.get(k) for k in fingerprint} != fingerprint:
                continue  # a hash collision, or an entry edited by hand
            expires = parse_time(content.get("expires_at"))
            if expires is None or expires <= now:
                self._unindex(path)
                _remove(path)
                continue
            if expires <= now + MARGIN:
                continue
            entry = Entry(
                str(content["task_id"]), content.get("submitted_at"), content["expires_at"], path
            )
            found.append((str(content.get("submitted_at") or ""), entry))
        if not found:
            return None
        newest = max(found, key=lambda item: item[0])[1]
        self._held.add(newest.task_id)
        return newest

    def _listed(self, prefix: str) -> set[Path]:
        assert self.folder is not None
        if self._index is None:
            self._index = {}
            try:
                names = os.listdir(self.folder)
            except OSError:
                names = []
            for name in names:
                if name.endswith(".json") and "--" in name and not name.startswith("."):
                    self._index.setdefault(name.split("--", 1)[0], set()).add(self.folder / name)
        return set(self._index.get(prefix, ()))

    def _unindex(self, path: Path) -> None:
        if self._index is not None:
            self._index.get(path.name.split("--", 1)[0], set()).discard(path)

    def sweep(self) -> int:
        """Remove every expired reuse entry (of any account); how many were removed."""
        if self.folder is None or self.reuse_mode == REUSE_OFF:
            return 0
        self._index = None
        removed = 0
        now = self.now()
        for path in self.folder.glob("*.json"):
            content = _read_entry(path)
            expires = parse_time(content.get("expires_at")) if content else None
            if content is not None and (expires is None or expires <= now):
                removed += _remove(path)
        return removed

    # ========================================================== never again
    def claim(
        self,
        kind: str,
        video_id: str,
        video_url: str,
        *,
        details: t.Mapping[str, t.Any] | None = None,
        supersedes: t.Callable[[Purchase], bool] | None = None,
    ) -> Claim:
        """Claim one video's paid job of ``kind`` for one purchase.

        Granted: the claim is on disk before this returns; go ahead and submit, then
        say what happened through the :class:`Claim`. Refused: an earlier claim (of
        any run sharing the file) holds it; ``claim.earlier`` says what it knows. A
        claim this run holds and has not submitted yet (a submit put off by the
        budget) is granted again. ``details`` are kept with the claim (Purchase.details);
        ``supersedes`` may grant a new purchase over an earlier, answered one (an
        extraction under a new schema, ``reextract``): the earlier is released in the
        same locked step. An uncertain one is never superseded.
        """
        key = (kind, video_id)
        mine = self._mine.get(key)
        if mine is not None:
            return Claim(self, mine, granted=True)
        with self._locked():
            self._catch_up()
            known = self._known.get(key)
            if known is not None and known.status != RELEASED:
                if known.unsure or supersedes is None or not supersedes(known):
                    return Claim(self, known, granted=False)
                self._append(known, {"status": RELEASED, "reason": "superseded"})
            self._append(
                Purchase(kind, video_id, CLAIMED),
                {"status": CLAIMED, "video_url": video_url, "details": dict(details or {})},
            )
            purchase = self._known[key]
        self._mine[key] = purchase
        return Claim(self, purchase, granted=True)

    def settled(
        self, kind: str, video_id: str, task_id: str, status: str, credits: float | None
    ) -> None:
        """A video's task ended (also one resumed from STATE, whose claim an earlier run
        made): completed or failed, and what it cost."""
        self._event(Purchase(kind, video_id, status), status, task_id=task_id, credits=credits)

    def purchases(self, kind: str) -> list[Purchase]:
        """Every video of ``kind`` claimed and not released (a product that buys again
        under new terms, ``reextract``, looks its earlier purchases up here)."""
        if self.purchases_file.exists():
            with self._locked():
                self._catch_up()
        else:
            self._read_legacy()
        return [p for (k, _), p in self._known.items() if k == kind and p.status != RELEASED]

    def entry(self, kind: str, video_id: str) -> Purchase | None:
        """What the never-again policy knows of a video now."""
        with self._locked():
            self._catch_up()
        return self._known.get((kind, video_id))

    def release_unsent(self) -> int:
        """Withdraw this run's claims whose submit was never sent (a budget stopped it):
        a later run may buy them. How many."""
        unsent = [p for p in self._mine.values() if p.status == CLAIMED]
        for purchase in unsent:
            self._event(purchase, RELEASED, reason="not sent")
        return len(unsent)

    def uncertain(self) -> list[Purchase]:
        """Every purchase whose submit was never answered: claimed without a task (a
        run killed, or another still submitting) or uncertain (the answer was lost)."""
        if self.purchases_file.exists():
            with self._locked():
                self._catch_up()
        else:  # nothing bought through this file yet: do not create it
            self._read_legacy()
        return [p for key, p in self._known.items() if p.unsure and key not in self._mine]

    def uncertain_summary(self) -> list[str]:
        """The run summary's lines on uncertain purchases (none: no line)."""
        unsure = self.uncertain()
        if not unsure:
            return []
        listed = ", ".join(
            f"{p.kind} of {p.video_url or p.video_id}" + (f" ({p.reason})" if p.reason else "")
            for p in sorted(unsure, key=lambda p: (p.kind, p.video_id))
        )
        return [
            f"{len(unsure)} uncertain purchase(s), not bought again: {listed}. Each submit "
            "was sent but its answer was lost (or a run was killed while submitting), so the "
            "API may have created the task and charged for it. Check the account's usage; "
            "to buy them again, run once with release_uncertain_purchases true "
            f"(ledger: {self.purchases_file})."
        ]

    def release_uncertain(self) -> list[Purchase]:
        """Withdraw every uncertain claim (``release_uncertain_purchases``): the user
        checked the account and decided to buy those videos again. What was released."""
        released = []
        with self._locked():
            self._catch_up()
            for key, purchase in list(self._known.items()):
                if purchase.unsure and key not in self._mine:
                    self._append(purchase, {"status": RELEASED, "reason": "released by the user"})
                    released.append(purchase)
        return released

    # --------------------------------------------------------------- inside
    def _event(self, purchase: Purchase, status: str, **fields: t.Any) -> None:
        with self._locked():
            self._append(purchase, {"status": status, **fields})
        key = (purchase.kind, purchase.video_id)
        if status != CLAIMED:
            self._mine.pop(key, None)

    @contextlib.contextmanager
    def _locked(self) -> t.Iterator[None]:
        self.purchases_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.purchases_file, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_legacy(self) -> None:
        if not self._legacy_read:
            self._legacy_read = True
            for path in self._legacy:
                with contextlib.suppress(OSError), open(path, "rb") as handle:
                    for line in handle:
                        self._apply_line(line)

    def _catch_up(self) -> None:
        # Today's speech-to-text ledger first: the newer file's events come after.
        self._read_legacy()
        with open(self.purchases_file, "rb") as handle:
            handle.seek(self._read_to)
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # a line being written by a run that was killed: not yet one
                self._read_to += len(line)
                self._apply_line(line)

    def _apply_line(self, line: bytes) -> None:
        if not line.endswith(b"\n"):
            return
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict) or not isinstance(event.get("video_id"), str):
            return
        kind = event.get("kind")
        kind = kind if isinstance(kind, str) else LEGACY_KIND
        key = (kind, event["video_id"])
        status = str(event.get("status") or CLAIMED)
        known = self._known.get(key)
        if status == RELEASED:
            if known is not None:
                known.status = RELEASED
            return
        if known is None or known.status == RELEASED:
            # A new claim (the first, or one after a release) starts afresh.
            known = self._known[key] = Purchase(kind, event["video_id"], CLAIMED)
        known.status = status
        known.task_id = event.get("task_id") or known.task_id
        if isinstance(event.get("video_url"), str):
            known.video_url = event["video_url"]
        if isinstance(event.get("reason"), str):
            known.reason = event["reason"]
        if isinstance(event.get("details"), dict):
            known.details = event["details"]
        if isinstance(event.get("credits"), (int, float)):
            known.credits = event["credits"]

    def _append(self, purchase: Purchase, fields: dict[str, t.Any]) -> None:
        event = {"kind": purchase.kind, "video_id": purchase.video_id, **fields}
        event = {k: v for k, v in event.items() if v is not None and v != {}}
        event["at"] = self.now().isoformat()
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        # One write of a whole line with O_APPEND, then to disk: the claim must survive
        # the run being killed right after the submit it allows.
        fd = os.open(self.purchases_file, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A line cut short by a run killed while writing: end it, so that this
                # one is whole (the cut one is skipped as unreadable).
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._catch_up()


def _safe(task_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in task_id)[:80]


def _read_entry(path: Path) -> dict[str, t.Any] | None:
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("version") != VERSION:
        return None
    if not isinstance(content.get("task_id"), str):
        return None
    return content


def _remove(path: Path) -> int:
    try:
        path.unlink()
    except OSError:
        return 0
    return 1
