"""The tap's one replacement of singer-sdk internals: its own record loop.

For every record the SDK's loop (``Stream._sync_records``) pops deselected properties,
conforms types, applies stream maps, builds a message object, passes it through two
writer layers, looks for child contexts and updates bookmarks. For a stream that opts
in (``fast_record_path``) and, at run time, is selected, has a context, nothing
deselected, no maps and the tap's writer, each of those returns the record unchanged
(conformance is off: records/ types each value once), at more cost than everything
else the tap does per record. The loop here keeps what still matters and writes each
record straight to the writer; any other case runs the SDK's own loop.

It mirrors a private method of the SDK, so it is written against known versions of
that method: :data:`SDK_LOOP_DIGESTS` holds, per supported singer-sdk line, the digest
of the SDK source it mirrors. ``tests/test_singer_sdk_internals.py`` fails when the
installed SDK's source differs from its line's digest (or its line is not listed), and
checks that both loops write the same messages, message for message.

It is also where the tap's STATE writer (state.py's :class:`StateGate`) takes the place
of the SDK's: the SDK has no public hook for when STATE is written, and writes the
whole state (deep-copied, to compare with the last) after every partition of a child
stream, which for thousands of subjects costs the square of the subjects.
"""

from __future__ import annotations

import datetime
import functools
import time
import typing as t

from singer_sdk import RESTStream
from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from tap_vidnavigator.state import StateGate
from tap_vidnavigator.writer import OrjsonWriter

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers._batch import BaseBatchFileEncoding
    from singer_sdk.helpers.types import Context

#: Per singer-sdk line, the SHA-256 of the source of the SDK methods this loop mirrors.
#: Kept as digests because not every effect of that loop is something a test can
#: observe in the messages (sync-cost accounting, timers, when a partition's progress
#: markers are finalised). When the test fails: compare the new ``Stream._sync_records``
#: and ``Stream._process_record`` with the loop below, carry over what matters, then
#: add or update the line's digests.
SDK_LOOP_DIGESTS: dict[str, dict[str, str]] = {
    "0.54": {
        "_sync_records": "8928dc7f50e9bf57cc98734b30e3953b0e19007f85fe020a0c80ccdbcf5d329f",
        "_process_record": "8529b9f3ce2f849db6858c120e7ea1b8ff246714ea48edb355ca3eb6a9c27c0b",
    },
    # 0.55 finalises a partition's state only for streams that are not FULL_TABLE: the
    # streams that take this loop are incremental, for which both lines do the same.
    "0.55": {
        "_sync_records": "cb3de30fd4d7639808909c2257b0dac06a3b30f22acfde0d7ed8d43c2494a585",
        "_process_record": "8529b9f3ce2f849db6858c120e7ea1b8ff246714ea48edb355ca3eb6a9c27c0b",
    },
}
#: The record counter logs by time; incrementing it in runs costs fewer calls.
_COUNT_EVERY = 500


def install_state_gate(tap: Tap) -> StateGate | None:
    """Make the tap's STATE writer a :class:`StateGate` (state.py decides when STATE
    goes out), when the tap writes through its own writer.

    The SDK writes every STATE through ``tap.state_writer`` (``Stream._write_state_message``,
    ``Tap.sync_all``), an instance it makes in ``Tap.__init__`` with no way to choose
    its class: it is replaced here. tests/test_singer_sdk_internals.py fails if those
    SDK names change.
    """
    writer = tap.message_writer
    if not isinstance(writer, OrjsonWriter):
        return None
    gate = StateGate(writer.write_line)
    tap._state_writer = gate  # type: ignore[assignment]
    return gate


def wait_for_tasks(tap: Tap, seconds: float) -> None:
    """Sleep while tasks run; a STATE the tap's gate held back goes out first (state.py's
    rule 2: nothing waits in memory while the tap waits)."""
    gate = tap.state_writer
    if isinstance(gate, StateGate):
        gate.before_wait(seconds)
    time.sleep(seconds)


