"""The few places the tap reaches inside singer-sdk; these fail if the SDK changes under us."""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import io
import json
import typing as t

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
        "version=self._stream_version",
    ):
        assert step in source, step
    source = inspect.getsource(Stream._write_record_message)
    assert "self._generate_record_messages(record)" in source
    assert "self._tap.write_message(record_message)" in source
    assert "self.state_manager.is_flushed = False" in source
    assert "self._write_record_message(record)" in inspect.getsource(Stream._sync_records)


def _lines_written(write: t.Callable[[Stream], None]) -> list[dict]:
    from tap_vidnavigator.tap import TapVidNavigator

    tap = TapVidNavigator(config={"api_key": "k-123456", "profiles": ["@ab"]}, validate_config=True)
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer)
    with contextlib.redirect_stdout(stdout):
        write(tap.streams["videos"])
        tap.message_writer.write_pending()
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_fast_path_writes_the_same_lines_as_the_sdk():
    from singer_sdk.streams.core import Stream as SdkStream

    from tap_vidnavigator.records import TaskInfo, video_record

    raw = {"id": "7300000000000000001", "timestamp": 1_700_000_000, "likes": "5", "title": "é"}
    record = video_record(raw, TaskInfo("t1", "https://www.tiktok.com/@ab", "ab"))

    def fast(stream: Stream) -> None:
        assert stream._record_writer is not None
        stream._write_record_message(dict(record))
        assert not stream.state_manager.is_flushed

    def slow(stream: Stream) -> None:
        SdkStream._write_record_message(stream, dict(record))

    fast_lines, slow_lines = _lines_written(fast), _lines_written(slow)
    assert len(fast_lines) == len(slow_lines) == 1
    for line in (fast_lines[0], slow_lines[0]):
        assert dt.datetime.fromisoformat(line.pop("time_extracted")).utcoffset() == dt.timedelta(0)
    assert fast_lines == slow_lines
    assert fast_lines[0]["record"] == record


def test_fast_path_steps_aside_for_stream_maps():
    from tap_vidnavigator.tap import TapVidNavigator

    config = {
        "api_key": "k-123456",
        "profiles": ["@ab"],
        "stream_maps": {"videos": {"title": "__NULL__"}},
    }
    tap = TapVidNavigator(config=config)
    assert tap.streams["videos"]._record_writer is None
    assert tap.streams["profile_tasks"]._record_writer is not None
