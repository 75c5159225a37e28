"""The per-video paid jobs of the emulated API, whatever they buy.

A desk of such jobs (:mod:`.transcripts`: speech-to-text; :mod:`.extraction`:
structured extraction) declares a :class:`JobKind` and answers its own submit checks,
outcome and charges; :class:`JobDesk` does the rest, alike for every desk:

* ``POST {path}/async`` accepted: the key's active-job cap (:class:`ActiveJobs`:
  scrapes, searches and every desk's jobs together; ``429 too_many_active_jobs``),
  the job registered, the ``202`` (the SDK's ``AsyncJobSubmitResponse``);
* the lifecycle: processing for the desk's seconds, then completed or failed; the
  result kept ``expire_seconds`` after it ends, then ``404 task_not_found``;
* ``GET {path}/{task_id}`` (free): the job envelope, and ``usage`` beside ``data``
  with ``include_usage=true``;
* charging once, when a job is first seen ended, through :mod:`.pricing`;
* the counters every desk keeps (under its own names) and the ground truth per video;
* the submit checks every desk makes alike (:class:`BadRequestError`: the body, its
  ``video_url``, its ``webhook_url``).
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import json
import re
import threading
import typing as t
import uuid

from tap_vidnavigator.emulator import captions, data, pricing
from tap_vidnavigator.emulator.state import (
    EmulatorState,
    Response,
    _webhook_status,
    _webhook_url,
    dumps,
    error_response,
    iso,
)


# ------------------------------------------------------------- submit checks
class BadRequestError(Exception):
    """A request the provider refuses with ``400``, before anything is billed."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.response = error_response(400, code, message, field=field)


def json_body(raw: bytes) -> dict[str, t.Any]:
    """A JSON request body (empty: ``{}``), which must be an object."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    return object_body(body)


def object_body(body: t.Any) -> dict[str, t.Any]:
    """A parsed request body, which must be an object."""
    if not isinstance(body, dict):
        raise BadRequestError("request_body_required", "Request body must be a JSON object", "")
    return body


def video_ref(body: t.Mapping[str, t.Any]) -> captions.VideoRef:
    """The body's ``video_url``: required, a TikTok video's URL."""
    url = body.get("video_url")
    if url is None or url == "":
        raise BadRequestError("missing_parameter", "video_url is required", "video_url")
    ref = captions.parse_video_url(url)
    if ref is None:
        raise BadRequestError(
            "invalid_url",
            "video_url must be a TikTok video URL such as "
            "https://www.tiktok.com/@tiktok/video/7300000000000000000",
            "video_url",
        )
    return ref


def webhook_url(body: t.Mapping[str, t.Any]) -> str | None:
    """The body's ``webhook_url``: None when absent or ``""``."""
    try:
        return _webhook_url(body.get("webhook_url"))
    except data.FilterError as exc:
        raise BadRequestError("invalid_parameter", str(exc), exc.field) from exc


# ------------------------------------------------------------------- the job
class Failure(t.NamedTuple):
    """Why a job fails: the code and status the synchronous call would answer."""

    code: str
    message: str
    http_status: int


@dataclasses.dataclass(kw_only=True)
class Job:
    """One job's lifecycle on both clocks; a desk's job adds what it was asked."""

    task_id: str
    key: str
    #: The video's id, for the ground truth per video.
    video_id: str
    webhook_url: str | None
    created_at: float
    completes_at: float
    expires_at: float
    #: The calendar's offset at submit: served times are the real ones plus this.
    offset: float
    failure: Failure | None
    settled: bool = False
    usage: dict[str, t.Any] | None = None
    #: How many polls this job answered "processing" (``processing_polls``).
    processing_answers: int = 0

    def status(self, now: float) -> str:
        """``processing``, ``completed`` or ``failed`` at ``now``."""
        if now < self.completes_at:
            return "processing"
        return "failed" if self.failure else "completed"

    def served_time(self, real: float) -> str | None:
        return iso(real + self.offset)


class Counted(t.NamedTuple):
    """A desk's names for the counters every job desk keeps."""

    #: Submits accepted (a job was created).
    submitted: str = "submitted"
    #: Submits refused: 402, or 429 ``too_many_active_jobs``.
    refused: str = "refused"
    polls: str = "polls"
    #: Jobs that completed and were charged: bought.
    completed: str = "completed"
    failed: str = "failed"


