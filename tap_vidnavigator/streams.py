"""The streams: ``profile_tasks`` (one record per scrape task) and its child ``videos``."""

from __future__ import annotations

import array
import datetime as dt
import itertools
import typing as t

from typing_extensions import override

from tap_vidnavigator.client import VidNavigatorStream, envelope_data
from tap_vidnavigator.download import DownloadError, download_session, iter_download
from tap_vidnavigator.errors import BadResponseError, RunFailedError
from tap_vidnavigator.lifecycle import TaskLifecycle, describe
from tap_vidnavigator.paging import CursorPaginator, next_cursor, page_pagination
from tap_vidnavigator.records import (
    TASK_SCHEMA,
    VIDEO_SCHEMA,
    RecordError,
    TaskInfo,
    task_record,
    video_record,
)
from tap_vidnavigator.state import (
    InFlightTasks,
    advance_video_bookmark,
    video_bookmark,
)

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_vidnavigator.run import FinishedTask
    from tap_vidnavigator.settings import ProfileRequest


class ProfileTasksStream(VidNavigatorStream):
    """One record per scrape task, emitted once the task is completed or failed."""

    name = "profile_tasks"
    path = "/tiktok/profile"
    primary_keys = ("task_id",)
    replication_key = None
    schema = TASK_SCHEMA

    @property
    def videos_stream(self) -> VideosStream | None:
        """The child stream, when it is selected."""
        for child in self.child_streams:
            if isinstance(child, VideosStream) and child.selected:
                return child
        return None

    def submit_filters(self, request: ProfileRequest) -> dict[str, t.Any] | None:
        """The filters to submit for a request: its own, with the incremental floor.

        With a bookmark, ``after_date`` becomes the bookmark's date less
        ``lookback_days``; on a first run, ``start_date``; a later configured
        ``after_date`` wins. None when no post could match (nothing to pay for).
        """
        filters = request.filter_dict()
        settings = self.settings
        videos = self.videos_stream
        bookmark = video_bookmark(videos, request.profile_url) if videos else None
        floor: dt.date | None = None
        if bookmark is not None:
            floor = bookmark.date() - dt.timedelta(days=settings.lookback_days)
            self.logger.info(
                "Incremental: %s has videos up to %s; asking for posts from %s (lookback_days=%d)",
                request.profile_url,
                bookmark.isoformat(),
                floor,
                settings.lookback_days,
            )
        elif settings.start_date is not None:
            floor = settings.start_date
        configured = filters.get("after_date")
        if floor is not None and (configured is None or floor.isoformat() > configured):
            filters["after_date"] = floor.isoformat()
        before = filters.get("before_date")
        if before is not None and filters.get("after_date", "") > before:
            self.logger.info(
                "Skipping %s: its bookmark is past before_date %s, so no post can match",
                describe(request),
                before,
            )
            return None
        return filters

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        lifecycle = TaskLifecycle(
            api=self.call_api,
            run=self.run,
            in_flight=InFlightTasks(self),
            submit_filters=self.submit_filters,
            logger=self.logger,
        )
        completed = failed = 0
        credits = CreditTally()
        for finished in lifecycle.finished_tasks():
            record = task_record(finished.data, finished.profile_url, finished.usage)
            credits.add(record)
            stats = record["stats"] or {}
            if record["task_status"] == "failed":
                failed += 1
                self.logger.warning(
                    "Task %s for %s failed: %s%s; its profile_tasks record carries the "
                    "error and the run goes on",
                    finished.task_id,
                    describe(finished.request) if finished.request else finished.profile_url,
                    f"{record['error_code']}: " if record["error_code"] else "",
                    record["error_message"] or "no reason given",
                )
            else:
                completed += 1
                self.logger.info(
                    "Task %s for %s completed: %s videos matched of %s scanned",
                    finished.task_id,
                    finished.profile_url,
                    stats.get("videos_matched", "?"),
                    stats.get("videos_scanned", "?"),
                )
            self.run.tasks_emitted += 1
            yield record
        self.logger.info(
            "Run summary: %d profile_tasks records (%d completed, %d failed), "
            "%d videos records, %s, %d problem(s)",
            self.run.tasks_emitted,
            completed,
            failed,
            self.run.videos_emitted,
            credits.summary(),
            len(self.run.problems),
        )
        if self.run.problems:
            raise RunFailedError(
                f"{len(self.run.problems)} problem(s): "
                + "; ".join(self.run.problems)
                + ". Everything else was extracted and its state saved; rerun to retry."
            )

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        # Failed tasks have no videos: no child sync, and no SDK warning about it.
        if record["task_status"] == "completed":
            yield {"task_id": record["task_id"], "profile_url": record["profile_url"]}


