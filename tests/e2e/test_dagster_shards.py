"""Sharded pipelines on Dagster: `meltano run`s at once, each shard its own state.

Dagster runs orchestrate/definitions.py's job for real (its multiprocess executor, a
temporary Dagster instance), each shard a real `meltano run` into the test PostgreSQL
against the emulator, Meltano's system database on that PostgreSQL too. Dagster is
imported inside the tests: the Python matrix collects this file without it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import re
import typing as t
import uuid

import psycopg2
import pytest

from orchestrate import shard
from tap_vidnavigator.shards import shard_of
from tests.conftest import HELD, expected_videos, wait_for
from tests.e2e.test_meltano_e2e import _pg_env

# Many Meltano runs in one test: a deadline past the 600 s default.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SHARDS = 3
SLOW_SHARD = 1


def _handles() -> tuple[list[str], str]:
    """Two profiles in each shard but one, whose only profile is slow; that slow one."""
    by_shard: dict[int, list[str]] = {index: [] for index in range(SHARDS)}
    for number in range(20, 400):
        handle = f"size{number}"
        index = shard_of(f"https://www.tiktok.com/@{handle}", SHARDS)
        if len(by_shard[index]) < (1 if index == SLOW_SHARD else 2):
            by_shard[index].append(handle)
    handles = [h for index in range(SHARDS) for h in by_shard[index]]
    assert len(handles) == 2 * (SHARDS - 1) + 1
    return handles, by_shard[SLOW_SHARD][0]


def _run_config(**shards: t.Any) -> dict[str, t.Any]:
    config = {
        "extractor": "tap-vidnavigator",
        "loader": "target-postgres",
        "key_active_task_cap": 10,
        **shards,
    }
    return {
        "ops": {"plan_shards": {"config": config}, "run_shard": {"config": config}},
        "execution": {"config": {"shards_per_key": SHARDS}},
    }


#: target-postgres creates a schema or table after checking it is missing: shards that
#: load into a new schema at the same moment can both create it, and one fails. PostgreSQL
#: names that failure either way: DuplicateSchema/DuplicateTable, or, when both creates
#: pass that check at once, a UniqueViolation on its own catalog's index of names
#: (pg_namespace for a schema, pg_type for a table's row type).
_LOADER_RACE = re.compile(
    r"target-postgres .*(DuplicateTable|DuplicateSchema"
    r'|UniqueViolation.*"pg_(namespace_nspname|type_typname_nsp)_index")'
)


def _execute(tmp_path, run_config):
    import dagster as dg

    from orchestrate.definitions import vidnavigator_shards

    home = tmp_path / "dagster"
    home.mkdir(exist_ok=True)
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        result = dg.execute_job(
            dg.reconstructable(vidnavigator_shards), instance=instance, run_config=run_config
        )
        steps: dict[str, list[tuple[str, float]]] = {}
        raced: set[str] = set()  # the steps whose loader lost that race
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is not None and event.step_key and event.step_key.startswith("run_shard["):
                steps.setdefault(event.step_key, []).append(
                    (event.event_type_value, record.timestamp)
                )
            elif record.step_key and _LOADER_RACE.search(record.user_message):
                raced.add(record.step_key)
        return result.success, steps, raced


def _up_for_retry(home, step_key: str) -> bool:
    """Whether Dagster (its instance in ``home``) has recorded ``step_key`` up for retry."""
    import time

    import dagster as dg

    time.sleep(0.5)  # each look opens the instance: not in a busy loop
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return any(
            record.dagster_event is not None
            and record.dagster_event.step_key == step_key
            and record.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
            for run in instance.get_runs()
            for record in instance.all_logs(run.run_id)
        )


def _system_database(postgres: dict[str, t.Any]) -> str:
    """A new database on the test PostgreSQL for Meltano's own tables, as several
    machines would share (tests/e2e/test_demo.py runs shards on a brand-new SQLite one)."""
    database = f"meltano_{uuid.uuid4().hex[:6]}"
    with contextlib.closing(psycopg2.connect(**postgres)) as connection:
        connection.autocommit = True
        connection.cursor().execute(f"create database {database}")
    return (
        f"postgresql+psycopg://{postgres['user']}:{postgres['password']}@{postgres['host']}:"
        f"{postgres['port']}/{database}"
    )


def test_shards_run_at_once_each_with_its_own_state_and_retry_alone(
    make_emulator, postgres, tmp_path, monkeypatch
):
    handles, slow = _handles()
    slow_step = f"run_shard[shard_{SLOW_SHARD}]"
    # Every task is held until all shards submitted theirs: every shard starts before any
    # ends, on any machine. The slow profile's task is held longer, past task_timeout: its
    # shard's first attempt gives up (the task saved in its state) and Dagster retries
    # that shard alone; the test completes the task once Dagster has recorded that retry,
    # so the rerun finds it done, however slowly this machine ran the first attempt.
    emulator = make_emulator(processing_seconds=HELD)
    schema = f"shards_{uuid.uuid4().hex[:6]}"
    env = {
        **_pg_env(postgres, schema),
        "MELTANO_DATABASE_URI": _system_database(postgres),
        "TAP_VIDNAVIGATOR_API_URL": emulator.url,
        "TAP_VIDNAVIGATOR_PROFILES": json.dumps([f"@{h}" for h in handles]),
        "TAP_VIDNAVIGATOR_SEARCHES": "[]",
        "TAP_VIDNAVIGATOR_TASK_TIMEOUT": "6",
    }
    # Dagster's steps inherit this process's environment: nothing of the runner's that
    # configures the tap, a target, Meltano or Dagster, only the test's.
    for name in list(os.environ):
        if name.startswith(("TAP_VIDNAVIGATOR_", "TARGET_", "MELTANO_", "DAGSTER_", "PG_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def release_once_all_submitted() -> list[str]:
        wait_for(lambda: len(emulator.state.tasks) == len(handles), "every shard's submits")
        released = [
            task_id
            for task_id, task in list(emulator.state.tasks.items())
            if task.handle != slow and emulator.complete(task_id)
        ]
        wait_for(
            lambda: _up_for_retry(tmp_path / "dagster", slow_step),
            "the slow shard's first attempt to give up",
            timeout=600,
        )
        [slow_task] = [i for i, task in emulator.state.tasks.items() if task.handle == slow]
        assert emulator.complete(slow_task)
        return released

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        released = pool.submit(release_once_all_submitted)
        success, steps, raced = _execute(tmp_path, _run_config(shards=SHARDS))
        assert len(released.result(timeout=600)) == len(handles) - 1
    assert success
    assert len(steps) == SHARDS
    # Dagster's own record: every shard started before any finished (first attempts).
    starts = [min(ts for kind, ts in events if kind == "STEP_START") for events in steps.values()]
    ends = [
        min(ts for kind, ts in events if kind in {"STEP_SUCCESS", "STEP_UP_FOR_RETRY"})
        for events in steps.values()
    ]
    assert max(starts) < min(ends), (starts, ends)
    # The slow profile's shard was retried alone, but for a shard whose loader lost the
    # race to create a table of the new schema (retried as well: docs/scale-out.md).
    retried = {
        key for key, events in steps.items() if any(k == "STEP_UP_FOR_RETRY" for k, _ in events)
    }
    assert slow_step in retried
    assert retried - {slow_step} <= raced, (retried, raced)
    # ...and it paid for nothing twice: one submit per profile.
    assert emulator.counters().submits == len(handles)
    # The shards at once under the key's cap of 10 active tasks (10 // 3 each): no 429.
    assert emulator.state.config.max_active_tasks == 10
    assert emulator.counters().refused_submits == 0
    _check_warehouse(postgres, schema, emulator, handles)

    # One state per shard, each holding only its own profiles' bookmarks.
    pipeline = "dev:tap-vidnavigator-to-target-postgres"
    ids = shard.state_ids("dev")
    assert sorted(ids) == [f"{pipeline}:shard-{i}-of-{SHARDS}" for i in range(SHARDS)]
    bookmarks = {}
    for index in range(SHARDS):
        state = _state(f"{pipeline}:shard-{index}-of-{SHARDS}")
        partitions = state["bookmarks"]["videos"]["partitions"]
        urls = {p["context"]["profile_url"] for p in partitions}
        mine = {f"https://www.tiktok.com/@{h}" for h in handles}
        assert urls == {u for u in mine if shard_of(u, SHARDS) == index}
        assert state["bookmarks"].get("profile_tasks", {}).get("in_flight", {}) == {}
        bookmarks.update(
            {p["context"]["profile_url"]: p["replication_key_value"] for p in partitions}
        )

    # The next run of a shard (the retried one) asks its profile only for its lookback
    # window. The engine-neutral runner, as Airflow or cron would call it: the same
    # command the Dagster step runs.
    monkeypatch.setenv("TAP_VIDNAVIGATOR_TASK_TIMEOUT", "600")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        ran = pool.submit(
            shard.run_shard,
            "dev", "tap-vidnavigator", "target-postgres", SLOW_SHARD, SHARDS,
            on_line=lambda _: None,
        )  # fmt: skip
        while not ran.done():  # its one task, held as all are: completed when it comes
            emulator.complete()
            with contextlib.suppress(concurrent.futures.TimeoutError):
                ran.result(timeout=0.2)
        code = ran.result()
    assert code == 0
    second = [task for task in emulator.state.tasks.values() if task.kind == "profile"]
    second = sorted(second, key=lambda task: task.created_at)[len(handles) :]
    assert [task.profile_url for task in second] == [f"https://www.tiktok.com/@{slow}"]
    for task in second:
        newest = dt.datetime.fromisoformat(bookmarks[task.profile_url])
        assert task.filters.after_label == (newest.date() - dt.timedelta(days=3)).isoformat()
    _check_warehouse(postgres, schema, emulator, handles)  # upserted: no duplicate


def _state(state_id: str) -> dict[str, t.Any]:
    got = shard._meltano(
        ["--environment", "dev", "state", "get", state_id], env=shard._base_env(None)
    )
    assert got.returncode == 0, got.stderr[-2000:]
    return t.cast("dict[str, t.Any]", json.loads(got.stdout)["singer_state"])


def _check_warehouse(postgres, schema, emulator, handles) -> None:
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(f"select id from {schema}.videos")
        ids = [row[0] for row in cursor.fetchall()]
    truth: set[str] = set()
    for handle in handles:
        truth |= set(expected_videos(emulator, f"https://www.tiktok.com/@{handle}"))
    assert len(ids) == len(set(ids)) and set(ids) == truth
