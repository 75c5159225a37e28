"""What one run may spend: ``max_credits_per_run`` and ``min_credits_balance``.

Every paid call the run makes is counted: each task it submits (scrapes, searches,
and any later paid kind) costs what its usage block says once it has ended. Tasks
resumed from STATE, read through ``task_ids`` or reused from the ledger were paid
before: they cost this run nothing.

Before each submit the budget compares

    settled + estimated  with  the cap

where ``settled`` is the exact sum of the ended tasks' ``total_credits`` and
``estimated`` counts each task still running at the most a task of its kind cost in
this run (its ``total_credits`` plus any ``credits_saved``, so a failed task's waived
price counts too). Until a task of a kind has ended, its price is unknown and one task
of that kind runs at a time. The cap is ``max_credits_per_run``, lowered to the
balance read from ``GET /usage`` before the first submit minus
``min_credits_balance``. Once the sum reaches the cap, nothing new is submitted: the
requests left are skipped (kept in STATE, first in line next run). Only the tasks
already running when the cap is reached can take the spend past it, by what they cost
beyond the estimate.

A per-video product may also cap what a run buys in its own unit (speech-to-text's
audio hours): :class:`UnitCap`, one per product and run, taken video by video before
each purchase, beside the credits above.
"""

from __future__ import annotations

import decimal
import enum
import typing as t

from tap_vidnavigator.records.values import exact

ZERO = decimal.Decimal(0)


class Decision(enum.Enum):
    """What the budget says of the next submit."""

    GO = "go"
    #: A task of this kind is running and none has ended yet: its price is unknown.
    WAIT = "wait"
    #: The cap is reached: nothing new is bought in this run.
    STOP = "stop"


def number(value: t.Any) -> decimal.Decimal | None:
    """A credit figure as an exact decimal, or None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return exact(value)


def said(value: decimal.Decimal) -> str:
    """A credit figure as people read it: ``0.0003``, ``12``."""
    return f"{value.normalize():f}"


class UnitCap:
    """How many units (audio hours, extractions) a per-video product may buy this run:
    what does not fit waits, pending, for a later run."""

    def __init__(self, limit: float, unit: str) -> None:
        self.limit = limit
        self.left = limit
        self.unit = unit
        #: Videos that did not fit.
        self.refused = 0

    def take(self, units: float) -> bool:
        """Whether a purchase of this many units fits; counted when it does."""
        if units > self.left:
            self.refused += 1
            return False
        self.left -= units
        return True


class Budget:
    """The run's spend, its cap, and the requests it skipped."""

    def __init__(
        self,
        max_credits: decimal.Decimal | None,
        min_balance: decimal.Decimal | None,
    ) -> None:
        self.max_credits = max_credits
        self.min_balance = min_balance
        #: The balance read before the first submit (None: unlimited or not read).
        self.balance: decimal.Decimal | None = None
        self.balance_known = False
        self.settled = ZERO
        self._running: dict[str, str] = {}
        self._dearest: dict[str, decimal.Decimal] = {}
        #: Per running task bought with an estimate (a per-video job): its estimate.
        self._estimates: dict[str, decimal.Decimal] = {}
        self.stopped = False
        #: Per kind name: how the logs name each request the budget skipped.
        self.skipped: dict[str, list[str]] = {}
        self.unreported = 0

    @property
    def active(self) -> bool:
        """Whether this run has a budget at all."""
        return self.max_credits is not None or self.min_balance is not None

    @property
    def needs_balance(self) -> bool:
        """Whether the balance must be read before the first submit."""
        return self.min_balance is not None and not self.balance_known

    def know_balance(self, balance: decimal.Decimal | None) -> None:
        """The balance ``GET /usage`` reported (None: unlimited)."""
        self.balance = balance
        self.balance_known = True

    @property
    def cap(self) -> decimal.Decimal | None:
        """What this run may spend, or None when nothing limits it."""
        caps = []
        if self.max_credits is not None:
            caps.append(self.max_credits)
        if self.min_balance is not None and self.balance is not None:
            caps.append(self.balance - self.min_balance)
        return min(caps) if caps else None

    @property
    def estimated(self) -> decimal.Decimal:
        """What the tasks still running are expected to cost (see the module doc)."""
        return sum(
            (
                self._dearest.get(kind, self._estimates.get(task_id, ZERO))
                for task_id, kind in self._running.items()
            ),
            ZERO,
        )

    def decide(self, kind: str, estimate: decimal.Decimal | None = None) -> Decision:
        """Whether a task of ``kind`` may be submitted now. ``estimate``: what a per-video
        job is expected to cost before a job of its kind ended this run (then the
        dearest of them counts), so that it is bought only when it fits."""
        cap = self.cap
        if cap is None:
            return Decision.GO
        if self.stopped or self.settled + self.estimated >= cap:
            self.stopped = True
            return Decision.STOP
        if estimate is not None:
            price = self._dearest.get(kind, estimate)
            if self.settled + self.estimated + price > cap:
                self.stopped = True
                return Decision.STOP
            return Decision.GO
        unknown = [k for k in self._running.values() if k not in self._dearest]
        if kind in unknown:
            return Decision.WAIT
        return Decision.GO

    def submitted(self, kind: str, task_id: str, estimate: decimal.Decimal | None = None) -> None:
        """This run bought a task (expected to cost ``estimate``, when one was given)."""
        self._running[task_id] = kind
        if estimate is not None:
            self._estimates[task_id] = estimate

    def ended(self, task_id: str, usage: t.Mapping[str, t.Any] | None) -> None:
        """A task ended: count what it cost, when this run bought it."""
        kind = self._running.pop(task_id, None)
        self._estimates.pop(task_id, None)
        if kind is None:
            return
        usage = usage or {}
        cost = number(usage.get("total_credits"))
        if cost is None:
            self.unreported += 1
            return
        waived = usage.get("waived")
        saved = number(waived.get("credits_saved")) if isinstance(waived, dict) else None
        self.settled += cost
        price = cost + (saved or ZERO)
        self._dearest[kind] = max(self._dearest.get(kind, ZERO), price)

    def gone(self, task_id: str) -> None:
        """A task of this run will never report its usage (404, timed out)."""
        self._running.pop(task_id, None)
        self._estimates.pop(task_id, None)

    def skip(self, kind: str, described: str) -> None:
        """A request was not submitted because of the budget."""
        self.skipped.setdefault(kind, []).append(described)

    def reason(self) -> str:
        """Why the budget stopped, with its figures."""
        cap = self.cap
        limit = (
            f"max_credits_per_run {said(self.max_credits)}"
            if self.max_credits is not None and cap == self.max_credits
            else f"min_credits_balance {said(self.min_balance or ZERO)} (balance "
            f"{said(self.balance or ZERO)} before this run)"
        )
        running = len(self._running)
        return (
            f"{limit} reached: {said(self.settled)} credits settled + "
            f"{said(self.estimated)} estimated for {running} running task(s) >= the cap of "
            f"{said(cap or ZERO)}"
        )

    def summary(self) -> str | None:
        """The run's budget line, or None when the budget skipped nothing."""
        if not self.skipped:
            return None
        count = sum(len(items) for items in self.skipped.values())
        listed = "; ".join(f"{kind}: {', '.join(items)}" for kind, items in self.skipped.items())
        return (
            f"Budget: {count} request(s) not submitted, {self.reason()}. Skipped {listed}. "
            "They are kept in the STATE and submitted first on the next run."
        )
