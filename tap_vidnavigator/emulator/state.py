"""The emulated provider's state: users, tasks, their lifecycle, counters, ground truth.

Everything here is plain Python with no HTTP in it; :mod:`.server` maps requests onto
it. Every task kind runs through the same code, driven by its declaration in
:mod:`.kinds`. Two clocks (docs/emulator-model.md):

* the real ``clock`` (``time.time`` by default) runs the lifecycle: processing,
  completion, expiry (404), signed links, the active-task cap, the timeline;
* the emulated calendar (:class:`.growth.Calendar`: real time plus an offset that
  tests move forward with :meth:`EmulatorState.advance_clock`) dates what the API
  serves: a task's ``created_at``/``completed_at``/``expires_at`` are its real times
  plus the offset at its submit, and it observes counts at its completion moment.

Credits follow the provider's published price table (:mod:`.pricing`,
docs/emulator-model.md): a task's meters are charged when it ends (first read after
completion, or ``GET /usage``), monthly credits first, then purchased ones; a submit
is refused (402) once both are spent. A terminal poll with ``include_usage=true``
answers ``usage`` beside ``data``: ``charges`` (the meters that fired),
``total_credits`` (their sum), ``credits_remaining_after`` (monthly plus purchased
credits left right after this task was settled; null on an unlimited plan) and
``waived`` (``{"credits_saved": N}`` for a failed task, whose meters are waived).
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import datetime as dt
import decimal
import hashlib
import heapq
import hmac
import json
import secrets
import threading
import time
import typing as t
import uuid

from tap_vidnavigator.emulator import data, growth, pricing, search
from tap_vidnavigator.emulator.extraction_options import ExtractionConfig
from tap_vidnavigator.emulator.kinds import KINDS, PROFILE, SEARCH, Kind
from tap_vidnavigator.emulator.transcript_options import TranscriptConfig

try:  # orjson is a dependency of the tap; the emulator works without it.
    import orjson

    def dumps(value: t.Any) -> bytes:
        """Serialise to compact UTF-8 JSON."""
        return orjson.dumps(value)

except ImportError:  # pragma: no cover

    def dumps(value: t.Any) -> bytes:
        """Serialise to compact UTF-8 JSON."""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


DEMO_KEYS = ("demo-key", "demo-key-2")
DOWNLOAD_SHAPES = ("task", "envelope", "list")
_VIDEOS_PLACEHOLDER = "\x00videos\x00"


def iso(ts: float | None) -> str | None:
    """Unix seconds as the provider's ISO-8601 UTC form."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(offset: int) -> str:
    """The opaque cursor: base64 of ``{"offset": N}``, as in the provider's docs."""
    return base64.b64encode(json.dumps({"offset": offset}, separators=(":", ":")).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The offset in a cursor; ValueError when it is not one of ours."""
    try:
        payload = json.loads(base64.b64decode(cursor.encode(), validate=True))
        offset = payload["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise ValueError(cursor) from exc
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(cursor)
    return offset


@dataclasses.dataclass
class EmulatorConfig:
    """How the emulated provider behaves; every field has a CLI option."""

    processing_seconds: float = 2.0
    expire_seconds: float = 3600.0
    download_ttl_seconds: float = 300.0
    max_active_tasks: int = 10
    #: Each key's plan (``pricing.PLANS``: trial, navigator, voyager, or odyssey, whose
    #: monthly credits are unlimited) and its balance at the start.
    plan: str = "odyssey"
    #: The monthly pool instead of the plan's (``--monthly-credits``).
    monthly_credits: float | None = None
    #: What is left of it at the start, when not all of it (``--monthly-remaining``).
    monthly_remaining: float | None = None
    #: Purchased credits, spent once the monthly pool is (``--purchased-credits``).
    purchased_credits: float = 0.0
    #: Shorthand for a balance of this many purchased credits and no monthly pool
    #: (``--credits``): monthly_credits 0, purchased_credits N.
    credits: float | None = None
    keys: tuple[str, ...] = DEMO_KEYS
    offer_download_url: bool = True
    download_shape: str = "task"
    #: Today's video shape (the SDK's TikTokVideo, with published_at); False serves the
    #: page's older shape without it.
    modern_fields: bool = True
    #: Per profile handle, how long its tasks stay processing instead of
    #: ``processing_seconds`` (one slow creator among many); ``--slow-profile``.
    processing_by_handle: dict[str, float] = dataclasses.field(default_factory=dict)
    #: When set, a scrape or search task answers "processing" to exactly this many polls
    #: and completes at the next one, whatever the clock (``--processing-polls``): a
    #: lifecycle counted in polls, not seconds, for tests on a loaded machine.
    processing_polls: int | None = None
    #: How far ahead of real time the emulated calendar starts (``--clock-offset-days``);
    #: :meth:`EmulatorState.advance_clock` moves it further.
    clock_offset_seconds: float = 0.0
    #: Counts are read on the calendar in whole ticks counted from the emulator's start
    #: (``--calendar-tick``).
    calendar_tick_seconds: float = float(growth.HOUR)
    signing_secret: bytes = dataclasses.field(default_factory=lambda: secrets.token_bytes(32))
    #: The transcript routes' latency, rate limit and transcription time (--transcript-*).
    transcripts: TranscriptConfig = dataclasses.field(default_factory=TranscriptConfig)
    #: The extraction routes' processing time and failing videos (--extraction-*).
    extraction: ExtractionConfig = dataclasses.field(default_factory=ExtractionConfig)

    def __post_init__(self) -> None:
        if self.download_shape not in DOWNLOAD_SHAPES:
            msg = f"download_shape must be one of {DOWNLOAD_SHAPES}"
            raise ValueError(msg)
        pricing.Account.open(self.plan, self.monthly_credits, self.monthly_remaining, 0, 0)


@dataclasses.dataclass
class Counters:
    """Per-key request counts; ``credits_charged`` is every credit taken (exact)."""

    submits: int = 0
    refused_submits: int = 0
    polls: int = 0
    page_requests: int = 0
    videos_served: int = 0
    downloads: int = 0
    leaked_keys: int = 0
    faults: int = 0
    errors: int = 0
    usage_reads: int = 0
    credits_charged: decimal.Decimal = pricing.ZERO


@dataclasses.dataclass
class Task:
    """One task of any kind; what its kind adds lives in ``request``.

    A task answers for its request's fields too (``task.profile_url``, ``task.handle``
    and ``task.filters`` of a profile scrape; ``task.query`` and ``task.filters`` of a
    search), so a search task has no ``profile_url`` and a scrape no ``query``.
    """

    task_id: str
    key: str
    kind: str
    request: t.Any
    created_at: float
    completes_at: float
    expires_at: float
    failure: data.ProfileFailure | None
    #: The calendar's offset at submit: the served times are the real ones plus this.
    offset: float = 0.0
    #: The moment (emulated unix seconds) whose counts the task observes.
    observed_at: int = 0
    #: What the subject had at ``observed_at``, before filters (counts of that moment).
    seen: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    matched: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    stats: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    scraped: bool = False
    #: How many polls this task answered "processing" (``processing_polls``).
    processing_answers: int = 0
    webhook_url: str | None = None
    usage: dict[str, t.Any] | None = None
    _video_bytes: list[bytes] | None = None
    _downloads: dict[str, bytes] = dataclasses.field(default_factory=dict)
    _seen_by_id: dict[str, dict[str, t.Any]] | None = None

    def __getattr__(self, name: str) -> t.Any:
        # Only reached for names the task itself lacks; "request" guards copies and
        # pickling, which look attributes up before the fields exist.
        if name == "request" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.request, name)

    @property
    def estimated_expiry(self) -> float:
        """What the API says before the task ends: creation time plus the lifetime."""
        return self.expires_at - (self.completes_at - self.created_at)

    def status(self, now: float) -> str:
        """``processing``, ``completed`` or ``failed`` at ``now``."""
        if now < self.completes_at:
            return "processing"
        return "failed" if self.failure else "completed"

    def served_time(self, real: float) -> str | None:
        """A real instant of this task as the API dates it (on the emulated calendar)."""
        return iso(real + self.offset)


class Response(t.NamedTuple):
    """What the HTTP layer sends: status, body, extra headers."""

    status: int
    body: bytes
    headers: dict[str, str]
    content_type: str = "application/json"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: t.Any
) -> Response:
    """An error in the contract's body shape."""
    body = {"status": "error", "error": code, "message": message, **extra}
    return Response(status, dumps(body), headers or {})


