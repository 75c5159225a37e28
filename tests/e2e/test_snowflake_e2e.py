"""The real target-snowflake, through `meltano run`, into fakesnow (a local Snowflake).

No Snowflake account can be reached from here: ``target-snowflake--fakesnow`` in
meltano.yml runs MeltanoLabs' target-snowflake 0.20.4 unchanged inside fakesnow 0.12.1,
with the adapter in tests/fakesnow_target filling what fakesnow lacks (its docstring
lists exactly what is emulated). The checks are SQL against what landed.
"""

from __future__ import annotations

import decimal
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests import search_oracle
from tests.conftest import ROOT
from tests.e2e.test_meltano_e2e import (
    EXPECTED,
    OBSERVATION_FIELDS,
    SEARCH_TRUTH,
    _check_search_results,
    _check_videos,
    expected_observations,
    meltano_run,
)

LOADER = "target-snowflake--fakesnow"
LOADER_BIN = ROOT / ".meltano" / "loaders" / LOADER / "venv" / "bin"
SCHEMA = "TAP_VIDNAVIGATOR"

pytestmark = pytest.mark.e2e


def snowflake_sql(db_path: Path, database: str, *queries: str) -> list[list[list]]:
    """The rows of each Snowflake SQL query on the fakesnow data (in the loader's venv)."""
    result = subprocess.run(
        [str(LOADER_BIN / "fakesnow-query"), str(db_path), database, *queries],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout))


def _env(tmp_path: Path, database: str, batch_root: Path) -> dict[str, str]:
    return {
        "FAKESNOW_DB_PATH": str(tmp_path / "fakesnow"),
        "TARGET_SNOWFLAKE__FAKESNOW_DATABASE": database,
        # The BATCH messages are counted from the SDK's METRIC lines, DEBUG detail.
        "TAP_VIDNAVIGATOR_LOGLEVEL": "debug",
        # The batch pipeline's files go to this test's folder (merged into meltano.yml's).
        "TAP_VIDNAVIGATOR__BATCH_BATCH_CONFIG": json.dumps(
            {"storage": {"root": batch_root.as_uri()}, "batch_size": 1000}
        ),
    }


