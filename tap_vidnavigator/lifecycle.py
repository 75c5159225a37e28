"""The scrape-task lifecycle: submit, poll every running task in one loop, hand over.

Submits keep at most ``max_active_tasks`` running; a task found in the STATE is
polled instead of paid for again. All running tasks are polled in one loop, so N
subjects take about as long as the slowest one. Each task is handed to the caller
the moment it is terminal; the caller extracts its results before asking for the
next. What differs between kinds of task comes from their :class:`JobKind`.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import logging
import time
import typing as t

from tap_vidnavigator.budget import Decision
from tap_vidnavigator.errors import (
    AmbiguousSubmitError,
    ApiError,
    BadResponseError,
    CreditsExhaustedError,
    KeyRefusedError,
    TaskNotFoundError,
    TooManyActiveJobsError,
)
from tap_vidnavigator.families import ACCOUNT_USAGE
from tap_vidnavigator.ledger import Entry
from tap_vidnavigator.records.account_usage import account_usage_record, balance_of
from tap_vidnavigator.state import parse_time
from tap_vidnavigator.tasks import FinishedTask, KindWork

if t.TYPE_CHECKING:
    from tap_vidnavigator.kinds import JobKind
    from tap_vidnavigator.run import Run
    from tap_vidnavigator.settings import TaskRequest
    from tap_vidnavigator.tasks import Api

TASK_STATUSES = frozenset({"processing", "completed", "failed"})
#: The provider's SDK polls every second for a task's first 10 seconds.
FAST_START_SECONDS = 10.0
FAST_START_INTERVAL = 1.0


@dataclasses.dataclass
class _Tracked:
    task_id: str
    work: KindWork
    subject: str
    request: TaskRequest | None
    # "submitted" (this run), "resumed" (from state), "reused" (from the ledger) or
    # "given" (task ids)
    origin: str
    started: float
    next_poll: float
    status: str | None = None
    #: The filters the task was bought with (its ledger fingerprint), when known.
    sent: dict[str, t.Any] | None = None

    @property
    def described(self) -> str:
        if self.request is not None:
            return self.work.kind.describe(self.request)
        return self.subject or self.work.kind.given_label


def _of(finished: FinishedTask, kind: JobKind | None) -> bool:
    return kind is None or finished.kind is kind


_LOGGER = logging.getLogger("tap-vidnavigator")


def _no_api(method: str, path: str, **kwargs: t.Any) -> dict[str, t.Any]:
    msg = f"no kind of task is registered to make {method} {path}"
    raise RuntimeError(msg)


class TaskLifecycle:
    """Drives every task of a run to a terminal status and yields it."""

    def __init__(
        self,
        *,
        api: Api,
        run: Run,
        work: t.Sequence[KindWork],
        logger: logging.Logger,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.run = run
        self.settings = run.settings
        self.work = work
        self.logger = logger
        self.clock = clock
        self.sleep = sleep
        self._pending: collections.deque[tuple[KindWork, TaskRequest]] = collections.deque()
        self._running: dict[str, _Tracked] = {}
        self._replaced: set[tuple[str, str]] = set()
        self._submits_blocked_until = 0.0
        self._wait_for_a_finish = False
        self._blocked_since = 0.0
        self._planned = False
        #: Finished tasks of another kind than the one being asked for, in order.
        self._ready: list[tuple[FinishedTask, KindWork]] = []
        #: The ledger entries of the tasks reused in this run, by task id.
        self._ledger_entries: dict[str, Entry] = {}

    @classmethod
    def for_run(
        cls,
        run: Run,
        logger: logging.Logger | None = None,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> TaskLifecycle:
        """The run's one loop: every kind registered on the run (``Run.register_kind``)
        with the work the run asks of it, its saved tasks planned now, before any stream
        syncs, whichever stream asks first."""
        work = run.kind_work()
        if not work:
            return cls(api=_no_api, run=run, work=work, logger=logger or _LOGGER, sleep=sleep)
        lifecycle = cls(
            api=work[0].api or _no_api, run=run, work=work, logger=logger or _LOGGER, sleep=sleep
        )
        lifecycle.plan()
        return lifecycle

    def _api(self, work: KindWork) -> Api:
        return work.api or self.api

    # ----------------------------------------------------------------- setup
    def plan(self) -> None:
        """Plan every kind's saved and configured tasks (once)."""
        if not self._planned:
            self._plan()
            self._planned = True

    def _plan(self) -> None:
        ledger = self.run.ledger
        if ledger is not None:
            removed = ledger.sweep()
            if removed:
                self.logger.debug("Removed %d expired task(s) from the ledger", removed)
        for work in self.work:
            work.in_flight.drop_expired_extracted(dt.datetime.now(dt.timezone.utc))
            self._plan_kind(work)

    def _plan_kind(self, work: KindWork) -> None:
        kind, in_flight = work.kind, work.in_flight
        configured = {request.key for request in work.requests}
        for stale in in_flight.skipped_keys():
            if stale not in configured:
                in_flight.unskip(stale)
        for stale in in_flight.saved_keys():
            if stale not in configured:
                self.logger.info(
                    "Dropping a saved task for %s from the state: that %s and filter set "
                    "is no longer configured",
                    stale,
                    kind.name,
                )
                in_flight.forget(stale)
        # What a budget skipped last time goes first, oldest skip first.
        skipped = {key: rank for rank, key in enumerate(in_flight.skipped_keys())}
        ordered = sorted(work.requests, key=lambda r: skipped.get(r.key, len(skipped)))
        for request in ordered:
            saved = in_flight.get(request)
            if saved is None:
                self._pending.append((work, request))
                continue
            expires = parse_time(saved.get("expires_at"))
            if expires is not None and expires <= dt.datetime.now(dt.timezone.utc):
                self.logger.info(
                    "Saved task %s for %s expired at %s; submitting a new one",
                    saved["task_id"],
                    kind.describe(request),
                    saved.get("expires_at"),
                )
                in_flight.forget(request.key)
                # Not marked replaced: the ledger, which has the exact expiry even when
                # the STATE that had it was lost (state.py), may still reuse the task.
                self._pending.append((work, request))
                continue
            self.logger.info(
                "Resuming task %s for %s from the state (submitted %s): no credits spent",
                saved["task_id"],
                kind.describe(request),
                saved.get("submitted_at"),
            )
            self._track(
                saved["task_id"], work, subject=request.subject, request=request, origin="resumed"
            )
            filters = saved.get("filters")
            self._running[saved["task_id"]].sent = filters if isinstance(filters, dict) else None
        for task_id in work.task_ids:
            if task_id not in self._running:
                self._track(task_id, work, subject="", request=None, origin="given")

    def _track(
        self,
        task_id: str,
        work: KindWork,
        *,
        subject: str,
        request: TaskRequest | None,
        origin: str,
        first_poll_in: float = 0.0,
    ) -> None:
        now = self.clock()
        self._running[task_id] = _Tracked(
            task_id, work, subject, request, origin, started=now, next_poll=now + first_poll_in
        )

    # --------------------------------------------------------------- submits
    def _submit_some(self) -> None:
        now = self.clock()
        if now < self._submits_blocked_until or self._wait_for_a_finish:
            return
        while self._pending and len(self._running) < self.settings.max_active_tasks:
            work, request = self._pending[0]
            kind = work.kind
            sent = work.submit_filters(request)
            if sent is None:
                self._pending.popleft()
                work.in_flight.unskip(request.key)
                continue
            if self._reuse(work, request, sent):
                self._pending.popleft()
                continue
            estimate = work.estimate(request) if work.estimate is not None else None
            decision = self._budget_decision(work, estimate)
            if decision is Decision.WAIT:
                # Its price is unknown until a task of its kind ends; polls go on.
                self._wait_for_a_finish = True
                return
            if decision is Decision.STOP:
                self._skip_pending()
                return
            try:
                data = self._api(work)(
                    "POST",
                    kind.submit_path,
                    body=(work.submit_body or kind.submit_body)(request, sent),
                    retry_ambiguous=kind.retry_ambiguous_submit,
                )["data"]
            except AmbiguousSubmitError as exc:
                self._pending.popleft()
                work.in_flight.unskip(request.key)
                self.logger.warning("Submit for %s is uncertain: %s", kind.describe(request), exc)
                if work.submit_uncertain is not None:
                    work.submit_uncertain(request, exc.cause)
                continue
            except TooManyActiveJobsError as exc:
                self._too_many_active_jobs(exc, now)
                return
            except CreditsExhaustedError as exc:
                waiting = self._drop_pending()
                self.logger.error("%s Not submitted: %s", exc, waiting)
                self.run.problem(f"out of credits; not submitted: {waiting}")
                return
            except KeyRefusedError:
                raise
            except ApiError as exc:
                self._pending.popleft()
                self.logger.error("Submit for %s was refused: %s", kind.describe(request), exc)
                self.run.problem(f"submit for {kind.describe(request)} refused: {exc}")
                if work.submit_refused is not None:
                    work.submit_refused(request, str(exc))
                continue
            self._pending.popleft()
            self._blocked_since = 0.0
            task_id = data.get("task_id")
            if not isinstance(task_id, str) or not task_id:
                msg = f"The submit for {kind.describe(request)} was answered without a task_id"
                raise BadResponseError(msg)
            # The ledger first: a task it holds on disk needs no STATE at once (state.py).
            if self.run.ledger is not None:
                expires = data.get("expires_at")
                self.run.ledger.bought(kind.name, request.subject, sent, task_id, expires)
            work.in_flight.remember(request, task_id, sent, data.get("expires_at"))
            work.in_flight.unskip(request.key)
            self.run.budget.submitted(kind.name, task_id, estimate)
            self.logger.info("Submitted task %s for %s", task_id, kind.describe(request))
            self._track(
                task_id,
                work,
                subject=request.subject,
                request=request,
                origin="submitted",
                first_poll_in=self._interval(0.0),
            )
            self._running[task_id].sent = sent

    def _reuse(self, work: KindWork, request: TaskRequest, sent: dict[str, t.Any]) -> bool:
        """Track an unexpired ledger task bought for exactly this request, if any."""
        ledger, kind = self.run.ledger, work.kind
        if ledger is None or self.settings.force_new_tasks:
            return False
        if (kind.name, request.key) in self._replaced:
            return False
        entry = ledger.reuse(kind.name, request.subject, sent)
        if entry is None or entry.task_id in work.in_flight.extracted_ids():
            # The STATE holds it: a run that succeeded read it, so buy fresh counts.
            return False
        work.in_flight.remember(request, entry.task_id, sent, entry.expires_at)
        work.in_flight.unskip(request.key)
        self.logger.info(
            "Reusing task %s for %s from the ledger (bought %s, expires %s): no credits spent",
            entry.task_id,
            kind.describe(request),
            entry.submitted_at,
            entry.expires_at,
        )
        self._track(entry.task_id, work, subject=request.subject, request=request, origin="reused")
        self._running[entry.task_id].sent = sent
        self._ledger_entries[entry.task_id] = entry
        return True

    def _budget_decision(self, work: KindWork, estimate: decimal.Decimal | None) -> Decision:
        budget = self.run.budget
        if not budget.active:
            return Decision.GO
        if budget.needs_balance:
            self._read_balance(work)
        return budget.decide(work.kind.name, estimate)

    def _read_balance(self, work: KindWork) -> None:
        """The balance before the first submit, for ``min_credits_balance`` (free)."""
        budget = self.run.budget
        try:
            data = self._api(work)("GET", ACCOUNT_USAGE.route)["data"]
        except KeyRefusedError:
            raise
        except ApiError as exc:
            self.logger.error(
                "min_credits_balance is set but the balance could not be read (GET %s: %s); "
                "nothing is submitted",
                ACCOUNT_USAGE.route,
                exc,
            )
            self.run.problem(f"the balance could not be read for min_credits_balance: {exc}")
            budget.know_balance(budget.min_balance)  # a cap of 0: buy nothing
            return
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        budget.know_balance(balance_of(account_usage_record(data, now)))

    def _skip_pending(self) -> None:
        """The budget is spent: every queued request waits for the next run."""
        budget = self.run.budget
        if not self._pending:
            return
        self.logger.warning(
            "Budget: %s; not submitting the %d request(s) left (kept in the STATE for the "
            "next run)",
            budget.reason(),
            len(self._pending),
        )
        for work, request in self._pending:
            budget.skip(work.kind.name, work.kind.describe(request))
            work.in_flight.skip(request)
        if self.settings.fail_when_over_budget:
            self.run.problem(
                f"budget reached, {len(self._pending)} request(s) not submitted "
                "(fail_when_over_budget)"
            )
        self._pending.clear()

    def _too_many_active_jobs(self, exc: TooManyActiveJobsError, now: float) -> None:
        self.logger.info(
            "The API has too many active jobs for this key; %d task(s) wait for a running "
            "task to finish%s before they are submitted",
            len(self._pending),
            f" (or {exc.retry_after:g} s, as the API asked)" if exc.retry_after else "",
        )
        if self._running:
            # Jobs of this key outside this run count too: when the API says when to
            # retry, do, even if none of ours has finished by then.
            if exc.retry_after is not None:
                self._submits_blocked_until = now + exc.retry_after
            else:
                self._wait_for_a_finish = True
            return
        self._blocked_since = self._blocked_since or now
        if now - self._blocked_since > self.settings.task_timeout:
            waiting = self._drop_pending()
            self.logger.error(
                "The API refused submits (too many active jobs, none of them this run's) "
                "for longer than task_timeout; not submitted: %s",
                waiting,
            )
            self.run.problem(f"too many active jobs; not submitted: {waiting}")
            return
        wait = self.settings.poll_interval if exc.retry_after is None else exc.retry_after
        self._submits_blocked_until = now + wait

    def _drop_pending(self) -> str:
        """Give up on every queued request; how the logs name them."""
        waiting = ", ".join(work.kind.describe(request) for work, request in self._pending)
        self._pending.clear()
        return waiting

    def _interval(self, age: float) -> float:
        poll = self.settings.poll_interval
        return min(poll, FAST_START_INTERVAL) if age < FAST_START_SECONDS else poll

    # ----------------------------------------------------------------- polls
    def _poll(self, tracked: _Tracked) -> FinishedTask | None:
        kind = tracked.work.kind
        try:
            # Usage is free to ask for and answered only once the task is terminal,
            # which no poll can know in advance: every poll asks.
            answer = self._api(tracked.work)(
                "GET",
                f"{kind.route}/{tracked.task_id}",
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
        if not tracked.subject:
            tracked.subject = kind.subject_of(data)
        if status != tracked.status:
            # A finished task's line comes from its tasks stream, with its outcome.
            self.logger.log(
                logging.INFO if status == "processing" else logging.DEBUG,
                "Task %s for %s is %s",
                tracked.task_id,
                tracked.subject or "?",
                status,
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
            # a run that dies now resumes against the right deadline. The ledger first:
            # what it holds needs no STATE at once (state.py).
            if self.run.ledger is not None and tracked.sent is not None:
                self.run.ledger.update_expiry(
                    kind.name,
                    tracked.subject,
                    tracked.sent,
                    tracked.task_id,
                    data.get("expires_at"),
                )
            tracked.work.in_flight.update_expiry(tracked.request, data.get("expires_at"))
        usage = answer.get("usage")
        self.run.budget.ended(tracked.task_id, usage if isinstance(usage, dict) else None)
        return FinishedTask(
            sent=tracked.sent,
            task_id=tracked.task_id,
            kind=kind,
            subject=kind.subject_of(data, tracked.subject),
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
        self.run.budget.gone(tracked.task_id)
        self._room_freed()
        work, request = tracked.work, tracked.request
        entry = self._ledger_entries.pop(tracked.task_id, None)
        if entry is not None and self.run.ledger is not None:
            self.run.ledger.forget(entry)
        if tracked.origin in {"resumed", "reused"} and request is not None:
            replaced = (work.kind.name, request.key)
            if replaced not in self._replaced:
                self.logger.info(
                    "%s task %s for %s is gone (404 task_not_found: expired or removed); "
                    "submitting a new one",
                    "Saved" if tracked.origin == "resumed" else "Ledger",
                    tracked.task_id,
                    tracked.described,
                )
                work.in_flight.forget(request.key)
                self._replaced.add(replaced)
                self._pending.appendleft((work, request))
                return
        where = tracked.described
        self.logger.error("Task %s (%s) is gone: %s", tracked.task_id, where, exc)
        self.run.problem(f"task {tracked.task_id} ({where}) not found")
        if request is not None:
            work.in_flight.forget(request.key)

    def _timed_out(self, tracked: _Tracked, age: float) -> None:
        del self._running[tracked.task_id]
        self.run.budget.gone(tracked.task_id)
        self._room_freed()
        where = tracked.described
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
    def finished_tasks(self, kind: JobKind | None = None) -> t.Iterator[FinishedTask]:
        """Yield each task (of ``kind``, or of every kind) once terminal.

        The caller extracts a task before resuming us. Tasks of every kind keep being
        submitted and polled whatever is asked for, so kinds share ``max_active_tasks``
        and run side by side; one of another kind that finishes waits, still in the
        state, until its own kind is asked for (the SDK syncs one parent stream after
        another). Asking for one kind ends once none of it is queued, running or
        waiting.
        """
        self.plan()
        while True:
            waiting = next((item for item in self._ready if _of(item[0], kind)), None)
            if waiting is not None:
                self._ready.remove(waiting)
                yield from self._hand_over(*waiting)
                continue
            if not self._has_work(kind):
                return
            self._submit_some()
            now = self.clock()
            for tracked in sorted(self._running.values(), key=lambda x: x.next_poll):
                if tracked.next_poll > now or tracked.task_id not in self._running:
                    continue
                finished = self._poll(tracked)
                if finished is None:
                    continue
                if not _of(finished, kind):
                    self._spool(finished, tracked.work)
                    self._ready.append((finished, tracked.work))
                    continue
                yield from self._hand_over(finished, tracked.work)
            if self._has_work(kind) and not any(_of(item[0], kind) for item in self._ready):
                self._wait()

    def _spool(self, finished: FinishedTask, work: KindWork) -> None:
        """Read a finished task that must wait for its own stream into a local file now:
        its stream may come after longer than the task lives (spool.py)."""
        if finished.data.get("task_status") != "completed" or not finished.kind.paged:
            return
        path, count = self.run.spool.write(
            self._api(work), finished.kind, finished.task_id, finished.data, self.settings.page_size
        )
        finished.spooled = path
        self.logger.debug(
            "Task %s for %s finished while another stream syncs: its %d %s were read "
            "now, before the task can expire, and wait on local disk for their stream",
            finished.task_id,
            finished.described,
            count,
            finished.kind.results_field,
        )

    def _hand_over(self, finished: FinishedTask, work: KindWork) -> t.Iterator[FinishedTask]:
        with self.run.handing_over(finished):
            yield finished
        # Resumed here only after the task's results were all emitted.
        if finished.spooled is not None:
            self.run.spool.remove(finished.spooled)
        if finished.request is not None:
            expires = finished.data.get("expires_at")
            work.in_flight.extracted(finished.request, finished.task_id, expires)
            work.in_flight.forget(finished.request.key)
        self._submit_some()

    def _has_work(self, kind: JobKind | None) -> bool:
        """Whether tasks of ``kind`` (or of any kind) are queued, running or waiting."""
        return (
            any(work.kind is kind or kind is None for work, _ in self._pending)
            or any(tracked.work.kind is kind or kind is None for tracked in self._running.values())
            or any(_of(finished, kind) for finished, _ in self._ready)
        )

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

    # ------------------------------------------------------------- late work
    def add_work(self, work: KindWork) -> None:
        """Add a kind whose requests are known only once the run is under way
        (speech-to-text, for the videos found without captions): planned at once, its
        saved tasks resumed, then submitted and polled with the others."""
        self.plan()
        self.work = (*self.work, work)
        self._plan_kind(work)
