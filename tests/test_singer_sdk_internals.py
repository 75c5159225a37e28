"""The few places the tap reaches inside singer-sdk; these fail if the SDK changes under us."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import inspect
import io
import json
import logging
import re
import typing as t
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from singer_sdk import Stream
from singer_sdk.streams._state import StreamStateManager

from tap_vidnavigator.record_loop import SDK_LOOP_DIGESTS
from tap_vidnavigator.streams import ResultsStream, VideosStream
from tests.conftest import base_config, create_task


def test_sdk_still_increments_state_through_the_method_we_override():
    source = inspect.getsource(Stream._sync_records)
    assert "self._increment_stream_state(record, context=current_context)" in source
    assert "_increment_stream_state" in ResultsStream.__dict__


def test_sdk_message_writers_a_stream_uses_outside_its_own_sync_exist():
    # record_loop.py: video_stats writes its SCHEMA, RECORD and BATCH messages while
    # the results streams sync.
    assert "self._tap.write_message(schema_message)" in inspect.getsource(
        Stream._write_schema_message
    )
    assert "self._generate_record_messages(record)" in inspect.getsource(
        Stream._write_record_message
    )
    assert "self._tap.write_message(batch_message)" in inspect.getsource(
        Stream._write_batch_message
    )


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


def test_the_sdk_loop_the_tap_mirrors_is_one_it_was_written_against():
    line = ".".join(version("singer-sdk").split(".")[:2])
    assert line in SDK_LOOP_DIGESTS, f"singer-sdk {line} is not a line record_loop.py knows"
    for name, digest in SDK_LOOP_DIGESTS[line].items():
        source = inspect.getsource(getattr(Stream, name)).encode()
        assert hashlib.sha256(source).hexdigest() == digest, name


def test_the_supported_sdk_lines_are_the_dependency_range():
    # Every singer-sdk line the package accepts has its digests, and no other is listed.
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    spec = SpecifierSet(re.search(r'"singer-sdk([^"]+)"', pyproject).group(1))
    accepted = {
        f"0.{minor}"
        for minor in range(30, 80)
        if spec.contains(f"0.{minor}.0b1", prereleases=True) or spec.contains(f"0.{minor}.99")
    }
    assert accepted == set(SDK_LOOP_DIGESTS), spec


def _sync_messages(
    emulator, monkeypatch, *, fast: bool, config: dict[str, t.Any] | None = None
) -> list[dict]:
    from tap_vidnavigator.client import VidNavigatorStream
    from tap_vidnavigator.tap import TapVidNavigator

    if not fast:  # the SDK's own loop and record pipeline
        monkeypatch.setattr(VidNavigatorStream, "_record_writer", None)
    # Every STATE either loop asks for goes out (none is held back for a second), so
    # that the two are compared message for message whatever the machine's speed.
    monkeypatch.setattr("tap_vidnavigator.state.STATE_INTERVAL", 0.0)
    tap = TapVidNavigator(config={**base_config(emulator), **(config or {})})
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer)
    with contextlib.redirect_stdout(stdout):
        tap.sync_all()
    monkeypatch.undo()
    messages = [json.loads(line) for line in buffer.getvalue().splitlines()]
    for message in messages:
        if "time_extracted" in message:
            moment = dt.datetime.fromisoformat(message.pop("time_extracted"))
            assert moment.utcoffset() == dt.timedelta(0)
        # The SDK's signpost is the time the sync started: a timestamp, but not the same
        # one in two syncs (they may start in different seconds).
        for partition in (
            message.get("value", {}).get("bookmarks", {}).get("videos", {}).get("partitions", [])
        ):
            if "replication_key_signpost" in partition:
                dt.datetime.fromisoformat(partition["replication_key_signpost"])
                partition["replication_key_signpost"] = "<sync start>"
    return messages


def test_the_tap_loop_writes_exactly_what_the_sdk_loop_writes(make_emulator, monkeypatch):
    emulator = make_emulator()
    task_ids = [create_task(emulator, handle) for handle in ("big1200", "size3", "empty")]
    config = {"task_ids": task_ids, "page_size": 100}
    monkeypatch.setattr(VideosStream, "STATE_MSG_FREQUENCY", 500)  # STATE mid-task too
    fast = _sync_messages(emulator, monkeypatch, fast=True, config=config)
    monkeypatch.setattr(VideosStream, "STATE_MSG_FREQUENCY", 500)
    slow = _sync_messages(emulator, monkeypatch, fast=False, config=config)

    def the_balance(messages: list[dict]) -> list[dict]:
        # Each sync reads the account once, at its own moment (read_at).
        return [m for m in messages if m["type"] == "RECORD" and m["stream"] == "account_usage"]

    assert len(the_balance(fast)) == len(the_balance(slow)) == 1
    fast = [m for m in fast if m not in the_balance(fast)]
    slow = [m for m in slow if m not in the_balance(slow)]
    assert fast == slow
    streams = [m["stream"] for m in fast if m["type"] == "RECORD"]
    # 1,203 videos, each observed once in video_stats, and 3 profile_tasks rows.
    assert (streams.count("videos"), streams.count("video_stats")) == (1_203, 1_203)
    assert streams.count("profile_tasks") == 3 and len(streams) == 2 * 1_203 + 3
    # The first STATE, then one per task with videos (its bookmark); the mid-task ones
    # repeat the last STATE (records move no bookmark) and are not written twice.
    assert sum(m["type"] == "STATE" for m in fast) == 3


def test_the_tap_loop_keeps_the_sdk_record_count_metric(emulator, monkeypatch, caplog):
    task_id = create_task(emulator, "big1200")
    monkeypatch.setenv("TAP_VIDNAVIGATOR_LOGLEVEL", "debug")  # METRIC lines are DEBUG detail
    with caplog.at_level(logging.INFO, logger="singer_sdk.metrics"):
        _sync_messages(emulator, monkeypatch, fast=True, config={"task_ids": [task_id]})
    points = [
        json.loads(record.getMessage().split("METRIC: ", 1)[1])
        for record in caplog.records
        if "METRIC: " in record.getMessage()
    ]
    counted = sum(
        point["value"]
        for point in points
        if point["metric"] == "record_count" and point["tags"]["stream"] == "videos"
    )
    assert counted == 1_200


def test_the_tap_loop_honours_the_dry_run_record_limit(emulator, monkeypatch):
    from singer_sdk.exceptions import AbortedSyncPausedException, MaxRecordsLimitException

    from tap_vidnavigator.tap import TapVidNavigator

    task_id = create_task(emulator, "big1200")
    tap = TapVidNavigator(config={**base_config(emulator), "task_ids": [task_id]})
    stream = tap.streams["videos"]
    stream.ABORT_AT_RECORD_COUNT = 10
    monkeypatch.setattr(
        VideosStream, "get_records", lambda self, context: iter({"id": str(n)} for n in range(50))
    )
    emitted: list[dict] = []
    with (
        contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())),
        pytest.raises(AbortedSyncPausedException) as raised,
    ):
        emitted.extend(stream._sync_records({"task_id": task_id, "profile_url": "u"}))
    assert isinstance(raised.value.__cause__, MaxRecordsLimitException)
    assert len(emitted) == 10
    assert all(record["profile_url"] == "u" for record in emitted)  # the partition key


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


def test_start_up_objects_are_frozen_only_while_the_tap_runs(monkeypatch):
    import gc

    from singer_sdk import Tap

    from tap_vidnavigator.tap import TapVidNavigator

    frozen_during: list[int] = []
    monkeypatch.setattr(
        Tap, "invoke", classmethod(lambda cls, **_: frozen_during.append(gc.get_freeze_count()))
    )
    TapVidNavigator.invoke(config=())
    assert frozen_during and frozen_during[0] > 10_000
    assert gc.get_freeze_count() == 0


def test_a_stream_that_cannot_take_the_fast_loop_fails_when_defined():
    from tap_vidnavigator.client import VidNavigatorStream

    with pytest.raises(TypeError, match="does not keep its own bookmarks"):

        class _NoBookmarks(VidNavigatorStream):
            fast_record_path = True

    with pytest.raises(TypeError, match="overrides post_process"):

        class _PostProcessing(VideosStream):
            def post_process(self, row, context=None):
                return row

    assert VideosStream.fast_record_path and not VidNavigatorStream.fast_record_path


def test_sdk_writes_every_state_through_the_state_writer_the_tap_replaces():
    # record_loop.install_state_gate: the tap's StateGate takes the SDK's StateWriter's
    # place; state.py's rule holds only if every STATE goes through it.
    from singer_sdk import Tap

    from tap_vidnavigator.state import StateGate
    from tap_vidnavigator.tap import TapVidNavigator

    assert "self._tap.state_writer.write_state(self.tap_state)" in inspect.getsource(
        Stream._write_state_message
    )
    assert "self._state_writer: StateWriter = StateWriter(" in inspect.getsource(Tap.__init__)
    assert "return self._state_writer" in inspect.getsource(Tap.state_writer.fget)
    sync_all = inspect.getsource(Tap.sync_all)
    for call in (
        "self._state_writer.write_state(self.state)",
        "stream.finalize_state_progress_markers()",  # end of a stream: STATE at once
        "stream.log_sync_costs()",  # end of the run: the last STATE
    ):
        assert call in sync_all, call
    # The signpost the fast loop's streams decline is asked for here.
    assert "self.get_replication_key_signpost(context)" in inspect.getsource(Stream.sync)
    tap = TapVidNavigator(config={"api_key": "k", "profiles": ["@a"]}, validate_config=False)
    assert isinstance(tap.state_writer, StateGate)
