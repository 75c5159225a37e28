"""``fakesnow-query DB_PATH DATABASE SQL [SQL ...]``: run Snowflake SQL on fakesnow data
and print each query's rows as a JSON list (the tests run it with the loader's Python)."""

from __future__ import annotations

import json
import sys


def main() -> None:
    """Print ``[[row, ...], ...]``: the rows of each query, in order."""
    db_path, database, *queries = sys.argv[1:]
    import fakesnow
    import snowflake.connector

    with fakesnow.patch(db_path=db_path):
        connection = snowflake.connector.connect(database=database)
        cursor = connection.cursor()
        results = [cursor.execute(sql).fetchall() for sql in queries]
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