def test_the_adapter_runs_only_with_the_versions_it_was_written_for():
    pyproject = (ROOT / "tests/fakesnow_target/pyproject.toml").read_text()
    dependencies = sorted(re.findall(r'^    "([^"]+==[^"]+)",$', pyproject, re.MULTILINE))
    assert dependencies == ["fakesnow==0.12.1", "meltanolabs-target-snowflake==0.20.4"]
    installed = subprocess.run(
        [str(LOADER_BIN / "python"), "-c",
         "import fakesnow_target, json; fakesnow_target.check_versions(); "
         "print(json.dumps(fakesnow_target.PINNED))"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # check_versions raises when the loader's venv holds any other version of either.
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert json.loads(installed.stdout) == {
        "fakesnow": "0.12.1",
        "meltanolabs-target-snowflake": "0.20.4",
    }
    # The real target in meltano.yml is the same release.
    loaders = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["loaders"]
    real = next(p for p in loaders if p["name"] == "target-snowflake")
    assert "meltanolabs-target-snowflake==0.20.4" in real["pip_url"].split()


def test_snowflake_loads_records_then_batches_exactly(make_emulator, tmp_path):
    emulator = make_emulator(processing_polls=1)
    database = f"E2E_{uuid.uuid4().hex[:8].upper()}"
    batch_root = tmp_path / "batches"
    env = _env(tmp_path, database, batch_root)
    db_path = tmp_path / "fakesnow"
    # One BATCH message per 1,000 results of each task (batch_size), in the batch pipeline.
    files = sum(
        -(-len(emulator.ground_truth(url, **filters)) // 1000) for url, filters in EXPECTED.items()
    ) + sum(
        -(-len(search_oracle.expected(emulator.state, query, **filters).kept) // 1000)
        for query, filters in SEARCH_TRUTH.items()
    )
    counts = {url: len(emulator.ground_truth(url, **EXPECTED[url])) for url in EXPECTED}
    found = sum(
        len(search_oracle.expected(emulator.state, q, **f).kept) for q, f in SEARCH_TRUTH.items()
    )

    def check_everything(tasks: int) -> None:
        columns, videos, results, statuses, matched, observed = snowflake_sql(
            db_path,
            database,
            "select table_name, column_name, data_type from information_schema.columns "
            f"where table_schema = '{SCHEMA}'",
            f"select id, profile_url, likes from {SCHEMA}.videos",
            f"select query, id, likes from {SCHEMA}.search_results",
            f"select task_status, count(*), count(distinct task_id) from {SCHEMA}.profile_tasks "
            "group by 1 order by 1",
            # Objects stay objects: a VARIANT path reads a field of each task's stats.
            f"select distinct profile_url, stats:videos_matched::number from "
            f"{SCHEMA}.profile_tasks where task_status = 'completed'",
            f"select source, count(*), count(distinct video_id) from {SCHEMA}.video_stats "
            "group by 1 order by 1",
        )
        kinds = {(table, column): kind for table, column, kind in columns}
        assert kinds[("VIDEOS", "ID")] == "TEXT"
        assert kinds[("VIDEOS", "PUBLISHED_AT")] == "TIMESTAMP_TZ"  # timestamp_type, on purpose
        assert kinds[("VIDEOS", "LIKES")] == kinds[("SEARCH_RESULTS", "VIEWS")] == "NUMBER"
        assert kinds[("VIDEOS", "DURATION")] == "FLOAT"
        assert kinds[("VIDEOS", "THUMBNAILS")] == kinds[("VIDEOS", "ARTISTS")] == "VARIANT"
        assert kinds[("PROFILE_TASKS", "PROFILE")] == kinds[("PROFILE_TASKS", "STATS")] == "VARIANT"
        assert kinds[("PROFILE_TASKS", "CHARGES")] == "VARIANT"
        _check_videos([tuple(row) for row in videos], emulator)
        _check_search_results([tuple(row) for row in results], emulator)
        assert statuses == [["completed", 4 * tasks, 4 * tasks], ["failed", tasks, tasks]]
        assert {(url, int(n)) for url, n in matched} == set(counts.items())
        # One observation per video per task: each pipeline's tasks saw every result.
        assert kinds[("VIDEO_STATS", "OBSERVED_AT")] == "TIMESTAMP_TZ"
        assert kinds[("VIDEO_STATS", "VIEWS")] == kinds[("VIDEO_STATS", "COLLECTS")] == "NUMBER"
        videos_seen = sum(counts.values())
        assert observed == [["profile", videos_seen * tasks, videos_seen],
                            ["search", found * tasks, found]]  # fmt: skip
        # And every value of every row: the counts each task saw.
        [stats] = snowflake_sql(
            db_path, database,
            f"select {', '.join(OBSERVATION_FIELDS)} from {SCHEMA}.video_stats",
        )  # fmt: skip
        loaded = [tuple(None if v is None else (int(v) if i >= 5 else v)
                        for i, v in enumerate(row)) for row in stats]  # fmt: skip
        assert len(loaded) == len(set(loaded))
        assert set(loaded) == expected_observations(emulator)

    records = meltano_run(LOADER, emulator, tmp_path, extra_env=env)
    assert records.returncode == 0, records.stderr[-5000:]
    assert _batch_messages(records.stderr) == 0
    check_everything(tasks=1)
    # The batch pipeline has its own state (everything again, bought anew rather than
    # reused from the ledger within the hour) and upserts: no duplicates.
    batches = meltano_run(
        LOADER, emulator, tmp_path, extractor="tap-vidnavigator--batch",
        extra_env={**env, "TAP_VIDNAVIGATOR_FORCE_NEW_TASKS": "true"},
    )  # fmt: skip
    assert batches.returncode == 0, batches.stderr[-5000:]
    assert _batch_messages(batches.stderr) == files
    check_everything(tasks=2)
    # account_usage, one row per run: an unlimited plan's pool is null plus a flag, and
    # the purchased credits a number. Credits are FLOAT here: sums within 1e-9.
    usage, spent = snowflake_sql(
        db_path,
        database,
        f"select monthly_total, monthly_remaining, monthly_unlimited, purchased, balance, "
        f"plan_id from {SCHEMA}.account_usage order by read_at",
        f"select sum(credits_used) from {SCHEMA}.profile_tasks",
    )
    assert usage == [[None, None, True, 0, None, "odyssey"]] * 2
    truth = sum(
        decimal.Decimal(str(task.usage["total_credits"]))
        for task in emulator.state.tasks.values()
        if task.kind == "profile"
    )
    assert abs(decimal.Decimal(str(spent[0][0])) - truth) <= decimal.Decimal("1e-9")
    # target-snowflake deleted the tap's batch files once loaded (clean_up_batch_files).
    assert batch_root.exists() and list(batch_root.iterdir()) == []


def _batch_messages(log: str) -> int:
    """BATCH messages the tap sent, from the SDK's batch_count metrics in the log."""
    return sum(
        int(json.loads(line.split("METRIC: ", 1)[1])["value"])
        for line in log.splitlines()
        if '"metric":"batch_count"' in line
    )
