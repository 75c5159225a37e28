"""video_stats: each video's counts as each task observed them, exact against the emulator."""

from __future__ import annotations

import collections
import datetime as dt
import json
import time
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tap_vidnavigator.records.values import iso_from_unix, to_datetime, to_int
from tests.conftest import (
    HELD,
    ManualClock,
    assert_videos_match,
    base_config,
    run_tap,
    start_tap,
    wait_for,
)
from tests.test_batch import batch_config, batched

PROFILE = "https://www.tiktok.com/@size50"
WORD = "sourdough"
COUNTS = ("views", "likes", "comments", "reposts", "shares", "collects")


def _rows(run, batching: bool) -> list[dict[str, t.Any]]:
    return batched(run.messages, "video_stats") if batching else run.records("video_stats")


def _expected(emulator, tasks: list[dict[str, t.Any]]) -> dict[tuple[str, str], dict]:
    """Per (video_id, task_id): the row each finished task's observation must be."""
    expected = {}
    for task in tasks:
        task_id = task["task_id"]
        source = "search" if "query" in task else "profile"
        for served in emulator.state.served(task_id):
            seen = emulator.state.counts_seen(task_id, str(served["id"]))
            expected[str(served["id"]), task_id] = {
                "video_id": str(served["id"]),
                "task_id": task_id,
                "observed_at": task["completed_at"],
                "source": source,
                "profile_url": task.get("profile_url"),
                "query": task.get("query"),
                **{name: to_int(seen.get(name)) for name in COUNTS},
            }
    return expected


def _submitted_after(emulator) -> list[str | None]:
    return [json.loads(body).get("after_datetime") for _, body, _ in emulator.state.submissions]


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


# The BATCH runs run under a zone with daylight saving: nothing the tap sends or writes
# may follow the machine's zone (every date is UTC).
@pytest.mark.parametrize(
    ("batching", "zone"),
    [(False, "UTC"), (True, "America/New_York")],
    ids=["RECORD", "BATCH-New_York"],
)
def test_two_runs_observe_young_videos_twice_with_the_counts_of_each_moment(
    make_emulator, tmp_path, batching, zone
):
    assert zone == "UTC" or Path(f"/usr/share/zoneinfo/{zone}").exists(), "TZ would be ignored"
    env = {"TZ": zone}
    emulator = make_emulator()
    young = [str(v["id"]) for v in emulator.state.publish(PROFILE, 5)]
    young_results = [str(r["id"]) for r in emulator.state.publish_results(WORD, 4)]
    config = base_config(
        emulator, profiles=[PROFILE], searches=[WORD], observe_days=7, lookback_days=0
    )
    if batching:
        config["batch_config"] = batch_config(tmp_path / "batches")
    first = run_tap(tmp_path, config, env=env)
    assert first.returncode == 0, first.stderr
    # A day later on the emulated calendar: counts have grown, new videos are out.
    emulator.advance_clock(days=1)
    newer = [str(v["id"]) for v in emulator.state.publish(PROFILE, 3)]
    newer_results = [str(r["id"]) for r in emulator.state.publish_results(WORD, 2)]
    days = {_utc_today()}  # the UTC day of the second run: read before and after it
    second = run_tap(tmp_path, config, state=first.states[-1], env=env)
    days.add(_utc_today())
    assert second.returncode == 0, second.stderr

    tasks = [
        *first.records("profile_tasks"), *first.records("search_tasks"),
        *second.records("profile_tasks"), *second.records("search_tasks"),
    ]  # fmt: skip
    assert len(tasks) == 4
    rows = _rows(first, batching) + _rows(second, batching)
    by_key = {(r["video_id"], r["task_id"]): r for r in rows}
    assert len(by_key) == len(rows), "a row was written twice"
    assert by_key == _expected(emulator, tasks)

    # Inside the observed window (the young), two observations; the rest, one.
    observations = collections.Counter(
        (r["source"], r["video_id"]) for r in rows
    )  # fmt: skip
    twice = {key for key, count in observations.items() if count == 2}
    assert twice == {("profile", v) for v in young} | {("search", r) for r in young_results}
    assert all(count in (1, 2) for count in observations.values())
    for video in newer:
        assert observations["profile", video] == 1
    for result in newer_results:
        assert observations["search", result] == 1
    # The counts moved between the two moments, and never fell.
    grew = 0
    for video in young:
        before, after = (
            by_key[video, task["task_id"]] for task in tasks if task.get("profile_url") == PROFILE
        )
        assert all(after[c] >= before[c] for c in ("views", "likes", "comments", "reposts"))
        grew += after["views"] > before["views"]
    assert grew == len(young)
    # The second run asked every subject for (at least) the last observe_days.
    # (Across UTC midnight the run's day is one of the two read around it.)
    windows = {(day - dt.timedelta(days=7)).isoformat() for day in days}
    submitted = _submitted_after(emulator)
    assert submitted[:2] == [None, None] and len(submitted) == 4
    assert set(submitted[2:]) <= windows


