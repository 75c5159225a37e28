"""State that saves credits: resumed tasks, killed runs, and incremental bookmarks."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading

from tap_vidnavigator.emulator.state import iso
from tests.conftest import (
    HELD,
    assert_videos_match,
    base_config,
    create_task,
    minimal_env,
    run_tap,
)

# Thirty pages of 100: the kill lands a third of the way through its paging.
BIG = "https://www.tiktok.com/@big3000"


def _bookmark(state, profile_url):
    for partition in state["bookmarks"]["videos"]["partitions"]:
        if partition["context"] == {"profile_url": profile_url}:
            return partition.get("replication_key_value")
    return None


def _run_until(tmp_path, config, stop, state=None, *, watch=None, deadline=120.0):
    """Start the tap (a cold process, as a SIGKILL needs), read its messages until
    ``stop(messages)`` is true, then SIGKILL it; the messages read.

    ``stop=None`` reads the whole run instead and asserts it exited 0; ``watch`` sees
    each message as it arrives. Fails, with the tap's
    stderr, when ``stop`` is not reached within ``deadline`` seconds, when the tap
    exited before it (with its exit code), or when the tap was no longer alive when
    killed (a kill that proved nothing).
    """
    run_id = os.urandom(4).hex()
    config_path = tmp_path / f"kill-config-{run_id}.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_vidnavigator.tap", "--config", str(config_path)]
    if state is not None:
        state_path = tmp_path / f"kill-state-{run_id}.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    stderr_path = tmp_path / f"kill-stderr-{run_id}"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, env=minimal_env()
        )
    expired = threading.Event()

    def expire():
        expired.set()
        process.kill()

    timer = threading.Timer(deadline, expire)
    timer.start()
    messages, stopped, alive = [], False, None
    try:
        for line in process.stdout:
            messages.append(json.loads(line))
            if watch is not None:
                watch(messages[-1])
            if stop is not None and stop(messages):
                stopped = True
                break
    finally:
        alive = process.poll() is None
        if alive:
            os.kill(process.pid, signal.SIGKILL)
        code = process.wait(timeout=60)
        timer.cancel()
        process.stdout.close()
    errors = stderr_path.read_text(errors="replace")[-3000:]
    assert not expired.is_set(), f"the tap ran past its {deadline:g} s deadline:\n{errors}"
    if stop is None:
        assert code == 0, f"the tap exited {code}:\n{errors}"
        return messages
    assert stopped, f"the tap exited {code} before the stop condition held:\n{errors}"
    assert alive, f"the tap had exited ({code}) when killed: the kill proved nothing"
    assert code == -signal.SIGKILL, code
    return messages


def test_killed_while_processing_resumes_without_paying_again(make_emulator, tmp_path):
    emulator = make_emulator(processing_seconds=HELD)  # processing until completed
    profiles = ["@size300", "@size400"]
    config = base_config(emulator, profiles=profiles)

    def both_saved(messages):
        states = [m for m in messages if m["type"] == "STATE"]
        return (
            bool(states)
            and len(states[-1]["value"]["bookmarks"].get("profile_tasks", {}).get("in_flight", {}))
            == 2
        )

    killed = _run_until(tmp_path, config, both_saved)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    assert emulator.counters().submits == 2
    assert set(emulator.task_statuses().values()) == {"processing"}  # killed while processing
    assert len(emulator.complete()) == 2
    resumed = run_tap(tmp_path, config, state=state)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming task" in resumed.stderr and "no credits spent" in resumed.stderr
    assert emulator.counters().submits == 2
    for profile in profiles:
        assert_videos_match(
            resumed.records("videos"), emulator, f"https://www.tiktok.com/{profile}"
        )
    assert resumed.last_state["bookmarks"].get("profile_tasks", {}).get("in_flight", {}) == {}
    # Resumed tasks report what they cost (paid in the killed run).
    assert {r["credits_used"] for r in resumed.records("profile_tasks")} == {0.001, 0.0014}


def test_killed_mid_paging_loses_nothing(make_emulator, tmp_path):
    # @size50 stays processing until the test completes it: both are in flight at the kill.
    emulator = make_emulator(processing_by_handle={"size50": HELD})
    config = base_config(emulator, profiles=[BIG, "@size50"], page_size=100, use_download_url=False)

    def mid_paging(messages):
        return sum(1 for m in messages if m["type"] == "RECORD" and m["stream"] == "videos") >= 1000

    killed = _run_until(tmp_path, config, mid_paging)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    first = [m["record"] for m in killed if m["type"] == "RECORD" and m["stream"] == "videos"]
    saved = state["bookmarks"]["profile_tasks"]["in_flight"][BIG]
    task = emulator.state.tasks[saved["task_id"]]
    assert saved["expires_at"] == iso(task.expires_at)  # the exact expiry from the last poll
    assert emulator.counters().submits == 2
    in_flight = state["bookmarks"]["profile_tasks"]["in_flight"]
    assert set(in_flight) == {BIG, "https://www.tiktok.com/@size50"}
    assert emulator.complete() == [in_flight["https://www.tiktok.com/@size50"]["task_id"]]
    rerun = run_tap(tmp_path, config, state=state)
    assert rerun.returncode == 0, rerun.stderr
    # Both tasks still in flight are polled, not paid again.
    assert emulator.counters().submits == 2
    assert rerun.stderr.count("Resuming task") == 2
    union = {r["id"]: r for r in first + rerun.records("videos")}
    assert_videos_match(list(union.values()), emulator, BIG)
    assert_videos_match(list(union.values()), emulator, "https://www.tiktok.com/@size50")


def test_a_gone_task_is_replaced_by_one_submit(emulator, tmp_path):
    profile = "https://www.tiktok.com/@size60"
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).isoformat()
    state = {
        "bookmarks": {
            "profile_tasks": {
                "in_flight": {
                    profile: {
                        "task_id": "tt_profile_vanished",
                        "profile_url": profile,
                        "filters": {},
                    },
                    "https://www.tiktok.com/@size70": {
                        "task_id": "tt_profile_old",
                        "expires_at": past,
                    },
                }
            }
        }
    }
    config = base_config(emulator, profiles=[profile, "@size70"])
    result = run_tap(tmp_path, config, state=state)
    assert result.returncode == 0, result.stderr
    assert "tt_profile_vanished for https://www.tiktok.com/@size60 is gone (404" in result.stderr
    assert (
        "Saved task tt_profile_old for https://www.tiktok.com/@size70 expired at" in result.stderr
    )
    assert emulator.counters().submits == 2
    assert_videos_match(result.records("videos"), emulator, profile)
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size70")


def test_a_fully_extracted_task_is_not_reused(emulator, tmp_path):
    config = base_config(emulator, profiles=["@size30"])
    first = run_tap(tmp_path, config)
    second = run_tap(tmp_path, config, state=first.last_state)
    assert first.returncode == second.returncode == 0
    assert emulator.counters().submits == 2
    tasks = {r["task_id"] for r in first.records("profile_tasks") + second.records("profile_tasks")}
    assert len(tasks) == 2


def test_incremental_asks_from_the_bookmark_less_lookback(emulator, tmp_path):
    profile = "https://www.tiktok.com/@big3000"
    config = base_config(emulator, profiles=[profile], lookback_days=3)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    assert_videos_match(first.records("videos"), emulator, profile)
    newest = max(r["published_at"] for r in first.records("videos"))
    assert _bookmark(first.last_state, profile) == newest

    fresh = emulator.state.publish(profile, 4)
    second = run_tap(tmp_path, config, state=first.last_state)
    assert second.returncode == 0, second.stderr
    floor = (dt.datetime.fromisoformat(newest).date() - dt.timedelta(days=3)).isoformat()
    # The floor goes out under the name the provider's SDK sends, as YYYY-MM-DD.
    _, body, status = emulator.state.submissions[-1]
    assert status == 202
    assert body == (
        b'{"profile_url": "https://www.tiktok.com/@big3000", "after_datetime": "'
        + floor.encode()
        + b'"}'
    )
    assert_videos_match(second.records("videos"), emulator, profile, after_date=floor)
    ids = {r["id"] for r in second.records("videos")}
    assert {v["id"] for v in fresh} <= ids and len(ids) < 3000
    assert _bookmark(second.last_state, profile) > newest
    assert emulator.counters().submits == 2


def test_start_date_bounds_the_first_run_and_a_later_after_date_wins(emulator, tmp_path):
    profile = "https://www.tiktok.com/@big2000"
    config = base_config(
        emulator,
        profiles=[profile, {"profile_url": "@size90", "after_date": "2025-12-30"}],
        start_date="2025-12-01",
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert_videos_match(result.records("videos"), emulator, profile, after_date="2025-12-01")
    assert_videos_match(
        result.records("videos"),
        emulator,
        "https://www.tiktok.com/@size90",
        after_date="2025-12-30",
    )


def test_bookmarks_never_move_back(emulator, tmp_path):
    profile = "https://www.tiktok.com/@size40"
    future = "2030-01-01T00:00:00+00:00"
    state = {
        "bookmarks": {
            "videos": {
                "partitions": [
                    {
                        "context": {"profile_url": profile},
                        "replication_key": "published_at",
                        "replication_key_value": future,
                    }
                ]
            }
        }
    }
    result = run_tap(
        tmp_path, base_config(emulator, profiles=[profile], lookback_days=0), state=state
    )
    assert result.returncode == 0, result.stderr
    assert _bookmark(result.last_state, profile) == future
    assert result.records("videos") == []


# A STATE exactly as main wrote it before task kinds existed (commit a2f412a): the
# in-flight entry and the bookmark partition keep working, and keep their shape.
STATE_FROM_BEFORE_KINDS = {
    "bookmarks": {
        "profile_tasks": {
            "in_flight": {
                "https://www.tiktok.com/@size300": {
                    "task_id": "<set by the test>",
                    "profile_url": "https://www.tiktok.com/@size300",
                    "filters": {},
                    "submitted_at": "2026-11-25T10:00:00.000000+00:00",
                    "expires_at": "2999-01-01T00:00:00Z",
                }
            }
        },
        "videos": {
            "partitions": [
                {
                    "context": {"profile_url": "https://www.tiktok.com/@size400"},
                    "replication_key": "published_at",
                    "replication_key_value": "2025-12-20T10:00:00+00:00",
                }
            ]
        },
    }
}


def test_a_state_written_before_task_kinds_keeps_working(emulator, tmp_path):
    task_id = create_task(emulator, "size300")
    state = json.loads(json.dumps(STATE_FROM_BEFORE_KINDS))
    state["bookmarks"]["profile_tasks"]["in_flight"]["https://www.tiktok.com/@size300"][
        "task_id"
    ] = task_id
    config = base_config(emulator, profiles=["@size300", "@size400"], lookback_days=1)
    result = run_tap(tmp_path, config, state=state)
    assert result.returncode == 0, result.stderr
    # The saved task was polled, not paid for again; the bookmark set the floor.
    assert f"Resuming task {task_id}" in result.stderr
    assert [body for _, body, status in emulator.state.submissions if status == 202] == [
        b'{"profile_url": "https://www.tiktok.com/@size300"}',  # create_task, above
        b'{"profile_url": "https://www.tiktok.com/@size400", "after_datetime": "2025-12-19"}',
    ]
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size300")
    final = result.last_state["bookmarks"]
    assert final.get("profile_tasks", {}).get("in_flight", {}) == {}
    contexts = [p["context"] for p in final["videos"]["partitions"]]
    assert sorted(c["profile_url"] for c in contexts) == [
        "https://www.tiktok.com/@size300",
        "https://www.tiktok.com/@size400",
    ]
    assert all(set(c) == {"profile_url"} for c in contexts)
    # An in-flight entry written now has the same shape as before.
    submitted = [m["value"] for m in result.messages if m["type"] == "STATE"]
    entries = [
        entry
        for value in submitted
        for entry in value["bookmarks"]["profile_tasks"].get("in_flight", {}).values()
    ]
    assert entries and all(
        set(entry) == {"task_id", "profile_url", "filters", "submitted_at", "expires_at"}
        for entry in entries
    )
