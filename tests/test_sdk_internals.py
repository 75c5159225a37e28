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


def test_sdk_record_pipeline_is_what_the_fast_path_skips():
    source = inspect.getsource(Stream._generate_record_messages)
    for step in (
        "pop_deselected_record_properties",
        "conform_record_data_types",
        "stream_map.transform",
    ):
        assert step in source, step
    assert "self._generate_record_messages(record)" in inspect.getsource(
        Stream._write_record_message
    )


def test_fast_path_gives_the_same_messages_as_the_sdk():
    from singer_sdk.streams.core import Stream as SdkStream

    from tap_vidnavigator.records import TaskInfo, video_record
    from tap_vidnavigator.tap import TapVidNavigator

    tap = TapVidNavigator(config={"api_key": "k-123456", "profiles": ["@ab"]}, validate_config=True)
    stream = tap.streams["videos"]
    assert stream._records_pass_through
    raw = {"id": "7300000000000000001", "timestamp": 1_700_000_000, "likes": "5", "title": "é"}
    record = video_record(raw, TaskInfo("t1", "https://www.tiktok.com/@ab", "ab"))
    fast = list(stream._generate_record_messages(dict(record)))
    slow = list(SdkStream._generate_record_messages(stream, dict(record)))
    assert [(m.stream, m.record, m.version) for m in fast] == [
        (m.stream, m.record, m.version) for m in slow
    ]


def test_fast_path_steps_aside_for_stream_maps():
    from tap_vidnavigator.tap import TapVidNavigator

    config = {
        "api_key": "k-123456",
        "profiles": ["@ab"],
        "stream_maps": {"videos": {"title": "__NULL__"}},
    }
    tap = TapVidNavigator(config=config)
    assert not tap.streams["videos"]._records_pass_through