def test_a_run_across_utc_midnight_keeps_the_apis_dates(make_emulator, tmp_path):
    """Tasks submitted at 23:59:59 UTC and completed two seconds later, the next day:
    each record carries the API's dates, and the observations are of the new day."""
    from tests.test_search_sync import assert_results_match

    midnight = (int(time.time()) // 86_400 + 1) * 86_400  # the next UTC midnight
    clock = ManualClock(midnight - 1.0)
    emulator = make_emulator(processing_seconds=HELD, clock=clock)
    profile, query = "https://www.tiktok.com/@size20", "owls size10"
    config = base_config(emulator, profiles=[profile], searches=[query])
    run = start_tap(tmp_path, config, env={"TZ": "Europe/London"})
    wait_for(lambda: len(emulator.task_statuses()) == 2, "both tasks submitted")
    clock.advance(2)
    assert len(emulator.complete()) == 2
    result = run.result(timeout=300)
    assert result.returncode == 0, result.stderr
    before, after = (iso_from_unix(midnight - 1), iso_from_unix(midnight + 1))
    tasks = [*result.records("profile_tasks"), *result.records("search_tasks")]
    assert [(t["created_at"], t["completed_at"]) for t in tasks] == [(before, after)] * 2
    assert_videos_match(result.records("videos"), emulator, profile)
    assert_results_match(result.records("search_results"), emulator, query)
    rows = result.records("video_stats")
    assert len(rows) == 20 + 10
    assert {row["observed_at"] for row in rows} == {after}


def test_observed_at_is_the_task_completion_time(emulator, tmp_path):
    run = run_tap(tmp_path, base_config(emulator, profiles=["@size3"]))
    assert run.returncode == 0, run.stderr
    [task] = run.records("profile_tasks")
    rows = run.records("video_stats")
    assert len(rows) == 3
    assert {r["observed_at"] for r in rows} == {task["completed_at"]}
    assert task["completed_at"] == to_datetime(task["completed_at"])


def _catalog(tmp_path, catalog, selected: set[str]) -> str:
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in selected
    path = tmp_path / f"catalog-{'-'.join(sorted(selected))}.json"
    path.write_text(json.dumps(catalog))
    return str(path)


def test_deselected_it_costs_nothing_and_alone_it_needs_no_other_stream(emulator, tmp_path):
    config = base_config(emulator, profiles=["@size120"])
    catalog = json.loads(_discover(tmp_path, config))
    without = run_tap(
        tmp_path,
        config,
        args=["--catalog", _catalog(tmp_path, catalog, {"profile_tasks", "videos"})],
    )
    assert without.returncode == 0, without.stderr
    assert len(without.records("videos")) == 120
    assert not [m for m in without.messages if m.get("stream") == "video_stats"]
    alone = run_tap(
        tmp_path, config, args=["--catalog", _catalog(tmp_path, catalog, {"video_stats"})]
    )
    assert alone.returncode == 0, alone.stderr
    streams = {m["stream"] for m in alone.messages if m["type"] in ("RECORD", "SCHEMA")}
    assert streams == {"video_stats"}
    assert len(alone.records("video_stats")) == 120
    # The results were still read once, and their bookmark still moves.
    assert alone.states[-1]["bookmarks"]["videos"]["partitions"]


def _discover(tmp_path, config) -> str:
    import subprocess
    import sys

    path = tmp_path / "discover-config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_vidnavigator.tap", "--config", str(path), "--discover"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_each_batch_file_is_in_place_when_its_message_is_read(make_emulator, tmp_path):
    """A loader reads a file the moment its BATCH message arrives: video_stats files
    are written while a results file is open in the SDK's storage transaction, and must
    not wait for that transaction to reach their place."""
    from tests.test_state import _run_until

    emulator = make_emulator(processing_polls=1)
    config = base_config(
        emulator,
        profiles=["@size300", "@size120", "@size50"],
        batch_config=batch_config(tmp_path / "batches"),
    )
    missing: list[str] = []

    def check(message: dict) -> None:
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                path = Path(urlsplit(url).path)
                if not path.exists():
                    missing.append(f"{message['stream']}: {path.name}")

    # Each message checked as it arrives; the run is read to its end and must exit 0.
    messages = _run_until(tmp_path, config, None, watch=check)
    streams = [m["stream"] for m in messages if m["type"] == "BATCH"]
    assert streams.count("video_stats") == streams.count("videos") == 3
    assert missing == []


def test_batch_files_hold_at_most_batch_size_rows(emulator, tmp_path):
    """Rows go to files a run at a time (up to 500): a run larger than the room left
    in a file is split across files, so no file holds more than batch_size rows."""
    from tests.test_batch import read_manifest

    config = base_config(
        emulator, profiles=["@size300"], batch_config=batch_config(tmp_path / "b", size=128)
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    sizes = [
        len(read_manifest(m))
        for m in run.messages
        if m["type"] == "BATCH" and m["stream"] == "video_stats"
    ]
    assert sizes == [128, 128, 44]
    truth = {str(v["id"]) for v in emulator.ground_truth("https://www.tiktok.com/@size300")}
    rows = batched(run.messages, "video_stats")
    assert sorted(r["video_id"] for r in rows) == sorted(truth)


@pytest.mark.parametrize("family", ["profile", "search"])
def test_encoded_runs_are_the_rows(family):
    """The encoded runs of rows the writer splices decode to exactly the rows."""
    from tap_vidnavigator.emulator import data
    from tap_vidnavigator.emulator.search import search_results
    from tap_vidnavigator.families import RESULT_ID
    from tap_vidnavigator.records.profiles import PROFILE_KIND, video_typer
    from tap_vidnavigator.records.searches import SEARCH_KIND, search_result_typer
    from tap_vidnavigator.records.video_stats import VIDEO_STATS_SCHEMA, TaskObservations

    if family == "profile":
        kind, subject = PROFILE_KIND, "https://www.tiktok.com/@size300"
        typer = video_typer("tt_1", subject)
        raws = data.profile_videos("size300")
    else:
        kind, subject = SEARCH_KIND, 'say "cheese" size300'
        typer = search_result_typer("tt_1", subject)
        raws = search_results(subject)
    rows = TaskObservations(
        kind.name,
        kind.result_schema["properties"],
        {kind.subject_field: subject, "task_id": "tt_1"},
        "2026-11-30T10:00:00Z",
    )
    records = [typer(dict(raw)) for raw in raws]
    assert any(r["views"] is None for r in records)  # nulls among them
    # An id holding the row separator, quotes and a newline is still one row.
    records[1] = {**records[1], RESULT_ID: '9},{"video_id":"8"\n'}
    expected = [rows.row(record) for record in records]
    for row in expected:
        assert set(row) == set(VIDEO_STATS_SCHEMA["properties"])
        assert row["observed_at"] == "2026-11-30T10:00:00+00:00"
    lines = rows.lines(records, b"<", b">\n").decode().splitlines()
    assert [json.loads(line[1:-1]) for line in lines] == expected
    assert all(line[0] == "<" and line[-1] == ">" for line in lines)
    one = rows.lines(records[:1], b"", b"\n")
    assert one.endswith(b"\n") and json.loads(one) == expected[0]
    assert rows.lines([], b"<", b">") == b""
