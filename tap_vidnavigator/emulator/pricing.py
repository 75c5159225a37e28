"""The provider's published price table, and one key's account: its plan and balance.

The provider's "Usage costs" page (CONTRACT.md §5): every operation is metered, and
each meter converts to credits at a fixed rate. Credits are fractional, so they are
computed in :class:`~decimal.Decimal` (exact) and served as JSON numbers.

One monthly pool per plan plus purchased credits: monthly credits are spent first,
purchased ones cover the overflow and persist across periods. A submit is refused
(402) once both are spent; a task already running always finishes and is charged, so
its charge may take the purchased credits below zero (the next submit is then 402).

What the emulator meters (docs/emulator-model.md, "What things cost"):

* a TikTok profile scrape: one scraper page per ``stats.pages_consumed``, a
  ``standard_request`` each, or a ``residential_request`` each for a profile whose
  handle starts with ``proxy`` (its pages need the proxy-backed scraper);
* a TikTok keyword search: one ``residential_request`` per ``stats.pages_fetched``;
* a structured extraction: ``ceil(total_tokens / 15000)`` credits, at least 1 (the
  provider's extraction page), as an ``analysis_request`` charge of 100 units a credit
  (the meter's rate) carrying its ``tokens``; speech-to-text, when it ran, on top as
  ``transcription_hour`` (:func:`extraction_charges`);
* a failed task: the same meters fire but are waived (``credits`` 0, ``waived``
  true, ``credits_saved`` what they would have cost).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import decimal
import typing as t

#: Meter -> (units per credit, the unit /usage counts it in).
METERS: dict[str, tuple[decimal.Decimal, str]] = {
    "standard_request": (decimal.Decimal(10_000), "requests"),
    "residential_request": (decimal.Decimal(200), "requests"),
    "search_request": (decimal.Decimal(10), "requests"),
    "analysis_request": (decimal.Decimal(100), "requests"),
    "transcription_hour": (decimal.Decimal(1), "hours"),
}
#: Plan id -> (name, monthly credits; None is unlimited), as the page lists them.
PLANS: dict[str, tuple[str, int | None]] = {
    "trial": ("Trial", 5),
    "navigator": ("Navigator", 15),
    "voyager": ("Voyager", 80),
    "odyssey": ("Odyssey", None),
}
UNLIMITED = "unlimited"
ZERO = decimal.Decimal(0)


def number(value: decimal.Decimal) -> int | float:
    """A Decimal as the JSON number the API serves (an int when whole)."""
    return int(value) if value == value.to_integral_value() else float(value)


def credits_for(meter: str, quantity: decimal.Decimal | int | float) -> decimal.Decimal:
    """What ``quantity`` units of a meter cost, exactly."""
    per_credit, _ = METERS[meter]
    return decimal.Decimal(str(quantity)) / per_credit


def charge(meter: str, quantity: int | float, *, waived: bool = False) -> dict[str, t.Any]:
    """One entry of a usage block's ``charges``."""
    cost = credits_for(meter, quantity)
    return {
        "service_type": meter,
        "quantity": quantity,
        "credits": 0 if waived else number(cost),
        "waived": waived,
        "credits_saved": number(cost) if waived else 0,
    }


#: Tokens one extraction credit covers (the provider's extraction page).
TOKENS_PER_EXTRACTION_CREDIT = 15_000


