"""When STATE goes out (state.py's rule) and what each message leaves out: on a fake clock."""

from __future__ import annotations

import datetime as dt
import json
import types

from tap_vidnavigator.state import Bookmarks, StateGate, emit_state, lean


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _gate(interval: float = 1.0) -> tuple[StateGate, list[dict], Clock]:
    written: list[dict] = []
    clock = Clock()
    gate = StateGate(lambda line: written.append(json.loads(line)), interval=interval, clock=clock)
    return gate, written, clock


def test_states_that_may_wait_go_out_at_most_once_an_interval_the_latest_one():
    gate, written, clock = _gate()
    state: dict = {"bookmarks": {"s": {"n": 0}}}
    gate.write_state(state)  # the first goes out: no STATE for a second
    for n in range(1, 50):
        state["bookmarks"]["s"]["n"] = n
        gate.write_state(state)
        clock.now += 0.01
    assert [m["value"]["bookmarks"]["s"]["n"] for m in written] == [0]
    clock.now += 1.0
    state["bookmarks"]["s"]["n"] = 50
    gate.write_state(state)
    assert [m["value"]["bookmarks"]["s"]["n"] for m in written] == [0, 50]
    assert all(m["type"] == "STATE" for m in written)


def test_flush_writes_what_was_held_and_never_the_same_state_twice():
    gate, written, clock = _gate()
    state: dict = {"bookmarks": {"s": {"n": 1}}}
    gate.write_state(state)
    state["bookmarks"]["s"]["n"] = 2
    gate.write_state(state)  # held: less than a second
    gate.flush()
    gate.flush()  # nothing new
    gate.write_state(state)  # the same state again
    clock.now += 5
    gate.flush()
    assert [m["value"]["bookmarks"]["s"]["n"] for m in written] == [1, 2]
    assert gate.messages == 2


def test_a_state_held_back_goes_out_before_a_long_wait_or_after_a_second():
    gate, written, clock = _gate()
    state: dict = {"bookmarks": {"s": {"n": 1}}}
    gate.write_state(state)
    state["bookmarks"]["s"]["n"] = 2
    gate.write_state(state)
    gate.before_wait(0.05)  # a short wait right after a STATE: still held
    assert len(written) == 1
    gate.before_wait(1.0)  # a wait of a second or more: out first
    assert len(written) == 2
    state["bookmarks"]["s"]["n"] = 3
    gate.write_state(state)
    clock.now += 1.5
    gate.before_wait(0.01)  # the last STATE is old: out
    assert [m["value"]["bookmarks"]["s"]["n"] for m in written] == [1, 2, 3]


def test_interval_zero_writes_every_state_as_the_sdk_does():
    gate, written, _ = _gate(interval=0)
    state: dict = {"bookmarks": {"s": {"n": 0}}}
    for n in range(5):
        state["bookmarks"]["s"]["n"] = n
        gate.write_state(state)
    assert len(written) == 5


def test_emit_state_now_writes_at_once_and_otherwise_waits():
    gate, written, _ = _gate()
    state: dict = {"bookmarks": {}}

    class Stream:
        state_gate = gate
        state_manager = types.SimpleNamespace(is_flushed=True)

        def _write_state_message(self) -> None:  # as the SDK's: through the tap's writer
            if not self.state_manager.is_flushed:
                gate.write_state(state)
                self.state_manager.is_flushed = True

    stream = Stream()
    emit_state(stream)  # the first STATE of the run
    state["bookmarks"]["x"] = {"a": 1}
    emit_state(stream)
    assert len(written) == 1  # held
    state["bookmarks"]["x"] = {"a": 2}
    emit_state(stream, now=True)
    assert [m["value"] for m in written] == [{"bookmarks": {}}, {"bookmarks": {"x": {"a": 2}}}]


