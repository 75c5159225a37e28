"""The README's first command, run twice: the same tables, no duplicate rows."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_demo_twice(tmp_path):
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "TARGET_DUCKDB_FILEPATH": str(tmp_path / "warehouse.duckdb"),
    }
    outputs = []
    for _ in range(2):
        result = subprocess.run(
            [str(ROOT / "scripts" / "demo")],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        outputs.append(result.stdout)
    counts = [re.findall(r"vidnavigator\.(\w+)\s+([\d,]+) rows", out) for out in outputs]
    first, second = dict(counts[0]), dict(counts[1])
    assert (
        set(first) == set(second) == {"profile_tasks", "videos", "search_tasks", "search_results"}
    )
    assert first["videos"] == second["videos"] and int(first["videos"].replace(",", "")) > 5000
    assert first["search_results"] == second["search_results"]  # upserted on (query, id)
    # One tasks row per task: six profiles and two searches, new tasks each run.
    assert (int(first["profile_tasks"]), int(second["profile_tasks"])) == (6, 12)
    assert (int(first["search_tasks"]), int(second["search_tasks"])) == (2, 4)
    assert "The three most liked results of each search" in outputs[1]
    assert "The five most viewed videos of each profile" in outputs[1]


def test_shards_command_runs_four_shards_with_their_own_states(tmp_path):
    """The README's scale-out command, as written: four shards at once, by Dagster."""
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    jsonl = ROOT / "output" / "jsonl"
    for index in range(4):  # target-jsonl appends: start each shard's folder empty
        for old in (jsonl / f"shard-{index}-of-4").glob("*.jsonl"):
            old.unlink()
    result = subprocess.run(
        [str(ROOT / "scripts" / "shards"), "4"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "==> all 4 shards succeeded in" in out, out[-3000:]
    for index in range(4):
        started = f"shard {index} of 4: --environment dev run --state-id-suffix shard-{index}-of-4"
        assert started in out
    lines = re.findall(r"(dev:tap-vidnavigator-to-target-jsonl:shard-\d-of-4): (.*)", out)
    assert [state_id for state_id, _ in lines] == [
        f"dev:tap-vidnavigator-to-target-jsonl:shard-{i}-of-4" for i in range(4)
    ]
    bookmarks = [int(re.match(r"(\d+) bookmark", rest).group(1)) for _, rest in lines]
    assert sum(bookmarks) == 40 + 2  # 40 creators and 2 searches, each in one shard
    assert all("0 task(s) in flight" in rest and "videos " in rest for _, rest in lines)