def _copy(result: dict[str, t.Any]) -> dict[str, t.Any]:
    """A copy a caller may change without changing what is served (nested objects too)."""
    return {
        name: dict(value) if isinstance(value, dict) else value for name, value in result.items()
    }


class EmulatorState:
    """The provider: tasks by id, counters by key, and the ground truth."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.calendar = growth.Calendar(
            clock, self.config.clock_offset_seconds, self.config.calendar_tick_seconds
        )
        self.tasks: dict[str, Task] = {}
        #: Per key, its tasks not scraped yet, and the end times of those that may still
        #: be processing (a heap): a submit looks at these, not at every task ever made.
        self._unscraped: dict[str, dict[str, Task]] = collections.defaultdict(dict)
        self._ends: dict[str, list[float]] = collections.defaultdict(list)
        self.counters: dict[str, Counters] = collections.defaultdict(Counters)
        start, config = self.calendar.now(), self.config
        only_purchased = config.credits is not None
        self.accounts: dict[str, pricing.Account] = {
            key: pricing.Account.open(
                config.plan,
                0 if only_purchased else config.monthly_credits,
                config.monthly_remaining,
                t.cast("float", config.credits) if only_purchased else config.purchased_credits,
                start,
            )
            for key in config.keys
        }
        self.events: list[tuple[float, str, str]] = []
        #: Every submit body as received (key, raw bytes, HTTP status answered).
        self.submissions: list[tuple[str, bytes, int]] = []
        self._published: dict[str, list[dict[str, t.Any]]] = {}
        self._published_results: dict[str, list[dict[str, t.Any]]] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------ the clock
    def advance_clock(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> int:
        """Move the emulated calendar forward; the new observation moment.

        Tasks submitted from now on are dated later and observe later counts; tasks
        already submitted keep their dates, and nothing expires or completes sooner.
        """
        with self._lock:
            self.calendar.advance(days * growth.DAY + hours * growth.HOUR + seconds)
            return self.calendar.moment()

    # ---------------------------------------------- time under a test's control
    def complete_now(self, task: t.Any) -> bool:
        """End a processing task now (a scrape, a search or a transcription job): its
        result is what it observes at this moment, its expiry counts from now. False
        when it was not processing (or is gone).
        """
        with self._lock:
            now = self.clock()
            if now >= task.expires_at or task.status(now) != "processing":
                return False
            task.completes_at = now
            task.expires_at = now + self.config.expire_seconds
            if isinstance(task, Task):
                task.observed_at = self.calendar.moment(now, task.offset)
                self._reheap(task.key, now)
            return True

    def expire_now(self, task: t.Any) -> bool:
        """Make a task (of any kind) expire now: it answers 404 from here on, and its
        signed links find nothing. False when it had expired already.
        """
        with self._lock:
            now = self.clock()
            if now >= task.expires_at:
                return False
            task.completes_at = min(task.completes_at, now)
            task.expires_at = now
            if isinstance(task, Task):
                self._reheap(task.key, now)
            return True

    def _reheap(self, key: str, now: float) -> None:
        # A task ended early (complete_now, expire_now): the key's heap of end times,
        # which a submit reads for the active-task cap, is rebuilt from its tasks.
        ends = [
            t.completes_at for t in self.tasks.values() if t.key == key and t.completes_at > now
        ]
        heapq.heapify(ends)
        self._ends[key] = ends

    # ----------------------------------------------------------------- data
    def profile_videos(self, handle: str) -> list[dict[str, t.Any]]:
        """All videos of a profile now, newest first (published ones included)."""
        return [*self._published.get(handle.lower(), ()), *data.profile_videos(handle)]

    def publish(self, profile_url: str, count: int) -> list[dict[str, t.Any]]:
        """Publish ``count`` new videos on a profile (newest first); returns them as served.

        They are dated after the profile's newest video and within the day before the
        calendar's now, so a task that scrapes from now on sees them, young and growing.
        """
        handle = data.handle_of(profile_url)
        with self._lock:
            current = self.profile_videos(handle)
            newest = int(current[0]["timestamp"]) if current else data.BASE_EPOCH
            batch = len(self._published.get(handle.lower(), ())) + 1
            moment = self.calendar.moment()
            fresh = data.newer_videos(handle, newest, moment, count, batch)
            self._published[handle.lower()] = [*fresh, *self._published.get(handle.lower(), ())]
            seen = growth.observe(fresh, moment, PROFILE.counts)
            return [_copy(self._served(PROFILE, video)) for video in seen]

    def search_results(self, query: str) -> list[dict[str, t.Any]]:
        """All results of a query now, in relevance order: the videos of the creators it
        names (``@handle``: what a scrape of the profile finds now, published ones
        included, as search results), its words' published ones (newest first), then
        the generated ones."""
        creators = [
            result
            for handle in search.handles_of(query)
            if data.profile_failure(handle) is None
            for result in (
                *(
                    search.creator_result(handle, video)
                    for video in self._published.get(handle.lower(), ())
                ),
                *search.creator_results(handle),
            )
        ]
        fresh = [
            result
            for word in search.words_of(query)
            for result in self._published_results.get(word, ())
        ]
        fresh.sort(key=lambda result: -int(result["timestamp"]))
        return [*creators, *fresh, *search.search_results(query)]

    def publish_results(self, word: str, count: int) -> list[dict[str, t.Any]]:
        """Publish ``count`` new results for ``word`` (newest first); returns them as served.

        Every query with that word finds them; dated as :meth:`publish` dates videos.
        """
        if search.handles_of(word):
            msg = f"{word!r} names a creator: publish on the profile instead (publish)"
            raise ValueError(msg)
        word = word.lstrip("#").lower()
        with self._lock:
            published = self._published_results.get(word, [])
            newest = int((published or [search.word_video(word, 0)])[0]["timestamp"])
            moment = self.calendar.moment()
            fresh = search.newer_results(word, newest, moment, count, len(published) + 1)
            self._published_results[word] = [*fresh, *published]
            return [_copy(result) for result in growth.observe(fresh, moment, SEARCH.counts)]

    def ground_truth(
        self, profile_url: str, *, seen_by: str | None = None, **filters: t.Any
    ) -> list[dict[str, t.Any]]:
        """Exactly the videos a task for these filters serves, in serving order.

        As a task completing now would serve them, or, with ``seen_by``, as that task
        saw the profile (its moment, its counts, the videos published by then).
        """
        return self._truth(PROFILE, profile_url, seen_by, filters)

    def search_ground_truth(
        self, query: str, *, seen_by: str | None = None, **filters: t.Any
    ) -> list[dict[str, t.Any]]:
        """Exactly the results a search task with these filters serves, in order."""
        return self._truth(SEARCH, query, seen_by, filters)

    def _truth(
        self, kind: Kind[t.Any], subject: str, seen_by: str | None, filters: dict[str, t.Any]
    ) -> list[dict[str, t.Any]]:
        body = {kind.subject_field: subject, **{k: v for k, v in filters.items() if v is not None}}
        request = kind.parse(body)
        if kind.failure(request):
            return []
        if seen_by is None:
            seen = growth.observe(kind.results(self, request), self.calendar.moment(), kind.counts)
        else:
            task = self.tasks[seen_by]
            if task.kind != kind.name:
                msg = f"task {seen_by} is a {task.kind} task, not a {kind.name} one"
                raise ValueError(msg)
            seen = self._scrape(task).seen
        matched, _ = kind.select(seen, request)
        # Copies: a caller that changes what it got must not change what is served.
        return [_copy(self._served(kind, result)) for result in matched]

    def _served(self, kind: Kind[t.Any], result: dict[str, t.Any]) -> dict[str, t.Any]:
        if not (kind.adds_published_at and self.config.modern_fields):
            return result
        return {**result, "published_at": iso(int(result["timestamp"]))}

    def served(self, task_id: str) -> list[dict[str, t.Any]]:
        """Every result task ``task_id`` serves, in order, as served (copies)."""
        return [_copy(result) for result in self._scrape(self.tasks[task_id]).matched]

    def observed_at(self, task_id: str) -> int:
        """The moment (emulated unix seconds) whose counts task ``task_id`` observes."""
        return self.tasks[task_id].observed_at

    def counts_seen(self, task_id: str, video_id: str) -> dict[str, int | None]:
        """The counts of video ``video_id`` as task ``task_id`` saw them (None: null).

        KeyError when the task did not see that video.
        """
        task = self._scrape(self.tasks[task_id])
        if task._seen_by_id is None:
            task._seen_by_id = {str(result["id"]): result for result in task.seen}
        return KINDS[task.kind].counts.read(task._seen_by_id[video_id])

    def expected_usage(self, profile_url: str, **filters: t.Any) -> dict[str, t.Any]:
        """The ``usage`` charges a task with these filters gets (see the module doc)."""
        return self._expected_usage(PROFILE, profile_url, filters)

    def expected_search_usage(self, query: str, **filters: t.Any) -> dict[str, t.Any]:
        """The ``usage`` charges a search task with these filters gets."""
        return self._expected_usage(SEARCH, query, filters)

    def _expected_usage(
        self, kind: Kind[t.Any], subject: str, filters: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        body = {kind.subject_field: subject, **{k: v for k, v in filters.items() if v is not None}}
        request = kind.parse(body)
        seen = growth.observe(kind.results(self, request), self.calendar.moment(), kind.counts)
        failed = kind.failure(request) is not None
        stats = kind.failed_stats(request, seen) if failed else kind.select(seen, request)[1]
        return pricing.usage_block(_charges(kind, request, stats, failed), None)

    # ------------------------------------------------------------ accounting
    def _event(self, kind: str, task_id: str) -> None:
        self.events.append((self.clock(), kind, task_id))

    def timeline(self) -> list[tuple[float, str, str]]:
        """Submits and the completions that already happened, in time order."""
        now = self.clock()
        with self._lock:
            finished = [
                (task.completes_at, "finished", task.task_id)
                for task in self.tasks.values()
                if task.completes_at <= now
            ]
            return sorted([*self.events, *finished])

    def authorise(self, key: str | None) -> Response | None:
        """None when the key is a user's; otherwise the 401 to answer."""
        if key is None:
            return error_response(401, "missing_api_key", "Missing X-API-Key header")
        if key not in self.accounts:
            return error_response(401, "invalid_api_key", "Invalid API key")
        return None

    def account(self, key: str) -> pricing.Account:
        """A key's account, in the billing period of the emulated clock."""
        account = self.accounts[key]
        account.roll(self.calendar.now())
        return account

    def _charge(self, key: str, charges: t.Sequence[t.Mapping[str, t.Any]]) -> None:
        """Count a call's meters and take their credits from the key's balance."""
        self.counters[key].credits_charged += self.account(key).take(charges)

    def usage(self, key: str) -> Response:
        """``GET /usage`` (free): the key's plan, balance and meter counters."""
        with self._lock:
            self._settle_finished(key)
            self.counters[key].usage_reads += 1
            answer = self.account(key).usage_data(self.calendar.now())
        return Response(200, dumps({"status": "success", "data": answer}), {})

    # ---------------------------------------------------------------- routes
    def submit(self, key: str, raw_body: bytes, kind: str = "profile") -> Response:
        """``POST`` to a kind's route (``/tiktok/profile`` by default)."""
        return self._logged(key, raw_body, KINDS[kind])

    def _logged(self, key: str, raw_body: bytes, kind: Kind[t.Any]) -> Response:
        """Answer a submit of ``kind`` and keep its raw body in ``submissions``.

        A body that is not a JSON object, or whose values the kind refuses
        (FilterError), is answered 400 naming the field.
        """
        try:
            body = json.loads(raw_body or b"{}")
            if not isinstance(body, dict):
                raise TypeError
        except (ValueError, TypeError):
            self.counters[key].errors += 1
            response = error_response(400, "bad_request", "Request body must be a JSON object")
        else:
            try:
                response = self._submit(kind, key, body)
            except data.FilterError as exc:
                self.counters[key].errors += 1
                response = error_response(400, "bad_request", str(exc), field=exc.field)
        with self._lock:
            self.submissions.append((key, raw_body, response.status))
        return response

    def _submit(self, kind: Kind[t.Any], key: str, body: dict[str, t.Any]) -> Response:
        request = kind.parse(body)
        webhook_url = _webhook_url(body.get("webhook_url"))
        with self._lock:
            now = self.clock()
            refusal = self._admit(key, now)
            if refusal is not None:
                return refusal
            task = self._task(kind, key, request, now)
            self.counters[key].submits += 1
            task.webhook_url = webhook_url
            self.tasks[task.task_id] = task
            self._unscraped[key][task.task_id] = task
            heapq.heappush(self._ends[key], task.completes_at)
            self._event("submitted", task.task_id)
        return _accepted(kind, task)

    def _admit(self, key: str, now: float) -> Response | None:
        """None when a key may start a task now; else the 402 or 429 to answer."""
        counters = self.counters[key]
        self._settle_finished(key)
        if not self.account(key).can_submit():
            counters.refused_submits += 1
            return error_response(
                402, "insufficient_credits", "Insufficient credits: top up your plan"
            )
        ends = self._ends[key]
        while ends and ends[0] <= now:  # Task.status: processing while now < completes_at
            heapq.heappop(ends)
        active = len(ends)
        if active >= self.config.max_active_tasks:
            counters.refused_submits += 1
            return error_response(
                429,
                "too_many_active_jobs",
                f"You already have {active} active scrape jobs; wait for one to finish",
                {"Retry-After": "1"},
            )
        return None

    def _task(self, kind: Kind[t.Any], key: str, request: t.Any, now: float) -> Task:
        """A new task of ``kind``: its id, its timeline on both clocks."""
        # The scrape runs "in the background": a big subject's synthetic results are
        # generated on another thread, so the submit answers at once, as the real one.
        threading.Thread(target=kind.results, args=(self, request), daemon=True).start()
        slow = kind.slow_key(request)
        processing = self.config.processing_seconds
        if slow is not None:
            processing = self.config.processing_by_handle.get(slow, processing)
        completes_at = now + processing
        offset = self.calendar.offset
        return Task(
            task_id=f"{kind.id_prefix}{uuid.uuid4().hex[:16]}",
            key=key,
            kind=kind.name,
            request=request,
            created_at=now,
            completes_at=completes_at,
            expires_at=completes_at + self.config.expire_seconds,
            failure=kind.failure(request),
            offset=offset,
            observed_at=self.calendar.moment(completes_at, offset),
        )

    def _scrape(self, task: Task) -> Task:
        """What the task saw and matched, and its stats, computed once, when first needed."""
        if task.scraped:
            return task
        kind = KINDS[task.kind]
        # Slow once per profile, and pure: not under the lock.
        seen = growth.observe(kind.results(self, task.request), task.observed_at, kind.counts)
        with self._lock:
            if not task.scraped:
                if task.failure:  # a failed task saw nothing, whatever its stats say
                    task.stats = kind.failed_stats(task.request, seen)
                else:
                    task.seen = seen
                    matched, task.stats = kind.select(seen, task.request)
                    task.matched = [self._served(kind, result) for result in matched]
                self._settle(task)
                task.scraped = True
                self._unscraped[task.key].pop(task.task_id, None)
        return task

    def _settle(self, task: Task) -> None:
        """Charge a terminal task's meters (waived when it failed)."""
        charges = _charges(KINDS[task.kind], task.request, task.stats, task.failure is not None)
        self._charge(task.key, charges)
        task.usage = pricing.usage_block(charges, self.account(task.key).balance())

    def _settle_finished(self, key: str) -> None:
        """Charge every task of a key that ended and was not read yet: the provider
        charges a task when it ends, whether or not anyone polls it."""
        now = self.clock()
        for task in list(self._unscraped[key].values()):
            if not task.scraped and task.completes_at <= now:
                self._scrape(task)

    def _find_task(self, key: str, task_id: str, now: float, kind: str) -> Task | None:
        task = self.tasks.get(task_id)
        if task is None or task.key != key or now >= task.expires_at or task.kind != kind:
            return None
        return task

    def poll(
        self,
        key: str,
        task_id: str,
        query: dict[str, str],
        storage_base: str,
        kind: str = "profile",
    ) -> Response:
        """``GET`` a kind's route ``/{task_id}?cursor=&limit=&include_usage=``."""
        counters = self.counters[key]
        now = self.clock()
        task = self._find_task(key, task_id, now, kind)
        if task is None:
            counters.errors += 1
            return error_response(
                404,
                "task_not_found",
                "Task not found. It may have expired or does not belong to you.",
            )
        limit_text = query.get("limit", "50")
        try:
            limit = int(limit_text)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 500:
            counters.errors += 1
            return error_response(400, "bad_request", "limit must be an integer between 1 and 500")
        offset = 0
        if query.get("cursor"):
            try:
                offset = decode_cursor(query["cursor"])
            except ValueError:
                counters.errors += 1
                return error_response(400, "invalid_cursor", "The supplied cursor is invalid")
        include_usage = query.get("include_usage", "").lower() == "true"
        status = task.status(now)
        answers = self.config.processing_polls
        if status == "processing" and answers is not None and task.processing_answers >= answers:
            self.complete_now(task)
            status = task.status(self.clock())
        if status == "processing":
            task.processing_answers += 1
            counters.polls += 1
            return Response(200, self._task_body(task, status, 0, limit, None, usage=False), {})
        self._scrape(task)
        total = len(task.matched)
        if offset > total:
            counters.errors += 1
            return error_response(400, "invalid_cursor", "The supplied cursor is invalid")
        counters.page_requests += 1
        counters.videos_served += min(limit, total - offset)
        url = self.sign_download(task, storage_base) if self.config.offer_download_url else None
        body = self._task_body(task, status, offset, limit, url, usage=include_usage)
        return Response(200, body, {})

    def _video_bytes(self, task: Task) -> list[bytes]:
        # Serialised once per task, so a page is a join of ready bytes.
        if task._video_bytes is None:
            task._video_bytes = [dumps(video) for video in task.matched]
        return task._video_bytes

    def _task_data(self, task: Task, status: str) -> dict[str, t.Any]:
        """The task object of an answer, its results left as a placeholder."""
        kind = KINDS[task.kind]
        processing = status == "processing"
        data_obj: dict[str, t.Any] = {
            "task_id": task.task_id,
            "task_status": status,
            kind.subject_field: kind.subject(task.request),
            **kind.described(task.request, not processing and not task.failure, task.observed_at),
            "filters": task.request.filters.echo(),
            "stats": None if processing else task.stats,
            kind.results_field: _VIDEOS_PLACEHOLDER,
        }
        if task.failure and not processing:
            data_obj["error_message"] = task.failure.message
            data_obj["error"] = {
                "error": task.failure.code,
                "message": task.failure.message,
                "http_status": task.failure.http_status,
            }
        else:
            data_obj["error_message"] = None
            data_obj["error"] = None
        data_obj["webhook"] = _webhook_status(task.webhook_url, processing)
        data_obj["created_at"] = task.served_time(task.created_at)
        data_obj["completed_at"] = None if processing else task.served_time(task.completes_at)
        # Until the task ends its expiry is an estimate (as in the provider's example,
        # created_at + 1 h); once it ends, the truth: completed_at + expire.
        expiry = task.estimated_expiry if processing else task.expires_at
        data_obj["expires_at"] = task.served_time(expiry)
        return data_obj

    def _task_body(
        self,
        task: Task,
        status: str,
        offset: int,
        limit: int,
        download_url: str | None,
        *,
        usage: bool,
    ) -> bytes:
        data_obj = self._task_data(task, status)
        total = 0 if status == "processing" else len(task.matched)
        end = min(offset + limit, total)
        data_obj["pagination"] = {
            "limit": limit,
            "offset": offset,
            "total_items": total,
            "has_next": end < total,
            "has_prev": offset > 0,
            "next_cursor": encode_cursor(end) if end < total else None,
            "prev_cursor": encode_cursor(max(0, offset - limit)) if offset > 0 else None,
        }
        data_obj["download_url"] = download_url
        envelope: dict[str, t.Any] = {"status": "success", "data": data_obj}
        if usage and task.usage is not None:
            envelope["usage"] = task.usage
        body = dumps(envelope)
        page = b"[" + b",".join(self._video_bytes(task)[offset:end]) + b"]" if total else b"[]"
        return body.replace(dumps(_VIDEOS_PLACEHOLDER), page, 1)

    # -------------------------------------------------------------- storage
    def _signature(self, path: str, expires: int) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(self.config.signing_secret, message, hashlib.sha256).hexdigest()

    def sign_download(self, task: Task, storage_base: str) -> str:
        """A fresh signed URL to the whole result on the storage host."""
        user = hashlib.sha256(task.key.encode()).hexdigest()[:12]
        path = f"/storage/api/{KINDS[task.kind].storage_folder}/{user}/{task.task_id}.json"
        expires = int(self.clock() + self.config.download_ttl_seconds)
        signature = self._signature(path, expires)
        return (
            f"{storage_base}{path}?X-Goog-Algorithm=GOOG4-HMAC-SHA256"
            f"&X-Goog-Expires={expires}&X-Goog-Signature={signature}"
        )

    def download(self, path: str, query: dict[str, str], leaked_key: str | None) -> Response:
        """``GET`` of a signed download URL (on the storage host)."""
        if leaked_key is not None:
            self.counters[leaked_key].leaked_keys += 1
        try:
            expires = int(query["X-Goog-Expires"])
            signature = query["X-Goog-Signature"]
        except (KeyError, ValueError):
            return _storage_error("MissingSecurityHeader", "The URL is not signed")
        if not hmac.compare_digest(signature, self._signature(path, expires)):
            return _storage_error("SignatureDoesNotMatch", "The request signature is invalid")
        if self.clock() > expires:
            return _storage_error("ExpiredToken", "The signed URL has expired")
        task_id = path.rsplit("/", 1)[-1].removesuffix(".json")
        task = self.tasks.get(task_id)
        if task is None or self.clock() >= task.expires_at:
            return _storage_error("NoSuchKey", "The object does not exist", 404)
        self.counters[task.key].downloads += 1
        return Response(200, self._download_body(self._scrape(task)), {})

    def _download_body(self, task: Task) -> bytes:
        shape = self.config.download_shape
        if shape not in task._downloads:
            videos = b"[" + b",".join(self._video_bytes(task)) + b"]"
            if shape == "list":
                task._downloads[shape] = videos
            else:
                data_obj = self._task_data(task, task.status(self.clock()))
                body: t.Any = (
                    data_obj if shape == "task" else {"status": "success", "data": data_obj}
                )
                task._downloads[shape] = dumps(body).replace(dumps(_VIDEOS_PLACEHOLDER), videos, 1)
        return task._downloads[shape]


