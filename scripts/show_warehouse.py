"""Print what landed in the demo's DuckDB warehouse and what dbt built from it.

The tap's tables (schema ``vidnavigator``) with their row counts, then the analytics
models of transform/ (schema ``analytics``, built by ``dbt-duckdb:build``): creators,
growth, what the extractions say, credits and balance, each read from its table.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

import duckdb

RAW = "vidnavigator"
MARTS = "analytics"


def main(path: str, since: str | None = None) -> int:
    """Show the warehouse in the DuckDB file at ``path``.

    ``since``: a UTC date-time; the marts' tables then show only what this demo's day 2
    observed (each demo starts a fresh emulator, while the warehouse is kept).
    """
    connection = duckdb.connect(path, read_only=True)
    params = {"since": since or "1970-01-01"}
    row_counts(connection)
    print(f"\nCreators ({MARTS}.creator_summary; gained: {MARTS}.profile_growth, in a day):")
    table(
        connection,
        f"""
            select s.uploader, s.follower_count as followers,
                   g.followers_gained as gained, s.videos,
                   s.videos_per_week as per_week, s.median_views,
                   round(100 * s.engagement_rate, 2) as "engagement %"
            from {MARTS}.creator_summary s
            left join {MARTS}.profile_growth g
              on g.profile_url = s.profile_url and g.observed_at = s.last_scraped_at
            order by s.uploader
            """,  # noqa: S608 (schema names are constants)
    )
    growth(connection, params)
    print(f"What day 2's extractions say ({RAW}.video_extractions, extraction/brand_deals.yml):")
    table(
        connection,
        f"""
            select video_id, brands, sentiment, is_sponsored as sponsored, mentions,
                   credits_used as credits
            from {RAW}.video_extractions
            where extracted_at >= $since::timestamp
            order by video_id desc
            limit 3
            """,  # noqa: S608
        params,
    )
    print(f"Credits per day and meter, this demo's two days ({MARTS}.credits_daily):")
    table(
        connection,
        f"""
            select day, source, meter, items, quantity, credits
            from {MARTS}.credits_daily
            where day >= $since::timestamp::date - 1
            order by day, source, meter
            """,  # noqa: S608
        params,
    )
    balances = connection.sql(
        f"select balance, balance_change from {MARTS}.credit_balance "  # noqa: S608
        "order by read_at desc limit 2"
    ).fetchall()
    steps = " -> ".join(f"{balance:,.4f}" for balance, _ in reversed(balances))
    print(f"Balance when this demo's two runs began ({MARTS}.credit_balance): {steps}")
    return 0


def row_counts(connection: duckdb.DuckDBPyConnection) -> None:
    """The tap's tables one per line; the marts on one line."""
    print("Tables and row counts:")
    for schema in (RAW, MARTS):
        counts = []
        tables = connection.sql(
            "select table_name from information_schema.tables "
            "where table_schema = $schema and table_type = 'BASE TABLE' order by table_name",
            params={"schema": schema},
        ).fetchall()
        for (table,) in tables:
            # Table names come from information_schema, not from user input.
            found = connection.sql(f'select count(*) from {schema}."{table}"').fetchone()  # noqa: S608
            counts.append((table, found[0] if found else 0))
        if schema == RAW:
            for table, rows in counts:
                print(f"  {RAW}.{table:<14} {rows:>8,} rows")
        else:
            half = (len(counts) + 1) // 2
            for part in (counts[:half], counts[half:]):
                print(f"  {MARTS} (dbt): " + ", ".join(f"{t} {c:,}" for t, c in part))


def growth(connection: duckdb.DuckDBPyConnection, params: dict[str, str]) -> None:
    """The profiles' videos that gained most views a day at their latest observation."""
    print(f"Growth: views gained per day at day 2's observations ({MARTS}.video_growth):")
    table(
        connection,
        f"""
            select replace(profile_url, 'https://www.tiktok.com/', '') as profile,
                   video_id, views, views_gained as gained,
                   round(views_gained_per_day) as per_day,
                   bar(views_gained_per_day, 0, max(views_gained_per_day) over (), 24) as chart
            from {MARTS}.video_growth
            where profile_url is not null and views_gained_per_day is not null
              and observed_at >= $since::timestamp
            order by views_gained_per_day desc, video_id
            limit 6
            """,  # noqa: S608
        params,
    )


def table(
    connection: duckdb.DuckDBPyConnection, query: str, params: dict[str, str] | None = None
) -> None:
    """Print a query's rows under its column names: numbers right-aligned, nulls blank."""
    result = connection.execute(query, params or {})
    names = [column[0] for column in result.description or []]
    rows = [[_cell(value) for value in row] for row in result.fetchall()]
    widths = [max(len(text) for text in column) for column in zip(names, *rows, strict=True)]
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(len(names))]
    header = "  ".join(name.ljust(width) for name, width in zip(names, widths, strict=True))
    print(f"  {header}".rstrip())
    for row in rows:
        cells = (
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(row, widths, numeric, strict=True)
        )
        print("  " + "  ".join(cells).rstrip())
    print()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _is_number(text: str) -> bool:
    return text == "" or text.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()


def next_day_offset(path: str) -> float:
    """Days to start a fresh emulator's calendar ahead of real time so that its first day
    comes a day after the warehouse's last scrape: each demo continues the series (0 for
    a new warehouse)."""
    if not Path(path).exists():
        return 0.0
    connection = duckdb.connect(path, read_only=True)
    found = connection.execute(
        "select table_name from information_schema.tables "
        "where table_schema = $schema and table_name = 'profile_tasks'",
        {"schema": RAW},
    ).fetchall()
    if not found:
        return 0.0
    row = connection.sql(f"select max(completed_at) from {RAW}.profile_tasks").fetchone()  # noqa: S608
    if not row or row[0] is None:
        return 0.0
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return max(0.0, (row[0] - now).total_seconds() / 86_400 + 1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--next-day-offset"]:
        print(f"{next_day_offset(sys.argv[2]):.6f}")
        sys.exit(0)
    sys.exit(main(*sys.argv[1:3]))
