"""`meltano run` with a loader that fails (nothing listens on its port), then succeeds.

Meltano saves no STATE when the loader fails, so the rerun starts from the old one; the
tap's ledger (inside the Meltano project, here the test's own folder) lets it read the
tasks the failed run bought instead of buying them again, and load the same records.
"""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from tests.e2e.test_meltano_e2e import (
    PROFILES,
    SEARCHES,
    _check_search_results,
    _check_videos,
    _pg_env,
    meltano_run,
)

pytestmark = pytest.mark.e2e


def test_a_failed_loader_then_a_rerun_buys_nothing_twice(make_emulator, postgres, tmp_path):
    emulator = make_emulator(processing_polls=1)
    schema = "vidnavigator_ledger"
    env = _pg_env(postgres, schema)
    failed = meltano_run("target-postgres", emulator, tmp_path, extra_env={**env, "PG_PORT": "1"})
    assert failed.returncode != 0
    bought = emulator.counters().submits
    assert bought == len(PROFILES) + len(SEARCHES)  # the tap bought everything...
    assert (tmp_path / "ledger").is_dir()

    rerun = meltano_run("target-postgres", emulator, tmp_path, extra_env=env)
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert emulator.counters().submits == bought  # ...once
    assert rerun.stderr.count("from the ledger (bought") == bought
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(f"select id, profile_url, likes from {schema}.videos")
        _check_videos(cursor.fetchall(), emulator)
        cursor.execute(f"select query, id, likes from {schema}.search_results")
        _check_search_results(cursor.fetchall(), emulator)
        cursor.execute(f"select count(*), count(distinct task_id) from {schema}.profile_tasks")
        assert cursor.fetchone() == (len(PROFILES), len(PROFILES))
