"""Print what landed in the demo's DuckDB warehouse: tables, row counts, top videos."""

from __future__ import annotations

import sys

import duckdb


def main(path: str, since: str | None = None) -> int:
    """Show the tables of schema ``vidnavigator`` in the DuckDB file at ``path``.

    ``since``: a UTC date-time; the task tables then show only tasks created after it
    (this demo's last run: each demo starts a fresh emulator, so balances restart at
    1,000).
    """
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
    params = {"since": since or "1970-01-01"}
    which = "this demo's day 2" if since else "all"
    print(f"\nScrape tasks, {which} (balance_after: the emulator's balance once each settled):")
    print(
        connection.sql(
            "select uploader, task_status, error_code, stats->>'videos_matched' as matched, "
            "credits_used as credits, credits_remaining_after as balance_after, completed_at "
            "from vidnavigator.profile_tasks where created_at >= $since::timestamp "
            "order by completed_at, uploader",
            params=params,
        )
    )
    print(f"Keyword searches, {which}:")
    print(
        connection.sql(
            "select query, task_status, stats->>'results_count' as results, "
            "credits_used as credits from vidnavigator.search_tasks "
            "where created_at >= $since::timestamp order by completed_at, query",
            params=params,
        )
    )
    print("The most liked result of each search:")
    connection.sql(
        """
            select query, likes, views, author_unique_id as author,
                   left(description, 40) as description
            from (
                select *, row_number() over (
                    partition by query order by likes desc nulls last
                ) as rank
                from vidnavigator.search_results
            )
            where rank = 1
            order by query
            """
    ).show(max_rows=100)
    print("The most viewed video of each profile:")
    connection.sql(
        """
            select uploader, views, likes, published_at::date as published, title
            from (
                select uploader, views, likes, published_at, left(title, 40) as title,
                       row_number() over (
                           partition by uploader order by views desc nulls last
                       ) as rank
                from vidnavigator.videos
            )
            where rank = 1
            order by uploader
            """
    ).show(max_rows=100)
    growth(connection)
    return 0


def growth(connection: duckdb.DuckDBPyConnection) -> None:
    """The videos that gained most views between their last two observations."""
    print("Growth: views gained between each video's last two observations (video_stats):")
    connection.sql(
        """
            with paired as (
                select profile_url, video_id, observed_at, views,
                       views - lag(views) over w as gained,
                       observed_at - lag(observed_at) over w as between_,
                       row_number() over (partition by video_id
                                          order by observed_at desc) as newest
                from vidnavigator.video_stats
                where profile_url is not null
                window w as (partition by video_id order by observed_at)
            )
            select replace(profile_url, 'https://www.tiktok.com/', '') as profile,
                   video_id, views, gained, between_ as "in",
                   bar(gained, 0, max(gained) over (), 24) as chart
            from paired
            where newest = 1 and gained is not null
            order by gained desc, video_id
            limit 6
            """
    ).show(max_rows=100)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
