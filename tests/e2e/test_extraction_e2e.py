"""video_extractions through `meltano run` into PostgreSQL, DuckDB and Snowflake (fakesnow):
the user's fields as typed columns, the values exactly as the emulator extracts them.

The schema is the project's example file (``extraction/brand_deals.yml``), read by the
tap from the Meltano project root as a user's ``schema_file`` would be.
"""

from __future__ import annotations

import contextlib
import json
import typing as t
import uuid

import duckdb
import psycopg2
import pytest
import yaml

from tap_vidnavigator.extraction_schema import fingerprint
from tap_vidnavigator.families import EXTRACTION
from tap_vidnavigator.records.extractions import user_values
from tests.conftest import ROOT, expected_videos
from tests.e2e.test_meltano_e2e import _pg_env, meltano_run, pg_column_types
from tests.e2e.test_snowflake_e2e import LOADER as SNOWFLAKE
from tests.e2e.test_snowflake_e2e import snowflake_sql

pytestmark = pytest.mark.e2e

PROFILE = "https://www.tiktok.com/@size5"
SCHEMA_FILE = "extraction/brand_deals.yml"
SCHEMA: dict[str, t.Any] = yaml.safe_load((ROOT / SCHEMA_FILE).read_text())
STREAM = EXTRACTION.stream


def _env(tmp_path) -> dict[str, str]:
    return {
        "TAP_VIDNAVIGATOR_SEARCHES": "[]",
        "TAP_VIDNAVIGATOR_EXTRACTION": json.dumps({"enabled": True, "schema_file": SCHEMA_FILE}),
        "TAP_VIDNAVIGATOR_LEDGER_DIR": str(tmp_path / "ledger"),
    }


def _truth(emulator) -> dict[str, dict[str, t.Any]]:
    """Per video id: the user's values and the row's own facts, from the ground truth."""
    truth = {}
    for video in expected_videos(emulator, PROFILE).values():
        outcome = emulator.extraction.expected(video["url"], SCHEMA, transcribe=False)
        truth[video["id"]] = {
            **user_values(SCHEMA, outcome.result),
            "error_code": outcome.failure.code if outcome.failure else None,
            "credits_used": float(outcome.credits),
            "schema_fingerprint": fingerprint(SCHEMA, None),
        }
    assert len(truth) == 5
    return truth


def test_extraction_lands_typed_in_postgres(make_emulator, postgres, tmp_path):
    emulator = make_emulator(processing_seconds=0.3)
    schema = "vidnavigator_extraction_e2e"
    env = {**_pg_env(postgres, schema), **_env(tmp_path)}
    run = meltano_run("target-postgres", emulator, tmp_path, extra_env=env, profiles=[PROFILE])
    assert run.returncode == 0, run.stderr[-5000:]
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        kinds = pg_column_types(cursor, schema, STREAM)
        assert {name: kinds[name] for name in SCHEMA} == {
            "brands": "ARRAY",  # text[]: target-postgres lands an array of strings as one
            "sentiment": "text",
            "is_sponsored": "boolean",
            "mentions": "bigint",
            "score": "numeric",
            "call_to_action": "jsonb",
        }
        cursor.execute(
            f"select video_id, brands, sentiment, is_sponsored, mentions, score, "
            f"call_to_action, error_code, credits_used, schema_fingerprint from {schema}.{STREAM}"
        )
        landed = {
            row[0]: {
                "brands": row[1],
                "sentiment": row[2],
                "is_sponsored": row[3],
                "mentions": row[4],
                "score": None if row[5] is None else float(row[5]),
                "call_to_action": row[6],
                "error_code": row[7],
                "credits_used": float(row[8]),
                "schema_fingerprint": row[9],
            }
            for row in cursor.fetchall()
        }
    assert landed == _truth(emulator)


def test_extraction_lands_typed_in_duckdb(make_emulator, tmp_path):
    emulator = make_emulator(processing_seconds=0.3)
    run = meltano_run(
        "target-duckdb", emulator, tmp_path, extra_env=_env(tmp_path), profiles=[PROFILE]
    )
    assert run.returncode == 0, run.stderr[-5000:]
    with contextlib.closing(
        duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    ) as connection:
        kinds = dict(
            connection.sql(
                "select column_name, data_type from information_schema.columns "
                f"where table_name = '{STREAM}'"
            ).fetchall()
        )
        assert {name: kinds[name] for name in SCHEMA} == {
            "brands": "JSON",
            "sentiment": "VARCHAR",
            "is_sponsored": "BOOLEAN",
            "mentions": "HUGEINT",  # target-duckdb: an integer is int128
            "score": "DOUBLE",
            "call_to_action": "JSON",
        }
        rows = connection.sql(
            f"select video_id, brands, sentiment, is_sponsored, mentions, score, "
            f"call_to_action, error_code, credits_used, schema_fingerprint "
            f"from vidnavigator.{STREAM}"
        ).fetchall()
    landed = {
        row[0]: {
            "brands": None if row[1] is None else json.loads(row[1]),
            "sentiment": row[2],
            "is_sponsored": row[3],
            "mentions": row[4],
            "score": row[5],
            "call_to_action": None if row[6] is None else json.loads(row[6]),
            "error_code": row[7],
            "credits_used": row[8],
            "schema_fingerprint": row[9],
        }
        for row in rows
    }
    assert landed == _truth(emulator)


def test_extraction_lands_typed_in_snowflake(make_emulator, tmp_path):
    emulator = make_emulator(processing_seconds=0.3)
    database = f"E2E_{uuid.uuid4().hex[:8].upper()}"
    env = {
        **_env(tmp_path),
        "FAKESNOW_DB_PATH": str(tmp_path / "fakesnow"),
        "TARGET_SNOWFLAKE__FAKESNOW_DATABASE": database,
    }
    run = meltano_run(SNOWFLAKE, emulator, tmp_path, extra_env=env, profiles=[PROFILE])
    assert run.returncode == 0, run.stderr[-5000:]
    columns, rows = snowflake_sql(
        tmp_path / "fakesnow",
        database,
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'TAP_VIDNAVIGATOR' and table_name = '{STREAM.upper()}'",
        f"select video_id, brands, sentiment, is_sponsored, mentions, score, call_to_action, "
        f"error_code, credits_used, schema_fingerprint from TAP_VIDNAVIGATOR.{STREAM}",
    )
    kinds = dict(columns)
    assert {name: kinds[name.upper()] for name in SCHEMA} == {
        "brands": "VARIANT",
        "sentiment": "TEXT",
        "is_sponsored": "BOOLEAN",
        "mentions": "NUMBER",
        "score": "FLOAT",
        "call_to_action": "VARIANT",
    }

    def variant(value: t.Any) -> t.Any:
        return json.loads(value) if isinstance(value, str) else value

    landed = {
        row[0]: {
            "brands": variant(row[1]),
            "sentiment": row[2],
            "is_sponsored": row[3],
            "mentions": None if row[4] is None else int(row[4]),
            "score": row[5],
            "call_to_action": variant(row[6]),
            "error_code": row[7],
            "credits_used": float(row[8]),
            "schema_fingerprint": row[9],
        }
        for row in rows
    }
    assert landed == _truth(emulator)