def extraction_credits(total_tokens: int) -> int:
    """An extraction's credits: ``ceil(total_tokens / 15000)``, at least 1."""
    return max(1, -(-total_tokens // TOKENS_PER_EXTRACTION_CREDIT))


def extraction_charges(
    tokens: t.Mapping[str, int], transcribed_hours: float | None, *, waived: bool = False
) -> list[dict[str, t.Any]]:
    """An extraction's charges: the analysis (with its ``tokens``: prompt, completion,
    total), then the speech-to-text hours when it ran; all waived when it failed."""
    per_credit, _ = METERS["analysis_request"]
    units = extraction_credits(tokens["total_tokens"]) * int(per_credit)
    analysis = {**charge("analysis_request", units, waived=waived), "tokens": dict(tokens)}
    if transcribed_hours is None:
        return [analysis]
    return [analysis, charge("transcription_hour", transcribed_hours, waived=waived)]


def profile_page_meter(handle: str) -> str:
    """The meter a profile's scraper pages fire (see the module docstring)."""
    return "residential_request" if handle.lower().startswith("proxy") else "standard_request"


def total(charges: t.Sequence[t.Mapping[str, t.Any]], field: str = "credits") -> decimal.Decimal:
    """The exact sum of one field of some charges."""
    return sum((decimal.Decimal(str(c[field])) for c in charges), ZERO)


def usage_block(
    charges: list[dict[str, t.Any]], remaining: decimal.Decimal | None
) -> dict[str, t.Any]:
    """The ``usage`` object beside a terminal task's ``data`` (SDK ``UsageBlock``)."""
    saved = total(charges, "credits_saved")
    return {
        "charges": charges,
        "total_credits": number(total(charges)),
        "credits_remaining_after": None if remaining is None else number(remaining),
        "waived": {"credits_saved": number(saved)} if saved else None,
    }


def _month(moment: float) -> tuple[dt.datetime, dt.datetime]:
    day = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
    start = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    length = calendar.monthrange(start.year, start.month)[1]
    return start, start + dt.timedelta(days=length)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class Account:
    """One key's plan, balance and meter counters for the current billing period.

    The period is the calendar month of the emulated clock: when the clock enters a
    new month the monthly pool is full again and the counters start from zero.
    """

    plan_id: str
    #: None: unlimited monthly credits.
    monthly_total: decimal.Decimal | None
    monthly_remaining: decimal.Decimal | None
    purchased: decimal.Decimal
    period_start: dt.datetime
    used: dict[str, decimal.Decimal] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(METERS, ZERO)
    )
    #: Every credit taken since the emulator started (all periods).
    charged: decimal.Decimal = ZERO

    @classmethod
    def open(
        cls,
        plan_id: str,
        monthly_total: float | None,
        monthly_remaining: float | None,
        purchased: float,
        now: float,
    ) -> Account:
        """A key's account as the emulator's configuration describes it."""
        if plan_id not in PLANS:
            msg = f"plan must be one of {', '.join(PLANS)}, got {plan_id!r}"
            raise ValueError(msg)
        pool = PLANS[plan_id][1] if monthly_total is None else monthly_total
        total_ = None if pool is None else decimal.Decimal(str(pool))
        left = total_ if monthly_remaining is None or total_ is None else monthly_remaining
        return cls(
            plan_id=plan_id,
            monthly_total=total_,
            monthly_remaining=None if left is None else decimal.Decimal(str(left)),
            purchased=decimal.Decimal(str(purchased)),
            period_start=_month(now)[0],
        )

    @property
    def unlimited(self) -> bool:
        """Whether the monthly pool has no end."""
        return self.monthly_total is None

    def roll(self, now: float) -> None:
        """Start a new billing period when the emulated clock entered one."""
        start, _ = _month(now)
        if start != self.period_start:
            self.period_start = start
            self.monthly_remaining = self.monthly_total
            self.used = dict.fromkeys(METERS, ZERO)

    def balance(self) -> decimal.Decimal | None:
        """Monthly plus purchased credits left; None when unlimited."""
        if self.monthly_remaining is None:
            return None
        return self.monthly_remaining + self.purchased

    def can_submit(self) -> bool:
        """A paid call needs something left to draw from."""
        balance = self.balance()
        return balance is None or balance > 0

    def take(self, charges: t.Sequence[t.Mapping[str, t.Any]]) -> decimal.Decimal:
        """Count the meters and take their credits, monthly first; what was taken."""
        for item in charges:
            self.used[item["service_type"]] += decimal.Decimal(str(item["quantity"]))
        cost = total(charges)
        self.charged += cost
        if self.monthly_remaining is not None:
            from_monthly = min(cost, self.monthly_remaining)
            self.monthly_remaining -= from_monthly
            self.purchased -= cost - from_monthly
        return cost

    def usage_data(self, now: float) -> dict[str, t.Any]:
        """``GET /usage``'s ``data`` (SDK ``UsageData``)."""
        start, end = _month(self.period_start.timestamp())
        name, _ = PLANS[self.plan_id]
        unlimited: t.Any = UNLIMITED
        return {
            "usage_period": {"start": _iso(start), "end": _iso(end)},
            "billing_period": {"start": _iso(start), "end": _iso(end), "interval": "month"},
            "subscription": {
                "plan_id": self.plan_id,
                "plan_name": name,
                "interval": "month",
                "status": "active",
                "cancel_at_period_end": False,
            },
            "credits": {
                "monthly_total": unlimited
                if self.monthly_total is None
                else number(self.monthly_total),
                "monthly_remaining": unlimited
                if self.monthly_remaining is None
                else number(self.monthly_remaining),
                "purchased": number(self.purchased),
            },
            "usage": {
                meter: {"used": number(self.used[meter]), "unit": unit}
                for meter, (_, unit) in METERS.items()
            },
            "channels_indexed": {"used": 0, "limit": 0, "remaining": 0, "percentage": 0.0},
            "storage": {
                "used_bytes": 0,
                "used_formatted": "0 B",
                "limit_bytes": 0,
                "limit_formatted": "0 B",
                "remaining_bytes": 0,
                "remaining_formatted": "0 B",
                "percentage": 0.0,
            },
            "generated_at": _iso(dt.datetime.fromtimestamp(now, dt.timezone.utc)),
        }
