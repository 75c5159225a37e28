"""The scrape-task lifecycle: submit, poll every running task in one loop, hand over.

Submits keep at most ``max_active_tasks`` running; a task found in the STATE is
polled instead of paid for again. All running tasks are polled in one loop, so N
profiles take about as long as the slowest one. Each task is handed to the caller
the moment it is terminal; the caller extracts its videos before asking for the next.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import time
import typing as t

from tap_vidnavigator.errors import (
    ApiError,
    BadResponseError,
    CreditsExhaustedError,
    KeyRefusedError,
    TaskNotFoundError,
    TooManyActiveJobsError,
)
from tap_vidnavigator.records import task_profile_url
from tap_vidnavigator.run import FinishedTask, Run
from tap_vidnavigator.settings import FILTER_API_FIELDS
from tap_vidnavigator.state import InFlightTasks, parse_time

if t.TYPE_CHECKING:
    from tap_vidnavigator.settings import ProfileRequest

TASK_STATUSES = frozenset({"processing", "completed", "failed"})
#: The provider's SDK polls every second for a task's first 10 seconds.
FAST_START_SECONDS = 10.0
FAST_START_INTERVAL = 1.0


class Api(t.Protocol):
    """The calls the lifecycle makes (``VidNavigatorStream.call_api``).

    Each returns the whole success envelope, whose ``data`` is an object; a poll asked
    with ``include_usage`` also carries ``usage`` beside it.
    """

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        body: dict[str, t.Any] | None = None,
    ) -> dict[str, t.Any]: ...


@dataclasses.dataclass
class _Tracked:
    task_id: str
    profile_url: str
    request: ProfileRequest | None
    origin: str  # "submitted" (this run), "resumed" (from state) or "given" (task_ids)
    started: float
    next_poll: float
    status: str | None = None


def submit_body(profile_url: str, filters: dict[str, t.Any]) -> dict[str, t.Any]:
    """The ``POST /tiktok/profile`` body: the filters that are set, under the names and
    in the order the provider's SDK sends them."""
    body: dict[str, t.Any] = {"profile_url": profile_url}
    for name, api_field in FILTER_API_FIELDS.items():
        if filters.get(name) is not None:
            body[api_field] = filters[name]
    return body


def describe(request: ProfileRequest) -> str:
    """A profile request as the logs name it."""
    filters = request.filter_dict()
    if not filters:
        return request.profile_url
    return f"{request.profile_url} ({', '.join(f'{k}={v}' for k, v in filters.items())})"


