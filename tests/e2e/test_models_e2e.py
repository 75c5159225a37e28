"""The analytics models (transform/) built by Meltano after a load, as a user runs them:
`meltano run tap-vidnavigator target-X dbt-X:build` on the second of two emulated days.
The growth, follower and credit marts equal the emulator's ground truth exactly, in
DuckDB and in a real PostgreSQL; dbt's own data tests pass on both.

One Meltano run pair per warehouse (a module-scoped fixture each), shared by the checks.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import math
import re
import subprocess
import typing as t
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg2
import pytest
import yaml

from tap_vidnavigator.emulator import Emulator, EmulatorConfig, data
from tap_vidnavigator.records.values import to_int
from tests.conftest import ROOT, minimal_env
from tests.e2e.test_growth_e2e import GROWTH_ENV, _risers_truth
from tests.e2e.test_meltano_e2e import MELTANO, SEARCHES, _pg_env, isolated_meltano, meltano_run
from tests.e2e.test_models_docs import models_doc
from tests.e2e.test_snowflake_e2e import snowflake_sql

pytestmark = pytest.mark.e2e

#: Two growing profiles, one that fails (a task that completes nothing), and the
#: searches of tests/e2e/test_meltano_e2e.py (meltano_run sets them).
PROFILES = ["@size50", "@size120", "@notfound_models"]
GROWING = ["https://www.tiktok.com/@size50", "https://www.tiktok.com/@size120"]
#: video_transcripts not selected in PostgreSQL: its models are built empty, not failed.
NO_TRANSCRIPTS = '["*.*", "!video_transcripts.*"]'
#: keyword_mentions' words in DuckDB (the utilities' `keywords` setting): some the
#: emulator's English and Spanish captions say, one upper case, one never said.
KEYWORDS = " ramen,Follow,receta,wow,zebra "


@dataclasses.dataclass
class Built:
    """A warehouse after two loads and one dbt build, and the emulator behind it."""

    emulator: Emulator
    fetch: t.Callable[[str], list[tuple]]
    output: str


def _two_days(emulator: Emulator, workdir: Path, loader: str, utility: str, env: dict) -> str:
    """Day 1: load. A day later, with new videos: load, then dbt build. Meltano's log."""
    for url in GROWING:
        emulator.state.publish(url, 4)
    first = meltano_run(loader, emulator, workdir, extra_env=env, profiles=PROFILES)
    assert first.returncode == 0, first.stderr[-5000:]
    emulator.advance_clock(days=1)
    for url in GROWING:
        emulator.state.publish(url, 2)
    # As meltano_run runs it, with the dbt utility as a third block.
    second = subprocess.run(
        [
            str(MELTANO),
            "--environment",
            "dev",
            "run",
            "tap-vidnavigator",
            loader,
            f"{utility}:build",
        ],
        cwd=ROOT,
        env=_run_env(emulator, workdir, env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert second.returncode == 0, second.stderr[-8000:]
    done = re.findall(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", second.stderr)
    assert done, second.stderr[-5000:]
    passed, warned, errors, skipped = map(int, done[-1])
    # Every model and every data test of transform/ ran and passed.
    assert (warned, errors, skipped) == (0, 0, 0)
    manifest = json.loads((workdir / "dbt-target" / "manifest.json").read_text())
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "test")]
    assert passed == len(nodes) > 0
    return second.stderr


def _run_env(emulator: Emulator, workdir: Path, env: dict) -> dict[str, str]:
    """meltano_run's environment: its own system database, the emulator, the profiles."""
    return {
        **isolated_meltano(workdir),
        "TAP_VIDNAVIGATOR_API_URL": emulator.url,
        "TAP_VIDNAVIGATOR_PROFILES": json.dumps(PROFILES),
        "TAP_VIDNAVIGATOR_SEARCHES": json.dumps(SEARCHES),
        "TARGET_DUCKDB_FILEPATH": str(workdir / "warehouse.duckdb"),
        **env,
    }


def _dbt_env(workdir: Path) -> dict[str, str]:
    """dbt's own folders in ``workdir``: the tests and the demo may run dbt at once."""
    return {
        "DBT_TARGET_PATH": str(workdir / "dbt-target"),
        "DBT_LOG_PATH": str(workdir / "dbt-logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }


@pytest.fixture(scope="module")
def duckdb_built(tmp_path_factory) -> t.Iterator[Built]:
    workdir = tmp_path_factory.mktemp("models-duckdb")
    emulator = Emulator(EmulatorConfig(processing_seconds=0.2)).start()
    try:
        warehouse = workdir / "warehouse.duckdb"
        env = {
            **GROWTH_ENV,
            **_dbt_env(workdir),
            "DBT_DUCKDB_PATH": str(warehouse),
            # Transcripts on, and words their texts say: keyword_mentions has rows.
            "TAP_VIDNAVIGATOR_TRANSCRIPTS": json.dumps(
                {"enabled": True, "ledger_path": str(workdir / "transcriptions.jsonl")}
            ),
            "DBT_DUCKDB_KEYWORDS": KEYWORDS,
        }
        output = _two_days(emulator, workdir, "target-duckdb", "dbt-duckdb", env)
        with contextlib.closing(duckdb.connect(str(warehouse), read_only=True)) as connection:
            yield Built(emulator, lambda sql: connection.execute(sql).fetchall(), output)
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def postgres_built(postgres, tmp_path_factory) -> t.Iterator[Built]:
    workdir = tmp_path_factory.mktemp("models-postgres")
    emulator = Emulator(EmulatorConfig(processing_seconds=0.2)).start()
    try:
        env = {
            **_pg_env(postgres, "vidnavigator_models"),
            **GROWTH_ENV,
            **_dbt_env(workdir),
            "DBT_POSTGRES_SOURCE_SCHEMA": "vidnavigator_models",
            "DBT_POSTGRES_SCHEMA": "models_analytics",
            "TAP_VIDNAVIGATOR__SELECT": NO_TRANSCRIPTS,
        }
        output = _two_days(emulator, workdir, "target-postgres", "dbt-postgres", env)
        with (
            contextlib.closing(psycopg2.connect(**postgres)) as connection,
            connection.cursor() as cursor,
        ):

            def fetch(sql: str) -> list[tuple]:
                cursor.execute(sql)
                return cursor.fetchall()

            yield Built(emulator, fetch, output)
    finally:
        emulator.stop()


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$")


def _from_json(value: t.Any) -> t.Any:
    """A value of fakesnow-query's JSON (dates and times as text) as the other drivers give it."""
    if isinstance(value, str) and _DATE.match(value):
        return dt.date.fromisoformat(value)
    if isinstance(value, str) and _TIME.match(value):
        return dt.datetime.fromisoformat(value)
    return value


@pytest.fixture(scope="module")
def snowflake_built(tmp_path_factory) -> t.Iterator[Built]:
    """target-snowflake and dbt-snowflake, both on fakesnow (tests/fakesnow_target,
    transform/fakesnow_dbt): the same fakesnow files, as one Snowflake account."""
    workdir = tmp_path_factory.mktemp("models-snowflake")
    emulator = Emulator(EmulatorConfig(processing_seconds=0.2)).start()
    try:
        env = {**GROWTH_ENV, **_dbt_env(workdir), "FAKESNOW_DB_PATH": str(workdir / "fakesnow")}
        output = _two_days(
            emulator, workdir, "target-snowflake--fakesnow", "dbt-snowflake--fakesnow", env
        )

        # Every query the checks make, in one process (each starts fakesnow anew).
        queries = [
            q.format(schema="ANALYTICS") for q in (VIDEO_GROWTH, PROFILE_GROWTH, CREDITS, RISERS)
        ]
        results = snowflake_sql(workdir / "fakesnow", "VIDNAVIGATOR", *queries)
        answers = {
            query: [tuple(_from_json(value) for value in row) for row in rows]
            for query, rows in zip(queries, results, strict=True)
        }
        yield Built(emulator, answers.__getitem__, output)
    finally:
        emulator.stop()


# The ground truth, from the emulator's own record of every task and what it served.


def _utc(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).replace(tzinfo=None)


def _completed(emulator: Emulator, kind: str | None = None) -> list:
    return [
        task
        for task in emulator.state.tasks.values()
        if not task.failure and (kind is None or task.kind == kind)
    ]


def _video_growth_truth(emulator: Emulator) -> dict[tuple[str, str], tuple]:
    """(video_id, task_id) -> (observed_at, views, views_gained, likes, likes_gained,
    comments, comments_gained, seconds_since_previous)."""
    seen: dict[str, list[tuple]] = collections.defaultdict(list)
    for task in _completed(emulator):
        observed = _utc(task.served_time(task.completes_at))
        for served in emulator.state.served(task.task_id):
            counts = emulator.state.counts_seen(task.task_id, str(served["id"]))
            seen[str(served["id"])].append(
                (
                    observed,
                    task.task_id,
                    *(to_int(counts.get(k)) for k in ("views", "likes", "comments")),
                )
            )
    truth = {}
    for video_id, observations in seen.items():
        previous = None
        for observed, task_id, *counts in sorted(observations):
            gains = [
                None if previous is None or now is None or before is None else now - before
                for now, before in zip(counts, previous[2:] if previous else counts, strict=True)
            ]
            seconds = None if previous is None else (observed - previous[0]).total_seconds()
            truth[(video_id, task_id)] = (
                observed, counts[0], gains[0], counts[1], gains[1], counts[2], gains[2], seconds,
            )  # fmt: skip
            previous = (observed, task_id, *counts)
    return truth


def _profile_growth_truth(emulator: Emulator) -> list[tuple]:
    rows = []
    by_profile = collections.defaultdict(list)
    for task in _completed(emulator, "profile"):
        by_profile[task.profile_url].append(task)
    for url in sorted(by_profile):
        previous = None
        tasks = sorted(by_profile[url], key=lambda task: (task.completes_at, task.task_id))
        for task in tasks:
            followers = data.profile_object(task.handle, task.observed_at)["follower_count"]
            gained = None if previous is None else followers - previous
            rows.append(
                (url, task.task_id, _utc(task.served_time(task.completes_at)), followers, gained)
            )
            previous = followers
    return rows


def _credits_truth(emulator: Emulator) -> list[tuple]:
    """(day, source, meter, tasks, quantity, credits) of every task's charges."""
    sums: dict[tuple, list] = {}
    for task in emulator.state.tasks.values():
        if task.kind not in ("profile", "search") or not task.usage:
            continue
        day = _utc(task.served_time(task.completes_at)).date()
        source = f"{task.kind}_tasks"
        for charge in task.usage["charges"]:
            entry = sums.setdefault(
                (day, source, charge["service_type"]), [set(), Decimal(0), Decimal(0)]
            )
            entry[0].add(task.task_id)
            entry[1] += Decimal(str(charge["quantity"]))
            entry[2] += Decimal(str(charge["credits"]))
    return sorted(
        (*key, len(tasks), quantity, credits) for key, (tasks, quantity, credits) in sums.items()
    )


# The checks, on either warehouse.

VIDEO_GROWTH = (
    "select video_id, task_id, observed_at, views, views_gained, likes, likes_gained, "
    "comments, comments_gained, seconds_since_previous, views_gained_per_day "
    "from {schema}.video_growth"
)
PROFILE_GROWTH = (
    "select profile_url, task_id, observed_at, follower_count, followers_gained "
    "from {schema}.profile_growth order by profile_url, observed_at, task_id"
)
CREDITS = (
    "select day, source, meter, items, quantity, credits from {schema}.credits_daily "
    "order by day, source, meter"
)
RISERS = (
    "select profile_url, video_id, views_gained, rank from {schema}.top_risers "
    "order by profile_url, rank"
)


def _check_video_growth(built: Built, schema: str) -> None:
    rows = built.fetch(VIDEO_GROWTH.format(schema=schema))
    truth = _video_growth_truth(built.emulator)
    found = {(row[0], row[1]): row[2:] for row in rows}
    assert len(found) == len(rows)
    assert set(found) == set(truth)
    grew = 0
    for key, (
        observed,
        views,
        gained,
        likes,
        likes_gained,
        comments,
        comments_gained,
        seconds,
        per_day,
    ) in found.items():
        expected = truth[key]
        assert (
            observed,
            views,
            gained,
            likes,
            likes_gained,
            comments,
            comments_gained,
        ) == expected[:7], key
        if expected[7] is None:
            assert seconds is None and per_day is None
            continue
        assert math.isclose(float(seconds), expected[7], rel_tol=1e-12), key
        if gained is None or expected[7] == 0:
            assert per_day is None
        else:
            assert math.isclose(float(per_day), gained * 86400 / expected[7], rel_tol=1e-9), key
            grew += gained > 0
    assert grew > 0, "no video grew between the two days"


def _check_profile_growth(built: Built, schema: str) -> None:
    rows = built.fetch(PROFILE_GROWTH.format(schema=schema))
    truth = _profile_growth_truth(built.emulator)
    assert rows == truth
    # Two completed scrapes of each growing profile; the failed one is no observation.
    assert sorted({row[0] for row in rows}) == sorted(GROWING)
    assert [row[4] for row in rows].count(None) == len(GROWING)


def _check_credits(built: Built, schema: str, source: str, transcripts: bool) -> None:
    rows = built.fetch(CREDITS.format(schema=schema))
    tasks = [row for row in rows if row[1] != "video_transcripts"]
    normalised = [
        (
            day if isinstance(day, dt.date) else day.date(),
            source,
            meter,
            items,
            Decimal(quantity),
            Decimal(credits),
        )
        for day, source, meter, items, quantity, credits in tasks
    ]
    # Should it fail: what the day-2 run said of its tasks, and which sources dbt found
    # missing (the model or the load?).
    said = [
        line
        for line in built.output.splitlines()
        if "Run summary" in line or "not selected or not loaded yet" in line
    ]
    assert normalised == _credits_truth(built.emulator), "\n".join(said)
    assert {row[2] for row in normalised} == {"standard_request", "residential_request"}
    assert len({row[0] for row in normalised}) == 2
    transcript_rows = [row for row in rows if row[1] == "video_transcripts"]
    # Every credit the emulator took: the tasks' charges, and the transcripts' captions.
    charged = sum(Decimal(row[5]) for row in rows)
    assert charged == built.emulator.counters().credits_charged
    assert bool(transcript_rows) == transcripts
    if transcripts:
        per_day: dict[dt.date, list] = {}
        for day, credits in built.fetch(
            "select cast(fetched_at as date), credits_used "
            f"from {source}.video_transcripts where credits_used is not null"
        ):
            entry = per_day.setdefault(day, [0, Decimal(0)])
            entry[0] += 1
            entry[1] += Decimal(str(credits))  # each row's credits, exactly
        assert [(d, s, m, items, Decimal(c)) for d, s, m, items, _, c in transcript_rows] == [
            (day, "video_transcripts", "video_transcripts", count, credits)
            for day, (count, credits) in sorted(per_day.items())
        ]


def _check_risers(built: Built, schema: str) -> None:
    rows = built.fetch(RISERS.format(schema=schema))
    assert [(p, v, None if g is None else int(g), int(r)) for p, v, g, r in rows] == _risers_truth(
        built.emulator
    )
    assert len(rows) == 3 * len(GROWING)


def _check_keyword_mentions(built: Built) -> None:
    """keyword_mentions equals the same count made in Python over the loaded rows."""
    transcripts = built.fetch(
        "select t.video_id, t.text, coalesce(t.published_at, v.published_at), v.uploader, "
        "(select min(author_unique_id) from vidnavigator.search_results s "
        "where s.id = t.video_id), "
        "t.subject from vidnavigator.video_transcripts t "
        "left join vidnavigator.videos v on v.id = t.video_id where t.text is not null"
    )
    assert len(transcripts) > 50
    words = sorted({word.strip().lower() for word in KEYWORDS.split(",")})
    truth: dict[tuple, list[int]] = {}
    for _, text, published, uploader, author, subject in transcripts:
        lowered = text.lower()
        for word in words:
            if word in lowered:
                key = (uploader or author or subject, published.date(), word)
                counts = truth.setdefault(key, [0, 0])
                counts[0] += 1
                counts[1] += lowered.count(word)
    rows = built.fetch(
        "select creator, published_on, keyword, videos_mentioning, mentions "
        "from analytics.keyword_mentions"
    )
    assert sorted(rows) == sorted((*key, *counts) for key, counts in truth.items())
    assert {row[2] for row in rows} == {"ramen", "follow", "receta", "wow"}


def test_models_in_duckdb_equal_the_ground_truth(duckdb_built):
    _check_video_growth(duckdb_built, "analytics")
    _check_profile_growth(duckdb_built, "analytics")
    _check_credits(duckdb_built, "analytics", "vidnavigator", transcripts=True)
    _check_keyword_mentions(duckdb_built)
    _check_risers(duckdb_built, "analytics")
    # Every stream was loaded, and every staging model read its table.
    assert _not_loaded(duckdb_built, "vidnavigator") == set()
    assert _said_missing(duckdb_built.output) == set()
    # dbt-duckdb reads and writes the file target-duckdb wrote: one DuckDB version.
    types = dict(
        duckdb_built.fetch(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'analytics' and table_name = 'video_growth'"
        )
    )
    assert types["views"] == "BIGINT" and types["observed_at"] == "TIMESTAMP"
    assert types["views_gained_per_day"] == "DOUBLE"
    # Each model has the columns its schema file (and docs/models.md) describes, in order.
    built = collections.defaultdict(list)
    for table, column in duckdb_built.fetch(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'analytics' order by table_name, ordinal_position"
    ):
        built[table].append(column)
    described = {
        name: [column["name"] for column in model["columns"]]
        for name, model in models_doc.schema_models().items()
    }
    assert dict(built) == described


@pytest.mark.xdist_group("models-postgres")
def test_models_in_postgres_equal_the_ground_truth(postgres_built):
    _check_video_growth(postgres_built, "models_analytics")
    _check_profile_growth(postgres_built, "models_analytics")
    _check_credits(postgres_built, "models_analytics", "vidnavigator_models", transcripts=False)
    _check_risers(postgres_built, "models_analytics")
    # video_transcripts was not selected: no table, and its models built empty, said so.
    assert postgres_built.fetch(
        "select count(*) from information_schema.tables "
        "where table_schema = 'vidnavigator_models' and table_name = 'video_transcripts'"
    ) == [(0,)]
    assert "stream video_transcripts not selected or not loaded yet" in postgres_built.output
    assert postgres_built.fetch("select count(*) from models_analytics.stg_video_transcripts") == [
        (0,)
    ]
    assert postgres_built.fetch("select count(*) from models_analytics.keyword_mentions") == [(0,)]


#: The dbt utility's own Python, and a dbt whose relation cache holds no source table.
DBT_POSTGRES_PYTHON = ROOT / ".meltano" / "utilities" / "dbt-postgres" / "venv" / "bin" / "python"
STALE_CACHE_DBT = Path(__file__).with_name("dbt_with_stale_relation_cache.py")
#: The tap's tables the models read (transform/models/staging/sources.yml).
SOURCES = {
    table["name"]
    for table in yaml.safe_load(
        (ROOT / "transform" / "models" / "staging" / "sources.yml").read_text()
    )["sources"][0]["tables"]
}


def _said_missing(output: str) -> set[str]:
    """The source tables dbt's log says were not there (their staging models built empty)."""
    return set(re.findall(r"\(stream (\w+) not selected or not loaded yet\)", output))


def _not_loaded(built: Built, source: str) -> set[str]:
    """The source tables the warehouse's information schema does not list."""
    loaded = built.fetch(
        f"select table_name from information_schema.tables where table_schema = '{source}'"
    )
    return SOURCES - {name for (name,) in loaded}


@pytest.mark.xdist_group("models-postgres")
def test_models_ask_the_warehouse_not_dbts_cache_whether_a_source_is_there(
    postgres_built, postgres, tmp_path
):
    """A staging model is built from its source table whenever the table is there, even
    when dbt's relation cache says otherwise. A dbt thread can read that cache while another
    is half-way through filling it: the likely cause of a PostgreSQL credits_daily that once
    had no search_tasks rows on a loaded machine, every search charged and loaded."""
    missing = _not_loaded(postgres_built, "vidnavigator_models")
    assert missing == {"video_transcripts"}  # not selected (NO_TRANSCRIPTS)
    assert _said_missing(postgres_built.output) == missing
    run = subprocess.run(
        [
            str(DBT_POSTGRES_PYTHON),
            str(STALE_CACHE_DBT),
            "vidnavigator_models",
            "run",
            "--select",
            "staging",
        ],
        cwd=ROOT / "transform",
        # What transform/profiles/profiles.yml reads, as the dbt-postgres utility sets it.
        env=minimal_env(
            **_dbt_env(tmp_path),
            DBT_PROJECT_DIR=str(ROOT / "transform"),
            DBT_PROFILES_DIR=str(ROOT / "transform" / "profiles"),
            DBT_TARGET="postgres",
            DBT_SOURCE_SCHEMA="vidnavigator_models",
            DBT_POSTGRES_SCHEMA="models_analytics",
            DBT_POSTGRES_HOST=postgres["host"],
            DBT_POSTGRES_PORT=str(postgres["port"]),
            DBT_POSTGRES_USER=postgres["user"],
            DBT_POSTGRES_PASSWORD=postgres["password"],
            DBT_POSTGRES_DBNAME=postgres["database"],
        ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert _said_missing(run.stdout + run.stderr) == missing
    searches = sum(task.kind == "search" for task in postgres_built.emulator.state.tasks.values())
    assert postgres_built.fetch("select count(*) from models_analytics.stg_search_tasks") == [
        (searches,)
    ]


def test_models_in_snowflake_on_fakesnow_equal_the_ground_truth(snowflake_built):
    """dbt-snowflake's SQL (lateral flatten, VARIANT paths, convert_timezone) as fakesnow
    runs it: what works on Snowflake's dialect short of a Snowflake account."""
    _check_video_growth(snowflake_built, "ANALYTICS")
    _check_profile_growth(snowflake_built, "ANALYTICS")
    _check_credits(snowflake_built, "ANALYTICS", "TAP_VIDNAVIGATOR", transcripts=False)
    _check_risers(snowflake_built, "ANALYTICS")
    # The loader made every stream's table (from its SCHEMA message, rows or none), and
    # every staging model read its table.
    assert _said_missing(snowflake_built.output) == set()
