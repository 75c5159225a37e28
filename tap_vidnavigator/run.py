"""One run's shared state, with one owner: settings, finished tasks, counts, problems.

The lifecycle, the streams and the result reader change it only through the methods
here, so what a run did (and whether it failed) is decided in one place.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import typing as t

from tap_vidnavigator.batch import BatchFiles, remove_old_batch_files, run_label
from tap_vidnavigator.budget import Budget
from tap_vidnavigator.errors import RunFailedError
from tap_vidnavigator.ledger import Ledger
from tap_vidnavigator.records.account_usage import balance_of
from tap_vidnavigator.spool import Spool
from tap_vidnavigator.state import Bookmarks, InFlightTasks

_LOGGER = logging.getLogger("tap-vidnavigator")

if t.TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.helpers._batch import BatchConfig

    from tap_vidnavigator.kinds import JobKind, TaskKind
    from tap_vidnavigator.settings import Settings
    from tap_vidnavigator.tasks import FinishedTask, KindWork, Observer, TaskLoop


class Run:
    """Shared state of one tap run: the one owner of what the run keeps and did.

    It holds, per kind, the in-flight tasks (in the tasks stream's state) and the
    bookmarks (in the results stream's state), read and changed by subject; the
    finished task being handed over; the counts; and the problems that fail the run.
    Settings are loaded on first use, so that ``--discover`` works without a config.
    """

    def __init__(
        self,
        load_settings: t.Callable[[], Settings],
        start_loop: t.Callable[[Run], TaskLoop] | None = None,
    ) -> None:
        self._load_settings = load_settings
        self._start_loop = start_loop
        self._finished: dict[str, FinishedTask[t.Any]] = {}
        self._problems: list[str] = []
        self._results_emitted = 0
        self._in_flight: dict[str, InFlightTasks] = {}
        self._bookmarks: dict[str, Bookmarks] = {}
        self._loop: TaskLoop | None = None
        self._began = False
        #: Results of finished tasks that wait for their own stream (spool.py).
        self.spool = Spool()
        self._batch_files: dict[str, BatchFiles] = {}
        self._batch_label = run_label()
        #: Everything that watches the results streams' records, in registration
        #: order: video_stats and every per-video enrichment (tasks.Observer).
        self.observers: list[Observer] = []
        #: Per kind name, what this run asks of it (None when its streams are not
        #: selected), registered by the stream that owns the kind.
        self._kinds: dict[str, t.Callable[[], KindWork | None]] = {}

    # -------------------------------------------------------------- roles
    def observe(self, observer: Observer) -> None:
        """Register what watches the results streams' records (tasks.Observer)."""
        self.observers.append(observer)

    def register_kind(self, kind: JobKind, work: t.Callable[[], KindWork | None]) -> None:
        """A kind of task this run may ask for: ``work`` says what, once the run begins
        (the stream that owns the kind registers it when it is built; the latest built
        wins, should the tap build its streams again)."""
        self._kinds[kind.name] = work

    def kind_work(self) -> list[KindWork]:
        """What this run asks of every registered kind, in registration order."""
        return [work for work in (ask() for ask in self._kinds.values()) if work is not None]

    @property
    def lifecycle(self) -> TaskLoop:
        """The run's one task loop, built from every registered kind's work the first
        time anything asks (``begin``: before the first stream syncs), whichever stream
        that is. Every kind's tasks run in it (sharing ``max_active_tasks``)."""
        if self._loop is None:
            if self._start_loop is None:
                msg = "this run was built without a task loop"
                raise RuntimeError(msg)
            self._loop = self._start_loop(self)
        return self._loop

    def begin(self) -> None:
        """Before any stream syncs: build the task loop and plan every saved task."""
        self._began = True
        _ = self.lifecycle

    # ------------------------------------------------------------- state
    def keep_in_flight(self, kind: JobKind, tasks_stream: Stream) -> None:
        """A kind's in-flight tasks live in its tasks stream's state."""
        self._in_flight[kind.name] = InFlightTasks(
            tasks_stream, kind.subject_field, held=self._in_ledger
        )

    def _in_ledger(self, task_id: str) -> bool:
        # A task the ledger wrote to disk needs no STATE at once (state.py's rule).
        return self.ledger is not None and self.ledger.holds(task_id)

    def keep_bookmarks(self, kind: TaskKind, results_stream: Stream) -> None:
        """A kind's bookmarks live in its results stream's state, one per subject."""
        self._bookmarks[kind.name] = Bookmarks(
            results_stream, kind.subject_field, kind.family.replication_key
        )

    def in_flight(self, kind: JobKind) -> InFlightTasks:
        """The tasks of a kind submitted and not yet fully extracted."""
        return self._in_flight[kind.name]

    def bookmarks(self, kind: TaskKind) -> Bookmarks:
        """The newest result emitted per subject of a kind."""
        return self._bookmarks[kind.name]

    @functools.cached_property
    def settings(self) -> Settings:
        """The validated settings of this run."""
        return self._load_settings()

    @functools.cached_property
    def budget(self) -> Budget:
        """What this run may spend, and what it skipped (budget.py)."""
        settings = self.settings
        return Budget(settings.max_credits_per_run, settings.min_credits_balance)

    @functools.cached_property
    def ledger(self) -> Ledger:
        """The purchase ledger (ledger.py): its uncertain claims released first when
        ``release_uncertain_purchases`` says so."""
        ledger = Ledger.for_settings(self.settings, logger=_LOGGER)
        if self.settings.release_uncertain_purchases:
            for purchase in ledger.release_uncertain():
                _LOGGER.warning(
                    "Released the uncertain %s purchase of %s (release_uncertain_purchases): "
                    "this run may buy it again",
                    purchase.kind,
                    purchase.video_url or purchase.video_id,
                )
        return ledger

    def account_read(self, record: t.Mapping[str, t.Any]) -> None:
        """An ``account_usage`` row was read: its balance serves the budget's floor."""
        if not self.budget.balance_known:
            self.budget.know_balance(balance_of(record))

    def batch_files(self, stream_name: str, batch_config: BatchConfig) -> BatchFiles:
        """A stream's batch file writer for this run; the first one asked for first
        removes the tap's batch files older than ``batch_file_retention_hours``."""
        if not self._batch_files:
            remove_old_batch_files(batch_config, self.settings.batch_file_retention_hours)
        if stream_name not in self._batch_files:
            self._batch_files[stream_name] = BatchFiles(
                batch_config, stream_name, self._batch_label
            )
        return self._batch_files[stream_name]

    # ------------------------------------------------------------ problems
    def problem(self, message: str) -> None:
        """Record something that makes the run end non-zero (after finishing the rest)."""
        self._problems.append(message)

    @property
    def problems(self) -> tuple[str, ...]:
        """Everything that makes this run end non-zero, in order."""
        return tuple(self._problems)

    def raise_if_failed(self) -> None:
        """After every stream synced: RunFailedError when anything went wrong."""
        self.spool.close()
        if not self._began:
            return  # a tap that discovered or checked, and synced nothing
        if "ledger" in self.__dict__:
            for line in self.ledger.uncertain_summary():
                _LOGGER.warning("%s", line)
        summary = self.budget.summary()
        if summary is not None:
            # Said last, after every stream's summary: the one thing to act on.
            _LOGGER.warning("%s", summary)
        if self._problems:
            raise RunFailedError(
                f"{len(self._problems)} problem(s): "
                + "; ".join(self._problems)
                + ". Everything else was extracted and its state saved; rerun to retry."
            )

    # -------------------------------------------------------------- counts
    def count_results(self, number: int) -> None:
        """``number`` result records were emitted."""
        self._results_emitted += number

    @property
    def results_emitted(self) -> int:
        """Result records emitted so far."""
        return self._results_emitted

    # ----------------------------------------------------- finished tasks
    @contextlib.contextmanager
    def handing_over(self, finished: FinishedTask[t.Any]) -> t.Iterator[None]:
        """Make a finished task readable by its results stream while its record syncs.

        The SDK syncs a parent record's child contexts before it resumes the parent's
        generator; the task is dropped when the generator resumes (or is closed).
        """
        self._finished[finished.task_id] = finished
        try:
            yield
        finally:
            del self._finished[finished.task_id]

    def finished(self, task_id: str) -> FinishedTask[TaskKind]:
        """The finished scrape task being handed over under this id (its results stream
        reads it)."""
        return self._finished[task_id]