class TaskLifecycle:
    """Drives every task of a run to a terminal status and yields it."""

    def __init__(
        self,
        *,
        api: Api,
        run: Run,
        in_flight: InFlightTasks,
        submit_filters: t.Callable[[ProfileRequest], dict[str, t.Any] | None],
        logger: logging.Logger,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.run = run
        self.settings = run.settings
        self.in_flight = in_flight
        self.submit_filters = submit_filters
        self.logger = logger
        self.clock = clock
        self.sleep = sleep
        self._pending: collections.deque[ProfileRequest] = collections.deque()
        self._running: dict[str, _Tracked] = {}
        self._replaced: set[str] = set()
        self._submits_blocked_until = 0.0
        self._wait_for_a_finish = False
        self._blocked_since = 0.0

    # ----------------------------------------------------------------- setup
    def _plan(self) -> None:
        now = self.clock()
        configured = {request.key for request in self.settings.profiles}
        for stale in self.in_flight.saved_keys():
            if stale not in configured:
                self.logger.info(
                    "Dropping a saved task for %s from the state: that profile and filter set "
                    "is no longer configured",
                    stale,
                )
                self.in_flight.forget(stale)
        for request in self.settings.profiles:
            saved = self.in_flight.get(request)
            if saved is None:
                self._pending.append(request)
                continue
            expires = parse_time(saved.get("expires_at"))
            if expires is not None and expires <= dt.datetime.now(dt.timezone.utc):
                self.logger.info(
                    "Saved task %s for %s expired at %s; submitting a new one",
                    saved["task_id"],
                    describe(request),
                    saved.get("expires_at"),
                )
                self.in_flight.forget(request.key)
                self._replaced.add(request.key)
                self._pending.append(request)
                continue
            self.logger.info(
                "Resuming task %s for %s from the state (submitted %s): no credits spent",
                saved["task_id"],
                describe(request),
                saved.get("submitted_at"),
            )
            self._track(
                saved["task_id"],
                profile_url=request.profile_url,
                request=request,
                origin="resumed",
                started=now,
                next_poll=now,
            )
        for task_id in self.settings.task_ids:
            if task_id not in self._running:
                self._track(
                    task_id,
                    profile_url="",
                    request=None,
                    origin="given",
                    started=now,
                    next_poll=now,
                )

    def _track(
        self,
        task_id: str,
        *,
        profile_url: str,
        request: ProfileRequest | None,
        origin: str,
        started: float,
        next_poll: float,
    ) -> None:
        self._running[task_id] = _Tracked(task_id, profile_url, request, origin, started, next_poll)

    # --------------------------------------------------------------- submits
    def _submit_some(self) -> None:
        now = self.clock()
        if now < self._submits_blocked_until or self._wait_for_a_finish:
            return
        while self._pending and len(self._running) < self.settings.max_active_tasks:
            request = self._pending[0]
            sent = self.submit_filters(request)
            if sent is None:
                self._pending.popleft()
                continue
            try:
                data = self.api(
                    "POST", "/tiktok/profile", body=submit_body(request.profile_url, sent)
                )["data"]
            except TooManyActiveJobsError as exc:
                self.logger.info(
                    "The API has too many active jobs for this key; %d profile(s) wait for a "
                    "running task to finish%s before they are submitted",
                    len(self._pending),
                    f" (or {exc.retry_after:g} s, as the API asked)" if exc.retry_after else "",
                )
                if self._running:
                    # Jobs of this key outside this run count too: when the API says
                    # when to retry, do, even if none of ours has finished by then.
                    if exc.retry_after is not None:
                        self._submits_blocked_until = now + exc.retry_after
                    else:
                        self._wait_for_a_finish = True
                    return
                self._blocked_since = self._blocked_since or now
                if now - self._blocked_since > self.settings.task_timeout:
                    waiting = ", ".join(describe(r) for r in self._pending)
                    self.logger.error(
                        "The API refused submits (too many active jobs, none of them this "
                        "run's) for longer than task_timeout; not submitted: %s",
                        waiting,
                    )
                    self.run.problem(f"too many active jobs; not submitted: {waiting}")
                    self._pending.clear()
                    return
                wait = self.settings.poll_interval if exc.retry_after is None else exc.retry_after
                self._submits_blocked_until = now + wait
                return
            except CreditsExhaustedError as exc:
                waiting = ", ".join(describe(r) for r in self._pending)
                self.logger.error("%s Not submitted: %s", exc, waiting)
                self.run.problem(f"out of credits; not submitted: {waiting}")
                self._pending.clear()
                return
            except KeyRefusedError:
                raise
            except ApiError as exc:
                self._pending.popleft()
                self.logger.error("Submit for %s was refused: %s", describe(request), exc)
                self.run.problem(f"submit for {describe(request)} refused: {exc}")
                continue
            self._pending.popleft()
            self._blocked_since = 0.0
            task_id = data.get("task_id")
            if not isinstance(task_id, str) or not task_id:
                msg = f"The submit for {describe(request)} was answered without a task_id"
                raise BadResponseError(msg)
            self.in_flight.remember(request, task_id, sent, data.get("expires_at"))
            self.logger.info("Submitted task %s for %s", task_id, describe(request))
            now = self.clock()
            self._track(
                task_id,
                profile_url=request.profile_url,
                request=request,
                origin="submitted",
                started=now,
                next_poll=now + self._interval(0.0),
            )

    def _interval(self, age: float) -> float:
        poll = self.settings.poll_interval
        return min(poll, FAST_START_INTERVAL) if age < FAST_START_SECONDS else poll

    # ----------------------------------------------------------------- polls
    def _poll(self, tracked: _Tracked) -> FinishedTask | None:
        try:
            # Usage is free to ask for and answered only once the task is terminal,
            # which no poll can know in advance: every poll asks.
            answer = self.api(
                "GET",
                f"/tiktok/profile/{tracked.task_id}",
                params={"limit": self.settings.page_size, "include_usage": "true"},
            )
        except TaskNotFoundError as exc:
            self._gone(tracked, exc)
            return None
        data = answer["data"]
        status = data.get("task_status")
        if status not in TASK_STATUSES:
            msg = (
                f"Task {tracked.task_id} has task_status {status!r}; the contract allows "
                f"{sorted(TASK_STATUSES)}"
            )
            raise BadResponseError(msg)
        if data.get("task_id") not in (None, tracked.task_id):
            msg = f"Polling task {tracked.task_id} returned task {data.get('task_id')!r}"
            raise BadResponseError(msg)
        if not tracked.profile_url:
            tracked.profile_url = task_profile_url(data)
        if status != tracked.status:
            self.logger.info(
                "Task %s for %s is %s", tracked.task_id, tracked.profile_url or "?", status
            )
            tracked.status = status
        if status == "processing":
            now = self.clock()
            age = now - tracked.started
            if age > self.settings.task_timeout:
                self._timed_out(tracked, age)
            else:
                tracked.next_poll = now + self._interval(age)
            return None
        del self._running[tracked.task_id]
        self._room_freed()
        if tracked.request is not None:
            # A finished task's expires_at is exact (the submit's may be an estimate);
            # a run that dies now resumes against the right deadline.
            self.in_flight.update_expiry(tracked.request, data.get("expires_at"))
        usage = answer.get("usage")
        return FinishedTask(
            task_id=tracked.task_id,
            profile_url=task_profile_url(data, tracked.profile_url),
            data=data,
            request=tracked.request,
            usage=usage if isinstance(usage, dict) else None,
        )

    def _room_freed(self) -> None:
        # A task of ours ended: the API's count of active jobs fell, so submit again.
        self._wait_for_a_finish = False
        self._submits_blocked_until = 0.0

    def _gone(self, tracked: _Tracked, exc: TaskNotFoundError) -> None:
        del self._running[tracked.task_id]
        self._room_freed()
        request = tracked.request
        if tracked.origin == "resumed" and request and request.key not in self._replaced:
            self.logger.info(
                "Saved task %s for %s is gone (404 task_not_found: expired or removed); "
                "submitting a new one",
                tracked.task_id,
                describe(request),
            )
            self.in_flight.forget(request.key)
            self._replaced.add(request.key)
            self._pending.appendleft(request)
            return
        where = describe(request) if request else "task_ids"
        self.logger.error("Task %s (%s) is gone: %s", tracked.task_id, where, exc)
        self.run.problem(f"task {tracked.task_id} ({where}) not found")
        if request:
            self.in_flight.forget(request.key)

    def _timed_out(self, tracked: _Tracked, age: float) -> None:
        del self._running[tracked.task_id]
        self._room_freed()
        where = describe(tracked.request) if tracked.request else tracked.profile_url or "task_ids"
        self.logger.error(
            "Task %s for %s was still processing after %.0f s (task_timeout %g s); it stays "
            "in the state and the next run resumes it without a new submit",
            tracked.task_id,
            where,
            age,
            self.settings.task_timeout,
        )
        self.run.problem(f"task {tracked.task_id} for {where} timed out")

    # ------------------------------------------------------------------ loop
    def finished_tasks(self) -> t.Iterator[FinishedTask]:
        """Yield each task once terminal; the caller extracts it before resuming us."""
        self._plan()
        while self._pending or self._running:
            self._submit_some()
            now = self.clock()
            for tracked in sorted(self._running.values(), key=lambda x: x.next_poll):
                if tracked.next_poll > now or tracked.task_id not in self._running:
                    continue
                finished = self._poll(tracked)
                if finished is None:
                    continue
                self.run.finished[finished.task_id] = finished
                yield finished
                # Resumed here only after the task's records were all emitted.
                del self.run.finished[finished.task_id]
                if finished.request is not None:
                    self.in_flight.forget(finished.request.key)
                self._submit_some()
            self._wait()

    def _wait(self) -> None:
        if not self._running and not self._pending:
            return
        now = self.clock()
        wakeups = [tracked.next_poll for tracked in self._running.values()]
        # A queued submit is a reason to wake only when there is room for it; at
        # max_active_tasks only a poll (that may end a task) can make room.
        room = len(self._running) < self.settings.max_active_tasks
        if self._pending and room and not self._wait_for_a_finish:
            wakeups.append(self._submits_blocked_until)
        delay = (min(wakeups) if wakeups else now + self.settings.poll_interval) - now
        if delay > 0:
            self.sleep(delay)
