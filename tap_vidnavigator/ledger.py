"""A local ledger of the tasks the tap bought, so that nothing is bought twice.

Singer STATE reaches the state backend only when the whole pipeline succeeds: when the
loader fails after the tap extracted everything (or a shard is retried), the next run
starts from the old STATE and would buy every task again. The ledger remembers each
task the tap submitted until it expires; before submitting, a run reuses an unexpired
task bought for exactly the same request (and polls it, free) instead.

Where: ``ledger_dir``; by default, when Meltano runs the tap (it sets
``MELTANO_PROJECT_ROOT`` for its plugins), ``<project>/.meltano/tap-vidnavigator/ledger``.
Outside Meltano, without ``ledger_dir``, there is no ledger.

Format: one small JSON file per task bought, written to a temporary name and renamed
into place (atomic on one filesystem), so parallel shards and runs never write the same
file and a reader never sees half an entry::

    <folder>/<fingerprint hash>--<task id>.json
    {"version": 1, "kind": "profile", "subject": "https://www.tiktok.com/@x",
     "filters": {...as sent...}, "api_url": "...", "key": "<sha256 of the key, 16 hex>",
     "task_id": "...", "submitted_at": "...", "expires_at": "..."}

The fingerprint is the request as sent: kind, subject and filters (with the
incremental floor), plus the API URL and a hash of the API key (never the key): an
entry of another account or API is foreign and never matches. Entries past their
``expires_at`` are ignored and removed.
"""

from __future__ import annotations

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

VERSION = 1
#: Where Meltano runs the tap from (its project); the ledger's default lives inside.
PROJECT_ROOT_VARIABLE = "MELTANO_PROJECT_ROOT"
DEFAULT_FOLDER = Path(".meltano") / "tap-vidnavigator" / "ledger"
#: A task that expires sooner than this is not worth reusing: its results could not
#: all be read in time.
MARGIN = dt.timedelta(minutes=5)


def default_folder(environ: t.Mapping[str, str] = os.environ) -> Path | None:
    """The ledger's folder when ``ledger_dir`` is unset: inside the Meltano project."""
    root = environ.get(PROJECT_ROOT_VARIABLE)
    return Path(root) / DEFAULT_FOLDER if root else None


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One task in the ledger."""

    task_id: str
    submitted_at: str | None
    expires_at: str | None
    path: Path


class Ledger:
    """The tasks bought with one API key at one API URL, in one folder."""

    def __init__(
        self,
        folder: Path,
        *,
        api_url: str,
        api_key: str,
        logger: logging.Logger,
        now: t.Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    ) -> None:
        self.folder = folder
        self.api_url = api_url
        self._key = _digest(api_key, 16)
        self.logger = logger
        self.now = now
        self._broken = False
        #: Task ids whose entry this run wrote or found.
        self._held: set[str] = set()
        #: The folder's entries by fingerprint prefix, listed once (a listing per
        #: submit would cost the square of the tasks); kept up to date by this run.
        self._index: dict[str, set[Path]] | None = None

    # ------------------------------------------------------------- fingerprint
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

    # ------------------------------------------------------------------ write
    def record(
        self,
        kind: str,
        subject: str,
        filters: t.Mapping[str, t.Any],
        task_id: str,
        expires_at: str | None,
    ) -> bool:
        """Write an entry for a task just bought (or a newer expiry of one); whether it
        is on disk."""
        if self._broken:
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
            # The ledger saves credits; it never stops a run.
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
        """Whether this run wrote (or found) the task's entry on disk: a rerun reuses it
        whatever the STATE says (state.py's rule for when STATE goes out)."""
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
            self.record(kind, subject, filters, task_id, expires_at)

    def forget(self, entry: Entry) -> None:
        """Drop an entry whose task is gone."""
        self._held.discard(entry.task_id)
        self._unindex(entry.path)
        _remove(entry.path)

    # ------------------------------------------------------------------- read
    def find(self, kind: str, subject: str, filters: t.Mapping[str, t.Any]) -> Entry | None:
        """The unexpired task bought for exactly this request, newest first, if any.

        Expired entries met on the way are removed; foreign ones never match (their
        fingerprint differs) and are left to their own account's runs.
        """
        fingerprint = self._fingerprint(kind, subject, filters)
        found: list[tuple[str, Entry]] = []
        deadline = self.now() + MARGIN
        for path in sorted(self._listed(self._prefix(fingerprint))):
            content = _read(path)
            if content is None:
                continue
            if {k: content.get(k) for k in fingerprint} != fingerprint:
                continue  # a hash collision, or an entry edited by hand
            expires = parse_time(content.get("expires_at"))
            if expires is None or expires <= self.now():
                self._unindex(path)
                _remove(path)
                continue
            if expires <= deadline:
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
        """Remove every expired entry (of any account); how many were removed."""
        self._index = None
        removed = 0
        now = self.now()
        for path in self.folder.glob("*.json"):
            content = _read(path)
            expires = parse_time(content.get("expires_at")) if content else None
            if content is not None and (expires is None or expires <= now):
                removed += _remove(path)
        return removed


def _safe(task_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in task_id)[:80]


def _read(path: Path) -> dict[str, t.Any] | None:
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
