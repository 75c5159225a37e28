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