class JobKind(t.NamedTuple):
    """What tells one desk's jobs from another's on the wire."""

    #: The job's ``job_type``.
    job_type: str
    #: Submit at ``{path}/async``, poll at ``{path}/{task_id}``.
    path: str
    #: The submit answer's ``message`` and ``docs_url``.
    started: str
    docs_url: str
    #: Whether a failed job's poll serves ``usage`` too (its waived charges).
    usage_when_failed: bool
    counted: Counted = Counted()

    @property
    def submit_path(self) -> str:
        return f"{self.path}/async"

    def task_id(self, path: str) -> str | None:
        """The task id of a poll's path, else None."""
        match = re.match(rf"^{re.escape(self.path)}/(?P<task_id>[^/]+)$", path)
        return None if match is None else match.group("task_id")


class JobCounters(t.Protocol):
    """What every desk's counters have under these names."""

    #: Every 400 and 404 (and, per desk, some 402s).
    errors: int
    credits_charged: decimal.Decimal


J = t.TypeVar("J", bound=Job)
C = t.TypeVar("C", bound=JobCounters)


class ActiveJobs:
    """The key's active-job cap (``max_active_tasks``): scrapes, searches and every
    desk's jobs alike."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.desks: list[JobDesk[t.Any, t.Any]] = []

    def count(self, key: str, now: float) -> int:
        """The key's processing jobs, of every kind."""
        scrapes = sum(
            1
            for task in list(self.state.tasks.values())
            if task.key == key and task.status(now) == "processing"
        )
        return scrapes + sum(desk.processing(key, now) for desk in self.desks)

    def refusal(self, key: str, now: float) -> Response | None:
        """The 429 of a key at the cap, else None."""
        busy = self.count(key, now)
        if busy < self.state.config.max_active_tasks:
            return None
        return error_response(
            429,
            "too_many_active_jobs",
            f"You already have {busy} active jobs; wait for one to finish",
            {"Retry-After": "1"},
        )


