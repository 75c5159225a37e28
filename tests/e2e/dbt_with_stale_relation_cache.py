"""dbt, with its relation cache answering that one schema holds no tables.

That is what a staging model on one dbt thread can be told while another thread is still
filling the cache for the sources' schema: on a cache miss, dbt-adapters'
``BaseAdapter.list_relations`` adds the schema's tables one at a time, and the schema counts
as cached from the first. tests/e2e/test_models_e2e.py runs the models with it to show that
they ask the warehouse whether a source table is there, never that cache.

Run by the dbt utility's own Python: ``python dbt_with_stale_relation_cache.py SCHEMA
dbt-arguments...``. It reaches inside dbt-adapters here and nowhere else; if
``BaseAdapter.list_relations`` is renamed, this fails rather than silently testing nothing.
"""

from __future__ import annotations

import sys

from dbt.adapters.base.impl import BaseAdapter
from dbt.cli.main import dbtRunner


def main(schema: str, arguments: list[str]) -> int:
    listed = BaseAdapter.list_relations  # AttributeError if dbt-adapters renames it

    def list_relations(self: BaseAdapter, database: str | None, asked: str) -> list:
        if asked.lower() == schema.lower():
            return []
        return listed(self, database, asked)

    BaseAdapter.list_relations = list_relations
    result = dbtRunner().invoke(arguments)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
