"""The rows of an observation stream (``video_stats``), written beside their source.

Every results record a task family emits is also an observation: the video's counts
as that task saw them. The rows are made from the typed records in the same pass (no
request, no second typing), a run of up to 500 at a time (results.py), and written as
RECORD messages, or into the stream's own batch files, whose BATCH messages go out when
the task's results are done; either way before the STATE that moves the task's
bookmark. Deselected, the stream costs nothing: no row is made.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from tap_vidnavigator.batch import BatchSink
from tap_vidnavigator.records.video_stats import TaskObservations

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig

    from tap_vidnavigator.kinds import TaskKind
    from tap_vidnavigator.record_loop import FastRecordLoopStream
    from tap_vidnavigator.run import Run
    from tap_vidnavigator.tasks import FinishedTask, Observe


class Observations:
    """One run's rows of an observation stream (a ``tasks.Observer``)."""

    def __init__(
        self,
        stream: FastRecordLoopStream,
        run: Run,
        batch_config: t.Callable[[], BatchConfig | None],
    ) -> None:
        self._stream = stream
        self._run = run
        self._batch_config = batch_config
        self._schema_written = False
        self._sink: BatchSink | None = None

    @property
    def selected(self) -> bool:
        """Whether the stream's rows are wanted."""
        return self._stream.selected

    def recorder(self, finished: FinishedTask[TaskKind]) -> Observe | None:
        """What records one task's observations (None when the stream is deselected)."""
        if not self._stream.selected:
            return None
        if not self._schema_written:
            # Its rows come while other streams sync, before its own turn.
            self._stream.write_schema()
            self._schema_written = True
        # A task without completed_at was observed when the tap found it terminal.
        completed_at = finished.data.get("completed_at")
        if not completed_at:
            completed_at = dt.datetime.now(dt.timezone.utc).isoformat()
        kind = finished.kind
        rows = TaskObservations(
            kind.name,
            kind.result_schema["properties"],
            {kind.subject_field: finished.subject, "task_id": finished.task_id},
            completed_at,
        )
        sink = self._batch_sink()
        if sink is not None:
            return lambda run: _into_files(sink, rows, run)
        direct = self._stream.direct_writer()
        if direct is None:  # stream maps or deselected columns: the SDK's pipeline
            write_one = self._stream.write_one

            def write_each(run: list[dict[str, t.Any]]) -> None:
                for record in run:
                    write_one(rows.row(record))

            return write_each
        writer, name = direct
        clock = self._stream.extraction_time

        def write_run(run: list[dict[str, t.Any]]) -> None:
            writer.write_lines(rows.lines(run, *writer.envelope(name, clock())))

        return write_run

    def task_done(self, finished: FinishedTask[TaskKind], *, complete: bool) -> None:
        """A task's results are all emitted: BATCH messages for its observations' files
        (RECORD messages need nothing: the writer sends them before any STATE)."""
        if self._sink is None:
            return
        config = self._batch_config()
        assert config is not None
        for url in self._sink.close():
            self._stream.write_batch(config.encoding, [url])

    def _batch_sink(self) -> BatchSink | None:
        if self._sink is None:
            config = self._batch_config()
            if config is not None:
                files = self._run.batch_files(self._stream.name, config)
                self._sink = BatchSink(files, config)
        return self._sink


def _into_files(sink: BatchSink, rows: TaskObservations, run: list[dict[str, t.Any]]) -> None:
    start = 0
    while start < len(run):  # a file holds at most batch_size rows
        part = run[start : start + sink.room]
        sink.add_lines(rows.lines(part, b"", b"\n"), len(part))
        start += len(part)
