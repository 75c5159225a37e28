"""Print what landed in the demo's DuckDB warehouse: tables, row counts, top videos."""

from __future__ import annotations

import sys

import duckdb


def main(path: str) -> int:
    """Show the tables of schema ``vidnavigator`` in the DuckDB file at ``path``."""
    connection = duckdb.connect(path, read_only=True)
    tables = connection.sql(
        "select table_name from information_schema.tables "
        "where table_schema = 'vidnavigator' order by table_name"
    ).fetchall()
    print("Tables and row counts:")
    for (table,) in tables:
        # Table names come from information_schema, not from user input.
        count = connection.sql(f'select count(*) from vidnavigator."{table}"').fetchone()  # noqa: S608
        print(f"  vidnavigator.{table:<14} {count[0] if count else 0:>8,} rows")
    print("\nScrape tasks:")
    print(
        connection.sql(
            "select uploader, task_status, error_code, stats->>'videos_matched' as matched, "
            "credits_used as credits, credits_remaining_after as balance_after, completed_at "
            "from vidnavigator.profile_tasks order by completed_at, uploader"
        )
    )
    print("Keyword searches:")
    print(
        connection.sql(
            "select query, task_status, stats->>'results_count' as results, "
            "credits_used as credits from vidnavigator.search_tasks order by completed_at, query"
        )
    )
    print("The three most liked results of each search:")
    connection.sql(
        """
            select query, rank, likes, views, author_unique_id as author,
                   left(description, 40) as description
            from (
                select *, row_number() over (
                    partition by query order by likes desc nulls last
                ) as rank
                from vidnavigator.search_results
            )
            where rank <= 3
            order by query, rank
            """
    ).show(max_rows=100)
    print("The five most viewed videos of each profile:")
    connection.sql(
        """
            select uploader, rank, views, likes, published_at::date as published, title
            from (
                select uploader, views, likes, published_at, left(title, 40) as title,
                       row_number() over (
                           partition by uploader order by views desc nulls last
                       ) as rank
                from vidnavigator.videos
            )
            where rank <= 5
            order by uploader, rank
            """
    ).show(max_rows=100)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
