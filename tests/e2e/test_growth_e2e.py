"""video_stats through `meltano run` into PostgreSQL and DuckDB, two emulated days apart:
the README's growth queries, as written, return the emulator's ground truth."""

from __future__ import annotations

import contextlib
import datetime as dt
import typing as t

import duckdb
import psycopg2
import pytest

from tap_vidnavigator.emulator import data
from tap_vidnavigator.records.values import to_int
from tests.e2e.test_meltano_e2e import _pg_env, meltano_run, pg_column_types, readme_sql

pytestmark = pytest.mark.e2e

PROFILES = ["@size50", "@size120"]
URLS = [f"https://www.tiktok.com/{p}" for p in PROFILES]
#: Every video observed for its first week, and no lookback: only the window re-scrapes.
GROWTH_ENV = {"TAP_VIDNAVIGATOR_OBSERVE_DAYS": "7", "TAP_VIDNAVIGATOR_LOOKBACK_DAYS": "0"}
VIEWS_PER_DAY = "views_per_day"
RISERS = "row_number()"
FOLLOWERS = "followers_gained"


def _two_days(emulator, run: t.Callable[[], t.Any]) -> None:
    """Run the pipeline, move the emulated calendar a day, publish, run again."""
    for url in URLS:
        emulator.state.publish(url, 4)
    first = run()
    assert first.returncode == 0, first.stderr[-5000:]
    emulator.advance_clock(days=1)
    for url in URLS:
        emulator.state.publish(url, 2)
    second = run()
    assert second.returncode == 0, second.stderr[-5000:]


def _utc(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).replace(tzinfo=None)


def _observations(emulator) -> list[tuple[str, str | None, dt.datetime, int | None]]:
    """(video_id, profile_url or None, observed_at, views) of every completed task."""
    seen = []
    for task in emulator.state.tasks.values():
        if task.failure:
            continue
        observed = _utc(task.served_time(task.completes_at))
        profile = task.profile_url if task.kind == "profile" else None
        for served in emulator.state.served(task.task_id):
            views = emulator.state.counts_seen(task.task_id, str(served["id"]))["views"]
            seen.append((str(served["id"]), profile, observed, to_int(views)))
    return seen


def _views_per_day_truth(emulator) -> set[tuple]:
    by_video: dict[str, list[tuple[dt.datetime, int | None]]] = {}
    for video_id, _, observed, views in _observations(emulator):
        by_video.setdefault(video_id, []).append((observed, views))
    rows = set()
    for video_id, seen in by_video.items():
        seen.sort()
        previous = None
        for observed, views in seen:
            gained = per_day = None
            if previous is not None and views is not None and previous[1] is not None:
                gained = views - previous[1]
                per_day = round(gained / ((observed - previous[0]).total_seconds() / 86400), 6)
            rows.add((video_id, observed, views, gained, per_day))
            previous = (observed, views)
    return rows


def _risers_truth(emulator) -> list[tuple]:
    seen = _observations(emulator)
    now = max(observed for _, _, observed, _ in seen)
    week: dict[tuple[str, str], list[int | None]] = {}
    for video_id, profile, observed, views in seen:
        if profile is not None and observed >= now - dt.timedelta(days=7):
            week.setdefault((profile, video_id), []).append(views)
    gained: dict[str, list[tuple[int | None, str]]] = {}
    for (profile, video_id), views in week.items():
        if len(views) > 1:
            known = [v for v in views if v is not None]
            gained.setdefault(profile, []).append(
                (max(known) - min(known) if known else None, video_id)
            )
    rows = []
    for profile in sorted(gained):
        ranked = sorted(gained[profile], key=lambda g: (g[0] is None, -(g[0] or 0), g[1]))
        rows += [(profile, v, g, rank) for rank, (g, v) in enumerate(ranked[:3], start=1)]
    return rows


def _followers_truth(emulator) -> list[tuple]:
    rows = []
    for url in sorted(URLS):
        tasks = sorted(
            (t_ for t_ in emulator.state.tasks.values()
             if t_.kind == "profile" and t_.profile_url == url),
            key=lambda t_: t_.completes_at,
        )  # fmt: skip
        previous = None
        for task in tasks:
            followers = data.profile_object(task.handle, task.observed_at)["follower_count"]
            gained = None if previous is None else followers - previous
            rows.append((url, _utc(task.served_time(task.completes_at)), followers, gained))
            previous = followers
    return rows


def _check(fetch: t.Callable[[str], list[tuple]], emulator) -> None:
    per_day = {
        (v, o, views, g, None if d is None else round(float(d), 6))
        for v, o, views, g, d in fetch(readme_sql(VIEWS_PER_DAY))
    }
    assert per_day == _views_per_day_truth(emulator)
    assert any(row[3] for row in per_day), "no video grew between the two days"
    risers = [(p, v, int(g) if g is not None else None, int(r)) for p, v, g, r in
              fetch(readme_sql(RISERS.split(maxsplit=1)[0] + " ")) ]  # fmt: skip
    assert risers == _risers_truth(emulator)
    assert len(risers) == 6
    followers = fetch(readme_sql(FOLLOWERS))
    assert followers == _followers_truth(emulator)
    assert [row[3] for row in followers].count(None) == len(URLS)
    assert all(row[3] > 0 for row in followers if row[3] is not None)


def test_growth_queries_in_postgres(make_emulator, postgres, tmp_path):
    emulator = make_emulator(processing_polls=1)
    schema = "vidnavigator_growth"
    env = {**_pg_env(postgres, schema), **GROWTH_ENV}
    _two_days(
        emulator,
        lambda: meltano_run(
            "target-postgres", emulator, tmp_path, extra_env=env, profiles=PROFILES
        ),
    )
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        columns = pg_column_types(cursor, schema, "video_stats")
        assert columns["views"] == columns["reposts"] == columns["collects"] == "bigint"
        assert columns["observed_at"] == "timestamp without time zone"

        def fetch(query: str) -> list[tuple]:
            cursor.execute(query.replace("tap_vidnavigator.", f"{schema}."))
            return cursor.fetchall()

        _check(fetch, emulator)


def test_growth_queries_in_duckdb(make_emulator, tmp_path):
    emulator = make_emulator(processing_polls=1)
    _two_days(
        emulator,
        lambda: meltano_run(
            "target-duckdb", emulator, tmp_path, extra_env=GROWTH_ENV, profiles=PROFILES
        ),
    )
    warehouse = str(tmp_path / "warehouse.duckdb")
    with contextlib.closing(duckdb.connect(warehouse, read_only=True)) as connection:
        columns = dict(
            connection.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'video_stats'"
            ).fetchall()
        )
        assert columns["views"] == columns["collects"] == "HUGEINT"
        assert columns["observed_at"] == "TIMESTAMP"
        # The demo's warehouse schema (meltano.yml: target-duckdb's default_target_schema).
        _check(
            lambda query: connection.execute(
                query.replace("tap_vidnavigator.", "vidnavigator.")
            ).fetchall(),
            emulator,
        )
