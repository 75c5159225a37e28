"""Shards: each configured item in exactly one shard, stable as the lists grow."""

from __future__ import annotations

import pytest

from tap_vidnavigator.families import PROFILES, SEARCHES
from tap_vidnavigator.settings import SettingsError, parse_settings
from tap_vidnavigator.shards import shard_of
from tests.conftest import assert_videos_match, base_config, run_tap

HANDLES = [f"@size{n}" for n in range(20, 32)]


def test_the_hash_is_the_same_everywhere():
    # SHA-256, not Python's salted hash(): these values hold on every machine, run and
    # Python; a change here would move items between shards (see the README on resharding).
    assert shard_of("https://www.tiktok.com/@tiktok", 4) == 1
    assert shard_of("https://www.tiktok.com/@nasa", 4) == 3
    assert shard_of("https://www.tiktok.com/@nasa", 1000) == 431
    assert shard_of("#airfryer", 4) == 2


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_every_item_is_in_exactly_one_shard_and_adding_one_moves_none(count):
    config = {"api_key": "k", "profiles": HANDLES, "searches": ["cats", "dogs", "#fyp"],
              "task_ids": ["tt_a", "tt_b", "tt_c"], "shard_count": count}  # fmt: skip
    shards = [parse_settings({**config, "shard_index": i}) for i in range(count)]
    profiles = [r.subject for s in shards for r in s.requests_for(PROFILES)]
    assert sorted(profiles) == sorted(r.subject for r in parse_settings({"api_key": "k",
        "profiles": HANDLES}).requests_for(PROFILES))  # fmt: skip
    assert sorted(q.subject for s in shards for q in s.requests_for(SEARCHES)) == [
        "#fyp",
        "cats",
        "dogs",
    ]
    assert sorted(i for s in shards for i in s.task_ids_for(PROFILES)) == ["tt_a", "tt_b", "tt_c"]
    grown = {**config, "profiles": [*HANDLES, "@newcomer", "@another.one"]}
    for index, shard in enumerate(shards):
        again = parse_settings({**grown, "shard_index": index})
        before = {r.subject for r in shard.requests_for(PROFILES)}
        after = {r.subject for r in again.requests_for(PROFILES)}
        assert before <= after  # nobody left this shard; only newcomers may join
        assert after - before <= {"https://www.tiktok.com/@newcomer",
                                  "https://www.tiktok.com/@another.one"}  # fmt: skip
        assert again.configured["profiles"] == len(HANDLES) + 2


def test_a_shard_index_outside_the_count_is_refused():
    with pytest.raises(SettingsError, match=r"shard_index must be below shard_count \(3\)"):
        parse_settings({"api_key": "k", "profiles": ["@a1"], "shard_count": 3, "shard_index": 3})
    with pytest.raises(SettingsError, match="shard_count must be"):
        parse_settings({"api_key": "k", "profiles": ["@a1"], "shard_count": 0})


def test_a_shard_run_extracts_and_remembers_only_its_own_items(emulator, tmp_path):
    count = 3
    all_urls = {f"https://www.tiktok.com/{h}" for h in HANDLES}
    seen: set[str] = set()
    for index in range(count):
        config = base_config(emulator, profiles=HANDLES, shard_count=count, shard_index=index)
        run = run_tap(tmp_path, config)
        assert run.returncode == 0, run.stderr
        mine = {url for url in all_urls if shard_of(url, count) == index}
        records = run.records("videos")
        assert {r["profile_url"] for r in records} == mine
        for url in mine:
            assert_videos_match(records, emulator, url)
        partitions = run.last_state["bookmarks"]["videos"]["partitions"]
        assert {p["context"]["profile_url"] for p in partitions} == mine
        assert f"Shard {index + 1} of 3 (shard_index {index}): {len(mine)} of 12 profiles" in (
            run.stderr
        )
        seen |= mine
    assert seen == all_urls
    assert emulator.counters().submits == len(HANDLES)  # each profile paid for once


def test_the_runner_refuses_what_cannot_run_in_parallel(tmp_path):
    from orchestrate import shard

    # DuckDB allows one writer per file: shards of a DuckDB pipeline would fail at load.
    with pytest.raises(shard.ShardError, match="target-duckdb cannot take shards"):
        shard.run_shard("dev", "tap-vidnavigator", "target-duckdb", 0, 2, project=tmp_path)
    with pytest.raises(shard.ShardError, match="between 0 and 3, got 4"):
        shard.run_shard("dev", "tap-vidnavigator", "target-postgres", 4, 4, project=tmp_path)


def test_each_shard_has_its_own_run_files_folder_and_jsonl_folder(tmp_path):
    from orchestrate import shard

    (tmp_path / ".meltano" / "extractors" / "tap-vidnavigator").mkdir(parents=True)
    folders = [
        shard.system_folder("tap-vidnavigator", "target-jsonl", i, 2, project=tmp_path)
        for i in range(2)
    ]
    assert folders[0] != folders[1]
    for folder in folders:
        # Installed plugins are shared; Meltano's run/ files are each shard's own.
        assert (folder / "extractors" / "tap-vidnavigator").is_dir()
        assert (folder / "extractors").resolve() == tmp_path / ".meltano" / "extractors"
        assert not (folder / "run").exists()
    env = shard.shard_environment(1, 2, "target-jsonl", system_folder=folders[1],
                                  max_active_tasks=5)  # fmt: skip
    assert env["MELTANO_SYS_DIR_ROOT"] == str(folders[1])
    assert env["TAP_VIDNAVIGATOR_SHARD_INDEX"] == "1"
    assert env["TAP_VIDNAVIGATOR_SHARD_COUNT"] == "2"
    assert env["TAP_VIDNAVIGATOR_MAX_ACTIVE_TASKS"] == "5"
    assert env["TARGET_JSONL_DESTINATION_PATH"] == "output/jsonl/shard-1-of-2"