class CreditTally:
    """What this run's tasks cost, from their ``usage`` blocks, for the run summary."""

    def __init__(self) -> None:
        self.used = 0.0
        self.reported = 0
        self.unreported = 0
        self.remaining: float | None = None
        self._latest = ""

    def add(self, record: dict[str, t.Any]) -> None:
        """Count one profile_tasks record."""
        if record["credits_used"] is None:
            self.unreported += 1
            return
        self.reported += 1
        self.used += record["credits_used"]
        # The balance after the task settled last is the newest one known.
        settled = record["completed_at"] or ""
        if record["credits_remaining_after"] is not None and settled >= self._latest:
            self._latest = settled
            self.remaining = record["credits_remaining_after"]

    def summary(self) -> str:
        """``credits: 12 used by 3 task(s), 988 remaining`` or what is unknown."""
        if not self.reported:
            return "credits: not reported by the API"
        text = f"credits: {self.used:g} used by {self.reported} task(s)"
        text += f", {self.remaining:g} remaining" if self.remaining is not None else ""
        if self.unreported:
            text += f" ({self.unreported} task(s) without a usage report)"
        return text


class SeenIds:
    """The video ids already emitted for a task: exact, and small in the usual case.

    The API serves videos newest first, and TikTok ids grow with time, so ids usually
    arrive strictly descending: while they do, none can repeat an earlier one and they
    are kept in an array of 8-byte ints. The first id out of that order (or one that is
    not a plain number) moves everything into a set, which catches any repeat.
    """

    def __init__(self) -> None:
        self._descending = array.array("q")
        self._set: set[int | str] | None = None

    def __len__(self) -> int:
        return len(self._descending) if self._set is None else len(self._set)

    def add(self, video_id: str) -> bool:
        """Remember an id; False if it was already there."""
        # Only canonical decimal text becomes an int ("7" and "007" stay distinct).
        canonical = video_id.isascii() and video_id.isdigit() and video_id[0] != "0"
        key: int | str = int(video_id) if canonical and len(video_id) <= 19 else video_id
        if self._set is None:
            if (
                type(key) is int
                and key < _INT64_LIMIT
                and (not self._descending or key < self._descending[-1])
            ):
                self._descending.append(key)
                return True
            self._set = set(self._descending)
            self._descending = array.array("q")
        if key in self._set:
            return False
        self._set.add(key)
        return True


_INT64_LIMIT = 2**63


