"""The databases' own bulk loads of the tap's videos: the yardstick of pipeline.py.

The tap's output (Singer messages, as ``meltano invoke`` wrote them) is converted once,
untimed, into what each database's own bulk path reads: PostgreSQL ``COPY ... FROM
STDIN (FORMAT csv)`` and DuckDB ``read_json``. Only the load itself is timed: no
Python per row, no Singer, no Meltano. A pipeline's distance to it is what its loader
(and Meltano and the tap) adds to the database's own work.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import typing as t
from pathlib import Path

import orjson
import psycopg2

STREAM = "videos"


def convert_once(tap_output: Path, work: Path) -> tuple[list[str], Path, Path, int]:
    """The videos of a tap run as PostgreSQL CSV and as plain JSON Lines records.

    Returns (columns, csv path, jsonl path, rows). Every non-null CSV value is quoted, so
    that an empty string stays an empty string and only an unquoted empty field is NULL.
    """
    csv_path, jsonl_path = work / "videos.csv", work / "videos.jsonl"
    columns: list[str] = []
    rows = 0
    with (
        tap_output.open("rb") as messages,
        csv_path.open("wb") as csv_file,
        jsonl_path.open("wb") as jsonl_file,
    ):
        for line in messages:
            if b'"stream":"videos"' not in line:
                continue
            message = orjson.loads(line)
            if message["type"] == "SCHEMA" and not columns:
                columns = list(message["schema"]["properties"])
            elif message["type"] == "RECORD":
                record = message["record"]
                jsonl_file.write(orjson.dumps(record) + b"\n")
                csv_file.write(b",".join(_csv_value(record.get(c)) for c in columns) + b"\n")
                rows += 1
    return columns, csv_path, jsonl_path, rows


def _csv_value(value: t.Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, list):  # a PostgreSQL array literal: text[] or jsonb[]
        text = "{" + ",".join(_array_element(item) for item in value) + "}"
    elif isinstance(value, dict):
        text = orjson.dumps(value).decode()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return b'"' + text.replace('"', '""').encode() + b'"'


def _array_element(item: t.Any) -> str:
    if item is None:
        return "NULL"
    text = item if isinstance(item, str) else orjson.dumps(item).decode()
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def postgres_copy(
    connection: dict[str, t.Any], like: str, columns: list[str], csv_path: Path
) -> tuple[float, int, int]:
    """Seconds to COPY the CSV into a new table shaped like ``like`` (a pipeline's
    videos table: same types, same primary key); then the rows loaded and how many of
    them differ from ``like``'s rows (0: the conversion is exact)."""
    names = ", ".join(f'"{c}"' for c in columns)
    with psycopg2.connect(**connection) as db, db.cursor() as cursor:
        cursor.execute("drop schema if exists yardstick cascade; create schema yardstick")
        cursor.execute(f"create table yardstick.videos (like {like} including all)")
        db.commit()
        started = time.perf_counter()
        with csv_path.open("rb") as data:
            cursor.copy_expert(
                f"copy yardstick.videos ({names}) from stdin with (format csv)", data
            )
        db.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("select count(*) from yardstick.videos")
        [rows] = cursor.fetchone()
        cursor.execute(
            f"select count(*) from (select {names} from yardstick.videos "
            f"except select {names} from {like}) as differing"
        )
        [differing] = cursor.fetchone()
        cursor.execute("drop schema yardstick cascade")
    return elapsed, rows, differing


def duckdb_read_json(python: Path, jsonl_path: Path, database: Path) -> tuple[float, int]:
    """Seconds for DuckDB to load the records with ``read_json`` into a new table, run
    by ``python`` (target-duckdb's own environment: the same DuckDB as the pipeline)."""
    script = textwrap.dedent(
        """
        import duckdb, json, sys, time
        db = duckdb.connect(sys.argv[2])
        started = time.perf_counter()
        db.execute("create table videos as select * from read_json(?)", [sys.argv[1]])
        elapsed = time.perf_counter() - started
        print(json.dumps([elapsed, db.sql("select count(*) from videos").fetchone()[0]]))
        """
    )
    done = subprocess.run(
        [str(python), "-c", script, str(jsonl_path), str(database)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    elapsed, rows = json.loads(done.stdout)
    return float(elapsed), int(rows)
