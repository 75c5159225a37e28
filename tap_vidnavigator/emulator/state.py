"""The emulated provider's state: users, tasks, their lifecycle, counters, ground truth.

Everything here is plain Python with no HTTP in it; :mod:`.server` maps requests onto
it. Times come from ``clock`` (``time.time`` by default) so tests can reason about a
timeline of submits and completions.

Credits (the emulator's own rule: the provider publishes none; deterministic, so tests
can check every figure):

* ``tiktok_profile_scrape``: 1 credit per task, taken at submit. A submit needs a
  balance of at least 1, else 402 and no task. A failed task's scrape credit is waived
  and given back (``waived: true``, ``credits: 0``, ``credits_saved: 1``).
* ``tiktok_profile_videos``: quantity = videos matched, 1 credit per started 100
  (``ceil(matched / 100)``), taken when the completed task is first read; a running
  task always finishes, so this charge may take the balance below zero.
* A terminal poll with ``include_usage=true`` answers ``usage`` beside ``data``:
  ``charges``, ``total_credits`` (their sum), ``credits_remaining_after`` (the key's
  balance right after this task was settled; null for a key with unlimited credits)
  and ``waived`` (``{"credits_saved": N}``, or null when nothing was waived).
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
import typing as t
import uuid

from tap_vidnavigator.emulator import data, search

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
SCRAPE_CREDITS = 1
VIDEOS_PER_CREDIT = 100
DOWNLOAD_SHAPES = ("task", "envelope", "list")
_VIDEOS_PLACEHOLDER = "\x00videos\x00"


class Kind(t.NamedTuple):
    """How one kind of task appears in the API."""

    route: str
    results_field: str
    id_prefix: str
    storage_folder: str
    scrape_charge: str
    results_charge: str
    started: str


KINDS = {
    "profile": Kind(
        "/tiktok/profile", "videos", "tt_profile_", "tiktok_profiles",
        "tiktok_profile_scrape", "tiktok_profile_videos", "TikTok profile scrape started",
    ),
    "search": Kind(
        "/tiktok/search", "results", "tt_search_", "tiktok_searches",
        "tiktok_search", "tiktok_search_results", "TikTok search started",
    ),
}  # fmt: skip


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
    credits: int | None = None
    keys: tuple[str, ...] = DEMO_KEYS
    offer_download_url: bool = True
    download_shape: str = "task"
    #: Today's video shape (the SDK's TikTokVideo, with published_at); False serves the
    #: page's older shape without it.
    modern_fields: bool = True
    #: Per profile handle, how long its tasks stay processing instead of
    #: ``processing_seconds`` (one slow creator among many); ``--slow-profile``.
    processing_by_handle: dict[str, float] = dataclasses.field(default_factory=dict)
    signing_secret: bytes = dataclasses.field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        if self.download_shape not in DOWNLOAD_SHAPES:
            msg = f"download_shape must be one of {DOWNLOAD_SHAPES}"
            raise ValueError(msg)


@dataclasses.dataclass
class Counters:
    """Per-key request counts; ``submits`` is the credits spent."""

    submits: int = 0
    refused_submits: int = 0
    polls: int = 0
    page_requests: int = 0
    videos_served: int = 0
    downloads: int = 0
    leaked_keys: int = 0
    faults: int = 0
    errors: int = 0
    credits_charged: int = 0


@dataclasses.dataclass
class Task:
    """One scrape task."""

    task_id: str
    key: str
    profile_url: str
    handle: str
    filters: data.Filters
    created_at: float
    completes_at: float
    expires_at: float
    failure: data.ProfileFailure | None
    matched: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    stats: dict[str, int] = dataclasses.field(default_factory=dict)
    scraped: bool = False
    webhook_url: str | None = None
    usage: dict[str, t.Any] | None = None
    kind: str = "profile"
    query: str = ""
    search_filters: search.SearchFilters | None = None
    _video_bytes: list[bytes] | None = None
    _downloads: dict[str, bytes] = dataclasses.field(default_factory=dict)

    @property
    def estimated_expiry(self) -> float:
        """What the API says before the task ends: creation time plus the lifetime."""
        return self.expires_at - (self.completes_at - self.created_at)

    def status(self, now: float) -> str:
        """``processing``, ``completed`` or ``failed`` at ``now``."""
        if now < self.completes_at:
            return "processing"
        return "failed" if self.failure else "completed"


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


class EmulatorState:
    """The provider: tasks by id, counters by key, and the ground truth."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.tasks: dict[str, Task] = {}
        self.counters: dict[str, Counters] = collections.defaultdict(Counters)
        self.credits_left: dict[str, int | None] = dict.fromkeys(
            self.config.keys, self.config.credits
        )
        self.events: list[tuple[float, str, str]] = []
        #: Every submit body as received (key, raw bytes, HTTP status answered).
        self.submissions: list[tuple[str, bytes, int]] = []
        self._published: dict[str, list[dict[str, t.Any]]] = {}
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- data
    def profile_videos(self, handle: str) -> list[dict[str, t.Any]]:
        """All videos of a profile now, newest first (published ones included)."""
        return [*self._published.get(handle.lower(), ()), *data.profile_videos(handle)]

    def publish(self, profile_url: str, count: int) -> list[dict[str, t.Any]]:
        """Publish ``count`` new videos on a profile (newest first); returns them."""
        handle = data.handle_of(profile_url)
        with self._lock:
            current = self.profile_videos(handle)
            newest = int(current[0]["timestamp"]) if current else data.BASE_EPOCH
            batch = len(self._published.get(handle.lower(), ())) + 1
            fresh = data.newer_videos(handle, newest, count, batch)
            self._published[handle.lower()] = [*fresh, *self._published.get(handle.lower(), ())]
            return [dict(self._served_video(video)) for video in fresh]

    def ground_truth(self, profile_url: str, **filters: t.Any) -> list[dict[str, t.Any]]:
        """Exactly the videos a task for these filters serves, in serving order."""
        handle = data.handle_of(profile_url)
        if data.profile_failure(handle):
            return []
        parsed = data.parse_filters({k: v for k, v in filters.items() if v is not None})
        matched, _ = data.apply_filters(self.profile_videos(handle), parsed)
        # Copies: a caller that changes what it got must not change what is served.
        return [dict(self._served_video(video)) for video in matched]

    def _served_video(self, video: dict[str, t.Any]) -> dict[str, t.Any]:
        if not self.config.modern_fields:
            return video
        return {**video, "published_at": iso(int(video["timestamp"]))}

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
        if key not in self.credits_left:
            return error_response(401, "invalid_api_key", "Invalid API key")
        return None

    # ---------------------------------------------------------------- routes
    def submit(self, key: str, raw_body: bytes) -> Response:
        """``POST /tiktok/profile``."""
        return self._logged(key, raw_body, self._submit)

    def _logged(
        self, key: str, raw_body: bytes, handler: t.Callable[[str, dict[str, t.Any]], Response]
    ) -> Response:
        """Answer a submit through ``handler`` and keep its raw body in ``submissions``.

        A body that is not a JSON object, or whose values the handler refuses
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
                response = handler(key, body)
            except data.FilterError as exc:
                self.counters[key].errors += 1
                response = error_response(400, "bad_request", str(exc), field=exc.field)
        with self._lock:
            self.submissions.append((key, raw_body, response.status))
        return response

    def _submit(self, key: str, body: dict[str, t.Any]) -> Response:
        handle = data.handle_of(str(body.get("profile_url") or ""))
        filters = data.parse_filters(body)
        webhook_url = _webhook_url(body.get("webhook_url"))
        task = self._open(
            key,
            webhook_url,
            lambda now: self._new_task(key, body["profile_url"], handle, filters, now),
        )
        if isinstance(task, Response):
            return task
        return _accepted(task, profile_url=task.profile_url)

    def _admit(self, key: str, now: float) -> Response | None:
        """None when a key may start a task now; else the 402 or 429 to answer."""
        counters = self.counters[key]
        credits = self.credits_left[key]
        if credits is not None and credits < SCRAPE_CREDITS:
            counters.refused_submits += 1
            return error_response(
                402, "insufficient_credits", "Insufficient credits: top up your plan"
            )
        active = sum(
            1
            for task in self.tasks.values()
            if task.key == key and task.status(now) == "processing"
        )
        if active >= self.config.max_active_tasks:
            counters.refused_submits += 1
            return error_response(
                429,
                "too_many_active_jobs",
                f"You already have {active} active scrape jobs; wait for one to finish",
                {"Retry-After": "1"},
            )
        return None

    def _start(self, task: Task, webhook_url: str | None) -> None:
        """Charge the submit and keep the task (under the lock)."""
        self._charge(task.key, SCRAPE_CREDITS)
        self.counters[task.key].submits += 1
        task.webhook_url = webhook_url
        self.tasks[task.task_id] = task
        self._event("submitted", task.task_id)

    def submit_search(self, key: str, raw_body: bytes) -> Response:
        """``POST /tiktok/search``."""
        return self._logged(key, raw_body, self._submit_search)

    def _submit_search(self, key: str, body: dict[str, t.Any]) -> Response:
        query, filters = search.parse_search(body)
        webhook_url = _webhook_url(body.get("webhook_url"))
        failure = search.failure(query)
        task = self._open(
            key,
            webhook_url,
            lambda now: self._task(
                "search",
                key,
                now,
                data.ProfileFailure(*failure) if failure else None,
                profile_url="",
                handle="",
                filters=data.Filters(),
                query=query,
                search_filters=filters,
            ),
        )
        if isinstance(task, Response):
            return task
        return _accepted(
            task,
            query=query,
            max_results=filters.max_results,
            parallel_search_slices=filters.parallel_search_slices,
            filters=filters.echo(),
        )

    def search_ground_truth(self, query: str, **filters: t.Any) -> list[dict[str, t.Any]]:
        """Exactly the results a search task with these filters serves, in order."""
        if search.failure(query):
            return []
        _, parsed = search.parse_search({"query": query, **filters})
        matched, _ = search.apply_search(search.search_results(query), parsed)
        return [json.loads(dumps(result)) for result in matched]

    def expected_search_usage(self, query: str, **filters: t.Any) -> dict[str, t.Any]:
        """The ``usage`` charges a search task with these filters gets."""
        matched = len(self.search_ground_truth(query, **filters))
        return _usage(search.failure(query) is not None, matched, None, KINDS["search"])

    def _charge(self, key: str, credits: int) -> None:
        """Take credits from a key's balance (a negative amount gives them back)."""
        balance = self.credits_left[key]
        if balance is not None:
            self.credits_left[key] = balance - credits
        self.counters[key].credits_charged += credits

    def expected_usage(self, profile_url: str, **filters: t.Any) -> dict[str, t.Any]:
        """The ``usage`` charges a task with these filters gets (see the module doc)."""
        handle = data.handle_of(profile_url)
        matched = len(self.ground_truth(profile_url, **filters))
        return _usage(data.profile_failure(handle) is not None, matched, None, KINDS["profile"])

    def _new_task(
        self, key: str, profile_url: str, handle: str, filters: data.Filters, now: float
    ) -> Task:
        # The scrape runs "in the background": a big profile's synthetic videos are
        # generated on another thread, so the submit answers at once, as the real one.
        threading.Thread(target=self.profile_videos, args=(handle,), daemon=True).start()
        return self._task(
            "profile",
            key,
            now,
            data.profile_failure(handle),
            profile_url=profile_url,
            handle=handle,
            filters=filters,
        )

    def _task(
        self, kind: str, key: str, now: float, failure: data.ProfileFailure | None, **fields: t.Any
    ) -> Task:
        """A new task of ``kind``: its id and timeline, and what its kind adds."""
        handle = str(fields.get("handle", "")).lower()
        completes_at = now + self.config.processing_by_handle.get(
            handle, self.config.processing_seconds
        )
        return Task(
            task_id=f"{KINDS[kind].id_prefix}{uuid.uuid4().hex[:16]}",
            key=key,
            created_at=now,
            completes_at=completes_at,
            expires_at=completes_at + self.config.expire_seconds,
            failure=failure,
            kind=kind,
            **fields,
        )

    def _open(
        self, key: str, webhook_url: str | None, make: t.Callable[[float], Task]
    ) -> Task | Response:
        """Start the task ``make`` builds if the key may start one now; else the refusal."""
        with self._lock:
            now = self.clock()
            refusal = self._admit(key, now)
            if refusal is not None:
                return refusal
            task = make(now)
            self._start(task, webhook_url)
        return task

    def _scrape(self, task: Task) -> Task:
        """The task's matched videos and stats, computed once, when first needed."""
        if task.scraped:
            return task
        if task.kind == "search":
            with self._lock:
                if not task.scraped:
                    filters = t.cast("search.SearchFilters", task.search_filters)
                    matched, task.stats = search.apply_search(
                        search.search_results(task.query), filters
                    )
                    if task.failure:
                        matched = []
                        task.stats = {**task.stats, "results_count": 0}
                    task.matched = matched
                    self._settle(task)
                    task.scraped = True
            return task
        videos = self.profile_videos(task.handle)  # slow once per profile: not under the lock
        with self._lock:
            if not task.scraped:
                if task.failure:
                    task.stats = {"videos_scanned": 0, "videos_matched": 0, "pages_consumed": 1}
                else:
                    matched, task.stats = data.apply_filters(videos, task.filters)
                    task.matched = [self._served_video(video) for video in matched]
                self._settle(task)
                task.scraped = True
        return task

    def _settle(self, task: Task) -> None:
        """Charge a terminal task's videos, or give back a failed one's scrape credit."""
        failed = task.failure is not None
        usage = _usage(failed, len(task.matched), None, KINDS[task.kind])
        self._charge(task.key, usage["total_credits"] - SCRAPE_CREDITS)
        usage["credits_remaining_after"] = self.credits_left[task.key]
        task.usage = usage

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
        """``GET /tiktok/profile/{task_id}`` (or ``/tiktok/search/``) ``?cursor=&limit=``."""
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
        if status != "processing":
            self._scrape(task)
        if status == "processing":
            counters.polls += 1
            return Response(200, self._task_body(task, status, 0, limit, None, usage=False), {})
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
        processing = status == "processing"
        if task.kind == "search":
            filters = t.cast("search.SearchFilters", task.search_filters)
            data_obj: dict[str, t.Any] = {
                "task_id": task.task_id,
                "task_status": status,
                "query": task.query,
                "parallel_search_slices": filters.parallel_search_slices,
                "filters": filters.echo(),
                "stats": None if processing else task.stats,
                "results": _VIDEOS_PLACEHOLDER,
            }
            return self._task_ending(task, processing, data_obj)
        data_obj = {
            "task_id": task.task_id,
            "task_status": status,
            "profile_url": task.profile_url,
            "profile": None if processing or task.failure else data.profile_object(task.handle),
            "filters": task.filters.echo(),
            "stats": None if processing else task.stats,
            "videos": _VIDEOS_PLACEHOLDER,
        }
        return self._task_ending(task, processing, data_obj)

    def _task_ending(
        self, task: Task, processing: bool, data_obj: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        """The fields every kind's task body ends with: error, webhook, times."""
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
        data_obj["created_at"] = iso(task.created_at)
        data_obj["completed_at"] = None if processing else iso(task.completes_at)
        # Until the task ends its expiry is an estimate (as in the provider's example,
        # created_at + 1 h); once it ends, the truth: completed_at + expire.
        data_obj["expires_at"] = iso(task.estimated_expiry if processing else task.expires_at)
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


def _accepted(task: Task, **kind_fields: t.Any) -> Response:
    """The 202 of a submit: the task, what its kind echoes, where to poll it."""
    kind = KINDS[task.kind]
    payload = {
        "status": "success",
        "data": {
            "task_id": task.task_id,
            "task_status": "processing",
            **kind_fields,
            "expires_at": iso(task.estimated_expiry),
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


def _usage(failed: bool, matched: int, remaining: int | None, kind: Kind) -> dict[str, t.Any]:
    """The usage block of a terminal task (the credit rule in the module docstring)."""
    scrape = {
        "service_type": kind.scrape_charge,
        "quantity": 1,
        "credits": 0 if failed else SCRAPE_CREDITS,
        "waived": failed,
        "credits_saved": SCRAPE_CREDITS if failed else 0,
    }
    charges = [scrape]
    if not failed:
        charges.append(
            {
                "service_type": kind.results_charge,
                "quantity": matched,
                "credits": -(-matched // VIDEOS_PER_CREDIT),
                "waived": False,
                "credits_saved": 0,
            }
        )
    return {
        "charges": charges,
        "total_credits": sum(charge["credits"] for charge in charges),
        "credits_remaining_after": remaining,
        "waived": {"credits_saved": SCRAPE_CREDITS} if failed else None,
    }
