"""Seeded fault injection, so that a failing test can be replayed with its seed."""

from __future__ import annotations

import dataclasses
import random
import threading

#: Every kind of fault the emulator can inject.
FAULT_KINDS = ("429", "503", "500", "502", "reset", "slow")


@dataclasses.dataclass
class FaultPlan:
    """What to inject: a probability per request, the kinds, and their parameters."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    retry_after: float = 1.0
    slow_seconds: float = 3.0
    routes: tuple[str, ...] = ("submit", "poll", "download")

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            msg = f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}"
            raise ValueError(msg)
        if not 0.0 <= self.rate <= 1.0:
            msg = f"fault rate must be between 0 and 1, got {self.rate}"
            raise ValueError(msg)


class FaultInjector:
    """Draws the fault (or none) for each request from one seeded generator."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()

    def draw(self, route: str) -> str | None:
        """The fault kind for the next request on ``route``, or None."""
        plan = self.plan
        if plan.rate <= 0 or route not in plan.routes or not plan.kinds:
            return None
        with self._lock:
            if self._rng.random() >= plan.rate:
                return None
            return self._rng.choice(plan.kinds)
