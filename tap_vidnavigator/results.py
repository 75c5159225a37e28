"""The read of one finished scrape task's results, whole: the one module that owns it.

Where they come from (a file spooled while another stream synced, the signed download
link, or the API's cursor pages from the terminal poll's first page on), in that
order of preference; each distinct result emitted once (by its family's ``result_id``),
typed, shown to the run's observers (video_stats, enrichments) a run at a time; and at
the end, the observers told the task is done and the bookmark settled, only if the
count is what the API said the task holds. The stream supplies only how to page (the
SDK's paginator) and how to reach storage hosts (download.py).
"""

from __future__ import annotations

import array
import itertools
import typing as t

from tap_vidnavigator.download import DownloadError, iter_download
from tap_vidnavigator.errors import BadResponseError
from tap_vidnavigator.paging import next_cursor, page_pagination
from tap_vidnavigator.records.values import RecordError
from tap_vidnavigator.spool import Spool
from tap_vidnavigator.tasks import observing

if t.TYPE_CHECKING:
    import logging

    import requests

    from tap_vidnavigator.kinds import TaskKind
    from tap_vidnavigator.run import Run
    from tap_vidnavigator.state import Bookmarks
    from tap_vidnavigator.tasks import FinishedTask, Observe, Observer

_INT64_LIMIT = 2**63
#: Records per run given to an observer (tasks.Observe).
RUN_LENGTH = 500


class SeenIds:
    """The result ids already emitted for a task: exact, and small in the usual case.

    The API serves results newest first, and TikTok ids grow with time, so ids usually
    arrive strictly descending: while they do, none can repeat an earlier one and they
    are kept in an array of 8-byte ints. The first id out of that order (or one that is
    not a plain number) moves everything into a set, which catches any repeat.
    """

    def __init__(self) -> None:
        self._descending = array.array("q")
        self._set: set[int | str] | None = None

    def __len__(self) -> int:
        return len(self._descending) if self._set is None else len(self._set)

    def add(self, result_id: str) -> bool:
        """Remember an id; False if it was already there."""
        # Only canonical decimal text becomes an int ("7" and "007" stay distinct).
        canonical = result_id.isascii() and result_id.isdigit() and result_id[0] != "0"
        key: int | str = int(result_id) if canonical and len(result_id) <= 19 else result_id
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


def page_results(data: t.Mapping[str, t.Any], finished: FinishedTask[TaskKind]) -> list[t.Any]:
    """The results of one page (or the first page, in the terminal poll)."""
    results = data.get(finished.kind.results_field)
    if not isinstance(results, list):
        msg = (
            f"A page of task {finished.task_id} has '{finished.kind.results_field}' that is "
            "not a list"
        )
        raise BadResponseError(msg)
    return results