class VideosStream(VidNavigatorStream):
    """Every matched video of each completed task."""

    name = "videos"
    path = "/tiktok/profile/{task_id}"
    parent_stream_type = ProfileTasksStream
    primary_keys = ("id",)
    replication_key = "published_at"
    is_sorted = False
    state_partitioning_keys: t.ClassVar[list[str]] = ["profile_url"]
    schema = VIDEO_SCHEMA

    def __init__(self, tap: t.Any, run: t.Any) -> None:
        super().__init__(tap, run)
        self._start_cursor: str | None = None
        self._task_id = ""
        self._downloads: requests.Session | None = None

    @override
    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        params: dict[str, t.Any] = {"limit": self.settings.page_size}
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    @override
    def get_new_paginator(self) -> CursorPaginator:
        return CursorPaginator(self._task_id, self._start_cursor)

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        data = envelope_data(response)
        videos = data.get("videos")
        if not isinstance(videos, list):
            msg = f"A page of task {self._task_id} has 'videos' that is not a list"
            raise BadResponseError(msg)
        yield from videos

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        # Videos have no child streams; the SDK's default would still build a child
        # context and copy it for every video.
        return ()

    @override
    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        # Bookmarks move only after all of a task's videos were emitted, per profile
        # (advance_video_bookmark); the SDK's per-record progress markers would be
        # promoted even for a task that failed half-way. tests/test_sdk_internals.py
        # checks that the SDK still calls this method by this name.
        return

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        finished = self.run.finished[context["task_id"]]
        info = TaskInfo(
            finished.task_id, finished.profile_url, finished.profile_url.rsplit("@", 1)[-1]
        )
        seen = SeenIds()
        newest: list[str] = []
        expected = finished.total_items
        complete = False
        if self.settings.use_download_url and finished.download_url:
            try:
                yield from self._emit(self._downloaded(finished), info, seen, newest, strict=True)
                complete = expected is None or len(seen) >= expected
                if not complete:
                    self.logger.warning(
                        "The download of task %s held %d of %d videos; paging for the rest",
                        finished.task_id,
                        len(seen),
                        expected,
                    )
            except (DownloadError, RecordError) as exc:
                self.logger.warning(
                    "Could not use the download of task %s (%s); paging through the API "
                    "instead (%d videos already emitted are not repeated)",
                    finished.task_id,
                    exc,
                    len(seen),
                )
        if not complete:
            yield from self._emit(self._paged(finished, context), info, seen, newest, strict=False)
        self._finish(finished, seen, newest)

    def _downloaded(self, finished: FinishedTask) -> t.Iterator[t.Any]:
        if self._downloads is None:
            self._downloads = download_session()
        url = t.cast("str", finished.download_url)
        runs = iter_download(self._downloads, url, timeout=self.settings.request_timeout)
        return itertools.chain.from_iterable(runs)

    def _paged(self, finished: FinishedTask, context: Context) -> t.Iterator[t.Any]:
        first = finished.data
        videos = first.get("videos")
        if not isinstance(videos, list):
            msg = f"Task {finished.task_id} has 'videos' that is not a list"
            raise BadResponseError(msg)
        yield from videos
        cursor = next_cursor(page_pagination(first, finished.task_id), finished.task_id)
        if cursor is None:
            return
        self._task_id, self._start_cursor = finished.task_id, cursor
        yield from self.request_records(context)

    def _emit(
        self,
        raw_videos: t.Iterable[t.Any],
        info: TaskInfo,
        seen: SeenIds,
        newest: list[str],
        *,
        strict: bool,
    ) -> t.Iterator[dict[str, t.Any]]:
        for raw in raw_videos:
            try:
                record = video_record(raw, info)
            except RecordError as exc:
                if strict:
                    raise
                self.logger.error("Skipped a video that cannot be loaded: %s", exc)
                self.run.problem(str(exc))
                continue
            if not seen.add(record["id"]):
                continue
            published = record["published_at"]
            if published and (not newest or published > newest[0]):
                newest[:] = [published]
            self.run.videos_emitted += 1
            yield record

    def _finish(self, finished: FinishedTask, seen: SeenIds, newest: list[str]) -> None:
        expected = finished.total_items
        if expected is not None and expected != len(seen):
            message = (
                f"task {finished.task_id} for {finished.profile_url}: the API reported "
                f"total_items={expected} but served {len(seen)} distinct videos"
            )
            self.logger.error("Incomplete result in %s; its bookmark is not advanced", message)
            self.run.problem(message)
            return
        advance_video_bookmark(self, finished.profile_url, newest[0] if newest else None)
