"""The few places the tap reaches inside singer-sdk; these fail if the SDK changes under us."""

from __future__ import annotations

import inspect

from singer_sdk import Stream
from singer_sdk.streams._state import StreamStateManager

from tap_vidnavigator.streams import VideosStream


def test_sdk_still_increments_state_through_the_method_we_override():
    source = inspect.getsource(Stream._sync_records)
    assert "self._increment_stream_state(record, context=current_context)" in source
    assert "_increment_stream_state" in VideosStream.__dict__


def test_sdk_state_flush_flag_and_writer_exist():
    assert "is_flushed" in inspect.getsource(StreamStateManager)
    source = inspect.getsource(Stream._write_state_message)
    assert "if not self.state_manager.is_flushed" in source


def test_sdk_writes_child_records_before_resuming_the_parent_generator():
    # The lifecycle forgets a finished task only when the parent generator resumes,
    # which must happen after the children synced (so after their records were written).
    source = inspect.getsource(Stream._sync_records)
    assert source.index("self._process_record(") < source.index(
        "self._write_record_message(record)"
    )
