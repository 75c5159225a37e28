"""Results of a finished task kept on local disk until its stream reads them.

The SDK syncs one parent stream after another, while every kind's tasks run side by
side: a search that finishes while the profiles stream syncs waits for the searches
stream. Tasks expire about an hour after they finish, and a long profiles sync would
let it expire unread (paid for, and lost). So the lifecycle reads such a task's results
at once, page by page through the API (free), into a file of JSON lines; its results
stream later reads the file instead of the API. Files live in a temporary folder of
the run and are removed when their task was handed over (or the run ends).
"""

from __future__ import annotations

import shutil
import tempfile
import typing as t
from pathlib import Path

import orjson

from tap_vidnavigator.paging import next_cursor, page_pagination

if t.TYPE_CHECKING:
    from tap_vidnavigator.kinds import JobKind


class Spool:
    """Every spooled task's file, in one temporary folder of the run."""

    def __init__(self) -> None:
        self._folder: Path | None = None

    def write(
        self,
        api: t.Callable[..., dict[str, t.Any]],
        kind: JobKind,
        task_id: str,
        first: t.Mapping[str, t.Any],
        page_size: int,
    ) -> tuple[Path, int]:
        """Page through a task from its terminal poll's first page into a file; the
        file and how many results it holds."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-spool-"))
        path = self._folder / f"{task_id}.jsonl"
        count = 0
        data: t.Mapping[str, t.Any] = first
        with path.open("wb") as out:
            while True:
                results = data.get(kind.results_field)
                for result in results if isinstance(results, list) else ():
                    out.write(orjson.dumps(result) + b"\n")
                    count += 1
                cursor = next_cursor(page_pagination(data, task_id), task_id)
                if cursor is None:
                    return path, count
                params = {"cursor": cursor, "limit": page_size}
                data = api("GET", f"{kind.route}/{task_id}", params=params)["data"]

    @staticmethod
    def read(path: Path) -> t.Iterator[t.Any]:
        """The results of a spooled task, in the order they were served."""
        with path.open("rb") as lines:
            for line in lines:
                yield orjson.loads(line)

    @staticmethod
    def remove(path: Path) -> None:
        """Drop a spooled task's file once its results were emitted."""
        path.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the run's spool folder."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
