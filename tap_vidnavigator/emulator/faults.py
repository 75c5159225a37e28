"""Seeded fault injection, so that a failing test can be replayed with its seed.

Two ways to choose the faulted requests: at random (``rate``, ``kinds``, ``seed``), or
by a script (``script``: the n-th request on a route or path gets a kind), so that a
test knows exactly which request fails and can count the client's retries.

The kinds of :data:`FAULT_KINDS` answer *instead of* the API: nothing is created.
``lost`` (:data:`ANSWER_LOST`) lets the API do its work (a submit creates its task, a
transcript call is charged) and then drops the answer, resetting the connection: the
client's request was sent and its answer never came, the ambiguous case a paid submit
must not be retried after. Each fault injected is reported (:class:`Injection`), with
whether the request did its work.
"""

from __future__ import annotations

import dataclasses
import random
import threading

#: The faults that answer in the API's place: nothing is created.
FAULT_KINDS = ("429", "503", "500", "502", "reset", "slow")
#: The API does the work, then the answer is lost (the connection is reset).
ANSWER_LOST = "lost"
#: Every kind of fault the emulator can inject.
ALL_FAULT_KINDS = (*FAULT_KINDS, ANSWER_LOST)
#: The routes where a request does paid work (a task created, or a call charged).
PAID_ROUTES = ("submit", "transcript")


@dataclasses.dataclass(frozen=True)
class Injection:
    """One fault injected: where, which kind, and whether the request did its work
    (a task created, a call charged) before its answer was lost."""

    route: str
    path: str
    kind: str
    created: bool = False


@dataclasses.dataclass
class FaultPlan:
    """What to inject: a probability per request, the kinds, and their parameters.

    ``script``: ``(route or path, n, kind)`` entries; the n-th request (from 1) on that
    route (``"submit"``, ``"poll"``, ...) or path (``"/v1/transcribe/async"``) gets the
    kind, whatever ``rate`` says.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    retry_after: float = 1.0
    slow_seconds: float = 3.0
    routes: tuple[str, ...] = ("submit", "poll", "download")
    script: tuple[tuple[str, int, str], ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.kinds) | {kind for _, _, kind in self.script}
        unknown -= set(ALL_FAULT_KINDS)
        if unknown:
            msg = f"unknown fault kinds {sorted(unknown)}; choose from {ALL_FAULT_KINDS}"
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
        self._scripted = {(match, n): kind for match, n, kind in plan.script}
        self._seen: dict[str, int] = {}
        #: Every fault injected, in order (the server adds each).
        self.injections: list[Injection] = []

    def draw(self, route: str, path: str = "") -> str | None:
        """The fault kind for the next request on ``route`` (at ``path``), or None."""
        plan = self.plan
        with self._lock:
            if self._scripted:
                scripted = None
                for match in dict.fromkeys((route, path)):
                    self._seen[match] = self._seen.get(match, 0) + 1
                    scripted = scripted or self._scripted.get((match, self._seen[match]))
                if scripted is not None:
                    return scripted
            if plan.rate <= 0 or route not in plan.routes or not plan.kinds:
                return None
            if self._rng.random() >= plan.rate:
                return None
            return self._rng.choice(plan.kinds)

    def report(self, injection: Injection) -> None:
        """Add a fault injected to :attr:`injections`."""
        with self._lock:
            self.injections.append(injection)