class FastRecordLoopStream(RESTStream[str]):
    """A REST stream that may take the tap's own record loop (see the module)."""

    #: A stream opts in to the tap's own record loop (see _sync_records). It must keep
    #: its bookmarks itself (override _increment_stream_state), have no child streams
    #: and no post_process: checked when the class is defined, so that a stream that
    #: cannot take the fast loop fails at import instead of silently going slow.
    fast_record_path: t.ClassVar[bool] = False

    @override
    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.fast_record_path:
            return
        problems = []
        if cls._increment_stream_state is RESTStream._increment_stream_state:
            problems.append("it does not keep its own bookmarks (_increment_stream_state)")
        if cls.post_process is not RESTStream.post_process:
            problems.append("it overrides post_process, which the fast loop skips")
        if problems:
            msg = f"{cls.__name__} asks for fast_record_path but " + " and ".join(problems)
            raise TypeError(msg)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._extracted_checked = -1e9
        self._extracted_at = datetime.datetime.now(datetime.timezone.utc)
        super().__init__(*args, **kwargs)

    @property
    def state_gate(self) -> StateGate | None:
        """The tap's STATE writer, when it is the tap's own (install_state_gate)."""
        gate = self._tap.state_writer
        return gate if isinstance(gate, StateGate) else None

    def wait(self, seconds: float) -> None:
        """Sleep while tasks run; a STATE held back goes out first (state.py's rule)."""
        wait_for_tasks(self._tap, seconds)

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> t.Any:
        # A stream of the fast loop keeps its own bookmarks (its signpost is never read);
        # the SDK would write one into every partition's state, finding it by a search
        # of the whole list per task.
        if self.fast_record_path:
            return None
        return super().get_replication_key_signpost(context)

    @override
    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        # The SDK calls this after each stream's sync: the end of a stream (and of its
        # children) writes STATE at once (state.py's rule 2).
        if self.fast_record_path and not state:
            # Nothing to promote: such a stream keeps its own bookmarks and never has
            # progress or sync markers; the SDK would look up every partition, each by
            # a search of the whole list (the square of the subjects).
            for child in self.child_streams or []:
                if child.selected:
                    child.finalize_state_progress_markers()
            self._write_state_message()
        else:
            super().finalize_state_progress_markers(state)
        gate = self.state_gate
        if gate is not None:
            gate.flush()

    @override
    def log_sync_costs(self) -> None:
        # The SDK's last act of a sync, for every stream, after every stream synced:
        # the run's last STATE goes out here, whatever the rule held back.
        super().log_sync_costs()
        gate = self.state_gate
        if gate is not None:
            gate.flush()

    def syncs_children(self) -> bool:
        """Whether a record may have child streams to sync (the fast loop cannot)."""
        return bool(self.child_streams)

    def before_sync(self) -> None:
        """Called as each sync of this stream begins, before its first record: the
        SDK's ``Tap.sync_all`` and ``Stream.sync`` are final, and this loop is the one
        place every stream's sync passes through."""

    # A stream whose rows are made while another stream syncs (video_stats) writes its
    # messages itself, through the SDK's own message writers: the SDK calls them only
    # from a stream's own sync. tests/test_singer_sdk_internals.py checks they exist.
    def write_schema(self) -> None:
        """This stream's SCHEMA message(s), now."""
        self._write_schema_message()

    def write_one(self, record: dict[str, t.Any]) -> None:
        """One RECORD message of this stream, by the tap's writer when nothing in the
        SDK's pipeline would change it, else through that pipeline."""
        fast = self._record_writer
        if fast is None:
            self._write_record_message(record)
            return
        writer, stream_name = fast
        writer.write_record(stream_name, record, self.extraction_time())

    def direct_writer(self) -> tuple[OrjsonWriter, str] | None:
        """The tap's writer and this stream's name, when records may go to it as they
        are (see ``passes_through``); None when the SDK's pipeline must see them."""
        return self._record_writer

    def extraction_time(self) -> datetime.datetime:
        """``time_extracted`` for a record written now: to the second, read once a second."""
        now = time.monotonic()
        if now - self._extracted_checked >= 1.0:
            self._extracted_checked = now
            self._extracted_at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        return self._extracted_at

    def write_batch(self, encoding: BaseBatchFileEncoding, urls: list[str]) -> None:
        """A BATCH message of this stream for files already written."""
        self._write_batch_message(encoding, urls)

    @functools.cached_property
    def passes_through(self) -> bool:
        """Whether records leave as ``get_records`` makes them: nothing deselected, no
        stream map or flattening."""
        maps = self.stream_maps
        return (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and all(self.mask.values())
        )

    @functools.cached_property
    def _record_writer(self) -> tuple[OrjsonWriter, str] | None:
        """The tap's writer and stream name when the SDK's pipeline would change nothing
        (see ``passes_through``) and the writer is the tap's own. None otherwise."""
        writer = self._tap.message_writer
        if self.passes_through and isinstance(writer, OrjsonWriter):
            return writer, self.stream_maps[0].stream_alias
        return None

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        # See the module: the checks at class definition (no child streams, no
        # post_process, own bookmarks) and here decide; this loop keeps metrics, the
        # dry-run record limit, partition keys, and STATE every STATE_MSG_FREQUENCY
        # records and at the end.
        self.before_sync()
        fast = self._record_writer if self.fast_record_path else None
        if (
            fast is None
            or context is None
            or self.syncs_children()
            or not self.selected
            or self._stream_version is not None
        ):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        writer, stream_name = fast
        limit = self.ABORT_AT_RECORD_COUNT
        partition = self._get_state_partition_context(context) or {}
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        with record_counter, timer:
            record_counter.with_context(context)
            timer.with_context(context)
            # Not the SDK's starting replication value, nor its finalisation below: a
            # stream of this loop keeps its own bookmarks and reads neither, and each
            # finds the partition by a search of the whole list (per task: the square of
            # the subjects, for a marker every sync sets afresh).
            uncounted = 0
            try:
                for index, record in enumerate(self.get_records(context)):
                    if limit is not None:
                        self._check_max_record_limit(current_record_index=index)
                    for key, value in partition.items():
                        if key not in record:
                            record[key] = value
                    if write_messages:
                        # time_extracted to the second, computed once a second.
                        now = time.monotonic()
                        if now - self._extracted_checked >= 1.0:
                            self._extracted_checked = now
                            self._extracted_at = datetime.datetime.now(
                                datetime.timezone.utc
                            ).replace(microsecond=0)
                        writer.write_record(stream_name, record, self._extracted_at)
                        self.state_manager.is_flushed = False
                        if (index + 1) % self.STATE_MSG_FREQUENCY == 0:
                            self._write_state_message()
                    uncounted += 1
                    if uncounted == _COUNT_EVERY:  # the counter logs by time: fewer calls
                        record_counter.increment(uncounted)
                        uncounted = 0
                    yield record
            finally:
                record_counter.increment(uncounted)
        if write_messages:
            self._write_state_message()
