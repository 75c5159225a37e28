"""What a keyword search with these filters must serve, computed from the contract alone.

The emulator's own ground truth (``state.search_ground_truth(query, **filters)``) runs the
same filter code as what it serves, so a bug there would agree with itself. This module is
the second opinion: it reads the filters as a user gives them (the names and values of the
SDK's ``submit_tiktok_search``) and decides, result by result, what the API keeps, in
which order, and why it leaves the rest out. It imports nothing of the emulator.

Its input is the query's every result in relevance order (:func:`universe`): the search
engine's ranking is the provider's to choose, so the one thing taken from the emulator is
that list, which tests/test_search_oracle.py checks is the emulator's generated catalogue.

The rules, from the API contract (CONTRACT.md section 4) and the SDK (``vidnavigator`` 2.1.0,
``VidNavigatorClient.submit_tiktok_search``, ``TikTokSearchResult``):

* ``sort_by``: ``relevance`` keeps the engine's order; ``most_liked`` the most likes
  first; ``newest`` the latest publication first; omitted: newest first (the contract).
  The contract breaks no ties: the emulator breaks them by result id, ascending, and
  ranks a null like count as 0 likes; so does this oracle (and its tests check it).
* ``published_within``: ``all`` or a rolling window (the SDK's words) ending at the
  present. The emulator's present is fixed, 2026-01-01T00:00:00Z (docs/emulator.md), so
  its truth never depends on the clock; results published on the emulated calendar since
  then are younger than any window and kept. The contract names the windows without
  their lengths: the emulator's are those of :data:`WINDOW_DAYS`.
* ``after_datetime`` / ``before_datetime``: bounds on the publish time, inclusive. A date
  (``YYYY-MM-DD``, or ``YYYYMMDD`` as the provider's page writes dates) is a whole UTC
  day: ``after`` from its first second, ``before`` through its last. An ISO-8601
  datetime must carry its zone and bounds that very instant (fractions of a second
  included: the SDK sends ``datetime.isoformat()``). A result's publish time is its
  ``timestamp`` (unix seconds).
* ``min_likes`` / ``max_likes`` / ``min_views`` / ``max_views``: inclusive bounds on the
  result's ``stats`` counts, which may arrive as numeric strings; a null count satisfies
  no bound on it (nothing says it lies within).
* ``max_results``: at most that many, the first of the sorted matches.
* ``parallel_search_slices`` changes how the provider fetches, not what it finds.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
import typing as t

Result = dict[str, t.Any]

#: The emulator's fixed present: what its ``published_within`` windows end at.
PRESENT = calendar.timegm((2026, 1, 1, 0, 0, 0))
DAY = 86_400
#: Each ``published_within`` value and its window in days (None: no window).
WINDOW_DAYS: dict[str, int | None] = {
    "all": None,
    "past_24_hours": 1,
    "this_week": 7,
    "this_month": 30,
    "last_3_months": 91,
    "last_6_months": 182,
}
SORTS = ("relevance", "most_liked", "newest")
#: Why a result was left out: the bound it failed, or that it ranked past max_results.
AFTER_MAX_RESULTS = "max_results"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{8}")
_INTEGER = re.compile(r"\d+")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a search serves (``kept``, in serving order) and what it leaves out."""

    kept: list[Result]
    #: The rest of the query's results, in relevance order.
    excluded: list[Result]
    #: Why each excluded result (by id) is left out: the bounds it fails, else
    #: :data:`AFTER_MAX_RESULTS`.
    reasons: dict[str, tuple[str, ...]]

    @property
    def kept_ids(self) -> list[str]:
        return [str(result["id"]) for result in self.kept]

    @property
    def excluded_ids(self) -> set[str]:
        return {str(result["id"]) for result in self.excluded}


def universe(state: t.Any, query: str, *, seen_by: str | None = None) -> list[Result]:
    """The query's every result in relevance order, as the emulator serves them now (or as
    task ``seen_by`` saw them): a search with no filter but ``sort_by: relevance``."""
    return list(state.search_ground_truth(query, sort_by="relevance", seen_by=seen_by))


def expected(state: t.Any, query: str, *, seen_by: str | None = None, **filters: t.Any) -> Outcome:
    """The oracle's answer for a search of ``query`` with ``filters`` on the emulator."""
    return search_oracle(universe(state, query, seen_by=seen_by), **filters)


