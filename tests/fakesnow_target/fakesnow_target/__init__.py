"""The real target-snowflake 0.20.4 loading into fakesnow 0.12.1: the tests' Snowflake.

``target-snowflake-fakesnow`` runs MeltanoLabs' target-snowflake CLI unchanged inside
``fakesnow.patch()``, which replaces the Snowflake connector's ``connect`` with fakesnow's
(Snowflake SQL translated by sqlglot and run on DuckDB, kept in ``FAKESNOW_DB_PATH``).

What is real: every statement the target sends, its batch files (its own for RECORD
messages, the tap's for BATCH), and fakesnow's DDL, VARIANT, internal stages, PUT,
COPY INTO of JSON files and MERGE.

What this adapter emulates, because fakesnow 0.12.1 lacks it (each is a statement
target-snowflake 0.20.4 sends; see ``target_snowflake/connector.py``):

1. The user stage ``@~``: every ``'@~/...'`` path is read as a path in a named internal
   stage, ``FAKESNOW_USER_STAGE.HOME`` of the session's database (created on first use).
2. ``REMOVE '@~/<path>/'``: deletes the staged files under the path.
3. ``DROP FILE FORMAT IF EXISTS <name>``: deletes the format from fakesnow's catalog.
4. The MERGE's source, ``SELECT $1:col::TYPE ... FROM '@~/<path>'(file_format => <f>)
   QUALIFY ROW_NUMBER() OVER (PARTITION BY <keys> ORDER BY SEQ8() DESC) = 1``: the staged
   files are first loaded by fakesnow's own ``COPY INTO`` (JSON) into a scratch table of
   one VARIANT column, and the source reads that table; ``$1`` is that column, and
   ``SEQ8()`` the row's position in the staged files (DuckDB's ``rowid``), so that of two
   staged rows with one key the last wins, as in Snowflake.
5. A current schema: ``MERGE`` runs after ``USE SCHEMA`` of its target table's schema
   (fakesnow needs one for the statements it splits a MERGE into; the target never sets
   one).

Known differences from Snowflake that remain (they do not affect these tests): fakesnow
enforces PRIMARY KEY (Snowflake does not); integers are BIGINT inside (NUMBER(38,0) in
Snowflake: a value over 2**63 fails here only); a JSON null in a VARIANT is SQL NULL.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import threading
import typing as t
import uuid

#: The two versions whose gaps this adapter fills; any other refuses to run.
PINNED = {"fakesnow": "0.12.1", "meltanolabs-target-snowflake": "0.20.4"}
USER_STAGE = ("FAKESNOW_USER_STAGE", "HOME")
SCRATCH = "STAGED_ROWS"
MERGE_SOURCE = "MERGE_SOURCE"
#: target-snowflake loads several streams at once, from threads; fakesnow's DuckDB
#: connection refuses a second call while one runs, so statements take turns.
_ONE_AT_A_TIME = threading.RLock()

_REMOVE = re.compile(r"^\s*remove\s+'@~/(?P<path>[^']*)'\s*;?\s*$", re.IGNORECASE)
_DROP_FILE_FORMAT = re.compile(
    r"^\s*drop\s+file\s+format\s+if\s+exists\s+(?P<name>.+?)\s*;?\s*$", re.IGNORECASE
)
_MERGE = re.compile(
    r"^\s*merge\s+into\s+(?P<database>\"[^\"]+\"|[^.\s]+)\.(?P<schema>\"[^\"]+\"|[^.\s]+)\.",
    re.IGNORECASE,
)
_MERGE_SOURCE = re.compile(
    r"using\s+\((?P<select>select\s.*?)"
    r"from\s+'@~/(?P<path>[^']+)'\s*\(file_format\s*=>\s*(?P<format>[^)]+)\)\s*"
    r"(?P<qualify>qualify\s+row_number\(\)\s+over\s+\(partition\s+by\s+[^)]*?\s+order\s+by\s+)"
    r"seq8\(\)(?P<rest>[^)]*\)[^)]*)\)\s+s\s+on\s",
    re.IGNORECASE | re.DOTALL,
)


def check_versions() -> None:
    """Refuse to run with versions other than the ones whose gaps this fills."""
    found = {name: importlib.metadata.version(name) for name in PINNED}
    if found != PINNED:
        msg = (
            f"fakesnow_target fills the gaps of {PINNED}, but found {found}: check each "
            "gap listed in fakesnow_target/__init__.py against the new versions, then "
            "update PINNED and pyproject.toml together"
        )
        raise RuntimeError(msg)


def _unquote(identifier: str) -> str:
    return identifier[1:-1] if identifier.startswith('"') else identifier.upper()


def install() -> None:
    """Put the adapter in front of fakesnow's cursor (before any connection is made)."""
    from fakesnow.cursor import FakeSnowflakeCursor
    from fakesnow.transforms import stage

    original = FakeSnowflakeCursor.execute

    def user_stage(cursor: t.Any) -> str:
        database = cursor._conn.database
        schema, name = USER_STAGE
        helper = cursor._conn.cursor()
        helper.execute(f"create schema if not exists {database}.{schema}")
        helper.execute(f"create stage if not exists {database}.{schema}.{name}")
        return f"{database}.{schema}.{name}"

    def execute(
        self: t.Any, command: str, params: t.Any = None, *args: t.Any, **kwargs: t.Any
    ) -> t.Any:
        with _ONE_AT_A_TIME:
            return adapted(self, command, params, *args, **kwargs)

    def adapted(
        self: t.Any, command: str, params: t.Any = None, *args: t.Any, **kwargs: t.Any
    ) -> t.Any:
        text = command if isinstance(command, str) else str(command)
        if removed := _REMOVE.match(text):
            directory = stage.internal_dir(user_stage(self), removed["path"])
            shutil.rmtree(directory, ignore_errors=True)
            return original(self, "select 'removed' as status")
        if dropped := _DROP_FILE_FORMAT.match(text):
            parts = [_unquote(p) for p in re.findall(r'"[^"]+"|[^.]+', dropped["name"])]
            database, schema, name = [self._conn.database, self._conn.schema, *parts][-3:]
            self._duck_conn.execute(
                "delete from _fs_global._fs_information_schema._fs_file_formats "
                "where database_name = ? and schema_name = ? and name = ?",
                (database, schema, name),
            )
            return original(self, "select 'dropped' as status")
        if "'@~/" in text:
            home = user_stage(self)
            merge = _MERGE.match(text)
            source = _MERGE_SOURCE.search(text)
            if merge and source:
                return merge_through_scratch_tables(self, text, merge, source, home)
            # fakesnow reads a stage path only unquoted (@stage/path), as Snowflake also does.
            text = re.sub(r"'@~/([^']*)'", lambda m: f"@{home}/{m[1]}", text)
        return original(self, text, params, *args, **kwargs)

    def merge_through_scratch_tables(
        self: t.Any, text: str, merge: re.Match, source: re.Match, home: str
    ) -> t.Any:
        database, schema = merge["database"], merge["schema"]
        suffix = uuid.uuid4().hex[:12].upper()  # streams load at once: tables of their own
        staged = f"{database}.{USER_STAGE[0]}.{SCRATCH}_{suffix}"
        merged = f"{database}.{USER_STAGE[0]}.{MERGE_SOURCE}_{suffix}"
        helper = self._conn.cursor()
        helper.execute(f"create table {staged} (raw variant)")
        helper.execute(
            f"copy into {staged} from @{home}/{source['path']} file_format = (type = 'JSON')"
        )
        # The source's $1 is the scratch table's one column; SEQ8() its row order.
        # fakesnow cannot MERGE from a subquery with QUALIFY: it is materialised first.
        helper.execute(
            f"create table {merged} as "
            + source["select"].replace("$1:", "raw:")
            + f"from {staged} {source['qualify']}rowid{source['rest']}"
        )
        helper.execute(f"use schema {database}.{schema}")
        try:
            text = f"{text[: source.start()]}using {merged} s on {text[source.end() :]}"
            return original(self, text)
        finally:
            helper.execute(f"drop table if exists {staged}")
            helper.execute(f"drop table if exists {merged}")

    FakeSnowflakeCursor.execute = execute  # type: ignore[method-assign]


def main() -> None:
    """``target-snowflake`` on fakesnow, its data under ``FAKESNOW_DB_PATH``
    (``output/fakesnow`` by default), one DuckDB file per database."""
    check_versions()
    import fakesnow

    # Meltano runs plugins in the project folder: output/ is the project's scratch space.
    db_path = os.environ.get("FAKESNOW_DB_PATH") or os.path.join("output", "fakesnow")
    os.makedirs(db_path, exist_ok=True)
    install()
    with fakesnow.patch(db_path=db_path):
        from target_snowflake.target import TargetSnowflake

        TargetSnowflake.cli()
