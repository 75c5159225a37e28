"""The ledger: nothing bought twice when the STATE of a run that bought it was lost.

A retried shard (or any rerun whose STATE was never committed) reuses the tasks the
lost run bought; a run whose STATE holds them buys fresh ones; expired, foreign and
vanished entries are never trusted; parallel shards share one folder safely.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import subprocess
import sys
from pathlib import Path

from tap_vidnavigator.ledger import DEFAULT_FOLDER, Ledger, default_folder
from tests.conftest import assert_videos_match, base_config, run_tap

PROFILES = ["@size40", "@size75", "@empty", "@notfound_ledger"]
URLS = [f"https://www.tiktok.com/{p}" for p in PROFILES]
LOGGER = logging.getLogger("tap-vidnavigator.test")
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc)


def _ledger(folder: Path, *, url: str = "http://127.0.0.1:9/v1", key: str = "k") -> Ledger:
    return Ledger(folder, api_url=url, api_key=key, logger=LOGGER, now=lambda: NOW)


def _in(hours: float) -> str:
    return (NOW + dt.timedelta(hours=hours)).isoformat()


def test_expired_and_foreign_entries_are_never_reused(tmp_path):
    mine = _ledger(tmp_path)
    filters = {"after_date": "2026-05-01"}
    mine.record("profile", URLS[0], filters, "t_expired", _in(-1))
    mine.record("profile", URLS[0], filters, "t_too_soon", _in(0.05))  # 3 minutes left
    _ledger(tmp_path, key="another-key").record("profile", URLS[0], filters, "t_key", _in(1))
    _ledger(tmp_path, url="https://other/v1").record("profile", URLS[0], filters, "t_url", _in(1))
    mine.record("search", URLS[0], filters, "t_kind", _in(1))
    mine.record("profile", URLS[0], {"after_date": "2026-05-02"}, "t_filters", _in(1))
    assert mine.find("profile", URLS[0], filters) is None
    # The expired entry met on the way was removed; the others stay for their owners.
    names = sorted(path.name.split("--")[1] for path in tmp_path.glob("*.json"))
    assert names == [f"{t}.json" for t in sorted(
        ["t_too_soon", "t_key", "t_url", "t_kind", "t_filters"])]  # fmt: skip
    mine.record("profile", URLS[0], filters, "t_good", _in(1))
    entry = mine.find("profile", URLS[0], filters)
    assert entry is not None and entry.task_id == "t_good"
    # The key is never written, only a hash of it.
    assert all('"k"' not in path.read_text() for path in tmp_path.glob("*.json"))
    assert json.loads(entry.path.read_text())["filters"] == filters
    # A sweep removes every expired entry, of any account.
    _ledger(tmp_path, key="another-key").record("profile", URLS[1], {}, "t_old", _in(-2))
    assert mine.sweep() == 1


def test_the_default_folder_is_inside_the_meltano_project(tmp_path):
    assert default_folder({"MELTANO_PROJECT_ROOT": str(tmp_path)}) == tmp_path / DEFAULT_FOLDER
    assert str(DEFAULT_FOLDER) == ".meltano/tap-vidnavigator/ledger"
    assert default_folder({}) is None


def _write_many(folder: str, writer: int) -> None:
    ledger = _ledger(Path(folder))
    for index in range(200):
        # Both writers record the same requests: each entry is its own file.
        ledger.record("profile", URLS[index % 4], {"n": index}, f"t{writer}_{index}", _in(1))


def test_two_writers_at_once_lose_and_corrupt_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(str(tmp_path), w)) for w in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".json")) == []
    assert len(list(tmp_path.glob("*.json"))) == 400
    ledger = _ledger(tmp_path)
    for index in range(200):
        entry = ledger.find("profile", URLS[index % 4], {"n": index})
        assert entry is not None and entry.task_id in {f"t1_{index}", f"t2_{index}"}


def _shard(emulator, ledger: Path, index: int, **settings):
    return base_config(
        emulator,
        profiles=PROFILES,
        shard_count=2,
        shard_index=index,
        ledger_dir=str(ledger),
        **settings,
    )


def test_a_retried_shard_buys_nothing_again_and_reads_the_same_records(emulator, tmp_path):
    ledger = tmp_path / "ledger"
    config = base_config(emulator, profiles=PROFILES, ledger_dir=str(ledger))
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    assert emulator.counters().submits == len(PROFILES)
    # The retry starts from the STATE the failed attempt never committed: none.
    retry = run_tap(tmp_path, config)
    assert retry.returncode == 0, retry.stderr
    assert emulator.counters().submits == len(PROFILES)
    assert retry.stderr.count("from the ledger (bought") == len(PROFILES)
    assert sorted(r["task_id"] for r in retry.records("profile_tasks")) == sorted(
        r["task_id"] for r in first.records("profile_tasks")
    )
    assert retry.records("videos") == first.records("videos")
    for url in URLS:
        assert_videos_match(retry.records("videos"), emulator, url)
    tasks = {r["profile_url"]: r for r in retry.records("profile_tasks")}
    assert tasks[URLS[3]]["task_status"] == "failed"

    # A run whose STATE holds the tasks buys anew: @empty's and the failing profile's
    # requests are the same again (no bookmark), yet their counts must be fresh.
    after = run_tap(tmp_path, config, state=retry.last_state)
    assert after.returncode == 0, after.stderr
    assert "from the ledger" not in after.stderr
    assert emulator.counters().submits == 2 * len(PROFILES)

    forced = run_tap(tmp_path, {**config, "force_new_tasks": True})
    assert forced.returncode == 0, forced.stderr
    assert "from the ledger" not in forced.stderr
    assert emulator.counters().submits == 3 * len(PROFILES)


def test_two_shards_at_once_share_one_ledger(emulator, tmp_path):
    ledger = tmp_path / "ledger"
    processes = []
    for index in (0, 1):
        path = tmp_path / f"shard-{index}.json"
        path.write_text(json.dumps(_shard(emulator, ledger, index)))
        command = [sys.executable, "-m", "tap_vidnavigator.tap", "--config", str(path)]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True))  # fmt: skip
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    assert emulator.counters().submits == len(PROFILES)
    assert len(list(ledger.glob("*.json"))) == len(PROFILES)
    for index in (0, 1):
        retry = run_tap(tmp_path, _shard(emulator, ledger, index))
        assert retry.returncode == 0, retry.stderr
    assert emulator.counters().submits == len(PROFILES)


def test_a_ledger_task_that_is_gone_is_bought_once_more(emulator, tmp_path):
    ledger = tmp_path / "ledger"
    config = base_config(emulator, profiles=PROFILES[:1], ledger_dir=str(ledger))
    # As if an earlier emulator on this port (or a task removed early) had sold it.
    late = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    Ledger(ledger, api_url=emulator.url, api_key=config["api_key"], logger=LOGGER).record(
        "profile", URLS[0], {}, "tt_profile_vanished", late
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "Ledger task tt_profile_vanished for" in result.stderr
    assert emulator.counters().submits == 1
    assert_videos_match(result.records("videos"), emulator, URLS[0])
    assert [p.name.split("--")[1] for p in ledger.glob("*.json")] == [
        f"{result.records('profile_tasks')[0]['task_id']}.json"
    ]
