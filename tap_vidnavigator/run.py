"""One run's shared state, with one owner: settings, finished tasks, counts, problems.

The lifecycle, the streams and the result reader change it only through the methods
here, so what a run did (and whether it failed) is decided in one place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import typing as t
from pathlib import Path

from tap_vidnavigator.batch import BatchFiles, remove_old_batch_files, run_label
from tap_vidnavigator.budget import Budget
from tap_vidnavigator.errors import RunFailedError
from tap_vidnavigator.ledger import Ledger, default_folder
from tap_vidnavigator.records.account_usage import balance_of
from tap_vidnavigator.spool import Spool
from tap_vidnavigator.state import Bookmarks, InFlightTasks

_LOGGER = logging.getLogger("tap-vidnavigator")

if t.TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.helpers._batch import BatchConfig

    from tap_vidnavigator.kinds import TaskKind
    from tap_vidnavigator.lifecycle import TaskLifecycle
    from tap_vidnavigator.observations import Observations
    from tap_vidnavigator.settings import Settings, TaskRequest
    from tap_vidnavigator.streams import TasksStream
    from tap_vidnavigator.transcript_stream import TranscriptCandidates


@dataclasses.dataclass
class FinishedTask:
    """A terminal task: its last poll (first page of results included) and origin."""

    task_id: str
    kind: TaskKind
    subject: str
    data: dict[str, t.Any]
    request: TaskRequest | None = None
    #: The ``usage`` block beside ``data`` (credits this task cost), when answered.
    usage: dict[str, t.Any] | None = None
    #: Its results, read into a local file while another stream synced (spool.py).
    spooled: Path | None = None

    @property
    def download_url(self) -> str | None:
        """The signed link of the whole result, when offered."""
        url = self.data.get("download_url")
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None

    @property
    def total_items(self) -> int | None:
        """How many results the API says the task has."""
        pagination = self.data.get("pagination")
        total = pagination.get("total_items") if isinstance(pagination, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    @property
    def described(self) -> str:
        """The task's request (or subject) as the logs name it."""
        return self.kind.describe(self.request) if self.request else self.subject


class Run:
    """Shared state of one tap run: the one owner of what the run keeps and did.

    It holds, per kind, the in-flight tasks (in the tasks stream's state) and the
    bookmarks (in the results stream's state), read and changed by subject; the
    finished task being handed over; the counts; and the problems that fail the run.
    Settings are loaded on first use, so that ``--discover`` works without a config.
    """

    def __init__(self, load_settings: t.Callable[[], Settings]) -> None:
        self._load_settings = load_settings
        self._finished: dict[str, FinishedTask] = {}
        self._problems: list[str] = []
        self._results_emitted = 0
        self._in_flight: dict[str, InFlightTasks] = {}
        self._bookmarks: dict[str, Bookmarks] = {}
        self._lifecycle: TaskLifecycle | None = None
        #: Results of finished tasks that wait for their own stream (spool.py).
        self.spool = Spool()
        self._batch_files: dict[str, BatchFiles] = {}
        self._batch_label = run_label()
        #: The rows of video_stats, written beside the results streams' records.
        self.observations: Observations | None = None
        #: The videos video_transcripts takes, collected beside the results streams.
        self.transcript_candidates: TranscriptCandidates | None = None
        #: Each kind's tasks stream, by kind name (the latest built, should the tap
        #: build its streams again), in the order the tap lists them.
        self.tasks_streams: dict[str, TasksStream] = {}

    def lifecycle(self, start: t.Callable[[], TaskLifecycle]) -> TaskLifecycle:
        """The run's one task loop, started by the first tasks stream that syncs.

        Every kind's tasks run in it (sharing ``max_active_tasks``); each tasks stream
        asks it for its own kind's finished tasks.
        """
        if self._lifecycle is None:
            self._lifecycle = start()
        return self._lifecycle

    # ------------------------------------------------------------- state
    def keep_in_flight(self, kind: TaskKind, tasks_stream: Stream) -> None:
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

    def in_flight(self, kind: TaskKind) -> InFlightTasks:
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
    def ledger(self) -> Ledger | None:
        """The ledger of tasks bought (ledger.py), or None when there is none."""
        settings = self.settings
        folder = Path(settings.ledger_dir) if settings.ledger_dir else default_folder()
        if not settings.use_ledger or folder is None:
            return None
        return Ledger(folder, api_url=settings.api_url, api_key=settings.api_key, logger=_LOGGER)

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
    def handing_over(self, finished: FinishedTask) -> t.Iterator[None]:
        """Make a finished task readable by its results stream while its record syncs.

        The SDK syncs a parent record's child contexts before it resumes the parent's
        generator; the task is dropped when the generator resumes (or is closed).
        """
        self._finished[finished.task_id] = finished
        try:
            yield
        finally:
            del self._finished[finished.task_id]

    def finished(self, task_id: str) -> FinishedTask:
        """The finished task being handed over under this id."""
        return self._finished[task_id]
