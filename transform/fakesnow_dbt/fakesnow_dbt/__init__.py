"""``dbt`` with dbt-snowflake, inside ``fakesnow.patch()``: the tests' Snowflake for dbt.

fakesnow replaces the Snowflake connector's ``connect`` in this process, so dbt-snowflake
runs unchanged: every statement it sends (its DDL, ``create or replace transient table``,
the models' SQL with ``lateral flatten`` and VARIANT paths) is translated by sqlglot and
run on the DuckDB files of ``FAKESNOW_DB_PATH`` (``output/fakesnow`` by default), the
files target-snowflake--fakesnow loads. No statement is rewritten here.

Known differences from Snowflake, seen in these models: fakesnow ignores ``TRANSIENT``
(a warning of sqlglot's on each table); a VARIANT is DuckDB JSON inside; a sum of
decimals came back a float (credits_daily casts its sums).

The module is not named ``dbt_*``: dbt imports every such module as a plugin.
"""

from __future__ import annotations

import os
import warnings

import fakesnow


def main() -> None:
    """The dbt CLI, its Snowflake connections made by fakesnow."""
    # fakesnow 0.12.1 on DuckDB 2 warns on every result it converts: noise, not news.
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
    # Meltano runs plugins in the project folder: output/ is the project's scratch space.
    db_path = os.environ.get("FAKESNOW_DB_PATH") or os.path.join("output", "fakesnow")
    os.makedirs(db_path, exist_ok=True)
    with fakesnow.patch(db_path=db_path):
        # dbt and its adapter load inside the patch, as the connector's users do.
        from dbt.cli.main import cli  # noqa: PLC0415

        cli()