class TaskResults:
    """Types and de-duplicates one task's results, and settles its bookmark at the end."""

    def __init__(
        self,
        finished: FinishedTask[TaskKind],
        *,
        run: Run,
        logger: logging.Logger,
        observers: t.Sequence[Observer] = (),
    ) -> None:
        self.finished = finished
        self._observers = observers
        #: Called with the records emitted, a run at a time (see Observe).
        self._observe: Observe | None = observing(observers, finished)
        self._run = run
        self._logger = logger
        self._type = finished.kind.result_typer(finished.task_id, finished.subject)
        self.seen = SeenIds()
        self.newest: str | None = None

    def read(
        self,
        *,
        use_download: bool,
        storage: t.Callable[[], requests.Session],
        pages: t.Callable[[str], t.Iterable[t.Any]],
        timeout: float,
    ) -> t.Iterator[dict[str, t.Any]]:
        """Every result of the task, each once, typed and observed; then the observers
        are told the task is done (before any STATE that moves its bookmark).

        ``storage`` gives the session for download links (no API key); ``pages`` the
        raw results from a cursor on, through the SDK's paginator.
        """
        finished, kind = self.finished, self.finished.kind
        complete = False
        if finished.spooled is not None:
            # Read while another stream synced, before it could expire (spool.py).
            yield from self.typed(Spool.read(finished.spooled), strict=False)
            complete = True
        elif (
            use_download
            and finished.download_url
            # The terminal poll's page holds every result: a download is one request
            # more per task for nothing (thousands of small profiles).
            and next_cursor(page_pagination(finished.data, finished.task_id), finished.task_id)
            is not None
        ):
            try:
                runs = iter_download(
                    storage(), finished.download_url, timeout=timeout,
                    results_field=kind.results_field,
                )  # fmt: skip
                yield from self.typed(itertools.chain.from_iterable(runs), strict=True)
                complete = self.has_all
                if not complete:
                    self._logger.warning(
                        "The download of task %s held %d of %d %s; paging for the rest",
                        finished.task_id,
                        len(self.seen),
                        finished.total_items,
                        kind.results_field,
                    )
            except (DownloadError, RecordError) as exc:
                self._logger.warning(
                    "Could not use the download of task %s (%s); paging through the API "
                    "instead (%d %s already emitted are not repeated)",
                    finished.task_id,
                    exc,
                    len(self.seen),
                    kind.results_field,
                )
        if not complete:
            yield from self.typed(self._paged(pages), strict=False)
        for observer in self._observers:
            # Their rows, files and pending videos go out before the STATE that moves
            # the bookmark past these results.
            observer.task_done(finished, complete=self.has_all)

    def _paged(self, pages: t.Callable[[str], t.Iterable[t.Any]]) -> t.Iterator[t.Any]:
        first = self.finished.data
        yield from page_results(first, self.finished)
        cursor = next_cursor(page_pagination(first, self.finished.task_id), self.finished.task_id)
        if cursor is not None:
            # The first page came with the terminal poll: the SDK's paginator goes on
            # from the cursor it gave.
            yield from pages(cursor)

    def typed(self, raw_results: t.Iterable[t.Any], *, strict: bool) -> t.Iterator[dict]:
        """Each result not emitted before, typed. A result that cannot be typed raises
        RecordError when ``strict`` (a download: page instead), else is skipped as a
        problem of the run."""
        seen, newest, observe = self.seen, self.newest, self._observe
        run: list[dict[str, t.Any]] = []
        family = self.finished.kind.family
        id_field, replication_key = family.result_id, family.replication_key
        try:
            for raw in raw_results:
                try:
                    record = self._type(raw)
                except RecordError as exc:
                    if strict:
                        raise
                    self._logger.error(
                        "Skipped one of the %s that cannot be loaded: %s",
                        self.finished.kind.results_field,
                        exc,
                    )
                    self._run.problem(str(exc))
                    continue
                if not seen.add(record[id_field]):
                    continue
                value = record[replication_key]
                if value and (newest is None or value > newest):
                    newest = value
                if observe is not None:
                    run.append(record)
                    if len(run) == RUN_LENGTH:
                        observe(run)
                        run = []
                yield record
        finally:
            self.newest = newest
            if run:  # the records already emitted are observed, however this ends
                t.cast("Observe", observe)(run)

    @property
    def has_all(self) -> bool:
        """Whether as many distinct results arrived as the API says the task holds."""
        expected = self.finished.total_items
        return expected is None or len(self.seen) >= expected

    def settle(self, bookmarks: Bookmarks, *, write_state: bool = True) -> None:
        """Count what was emitted; advance the bookmark only if every result arrived.

        ``write_state=False`` leaves the STATE to the caller: under BATCH the last
        records are still being written to a file whose BATCH message must come first.
        """
        finished = self.finished
        self._run.count_results(len(self.seen))
        expected = finished.total_items
        if expected is not None and expected != len(self.seen):
            message = (
                f"task {finished.task_id} for {finished.subject}: the API reported "
                f"total_items={expected} but served {len(self.seen)} distinct "
                f"{finished.kind.results_field}"
            )
            self._logger.error("Incomplete result in %s; its bookmark is not advanced", message)
            self._run.problem(message)
            return
        bookmarks.advance(finished.subject, self.newest, write_state=write_state)
