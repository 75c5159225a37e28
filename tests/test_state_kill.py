"""SIGKILL at seeded moments across many profiles, then reruns: no record is lost and,
with the ledger on, nothing is bought twice (state.py's rule for when STATE goes out).

The moments are output lines drawn from a seeded generator: the tap is killed when it
has written that many lines, whatever the machine's speed. Only the lines up to that
one count as delivered (the STATE a rerun starts from is the last among them), as a
target that read no further would see. No wait and no time is asserted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.conftest import base_config, run_tap

PROFILES = 18
KILLS = 3


def _killed_at(tmp_path, config, state, line_number: int) -> tuple[list[dict], bool]:
    """Run the tap until it has written ``line_number`` lines, then SIGKILL it; the
    lines up to there, and whether it was killed (False: it ended first)."""
    (tmp_path / "kill-config.json").write_text(json.dumps(config))
    config_path = tmp_path / "kill-config.json"
    command = [sys.executable, "-m", "tap_vidnavigator.tap", "--config", str(config_path)]
    if state is not None:
        (tmp_path / "kill-state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp_path / "kill-state.json")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    messages: list[dict] = []
    killed = False
    try:
        for line in process.stdout:
            messages.append(json.loads(line))
            if len(messages) == line_number:
                os.kill(process.pid, signal.SIGKILL)
                killed = True
                break
    finally:
        if not killed:
            process.wait(timeout=300)
        else:
            process.wait(timeout=30)
        process.stdout.close()
    return messages, killed


def _last_state(messages: list[dict], before: dict | None) -> dict | None:
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return states[-1] if states else before


def _extracted(state: dict | None) -> set[str]:
    entries = (state or {}).get("bookmarks", {}).get("profile_tasks", {}).get("extracted", {})
    return {entry["task_id"] for entry in entries.values()}


def _tasks_by_profile(emulator) -> dict[str, list[str]]:
    """Each profile's tasks, in the order they were bought."""
    tasks: dict[str, list[str]] = {}
    for _, event, task_id in emulator.state.timeline():
        if event == "submitted":
            tasks.setdefault(emulator.state.tasks[task_id].profile_url, []).append(task_id)
    return tasks


@pytest.mark.parametrize(("use_ledger", "seed"), [(True, 31), (False, 32)])
def test_sigkill_at_seeded_moments_then_reruns_lose_nothing_and_buy_nothing_twice(
    make_emulator, tmp_path, use_ledger, seed
):
    rng = random.Random(seed)
    emulator = make_emulator(processing_seconds=0.3)
    profiles = [f"@size{rng.randint(3, 45)}_{seed}_{n}" for n in range(PROFILES)]
    config = base_config(
        emulator,
        profiles=profiles,
        max_active_tasks=4,
        page_size=10,  # several pages per task: kills land mid-task too
        use_download_url=False,
        use_ledger=use_ledger,
        ledger_dir=str(tmp_path / "ledger"),
    )
    # About two lines (a video, its video_stats row) per video, on the first run.
    expected_lines = 2 * sum(int(p[5:].split("_")[0]) for p in profiles)
    state: dict | None = None
    delivered: list[dict] = []
    for _ in range(KILLS):
        before = _tasks_by_profile(emulator)
        messages, killed = _killed_at(tmp_path, config, state, rng.randint(1, expected_lines))
        delivered += messages
        after = _tasks_by_profile(emulator)
        if use_ledger:
            _assert_bought_once(before, after, state, tmp_path / "ledger")
        state = _last_state(messages, state)
        if not killed:
            break
    before = _tasks_by_profile(emulator)
    final = run_tap(tmp_path, config, state=state)
    assert final.returncode == 0, final.stderr
    delivered += final.messages
    if use_ledger:
        _assert_bought_once(before, _tasks_by_profile(emulator), state, tmp_path / "ledger")
    # Every video of every task bought was delivered: by the task that served it with
    # the ledger on; with it off, a task bought in the instant between its submit and
    # its STATE may be bought again (as before #31), and its videos come from that one.
    videos = [m["record"] for m in delivered if m["type"] == "RECORD" and m["stream"] == "videos"]
    bought = [task_id for tasks in _tasks_by_profile(emulator).values() for task_id in tasks]
    served = {
        (task_id, video["id"]) for task_id in bought for video in emulator.state.served(task_id)
    }
    assert served
    profile_of = {task_id: emulator.state.tasks[task_id].profile_url for task_id in bought}
    by_profile = {(video["profile_url"], video["id"]) for video in videos}
    if use_ledger:
        # A task the ledger recorded was read by the very task; one killed on the wire
        # (_assert_bought_once) was bought again, and its videos came from the new one.
        recorded = _recorded(tmp_path / "ledger")
        assert {(t, v) for t, v in served if t in recorded} <= {
            (video["task_id"], video["id"]) for video in videos
        }
        assert {(profile_of[t], v) for t, v in served if t not in recorded} <= by_profile
    else:
        assert {(profile_of[task_id], video_id) for task_id, video_id in served} <= by_profile
    assert {p.lstrip("@") for p in profiles} == {
        url.rsplit("@", 1)[1] for url in _tasks_by_profile(emulator)
    }
    # The last STATE holds a bookmark for every profile and nothing in flight.
    last = final.last_state["bookmarks"]
    assert last.get("profile_tasks", {}).get("in_flight", {}) == {}
    assert len(last["videos"]["partitions"]) == PROFILES


