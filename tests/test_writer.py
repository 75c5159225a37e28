"""The orjson message writer: exact lines, batched records, nothing left behind."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import subprocess
import sys

from singer_sdk.singerlib.messages import RecordMessage, SchemaMessage, StateMessage

from tap_vidnavigator.writer import OrjsonWriter
from tests.conftest import minimal_env


class CountingSink(io.BytesIO):
    """A binary stdout that counts writes and flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)

    def flush(self) -> None:
        self.flushes += 1


class FakeStdout:
    def __init__(self, sink: CountingSink) -> None:
        self.buffer = sink


def _writer(monkeypatch) -> tuple[OrjsonWriter, CountingSink]:
    sink = CountingSink()
    monkeypatch.setattr(sys, "stdout", FakeStdout(sink))
    return OrjsonWriter(), sink


def _lines(sink: CountingSink) -> list[dict]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_records_are_written_in_batches_and_before_the_state(monkeypatch):
    writer, sink = _writer(monkeypatch)
    moment = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.timezone.utc)
    writer.write_message(SchemaMessage("videos", {"type": "object"}, ["id"]))
    for number in range(2_000):
        writer.write_record("videos", {"id": str(number), "title": "é" * 40}, moment)
    writer.write_message(StateMessage({"bookmarks": {"videos": {"n": 2_000}}}))
    lines = _lines(sink)
    assert [line["type"] for line in lines] == ["SCHEMA"] + ["RECORD"] * 2_000 + ["STATE"]
    assert [line["record"]["id"] for line in lines[1:-1]] == [str(n) for n in range(2_000)]
    assert lines[1] == {
        "type": "RECORD",
        "stream": "videos",
        "record": {"id": "0", "title": "é" * 40},
        "time_extracted": "2026-11-25T12:00:00+00:00",
    }
    # One write per 128 records (plus the SCHEMA and the STATE), not one per record.
    assert sink.writes == 1 + -(-2_000 // 128) + 1
    assert sink.flushes == 2  # the SCHEMA and the STATE, not the records


def test_queued_records_wait_for_the_next_state(monkeypatch):
    writer, sink = _writer(monkeypatch)
    writer.write_record("videos", {"id": "1"}, None)
    assert sink.getvalue() == b""
    writer.write_message(StateMessage({"bookmarks": {}}))
    assert _lines(sink) == [
        {"type": "RECORD", "stream": "videos", "record": {"id": "1"}},
        {"type": "STATE", "value": {"bookmarks": {}}},
    ]


def test_sdk_record_messages_take_the_same_queue(monkeypatch):
    writer, sink = _writer(monkeypatch)
    writer.write_record("videos", {"id": "1"}, None)
    writer.write_message(RecordMessage(stream="videos", record={"id": "2"}, version=7))
    writer.write_record("videos", {"id": "3"}, None)
    writer.write_message(StateMessage({}))
    lines = _lines(sink)
    assert [line.get("record", {}).get("id") for line in lines] == ["1", "2", "3", None]
    assert lines[1]["version"] == 7


def test_values_json_cannot_hold_are_written_sensibly(monkeypatch):
    writer, sink = _writer(monkeypatch)
    record = {
        "price": decimal.Decimal("1.50"),
        "count": decimal.Decimal("3"),
        "day": dt.date(2026, 1, 2),
        "huge": 2**70,
    }
    writer.write_record("videos", record, None)
    writer.write_pending()
    assert _lines(sink)[0]["record"] == {
        "price": 1.5,
        "count": 3,
        "day": "2026-01-02",
        "huge": 2**70,
    }
    writer.write_message(StateMessage({"big": 2**70}))
    assert _lines(sink)[-1] == {"type": "STATE", "value": {"big": 2**70}}


def test_records_queued_when_the_process_ends_are_still_written(tmp_path):
    # A run that fails between two STATE messages still hands its records over.
    script = (
        "from tap_vidnavigator.writer import OrjsonWriter\n"
        "writer = OrjsonWriter()\n"
        "for n in range(3):\n"
        "    writer.write_record('videos', {'id': str(n)}, None)\n"
        "raise SystemExit(1)\n"
    )
    for unbuffered in ("0", "1"):
        env = minimal_env(PYTHONUNBUFFERED=unbuffered)
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, env=env, check=False
        )
        assert result.returncode == 1
        ids = [json.loads(line)["record"]["id"] for line in result.stdout.splitlines()]
        assert ids == ["0", "1", "2"]


def test_a_stream_schema_goes_out_once_and_again_only_when_it_changes(monkeypatch):
    # The SDK writes a child stream's SCHEMA at every partition's sync (once per task).
    writer, sink = _writer(monkeypatch)
    videos = SchemaMessage("videos", {"type": "object"}, ["id"])
    for _ in range(3):
        writer.write_message(videos)
        writer.write_message(SchemaMessage("video_stats", {"type": "object"}, ["video_id"]))
    changed = SchemaMessage("videos", {"type": "object", "properties": {}}, ["id"])
    writer.write_message(changed)
    writer.write_message(videos)
    lines = _lines(sink)
    assert [(line["stream"], line["schema"]) for line in lines] == [
        ("videos", {"type": "object"}),
        ("video_stats", {"type": "object"}),
        ("videos", {"type": "object", "properties": {}}),
        ("videos", {"type": "object"}),
    ]
