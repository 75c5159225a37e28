"""A run's tasks as the other modules see them: what a run asks of a kind, a finished
task, and what watches a finished task's results.

It sits below the run (run.py), the lifecycle (lifecycle.py), the result reader
(results.py) and the streams, so that each of them can name these objects without
importing the others.
"""

from __future__ import annotations

import dataclasses
import typing as t

if t.TYPE_CHECKING:
    import decimal
    from pathlib import Path

    from tap_vidnavigator.kinds import JobKind, TaskKind
    from tap_vidnavigator.settings import TaskRequest
    from tap_vidnavigator.state import InFlightTasks


class Api(t.Protocol):
    """The calls the lifecycle makes (a stream's ``call_api``).

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
        retry_ambiguous: bool = True,
    ) -> dict[str, t.Any]: ...


@dataclasses.dataclass(frozen=True)
class KindWork:
    """What a run asks of one kind of task."""

    kind: JobKind
    #: Requests to submit (or resume from the state).
    requests: t.Sequence[TaskRequest]
    #: Existing tasks to read without submitting.
    task_ids: t.Sequence[str]
    in_flight: InFlightTasks
    #: The filters to submit for a request (its incremental floor included), or
    #: None when nothing is to be bought for it.
    submit_filters: t.Callable[[TaskRequest], dict[str, t.Any] | None]
    #: How this kind's requests are made: through the stream that owns the kind, whose
    #: name the SDK's metrics and logs carry (None: the lifecycle's own).
    api: Api | None = None
    #: A submit of a kind that never re-submits (``retry_ambiguous_submit`` False) was
    #: sent and its answer lost: the request and what was lost (ledger.py's uncertain).
    submit_uncertain: t.Callable[[TaskRequest, str], None] | None = None
    #: A submit was refused for certain (nothing was bought): the request and why.
    submit_refused: t.Callable[[TaskRequest, str], None] | None = None
    #: The body a submit sends, from the request and what ``submit_filters`` gave (kept
    #: in STATE): a per-video job sends more than it keeps (an extraction's schema).
    #: None: the kind's own (JobKind.submit_body).
    submit_body: t.Callable[[TaskRequest, dict[str, t.Any]], dict[str, t.Any]] | None = None
    #: What a request is expected to cost before its kind's price is known (budget.py);
    #: None: unknown (one task of the kind at a time under a budget).
    estimate: t.Callable[[TaskRequest], decimal.Decimal] | None = None


Kind_co = t.TypeVar("Kind_co", bound="JobKind", covariant=True)


@dataclasses.dataclass
class FinishedTask(t.Generic[Kind_co]):
    """A terminal task: its last poll (first page of results included) and origin.

    Typed by its kind: a results stream reads ``FinishedTask[TaskKind]`` (a scrape).
    """

    task_id: str
    kind: Kind_co
    subject: str
    data: dict[str, t.Any]
    request: TaskRequest | None = None
    #: The ``usage`` block beside ``data`` (credits this task cost), when answered.
    usage: dict[str, t.Any] | None = None
    #: Its results, read into a local file while another stream synced (spool.py).
    spooled: Path | None = None
    #: What its submit kept in STATE (``KindWork.submit_filters``), when known.
    sent: dict[str, t.Any] | None = None

    @property
    def download_url(self) -> str | None:
        """The signed link of the whole result, when offered."""
        url = self.data.get("download_url")
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None

    @property
    def total_items(self) -> int | None:
        """How many results the API says the task holds."""
        pagination = self.data.get("pagination")
        total = pagination.get("total_items") if isinstance(pagination, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    @property
    def described(self) -> str:
        """The task's request (or subject) as the logs name it."""
        return self.kind.describe(self.request) if self.request else self.subject


#: What sees a task's emitted records: called with each run of them, in order, a run at
#: a time so that per record it costs a list append, not a chain of calls.
Observe = t.Callable[[list[dict[str, t.Any]]], None]


class Observer(t.Protocol):
    """What watches the results of finished tasks as they are emitted: ``video_stats``
    (observations.py) and every per-video enrichment (enrichment.py). Each registers on
    the run (``Run.observe``); the results streams call them all alike."""

    def recorder(self, finished: FinishedTask[TaskKind]) -> Observe | None:
        """What sees one task's records, or None when it wants none of them."""
        ...

    def task_done(self, finished: FinishedTask[TaskKind], *, complete: bool) -> None:
        """All of a task's records were emitted (``complete``: all the API holds), before
        the STATE that moves its bookmark: write what must precede it."""
        ...


class TaskLoop(t.Protocol):
    """The run's one loop of tasks (lifecycle.TaskLifecycle), as the streams use it."""

    def finished_tasks(self, kind: JobKind | None = None) -> t.Iterator[FinishedTask[JobKind]]:
        """Each task of ``kind`` (or of every kind) once terminal."""
        ...

    def add_work(self, work: KindWork) -> None:
        """A kind whose requests are known only once the run is under way."""
        ...


def observing(observers: t.Iterable[Observer], finished: FinishedTask[TaskKind]) -> Observe | None:
    """One callable for every observer that wants this task's records, or None."""
    wanted = [o for o in (observer.recorder(finished) for observer in observers) if o]
    if len(wanted) <= 1:
        return wanted[0] if wanted else None

    def observe(run: list[dict[str, t.Any]]) -> None:
        for one in wanted:
            one(run)

    return observe