def test_a_message_leaves_out_what_says_nothing_and_never_changes_the_state():
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat()
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    url = "https://www.tiktok.com/@a"
    state = {
        "bookmarks": {
            "account_usage": {},
            "profile_tasks": {
                "in_flight": {},
                "extracted": {"old": {"task_id": "t0", "expires_at": past}},
            },
            "search_tasks": {
                "in_flight": {"q": {"task_id": "t1"}},
                "extracted": {"new": {"task_id": "t2", "expires_at": future}},
            },
            "videos": {
                "partitions": [
                    {
                        "context": {"profile_url": url},
                        "replication_key_signpost": "2026-12-07T00:00:00+00:00",
                        "starting_replication_value": None,
                        "replication_key": "published_at",
                        "replication_key_value": "2026-01-01T00:00:00+00:00",
                    },
                    {"context": {"profile_url": "https://www.tiktok.com/@b"}},
                ]
            },
            "video_transcripts": {"pending": [], "ranges": {}},
        }
    }
    before = json.dumps(state, sort_keys=True)
    assert lean(state) == {
        "bookmarks": {
            "search_tasks": {
                "in_flight": {"q": {"task_id": "t1"}},
                "extracted": {"new": {"task_id": "t2", "expires_at": future}},
            },
            "videos": {
                "partitions": [
                    {
                        "context": {"profile_url": url},
                        "replication_key": "published_at",
                        "replication_key_value": "2026-01-01T00:00:00+00:00",
                    }
                ]
            },
        }
    }
    assert json.dumps(state, sort_keys=True) == before


def test_bookmarks_are_found_by_subject_in_a_state_of_thousands_and_added_once():
    partitions = [
        {
            "context": {"profile_url": f"https://www.tiktok.com/@p{n}"},
            "replication_key": "published_at",
            "replication_key_value": f"2026-01-{n % 28 + 1:02d}T00:00:00+00:00",
        }
        for n in range(5000)
    ]
    stream = types.SimpleNamespace(
        stream_state={"partitions": partitions},
        state_manager=types.SimpleNamespace(is_flushed=True),
    )
    bookmarks = Bookmarks(stream, "profile_url", "published_at")  # type: ignore[arg-type]
    assert bookmarks.get("https://www.tiktok.com/@p4999") == dt.datetime(
        2026, 1, 16, tzinfo=dt.timezone.utc
    )
    assert bookmarks.get("https://www.tiktok.com/@new") is None
    bookmarks.advance("https://www.tiktok.com/@new", "2026-02-01T00:00:00Z", write_state=False)
    bookmarks.advance("https://www.tiktok.com/@p3", "2025-01-01T00:00:00Z", write_state=False)
    bookmarks.advance("https://www.tiktok.com/@p3", "2026-03-01T00:00:00Z", write_state=False)
    assert len(partitions) == 5001
    assert partitions[-1] == {
        "context": {"profile_url": "https://www.tiktok.com/@new"},
        "replication_key": "published_at",
        "replication_key_value": "2026-02-01T00:00:00+00:00",
    }
    assert partitions[3]["replication_key_value"] == "2026-03-01T00:00:00+00:00"
    assert stream.state_manager.is_flushed is False
    # A partition added by someone else (the SDK's own loop) is found too.
    partitions.append({"context": {"profile_url": "https://www.tiktok.com/@sdk"}})
    bookmarks.advance("https://www.tiktok.com/@sdk", "2026-02-02T00:00:00Z", write_state=False)
    assert len(partitions) == 5002
    assert partitions[-1]["replication_key_value"] == "2026-02-02T00:00:00+00:00"


def test_reading_a_bookmark_adds_nothing_to_the_state():
    stream = types.SimpleNamespace(
        stream_state={}, state_manager=types.SimpleNamespace(is_flushed=True)
    )
    bookmarks = Bookmarks(stream, "profile_url", "published_at")  # type: ignore[arg-type]
    assert bookmarks.get("https://www.tiktok.com/@a") is None
    assert stream.stream_state == {}
    bookmarks.advance("https://www.tiktok.com/@a", "2026-02-01T00:00:00Z", write_state=False)
    assert bookmarks.get("https://www.tiktok.com/@a") == dt.datetime(
        2026, 2, 1, tzinfo=dt.timezone.utc
    )
    assert len(stream.stream_state["partitions"]) == 1
