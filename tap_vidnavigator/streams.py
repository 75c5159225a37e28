"""The streams: a tasks stream per task family (parent) and its results stream (child).

What the two classes of stream do is shared by every family; a family's pair of
classes names its kind (records/), and their names, paths, keys and schemas follow
from its declaration (families.py).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import time
import typing as t

from typing_extensions import override

from tap_vidnavigator.client import VidNavigatorStream
from tap_vidnavigator.download import download_session
from tap_vidnavigator.envelope import envelope_data
from tap_vidnavigator.errors import ApiError, KeyRefusedError, RetriesExhaustedError
from tap_vidnavigator.extraction_stream import VideoExtractionsStream
from tap_vidnavigator.families import ACCOUNT_USAGE, TASK_FAMILIES, VIDEO_STATS
from tap_vidnavigator.lifecycle import TaskLifecycle
from tap_vidnavigator.observations import Observations
from tap_vidnavigator.paging import CursorPaginator
from tap_vidnavigator.records.account_usage import (
    ACCOUNT_USAGE_SCHEMA,
    account_usage_record,
    describe_account,
)
from tap_vidnavigator.records.profiles import PROFILE_KIND
from tap_vidnavigator.records.searches import SEARCH_KIND
from tap_vidnavigator.records.values import exact
from tap_vidnavigator.records.video_stats import VIDEO_STATS_SCHEMA
from tap_vidnavigator.results import TaskResults, page_results
from tap_vidnavigator.tasks import KindWork
from tap_vidnavigator.transcript_stream import VideoTranscriptsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.helpers.types import Context

    from tap_vidnavigator.kinds import TaskKind
    from tap_vidnavigator.run import Run
    from tap_vidnavigator.settings import TaskRequest

#: The key of a results stream's context that carries the cursor to start paging at.
START_CURSOR = "start_cursor"


def _declare(cls: type, **attributes: t.Any) -> None:
    # Class attributes where the SDK also has instance properties (schema, keys): the
    # class body form of its template, set from a declaration.
    for name, value in attributes.items():
        setattr(cls, name, value)


class CreditTally:
    """What this run's tasks cost, from their ``usage`` blocks, for the run summary.

    Credits are fractional (0.0001 per standard page): summed as decimals of what the
    API sent, so the summary says exactly what a warehouse's numeric sum says.
    """

    def __init__(self) -> None:
        self.used = decimal.Decimal(0)
        self.reported = 0
        self.unreported = 0
        self.remaining: float | None = None
        self._latest = ""

    def add(self, record: dict[str, t.Any]) -> None:
        """Count one task record."""
        if record["credits_used"] is None:
            self.unreported += 1
            return
        self.reported += 1
        self.used += exact(record["credits_used"])
        # The balance after the task settled last is the newest one known.
        settled = record["completed_at"] or ""
        if record["credits_remaining_after"] is not None and settled >= self._latest:
            self._latest = settled
            self.remaining = record["credits_remaining_after"]

    def summary(self) -> str:
        """``credits: 0.0012 used by 3 task(s), 79.9988 remaining`` or what is unknown."""
        if not self.reported and not self.unreported:
            return "credits: none (no task of this kind)"
        if not self.reported:
            return "credits: not reported by the API"
        text = f"credits: {self.used.normalize():f} used by {self.reported} task(s)"
        if self.remaining is not None:
            text += f", {exact(self.remaining).normalize():f} remaining"
        if self.unreported:
            text += f" ({self.unreported} task(s) without a usage report)"
        return text


class TasksStream(VidNavigatorStream):
    """One record per task of a kind, emitted once the task is completed or failed."""

    kind: t.ClassVar[TaskKind]
    primary_keys = ("task_id",)
    replication_key = None

    @override
    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        family = cls.kind.family
        # The SDK template's class attributes, from the family's declaration.
        _declare(cls, name=family.tasks_stream, path=family.route, schema=cls.kind.task_schema)

    def __init__(self, tap: t.Any, run: t.Any) -> None:
        super().__init__(tap, run)
        run.keep_in_flight(self.kind, self)
        run.register_kind(self.kind, self.work)

    @property
    def results_stream(self) -> ResultsStream | None:
        """The child stream, when its results are wanted (itself, or video_stats)."""
        for child in self.child_streams:
            if isinstance(child, ResultsStream) and (
                child.selected or child.has_selected_descendents
            ):
                return child
        return None

    @override
    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        # Task rows stay RECORD messages under batch_config: one small row per task,
        # written the moment its results are, before the task leaves the in-flight
        # state. In a batch file they would wait for the run's end, and a killed run
        # would lose the rows of tasks it no longer remembers.
        return None

    def requests(self) -> t.Sequence[TaskRequest]:
        """The requests the settings make of this kind."""
        return self.settings.requests_for(self.kind.family)

    def given_task_ids(self) -> t.Sequence[str]:
        """Existing tasks of this kind to read without submitting."""
        return self.settings.task_ids_for(self.kind.family)

    def submit_filters(self, request: TaskRequest) -> dict[str, t.Any] | None:
        """The filters to submit for a request: its own, with the incremental floor.

        With a bookmark, the floor is the bookmark's date less ``lookback_days``; on a
        first run, ``start_date``; a later configured floor wins. None when no result
        could match (nothing to pay for).
        """
        kind, settings = self.kind, self.settings
        filters = request.filter_dict()
        selected = self.results_stream is not None
        bookmark = self.run.bookmarks(kind).get(request.subject) if selected else None
        floor: dt.date | None = None
        if bookmark is not None:
            floor = bookmark.date() - dt.timedelta(days=settings.lookback_days)
            if settings.observe_days:
                # Every video of the last observe_days is observed again (video_stats).
                window = dt.datetime.now(dt.timezone.utc).date()
                floor = min(floor, window - dt.timedelta(days=settings.observe_days))
            if settings.start_date is not None:
                floor = max(floor, settings.start_date)
            self.logger.info(
                "Incremental: %s has %s up to %s; asking for posts from %s "
                "(lookback_days=%d, %s=%d)",
                request.subject,
                kind.results_field,
                bookmark.isoformat(),
                floor,
                settings.lookback_days,
                VIDEO_STATS.window_setting,
                settings.observe_days,
            )
        elif settings.start_date is not None:
            floor = settings.start_date
        configured = filters.get(kind.family.floor_filter)
        if floor is not None and (configured is None or floor.isoformat() > configured):
            filters[kind.family.floor_filter] = floor.isoformat()
        ceiling = filters.get(kind.family.ceiling_filter)
        if ceiling is not None and filters.get(kind.family.floor_filter, "") > ceiling:
            self.logger.info(
                "Skipping %s: its bookmark is past %s %s, so no post can match",
                kind.describe(request),
                kind.family.ceiling_filter,
                ceiling,
            )
            return None
        return filters

    def work(self) -> KindWork | None:
        """What this run asks of this stream's kind; None when neither this stream nor
        anything below it is selected."""
        if not (self.selected or self.has_selected_descendents):
            return None
        return KindWork(
            kind=self.kind,
            requests=self.requests(),
            task_ids=self.given_task_ids(),
            in_flight=self.run.in_flight(self.kind),
            submit_filters=self.submit_filters,
            api=self.call_api,
        )

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        lifecycle = self.run.lifecycle
        completed = failed = 0
        credits = CreditTally()
        results_before = self.run.results_emitted
        for finished in lifecycle.finished_tasks(self.kind):
            record = self.kind.task_record(finished.data, finished.subject, finished.usage)
            credits.add(record)
            if record["task_status"] == "failed":
                failed += 1
                self.logger.warning(
                    "Task %s for %s failed: %s%s; its %s record carries the error and the "
                    "run goes on",
                    finished.task_id,
                    finished.described,
                    f"{record['error_code']}: " if record["error_code"] else "",
                    record["error_message"] or "no reason given",
                    self.name,
                )
            else:
                completed += 1
                self.logger.info(
                    "Task %s for %s completed: %s",
                    finished.task_id,
                    finished.subject,
                    self.kind.describe_stats(record["stats"] or {}),
                )
            yield record
        self.logger.info(
            "Run summary: %d %s records (%d completed, %d failed), %d %s records, %s, "
            "%d problem(s)",
            completed + failed,
            self.name,
            completed,
            failed,
            self.run.results_emitted - results_before,
            self.kind.results_field,
            credits.summary(),
            len(self.run.problems),
        )

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        # Failed tasks have no results: no child sync, and no SDK warning about it.
        if record["task_status"] == "completed":
            field = self.kind.subject_field
            yield {"task_id": record["task_id"], field: record[field]}


class ResultsStream(VidNavigatorStream):
    """Every matched result of each completed task of a kind."""

    kind: t.ClassVar[TaskKind]
    is_sorted = False
    fast_record_path = True

    @override
    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        family = cls.kind.family
        _declare(
            cls,
            name=family.results_stream,
            path=family.route + "/{task_id}",
            primary_keys=family.result_key,
            replication_key=family.replication_key,
            state_partitioning_keys=[family.subject_field],
            schema=cls.kind.result_schema,
        )

    def __init__(self, tap: t.Any, run: t.Any) -> None:
        super().__init__(tap, run)
        self._downloads: requests.Session | None = None
        run.keep_bookmarks(self.kind, self)

    @override
    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        # Deselected (synced for video_stats only), it writes no files.
        return self.files_batch_config if self.selected else None

    @override
    def syncs_children(self) -> bool:
        # Its "children" are its observers' streams (video_stats, enrichments; see
        # link_observers), whose rows are written beside its records.
        return False

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> t.Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        # The same records as the RECORD path, through the same loop (the fast one),
        # into files; the SDK emits each BATCH message, then STATE.
        files = self.run.batch_files(self.name, batch_config)
        records = self._sync_records(context, write_messages=False)
        for url in files.write(records):
            yield batch_config.encoding, [url]

    @override
    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        params: dict[str, t.Any] = {"limit": self.settings.page_size}
        cursor = next_page_token or (context or {}).get(START_CURSOR)
        if cursor:
            params["cursor"] = cursor
        return params

    @override
    def get_new_paginator(self) -> CursorPaginator:
        return CursorPaginator()

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        task_id = response.request.path_url.split("?")[0].rsplit("/", 1)[-1]
        yield from page_results(envelope_data(response), self.run.finished(task_id))

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        # Results have no child streams; the SDK's default would still build a child
        # context and copy it for every result.
        return ()

    @override
    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        # Bookmarks move only after all of a task's results were emitted, per subject
        # (TaskResults.settle); the SDK's per-record progress markers would be
        # promoted even for a task that failed half-way. tests/test_singer_sdk_internals.py
        # checks that the SDK still calls this method by this name.
        return

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        results = TaskResults(
            self.run.finished(context["task_id"]),
            run=self.run,
            logger=self.logger,
            observers=self.run.observers,
        )
        yield from results.read(
            use_download=self.settings.use_download_url,
            storage=self._storage,
            pages=lambda cursor: self.request_records({**context, START_CURSOR: cursor}),
            timeout=self.settings.request_timeout,
        )
        # Under batch the last file is still open: its BATCH message goes first, then
        # the SDK writes the STATE holding this bookmark.
        batching = self.get_batch_config(self.config) is not None
        results.settle(self.run.bookmarks(self.kind), write_state=not batching)

    def _storage(self) -> requests.Session:
        if self._downloads is None:
            self._downloads = download_session()
        return self._downloads


class ProfileTasksStream(TasksStream):
    """One record per profile scrape task."""

    kind = PROFILE_KIND


class VideosStream(ResultsStream):
    """Every matched video of each completed profile scrape task."""

    kind = PROFILE_KIND
    parent_stream_type = ProfileTasksStream


class SearchTasksStream(TasksStream):
    """One record per keyword-search task."""

    kind = SEARCH_KIND


class SearchResultsStream(ResultsStream):
    """Every result of each completed search task, one row per query and video."""

    kind = SEARCH_KIND
    parent_stream_type = SearchTasksStream


def link_observers(streams: t.Sequence[VidNavigatorStream]) -> None:
    """Make every stream that observes results a "child" of each results stream.

    The SDK syncs a stream when it or a descendant is selected: so the results streams
    sync when an observer alone is selected (video_stats; an enrichment that is turned
    on), and do not when nothing wants their records.
    """
    observers = [stream for stream in streams if stream.observes_results]
    for stream in streams:
        if isinstance(stream, ResultsStream):
            stream.child_streams.extend(observers)


class VideoStatsStream(VidNavigatorStream):
    """Every video's counts as each task observed them: one row per video per task.

    Its rows are made and written while the results streams sync (observations.py):
    its own sync, last of all, has nothing left to read.
    """

    name = VIDEO_STATS.stream
    primary_keys = VIDEO_STATS.key
    replication_key = None
    schema = VIDEO_STATS_SCHEMA
    observes_results = True

    def __init__(self, tap: t.Any, run: t.Any) -> None:
        super().__init__(tap, run)
        run.observe(Observations(self, run, lambda: self.files_batch_config))

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        return ()

    @override
    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        # Its files are written and announced task by task (observations.py).
        return None


class AccountUsageStream(VidNavigatorStream):
    """The account's balance, plan and meter counters: one row per run (free).

    The SDK syncs streams in name order, so it is read first, before this run buys
    anything: its row is the balance each run started from, and the budget's
    ``min_credits_balance`` reads the same answer (budget.py).
    """

    name = ACCOUNT_USAGE.stream
    path = ACCOUNT_USAGE.route
    primary_keys = ACCOUNT_USAGE.key
    replication_key = None
    schema = ACCOUNT_USAGE_SCHEMA

    @override
    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        # One small row per run.
        return None

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        read_at = dt.datetime.now(dt.timezone.utc).isoformat()
        try:
            data = self.call_api("GET", self.path)["data"]
        except KeyRefusedError:
            raise
        except (ApiError, RetriesExhaustedError) as exc:
            # The balance is a report: the run's data is extracted whatever it says.
            self.logger.warning(
                "Could not read the account's usage (GET %s): %s; %s has no row this run",
                self.path,
                exc,
                self.name,
            )
            return
        record = account_usage_record(data, read_at)
        self.logger.info("Account: %s", describe_account(record))
        self.run.account_read(record)
        yield record


#: Every stream of the tap, in the order it lists (and syncs) them.
STREAM_CLASSES: tuple[type[VidNavigatorStream], ...] = (
    ProfileTasksStream,
    VideosStream,
    SearchTasksStream,
    SearchResultsStream,
    VideoStatsStream,
    AccountUsageStream,
    VideoTranscriptsStream,
    VideoExtractionsStream,
)


def start_lifecycle(run: Run, sleep: t.Callable[[float], None] = time.sleep) -> TaskLifecycle:
    """The run's one task loop (``Run.lifecycle``), built before any stream syncs: says
    which shard this run is, then plans every registered kind's tasks. ``sleep``: how it
    waits for tasks (the tap's: a STATE held back goes out first)."""
    logger = logging.getLogger("tap-vidnavigator")
    settings = run.settings
    if settings.shard_count > 1:
        mine: dict[str, t.Sequence[t.Any]] = {}
        for family in TASK_FAMILIES:
            mine[family.requests_setting] = settings.requests_for(family)
            mine[family.task_ids_setting] = settings.task_ids_for(family)
        logger.info(
            "Shard %d of %d (shard_index %d): %s",
            settings.shard_index + 1,
            settings.shard_count,
            settings.shard_index,
            ", ".join(
                f"{len(items)} of {settings.configured[name]} {name}"
                for name, items in mine.items()
                if settings.configured[name]
            ),
        )
    return TaskLifecycle.for_run(run, logger, sleep=sleep)
