"""Costs as data, through `meltano run` into a real PostgreSQL: account_usage and the
task streams' charges, queried with docs/costs.md's queries as written there, equal to
the emulator's ground truth to the last fractional credit (numeric sums are exact)."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import typing as t

import psycopg2
import pytest

from tests.conftest import ROOT
from tests.e2e.test_meltano_e2e import SEARCHES, _pg_env, meltano_run

pytestmark = pytest.mark.e2e

#: A plain profile, a proxy-backed one (residential pages) and a failing one (waived).
PROFILES = ["@size700", "@proxy_costs", "@notfound_costs"]
D = decimal.Decimal


def costs_sql(containing: str) -> str:
    """docs/costs.md's one SQL block that contains ``containing``."""
    text = (ROOT / "docs" / "costs.md").read_text()
    blocks = [block.split("```")[0] for block in text.split("```sql\n")[1:]]
    [query] = [block for block in blocks if containing in block]
    return query


def in_schema(query: str, schema: str) -> str:
    """A documented query on the tables of ``schema`` (the docs say tap_vidnavigator)."""
    return query.replace("tap_vidnavigator.", f"{schema}.")


def _credits(task: t.Any) -> D:
    return D(str(task.usage["total_credits"]))


def _day(task: t.Any) -> dt.datetime:
    served = dt.datetime.fromtimestamp(int(task.completes_at + task.offset), dt.timezone.utc)
    return served.replace(tzinfo=None, hour=0, minute=0, second=0)


def _mid_month_offset() -> float:
    """An emulated calendar on the 10th of next month, noon: both runs in one billing
    period (a month's end would refill the monthly pool between them), on two days."""
    now = dt.datetime.now(dt.timezone.utc)
    first = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    target = first.replace(day=10, hour=12, minute=0, second=0, microsecond=0)
    return (target - now).total_seconds()


def test_account_usage_and_credits_per_day_by_meter_in_postgres(make_emulator, postgres, tmp_path):
    # 0.01 monthly credits left: the first run spends them and goes on with purchased ones.
    emulator = make_emulator(
        processing_polls=1, plan="navigator", monthly_remaining=0.01, purchased_credits=1,
        clock_offset_seconds=_mid_month_offset(),
    )  # fmt: skip
    schema = "vidnavigator_costs"
    env = _pg_env(postgres, schema)
    first = meltano_run("target-postgres", emulator, tmp_path, extra_env=env, profiles=PROFILES)
    assert first.returncode == 0, first.stderr[-5000:]
    bought_first = list(emulator.state.tasks.values())
    emulator.advance_clock(days=1)
    second = meltano_run("target-postgres", emulator, tmp_path, extra_env=env, profiles=PROFILES)
    assert second.returncode == 0, second.stderr[-5000:]
    every_task = list(emulator.state.tasks.values())
    assert len(every_task) == 2 * len(bought_first) == 2 * (len(PROFILES) + len(SEARCHES))

    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(in_schema(costs_sql("from tap_vidnavigator.account_usage"), schema))
        left = [row[1:] for row in cursor.fetchall()]
        cursor.execute(in_schema(costs_sql("unnest(charges)"), schema))
        per_day = cursor.fetchall()
        cursor.execute(
            "select data_type from information_schema.columns where table_schema = %s "
            "and table_name = 'account_usage' and column_name = 'balance'",
            (schema,),
        )
        assert cursor.fetchone() == ("numeric",)

    # Each run read the balance before buying: the first the plan's, the second what
    # the first left, monthly credits spent first.
    spent = sum((_credits(task) for task in bought_first), D(0))
    assert spent > D("0.01")
    assert left == [
        ("Navigator", False, D("0.01"), D(1), D("1.01")),
        ("Navigator", False, D(0), D("1.01") - spent, D("1.01") - spent),
    ]

    truth: dict[tuple[dt.datetime, str], D] = {}
    for task in every_task:
        for charge in task.usage["charges"]:
            key = (_day(task), charge["service_type"])
            truth[key] = truth.get(key, D(0)) + D(str(charge["credits"]))
    assert per_day == sorted((day, meter, credits) for (day, meter), credits in truth.items())
    assert {meter for _, meter, _ in per_day} == {"standard_request", "residential_request"}
    assert len({day for day, _, _ in per_day}) == 2
    # The exact sum of every charge is what the emulator took.
    assert sum(credits for _, _, credits in per_day) == emulator.counters().credits_charged
