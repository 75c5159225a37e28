"""The rows of an observation stream (``video_stats``), written beside their source.

Every results record a task family emits is also an observation: the video's counts
as that task saw them. The row is made from the typed record in the same pass (no
request, no second typing) and written at once: as a RECORD message, or into the
stream's own batch files, whose BATCH messages go out when the task's results are
done, before the STATE that moves the task's bookmark. Deselected, the stream costs
nothing: no row is made.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from tap_vidnavigator.batch import BatchSink
from tap_vidnavigator.records.video_stats import TaskObservations

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig

    from tap_vidnavigator.record_loop import FastRecordLoopStream
    from tap_vidnavigator.run import FinishedTask, Run

Observe = t.Callable[[dict[str, t.Any]], None]


class Observations:
    """One run's rows of an observation stream."""

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

    def recorder(self, finished: FinishedTask) -> Observe | None:
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
        encoded = rows.encoded
        sink = self._batch_sink()
        if sink is not None:
            add = sink.add_encoded
            return lambda record: add(encoded(record))
        direct = self._stream.direct_writer()
        if direct is None:  # stream maps or deselected columns: the SDK's pipeline
            write, make = self._stream.write_one, rows.row
            return lambda record: write(make(record))
        writer, name = direct
        clock = self._stream.extraction_time
        write_encoded = writer.write_encoded
        return lambda record: write_encoded(name, encoded(record), clock())

    def task_done(self) -> None:
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