class JobDesk(t.Generic[J, C]):
    """One kind of job: its routes' shared part, its jobs, counters and ground truth.

    A desk declares :attr:`kind` and answers :meth:`_request` (the envelope's
    ``request``), :meth:`_result` and :meth:`_end` (what an ended job serves, and its
    charges); it parses and admits its own submits, then calls :meth:`_start`.
    """

    kind: t.ClassVar[JobKind]

    def __init__(
        self,
        state: EmulatorState,
        counters: t.Callable[[], C],
        *,
        active: ActiveJobs | None = None,
    ) -> None:
        self.state = state
        self.counters: dict[str, C] = collections.defaultdict(counters)
        self.tasks: dict[str, J] = {}
        #: Every job, by video id (all keys), oldest first.
        self.tasks_by_video: dict[str, list[str]] = collections.defaultdict(list)
        #: Credits taken by this desk, per key (see :meth:`_bill`).
        self.spent: dict[str, decimal.Decimal] = collections.defaultdict(lambda: pricing.ZERO)
        self._lock = threading.RLock()
        #: The cap this desk's jobs share with the scrapes and the other desks.
        self.active = ActiveJobs(state) if active is None else active
        self.active.desks.append(self)

    def fault_route(self, method: str, path: str) -> str | None:
        """The fault-injection route of a request this desk answers, else None."""
        if method == "POST" and path == self.kind.submit_path:
            return "submit"
        if method == "GET" and self.kind.task_id(path) is not None:
            return "poll"
        return None

    def _count(self, key: str, event: str) -> None:
        """Count one of the events every desk counts (:class:`Counted`)."""
        counters = self.counters[key]
        name = getattr(self.kind.counted, event)
        setattr(counters, name, getattr(counters, name) + 1)

    # ------------------------------------------------------------ submit
    def _lifecycle(self, key: str, now: float, seconds: float | None) -> dict[str, t.Any]:
        """A new job's id and timeline: processing ``seconds`` (None: the
        emulator's ``processing_seconds``), then kept ``expire_seconds``."""
        processing = self.state.config.processing_seconds if seconds is None else seconds
        completes_at = now + processing
        return {
            "task_id": str(uuid.uuid4()),
            "key": key,
            "created_at": now,
            "completes_at": completes_at,
            "expires_at": completes_at + self.state.config.expire_seconds,
            "offset": self.state.calendar.offset,
        }

    def _start(self, key: str, new: t.Callable[[float], J]) -> Response:
        """Admit a checked submit under the active-job cap: the job ``new(now)``
        made, registered and answered ``202``; or the ``429``."""
        with self._lock:
            now = self.state.clock()
            refusal = self.active.refusal(key, now)
            if refusal is not None:
                self._count(key, "refused")
                return refusal
            task = new(now)
            self.tasks[task.task_id] = task
            self.tasks_by_video[task.video_id].append(task.task_id)
            self._count(key, "submitted")
        payload = {
            "status": "success",
            "data": {
                "task_id": task.task_id,
                "task_status": "processing",
                "job_type": self.kind.job_type,
                "expires_at": task.served_time(task.created_at + self.state.config.expire_seconds),
                "check_status_url": f"{self.kind.path}/{task.task_id}",
                "webhook_url": task.webhook_url,
                "message": self.kind.started,
                "docs_url": self.kind.docs_url,
            },
        }
        return Response(202, dumps(payload), {})

    def processing(self, key: str, now: float) -> int:
        """The key's jobs of this desk still processing."""
        return sum(
            1
            for task in list(self.tasks.values())
            if task.key == key and task.status(now) == "processing"
        )

    # -------------------------------------------------------------- poll
    def poll(self, key: str, task_id: str, query: t.Mapping[str, str]) -> Response:
        """``GET {path}/{task_id}`` (free)."""
        now = self.state.clock()
        task = self.tasks.get(task_id)
        if task is None or task.key != key or now >= task.expires_at:
            self.counters[key].errors += 1
            return error_response(
                404,
                "task_not_found",
                "Task not found. It may have expired or does not belong to you.",
            )
        self._count(key, "polls")
        status = task.status(now)
        answers = self.state.config.processing_polls
        if status == "processing" and answers is not None and task.processing_answers >= answers:
            # Processing for exactly ``processing_polls`` polls, as scrapes (state.py).
            self.state.complete_now(task)
            status = task.status(self.state.clock())
        if status == "processing":
            task.processing_answers += 1
        else:
            self._settle(task)
        body: dict[str, t.Any] = {"status": "success", "data": self._job(task, status)}
        serves_usage = status == "completed" or (status == "failed" and self.kind.usage_when_failed)
        if serves_usage and query.get("include_usage", "").lower() == "true":
            body["usage"] = task.usage
        return Response(200, dumps(body), {})

    def _job(self, task: J, status: str) -> dict[str, t.Any]:
        """The SDK's job object (``TranscribeJob``, ``ExtractVideoJob``)."""
        processing = status == "processing"
        # Until the job ends its expiry is provisional (submit time plus the lifetime).
        expire = self.state.config.expire_seconds
        expiry = task.created_at + expire if processing else task.expires_at
        failure = task.failure if status == "failed" else None
        completed = status == "completed"
        return {
            "task_id": task.task_id,
            "task_status": status,
            "job_type": self.kind.job_type,
            "request": self._request(task),
            "created_at": task.served_time(task.created_at),
            "started_at": task.served_time(task.created_at),
            "completed_at": None if processing else task.served_time(task.completes_at),
            "expires_at": task.served_time(expiry),
            "check_status_url": f"{self.kind.path}/{task.task_id}",
            "webhook": _webhook_status(task.webhook_url, processing),
            "error": None
            if failure is None
            else {
                "error": failure.code,
                "message": failure.message,
                "http_status": failure.http_status,
            },
            **self._result(task, completed),
        }

    def _request(self, task: J) -> dict[str, t.Any]:
        """The envelope's ``request``: what the job was asked."""
        raise NotImplementedError

    def _result(self, task: J, completed: bool) -> dict[str, t.Any]:
        """The envelope's last fields (``result``, ...): None until completed."""
        raise NotImplementedError

    # ------------------------------------------------------------ charge
    def _settle(self, task: J) -> None:
        """Once a job ended: what it serves, and its charges, once."""
        with self._lock:
            if task.settled:
                return
            task.settled = True
            charges = self._end(task)
            self._count(task.key, "failed" if task.failure else "completed")
            if charges is not None:
                task.usage = pricing.usage_block(charges, self._bill(task.key, charges))

    def _end(self, task: J) -> list[dict[str, t.Any]] | None:
        """What an ended job serves, set on it; its charges (None: nothing billed)."""
        raise NotImplementedError

    def _bill(self, key: str, charges: list[dict[str, t.Any]]) -> decimal.Decimal | None:
        """Take the charges' credits from the key (:mod:`.pricing`: monthly credits
        first, shared with the scrape tasks); its balance after (None: unlimited)."""
        cost = pricing.total(charges)
        with self._lock, self.state._lock:
            self.spent[key] += cost
            self.counters[key].credits_charged += cost
            self.state._charge(key, charges)
            return self.state.account(key).balance()

    # ------------------------------------------------------ ground truth
    def jobs_of(self, video_url: str) -> list[str]:
        """The jobs submitted for this video (all keys), oldest first."""
        ref = captions.parse_video_url(video_url)
        return [] if ref is None else list(self.tasks_by_video.get(ref.video_id, ()))

    def bought(self, video_url: str) -> int:
        """How many jobs of this video completed and were charged: bought."""
        return sum(
            1
            for task_id in self.jobs_of(video_url)
            if self.tasks[task_id].settled and self.tasks[task_id].failure is None
        )