def _storage_error(code: str, message: str, status: int = 403) -> Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(status, body.encode(), {}, "application/xml")


def _accepted(kind: Kind[t.Any], task: Task) -> Response:
    """The 202 of a submit: the task, what its kind echoes, where to poll it."""
    payload = {
        "status": "success",
        "data": {
            "task_id": task.task_id,
            "task_status": "processing",
            kind.subject_field: kind.subject(task.request),
            **kind.accepted(task.request),
            "expires_at": task.served_time(task.estimated_expiry),
            "check_status_url": f"/v1{kind.route}/{task.task_id}",
            "webhook_url": task.webhook_url,
            "message": kind.started,
        },
    }
    return Response(202, dumps(payload), {})


def _webhook_url(value: t.Any) -> str | None:
    """A submit's ``webhook_url``: None when absent or ``""`` (opted out)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise data.FilterError("webhook_url", 'webhook_url must be an http(s) URL, or ""')
    return value


def _webhook_status(url: str | None, processing: bool) -> dict[str, t.Any] | None:
    """The poll's ``webhook`` object: the emulator never calls a webhook."""
    if url is None:
        return None
    return {
        "status": "pending" if processing else "not_sent",
        "attempts": 0,
        "response_status": None,
        "last_error": None if processing else "the emulator does not call webhooks",
        "delivered_at": None,
    }


def _charges(
    kind: Kind[t.Any], request: t.Any, stats: t.Mapping[str, t.Any], failed: bool
) -> list[dict[str, t.Any]]:
    """The charges of a terminal task: the meters its kind fired, waived if it failed."""
    return [
        pricing.charge(meter, quantity, waived=failed)
        for meter, quantity in kind.meters(request, stats)
    ]