def _recorded(ledger: Path) -> set[str]:
    """The task ids the reuse ledger has an entry for."""
    return {path.name.split("--", 1)[1][: -len(".json")] for path in ledger.glob("*--*.json")}


def _assert_bought_once(
    before: dict[str, list[str]],
    after: dict[str, list[str]],
    state: dict[str, t.Any] | None,
    ledger: Path,
) -> None:
    """A run started from ``state`` bought a new task for a profile only when the
    profile's last task was extracted as far as that STATE knows (a new incremental
    scrape), never again one it bought and had not finished reading.

    One window is left, and the test names it rather than hides it: a kill that lands
    while a submit is on the wire (the API created the task, its answer never reached
    the ledger). A scrape has no claim before its POST (per-video jobs do: ledger.py),
    so the rerun cannot know that task. At most one such task per kill, and only a
    task the ledger never heard of.
    """
    done = _extracted(state)
    recorded = _recorded(ledger)
    unrecorded = []
    for profile, tasks in after.items():
        new = tasks[len(before.get(profile, [])) :]
        earlier = before.get(profile, [])
        if new and earlier and earlier[-1] not in done:
            assert earlier[-1] not in recorded, (profile, earlier, new)
            unrecorded.append(earlier[-1])
    assert len(unrecorded) <= 1, unrecorded


def test_a_saved_task_past_its_estimated_expiry_is_reused_from_the_ledger(emulator, tmp_path):
    # The STATE that had a task's exact expiry may be lost (it waits when the ledger
    # holds it): the STATE a rerun reads then has the submit's estimate, earlier. The
    # ledger's exact expiry decides, and the live task is polled, not bought again.
    import datetime as dt
    import logging

    from tap_vidnavigator.ledger import Ledger
    from tests.conftest import KEY, create_task

    url = "https://www.tiktok.com/@size30_estimate"
    task_id = create_task(emulator, "size30_estimate")
    now = dt.datetime.now(dt.timezone.utc)
    ledger = Ledger(
        tmp_path / "ledger", api_url=emulator.url, api_key=KEY, logger=logging.getLogger("t")
    )
    assert ledger.bought("profile", url, {}, task_id, (now + dt.timedelta(hours=1)).isoformat())
    estimate = (now - dt.timedelta(minutes=1)).isoformat()
    saved = {"task_id": task_id, "profile_url": url, "filters": {}, "expires_at": estimate}
    state = {"bookmarks": {"profile_tasks": {"in_flight": {url: saved}}}}
    config = base_config(emulator, profiles=[url], ledger_dir=str(tmp_path / "ledger"))
    result = run_tap(tmp_path, config, state=state)
    assert result.returncode == 0, result.stderr
    assert emulator.counters().submits == 1  # create_task's, above
    assert f"Reusing task {task_id}" in result.stderr
    assert {r["task_id"] for r in result.records("videos")} == {task_id}
    assert len(result.records("videos")) == 30
