"""How a video's counts grow with its age, and the emulated calendar they are read on.

The model (docs/emulator-model.md tells the whole story):

* A video's generated counts (:mod:`.data`, :mod:`.search`) are its *settled* counts,
  what it ends with. Observed at age ``a`` (seconds since its publication), each count
  is ``floor(settled * (1 - exp(-a / tau)))``: fast growth in the first days, flat
  later. ``tau``, the video's growth time, lies between 12 and 72 hours and is fixed by
  a hash of the video id, so the same video grows the same way in every run.
* Past :data:`SETTLED_AGE` the factor is exactly 1.0 in floating point: such a video is
  served as generated (every synthetic catalogue video is older than that).
* Counts never fall (the factor only rises with age), a count that arrives as a string
  keeps arriving as a string, and a null stays null.
"""

from __future__ import annotations

import dataclasses
import math
import typing as t
import zlib

HOUR = 3_600
DAY = 86_400
TAU_MIN = 12 * HOUR
TAU_MAX = 72 * HOUR
#: From this age on, ``1 - exp(-age / tau)`` rounds to exactly 1.0 for every ``tau``.
SETTLED_AGE = 40 * TAU_MAX


@dataclasses.dataclass(frozen=True)
class Counts:
    """Where a kind's result keeps its counts: a nested object (or the top level), names."""

    container: str | None
    names: tuple[str, ...]

    def read(self, result: t.Mapping[str, t.Any]) -> dict[str, int | None]:
        """The counts of one served result, as integers (None where null)."""
        holder = result[self.container] if self.container else result
        return {name: None if holder[name] is None else int(holder[name]) for name in self.names}


def growth_time(video_id: str) -> float:
    """The video's ``tau`` in seconds: between :data:`TAU_MIN` and :data:`TAU_MAX`."""
    return TAU_MIN + (TAU_MAX - TAU_MIN) * (zlib.crc32(video_id.encode()) / 0xFFFFFFFF)


def share(video_id: str, age: float) -> float:
    """The part of its settled counts a video has at ``age`` seconds (0 to 1)."""
    if age <= 0:
        return 0.0
    if age >= SETTLED_AGE:
        return 1.0
    return 1.0 - math.exp(-age / growth_time(video_id))


def _grown(value: t.Any, part: float) -> t.Any:
    if value is None or part == 1.0:
        return value
    grown = int(int(value) * part)
    return str(grown) if isinstance(value, str) else grown


def observe(
    results: t.Iterable[dict[str, t.Any]], moment: int, counts: Counts
) -> list[dict[str, t.Any]]:
    """``results`` as seen at ``moment`` (unix seconds), in the same order.

    A result published after ``moment`` is not there yet; a settled one is the same
    object (no copy); a younger one is a copy with its counts of that moment.
    """
    seen = []
    for result in results:
        age = moment - int(result["timestamp"])
        if age < 0:
            continue
        if age >= SETTLED_AGE:
            seen.append(result)
            continue
        part = share(str(result["id"]), age)
        holder = result[counts.container] if counts.container else result
        grown = {name: _grown(holder[name], part) for name in counts.names}
        if counts.container:
            seen.append({**result, counts.container: {**holder, **grown}})
        else:
            seen.append({**result, **grown})
    return seen


class Calendar:
    """The emulated calendar: the real clock plus an offset that only moves forward.

    ``now()`` is the continuous emulated time (what task times are served on);
    ``moment()`` is the observation moment: the calendar read in whole ticks counted
    from the emulator's start, so counts stand still between ticks and tests that
    compare a task with the ground truth a second later stay exact.
    """

    def __init__(
        self, clock: t.Callable[[], float], offset: float = 0.0, tick: float = HOUR
    ) -> None:
        if offset < 0:
            msg = "the emulated clock's offset must be >= 0: it never runs behind real time"
            raise ValueError(msg)
        if tick <= 0:
            msg = "the calendar tick must be > 0 seconds"
            raise ValueError(msg)
        self.clock = clock
        self.offset = float(offset)
        self.tick = float(tick)
        self.start = clock()

    def advance(self, seconds: float) -> None:
        """Move the calendar forward by ``seconds`` (time never runs backwards)."""
        if seconds < 0:
            msg = f"the emulated clock only moves forward; got {seconds:g} seconds"
            raise ValueError(msg)
        self.offset += seconds

    def now(self, offset: float | None = None) -> float:
        """The emulated time now (real time plus ``offset``, by default the current one)."""
        return self.clock() + (self.offset if offset is None else offset)

    def moment(self, real: float | None = None, offset: float | None = None) -> int:
        """The observation moment (unix seconds) of real instant ``real`` (default now)."""
        real = self.clock() if real is None else real
        ticks = math.floor(max(0.0, real - self.start) / self.tick)
        return int(self.start + (self.offset if offset is None else offset) + ticks * self.tick)