def count(value: t.Any) -> int | None:
    """A count as the API may send it: an integer, a numeric string, or null."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    msg = f"not a count: {value!r}"
    raise ValueError(msg)


def published(result: Result) -> dt.datetime:
    """When a result was published (UTC), from its ``timestamp``."""
    stamp = count(result["timestamp"])
    if stamp is None:
        msg = f"result {result['id']} has no timestamp: no date filter can judge it"
        raise ValueError(msg)
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc)


def date_bound(value: t.Any) -> dt.date | dt.datetime:
    """A date bound as given: a whole day (a ``date``) or an instant (an aware datetime)."""
    if isinstance(value, dt.datetime):
        instant = value
    elif isinstance(value, dt.date):
        return value
    elif isinstance(value, str) and _DATE.fullmatch(value.strip()):
        text = value.strip().replace("-", "")
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    elif isinstance(value, str):
        instant = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        msg = f"not a date or datetime: {value!r}"
        raise ValueError(msg)
    if instant.tzinfo is None:
        msg = f"a datetime bound needs its time zone: {value!r}"
        raise ValueError(msg)
    return instant


def window_start(days: int) -> dt.datetime:
    """The first instant of a ``days`` long window ending at :data:`PRESENT`."""
    return dt.datetime.fromtimestamp(PRESENT, dt.timezone.utc) - dt.timedelta(days=days)


def _on_or_after(moment: dt.datetime, bound: dt.date | dt.datetime) -> bool:
    if isinstance(bound, dt.datetime):
        return moment >= bound
    return moment.date() >= bound


def _on_or_before(moment: dt.datetime, bound: dt.date | dt.datetime) -> bool:
    if isinstance(bound, dt.datetime):
        return moment <= bound
    return moment.date() <= bound


def failed_bounds(
    result: Result,
    *,
    published_within: str | None = None,
    after_datetime: t.Any = None,
    before_datetime: t.Any = None,
    min_likes: int | None = None,
    max_likes: int | None = None,
    min_views: int | None = None,
    max_views: int | None = None,
) -> tuple[str, ...]:
    """The names of the filters ``result`` fails (empty: it matches them all)."""
    failed = []
    moment = published(result)
    days = WINDOW_DAYS[published_within or "all"]
    if days is not None and moment < window_start(days):
        failed.append("published_within")
    if after_datetime is not None and not _on_or_after(moment, date_bound(after_datetime)):
        failed.append("after_datetime")
    if before_datetime is not None and not _on_or_before(moment, date_bound(before_datetime)):
        failed.append("before_datetime")
    stats = result.get("stats") or {}
    for name, low, high in (("likes", min_likes, max_likes), ("views", min_views, max_views)):
        value = count(stats.get(name))
        if low is not None and (value is None or value < low):
            failed.append(f"min_{name}")
        if high is not None and (value is None or value > high):
            failed.append(f"max_{name}")
    return tuple(failed)


def ranked(results: t.Iterable[Result], sort_by: str | None) -> list[Result]:
    """``results`` (in relevance order) in the order ``sort_by`` serves them."""
    results = list(results)
    if sort_by == "relevance":
        return results
    if sort_by == "most_liked":
        return sorted(results, key=lambda r: (-(count(r["stats"]["likes"]) or 0), int(r["id"])))
    if sort_by in (None, "newest"):
        return sorted(results, key=lambda r: (-published(r).timestamp(), int(r["id"])))
    msg = f"sort_by must be one of {', '.join(SORTS)}, got {sort_by!r}"
    raise ValueError(msg)


def search_oracle(
    results: t.Sequence[Result],
    *,
    max_results: int | None = None,
    parallel_search_slices: int | None = None,
    sort_by: str | None = None,
    published_within: str | None = None,
    after_datetime: t.Any = None,
    before_datetime: t.Any = None,
    min_likes: int | None = None,
    max_likes: int | None = None,
    min_views: int | None = None,
    max_views: int | None = None,
) -> Outcome:
    """What a search whose every result is ``results`` (relevance order) serves with
    these filters, and what it leaves out and why. Unset filters are None."""
    del parallel_search_slices  # how the provider fetches, not what it finds
    if published_within is not None and published_within not in WINDOW_DAYS:
        msg = f"published_within must be one of {', '.join(WINDOW_DAYS)}, got {published_within!r}"
        raise ValueError(msg)
    bounds = {
        "published_within": published_within,
        "after_datetime": after_datetime,
        "before_datetime": before_datetime,
        "min_likes": min_likes,
        "max_likes": max_likes,
        "min_views": min_views,
        "max_views": max_views,
    }
    reasons = {str(r["id"]): failed_bounds(r, **bounds) for r in results}
    matching = ranked((r for r in results if not reasons[str(r["id"])]), sort_by)
    if max_results is not None:
        for result in matching[max_results:]:
            reasons[str(result["id"])] = (AFTER_MAX_RESULTS,)
        matching = matching[:max_results]
    kept = {str(result["id"]) for result in matching}
    return Outcome(
        kept=matching,
        excluded=[r for r in results if str(r["id"]) not in kept],
        reasons={key: why for key, why in reasons.items() if key not in kept},
    )
