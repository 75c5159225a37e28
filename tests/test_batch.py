"""BATCH messages: every guarantee of the RECORD path, checked under batch_config."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import HELD, assert_videos_match, base_config, run_tap
from tests.test_state import BIG, _run_until

PROFILES = ["@size300", "@big2500", "@empty", "@notfound_x"]


def batch_config(root: Path, compression: str = "gzip", size: int = 1000) -> dict:
    return {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": root.as_uri(), "prefix": "daily-"},
        "batch_size": size,
    }


def read_manifest(message: dict) -> list[dict]:
    records = []
    for url in message["manifest"]:
        path = Path(urlsplit(url).path)
        data = path.read_bytes()
        if message["encoding"]["compression"] == "gzip":
            data = gzip.decompress(data)
        records += [json.loads(line) for line in data.splitlines()]
    return records


def batched(messages: list[dict], stream: str) -> list[dict]:
    return [
        record
        for m in messages
        if m["type"] == "BATCH" and m["stream"] == stream
        for record in read_manifest(m)
    ]


def _observations(rows: list[dict]) -> list[str]:
    # Two runs' tasks differ in id and completion time; the rest must be equal.
    moving = {"task_id", "observed_at"}
    return sorted(json.dumps({k: v for k, v in r.items() if k not in moving}, sort_keys=True)
                  for r in rows)  # fmt: skip


def _without_task_ids(records: list[dict]) -> list[dict]:
    return sorted(
        json.dumps({k: v for k, v in r.items() if k != "task_id"}, sort_keys=True) for r in records
    )


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_batch_files_hold_exactly_what_records_would(make_emulator, tmp_path, compression):
    searches = ["#airfryer", "size120"]
    by_records = run_tap(
        tmp_path, base_config(make_emulator(), profiles=PROFILES, searches=searches)
    )
    emulator = make_emulator()
    root = tmp_path / "batches"
    config = base_config(
        emulator, profiles=PROFILES, searches=searches, batch_config=batch_config(root, compression)
    )
    run = run_tap(tmp_path, config)
    # @notfound_x is a failed task: its row is there, and the run goes on (exit 0).
    assert run.returncode == 0, run.stderr
    videos = batched(run.messages, "videos")
    for profile in PROFILES[:3]:
        assert_videos_match(videos, emulator, f"https://www.tiktok.com/{profile}")
    assert len(videos) == 300 + 2500
    # Results streams are batched; task rows stay RECORD messages.
    assert run.records("videos") == run.records("search_results") == []
    assert len(run.records("profile_tasks")) == 4 and len(run.records("search_tasks")) == 2
    assert _without_task_ids(videos) == _without_task_ids(by_records.records("videos"))
    results = batched(run.messages, "search_results")
    assert _without_task_ids(results) == _without_task_ids(by_records.records("search_results"))
    # Files are named per run and stream, under the configured root and prefix.
    suffix = ".json.gz" if compression == "gzip" else ".json"
    names = sorted(p.name for p in root.iterdir())
    assert names and all(n.startswith("daily-tap-vidnavigator--") for n in names)
    assert all(n.endswith(suffix) for n in names)
    assert {n.split("--")[1] for n in names} == {"videos", "search_results", "video_stats"}
    # Each result's observation, in files too: the same rows RECORD messages carry.
    observed = batched(run.messages, "video_stats")
    assert len(observed) == len(videos) + len(results)
    assert _observations(observed) == _observations(by_records.records("video_stats"))
    assert len({n.split("--")[2] for n in names}) == 1  # one run label
    # batch_size 1000: @big2500 is three files, @size300 one.
    assert sum(1 for n in names if "--videos--" in n) == 4


def test_state_never_runs_ahead_of_the_batch_messages(make_emulator, tmp_path):
    emulator = make_emulator(processing_polls=1)
    profiles = ["@size300", "@big2500", "@size120"]
    config = base_config(
        emulator, profiles=profiles, batch_config=batch_config(tmp_path / "b", size=500)
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    truth = {
        f"https://www.tiktok.com/{p}": {
            v["id"] for v in emulator.ground_truth(f"https://www.tiktok.com/{p}")
        }
        for p in profiles
    }
    emitted: dict[str, set[str]] = {url: set() for url in truth}
    task_of: dict[str, str] = {}
    submitted: set[str] = set()
    bookmarked: set[str] = set()
    for message in run.messages:
        if message["type"] == "BATCH" and message["stream"] == "videos":
            for record in read_manifest(message):
                emitted[record["profile_url"]].add(record["id"])
                task_of[record["task_id"]] = record["profile_url"]
                # In-flight in STATE from submit: before any of its results.
                assert record["task_id"] in submitted
        if message["type"] == "STATE":
            bookmarks = message["value"]["bookmarks"]
            for entry in bookmarks.get("profile_tasks", {}).get("in_flight", {}).values():
                submitted.add(entry["task_id"])
            for partition in bookmarks.get("videos", {}).get("partitions", []):
                if "replication_key_value" in partition:
                    url = partition["context"]["profile_url"]
                    # A bookmark only once all of the profile's videos were sent.
                    assert emitted[url] == truth[url], url
                    bookmarked.add(url)
    assert bookmarked == set(truth)
    assert len(task_of) == 3


def test_killed_mid_batch_then_rerun_loses_and_pays_nothing(make_emulator, tmp_path):
    # @size50 stays processing until the test completes it: both are in flight at the kill.
    emulator = make_emulator(processing_by_handle={"size50": HELD})
    root = tmp_path / "b"
    config = base_config(
        emulator,
        profiles=[BIG, "@size50"],
        page_size=100,
        use_download_url=False,
        batch_config=batch_config(root, size=2000),
    )

    def two_batches_of_big(messages):
        return sum(1 for m in messages if m["type"] == "BATCH") >= 2

    killed = _run_until(tmp_path, config, two_batches_of_big)
    first = batched(killed, "videos")
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    in_flight = state["bookmarks"]["profile_tasks"]["in_flight"]
    assert set(in_flight) == {BIG, "https://www.tiktok.com/@size50"}
    assert emulator.complete() == [in_flight["https://www.tiktok.com/@size50"]["task_id"]]
    rerun = run_tap(tmp_path, config, state=state)
    assert rerun.returncode == 0, rerun.stderr
    assert emulator.counters().submits == 2  # nothing paid twice
    assert rerun.stderr.count("Resuming task") == 2
    again = batched(rerun.messages, "videos")
    for records in (first, again):  # within a run, no video twice in one task
        pairs = [(r["task_id"], r["id"]) for r in records]
        assert len(pairs) == len(set(pairs))
    union = {r["id"]: r for r in first + again}
    assert_videos_match(list(union.values()), emulator, BIG)
    assert_videos_match(list(union.values()), emulator, "https://www.tiktok.com/@size50")


def test_old_batch_files_are_removed_and_nothing_else(emulator, tmp_path):
    root = tmp_path / "b"
    root.mkdir()
    day_ago = time.time() - 25 * 3600
    old = root / "daily-tap-vidnavigator--videos--20260101T000000Z-aaaa--00001.json.gz"
    recent = root / "daily-tap-vidnavigator--videos--20260102T000000Z-bbbb--00001.json.gz"
    foreign = root / "daily-other-tap--videos--00001.json.gz"
    other_prefix = root / "weekly-tap-vidnavigator--videos--x--00001.json.gz"
    for path in (old, recent, foreign, other_prefix):
        path.write_bytes(b"")
    for path in (old, foreign, other_prefix):
        os.utime(path, (day_ago, day_ago))
    config = base_config(emulator, profiles=["@size50"], batch_config=batch_config(root))
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert not old.exists()
    assert recent.exists() and foreign.exists() and other_prefix.exists()
    assert "Removed 1 batch file(s) of earlier runs older than 24 hour(s)" in run.stderr
    # With a retention of 0, every earlier file of the tap goes.
    run = run_tap(tmp_path, {**config, "batch_file_retention_hours": 0})
    assert run.returncode == 0, run.stderr
    assert not recent.exists() and foreign.exists()
    # This run's: its videos and their observations.
    assert len(list(root.glob("daily-tap-vidnavigator--*"))) == 2


def test_stream_maps_turn_batch_back_into_records(emulator, tmp_path):
    config = base_config(
        emulator,
        profiles=["@size50"],
        batch_config=batch_config(tmp_path / "b"),
        stream_maps={"videos": {"description": "__NULL__"}},
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert "videos: batch_config is ignored because of stream maps" in run.stderr
    records = run.records("videos")
    assert len(records) == 50 and all("description" not in r for r in records)
    # video_stats has no map: its rows still go to files.
    assert {m["stream"] for m in run.messages if m["type"] == "BATCH"} == {"video_stats"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encoding": {"format": "parquet"}}, "batch_config.encoding.format must be 'jsonl'"),
        (
            {"encoding": {"format": "jsonl", "compression": "zstd"}},
            "'zstd' is not one of ['gzip', 'none'] in config['batch_config']",
        ),
        ({"storage": {}}, "batch_config.storage.root must name the folder"),
        ({"batch_size": 0}, "batch_config.batch_size must be a whole number of 1 or more"),
    ],
)
def test_a_wrong_batch_config_is_refused_before_any_request(emulator, tmp_path, change, message):
    config = base_config(
        emulator, profiles=["@size50"], batch_config={**batch_config(tmp_path), **change}
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 1
    assert message in run.stderr
    assert emulator.counters().submits == 0
