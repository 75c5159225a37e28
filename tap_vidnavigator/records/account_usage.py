"""The ``account_usage`` table: the account's balance, plan and meters, once per run.

Read from ``GET /usage`` (free; SDK ``UsageResponse``). The monthly pool may be the
string ``"unlimited"``: its columns are then null and ``monthly_unlimited`` is true, so
that every credit column stays numeric in every warehouse.
"""

from __future__ import annotations

import decimal
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.families import ACCOUNT_USAGE
from tap_vidnavigator.records.fields import schema_of
from tap_vidnavigator.records.values import exact, to_datetime, to_number, to_text

#: The meters of the provider's price table (CONTRACT.md §5), each a counter column.
METERS = (
    "standard_request",
    "residential_request",
    "search_request",
    "analysis_request",
    "transcription_hour",
)
UNLIMITED = "unlimited"


class Answer(t.NamedTuple):
    """What a row is read from: the answer's ``data`` and when it was read."""

    data: t.Mapping[str, t.Any]
    read_at: str

    def part(self, name: str) -> dict[str, t.Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    def field(self, part: str, name: str) -> t.Any:
        return self.part(part).get(name)


def _pool(value: t.Any) -> float | int | None:
    return None if value == UNLIMITED else to_number(value)


def _balance(answer: Answer) -> float | None:
    remaining = _pool(answer.field("credits", "monthly_remaining"))
    purchased = to_number(answer.field("credits", "purchased"))
    if remaining is None or purchased is None:
        return None
    # Exact, as the API wrote both: 0.0003 + 1 is 1.0003, not 1.0002999999999999.
    return float(exact(remaining) + exact(purchased))


def _flag(value: t.Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _used(meter: str) -> t.Callable[[Answer], t.Any]:
    def read(answer: Answer) -> t.Any:
        counter = answer.part("usage").get(meter)
        return to_number(counter.get("used")) if isinstance(counter, dict) else None

    return read


def _counters(answer: Answer) -> dict[str, t.Any] | None:
    usage = answer.part("usage")
    if not usage:
        return None
    return {
        name: to_number(counter.get("used"))
        for name, counter in usage.items()
        if isinstance(counter, dict)
    }


class UsageColumn(t.NamedTuple):
    """One column of the table, read from the answer."""

    name: str
    type: th.JSONTypeHelper | type[th.JSONTypeHelper]
    read: t.Callable[[Answer], t.Any]
    description: str

    @property
    def required(self) -> bool:
        """Key properties are never null."""
        return self.name in ACCOUNT_USAGE.key


ACCOUNT_USAGE_FIELDS: tuple[UsageColumn, ...] = (
    UsageColumn("read_at", th.DateTimeType, lambda a: a.read_at,
                "When the tap read the account (UTC): one row per run."),
    UsageColumn("generated_at", th.DateTimeType,
                lambda a: to_datetime(a.data.get("generated_at")),
                "When the API computed the figures."),
    UsageColumn("balance", th.NumberType, _balance,
                "Credits left: monthly_remaining plus purchased; null when unlimited."),
    UsageColumn("monthly_total", th.NumberType,
                lambda a: _pool(a.field("credits", "monthly_total")),
                "The plan's monthly credits; null when unlimited."),
    UsageColumn("monthly_remaining", th.NumberType,
                lambda a: _pool(a.field("credits", "monthly_remaining")),
                "Monthly credits left this period (spent first); null when unlimited."),
    UsageColumn("monthly_unlimited", th.BooleanType,
                lambda a: UNLIMITED in (a.field("credits", "monthly_total"),
                                        a.field("credits", "monthly_remaining")),
                "Whether the plan's monthly credits are unlimited."),
    UsageColumn("purchased", th.NumberType, lambda a: to_number(a.field("credits", "purchased")),
                "Purchased credits left (spent after the monthly ones; they do not expire)."),
    UsageColumn("plan_id", th.StringType, lambda a: to_text(a.field("subscription", "plan_id")),
                "The subscription's plan."),
    UsageColumn("plan_name", th.StringType,
                lambda a: to_text(a.field("subscription", "plan_name")), "The plan's name."),
    UsageColumn("plan_interval", th.StringType,
                lambda a: to_text(a.field("subscription", "interval")),
                "How often the plan is billed."),
    UsageColumn("subscription_status", th.StringType,
                lambda a: to_text(a.field("subscription", "status")),
                "The subscription's status (active, ...)."),
    UsageColumn("cancel_at_period_end", th.BooleanType,
                lambda a: _flag(a.field("subscription", "cancel_at_period_end")),
                "Whether the subscription ends with this period."),
    UsageColumn("period_start", th.DateTimeType,
                lambda a: to_datetime(a.field("billing_period", "start")),
                "Start of the billing period the figures belong to."),
    UsageColumn("period_end", th.DateTimeType,
                lambda a: to_datetime(a.field("billing_period", "end")),
                "End of the billing period."),
    *(
        UsageColumn(f"{meter}_used", th.NumberType, _used(meter),
                    f"{meter} used this period (usage.{meter}.used).")
        for meter in METERS
    ),
    UsageColumn("counters", th.ObjectType(additional_properties=th.NumberType), _counters,
                "Every activity counter as the API sent it: name to quantity used."),
)  # fmt: skip
ACCOUNT_USAGE_SCHEMA = schema_of(ACCOUNT_USAGE_FIELDS)


def account_usage_record(data: t.Mapping[str, t.Any], read_at: str) -> dict[str, t.Any]:
    """The row of one ``GET /usage`` answer read at ``read_at`` (ISO-8601, UTC)."""
    answer = Answer(data, read_at)
    return {column.name: column.read(answer) for column in ACCOUNT_USAGE_FIELDS}


def _said(value: t.Any) -> str:
    return "?" if value is None else f"{exact(value).normalize():f}"


def describe_account(record: t.Mapping[str, t.Any]) -> str:
    """A row as the run's log says it: ``plan Voyager, 79.93 credits left (...)``."""
    plan = record["plan_name"] or record["plan_id"] or "unknown"
    if record["monthly_unlimited"]:
        left = f"unlimited monthly credits, {_said(record['purchased'])} purchased"
    elif record["balance"] is None:
        left = "balance not reported"
    else:
        left = (
            f"{_said(record['balance'])} credits left ({_said(record['monthly_remaining'])} "
            f"of {_said(record['monthly_total'])} monthly, {_said(record['purchased'])} "
            "purchased)"
        )
    return f"plan {plan}, {left}"


def balance_of(record: t.Mapping[str, t.Any]) -> decimal.Decimal | None:
    """A row's balance, exactly as the API wrote it; None when unlimited or unknown."""
    balance = record["balance"]
    return None if balance is None else exact(balance)
