"""The emulator's search filters against an oracle written from the contract
(tests/search_oracle.py): what every task serves, read over HTTP, is exactly the oracle's
kept list, and every result it leaves out fails a bound or ranked past ``max_results``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

import pytest
import requests

from tap_vidnavigator.emulator import kinds, search
from tap_vidnavigator.emulator.data import BASE_EPOCH
from tests.search_oracle import (
    AFTER_MAX_RESULTS,
    DAY,
    PRESENT,
    SORTS,
    WINDOW_DAYS,
    Outcome,
    count,
    published,
    search_oracle,
    universe,
)

# The emulator's HTTP contract and a test-only oracle: no code of the tap runs.
pytestmark = pytest.mark.python_independent

KEY = {"X-API-Key": "demo-key"}
#: 3,000 results, one every 1.5 hours or so back from the present: every window cuts it.
LONG = "cats size3000"
#: Two results published in the same second (the words' streams meet): a tie for newest.
TIED = "birds pasta size10"


def run_search(emulator, query: str, filters: dict[str, t.Any]) -> tuple[str, list[t.Any]]:
    """A search task with these filters, submitted and read to its end over HTTP."""
    body = {"query": query, **{k: v for k, v in filters.items() if v is not None}}
    answer = requests.post(f"{emulator.url}/tiktok/search", json=body, headers=KEY, timeout=10)
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["data"]["task_id"]
    results, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        data = requests.get(
            f"{emulator.url}/tiktok/search/{task_id}", params=params, headers=KEY, timeout=10
        ).json()["data"]
        assert data["task_status"] == "completed"
        results += data["results"]
        cursor = data["pagination"]["next_cursor"]
        if cursor is None:
            return task_id, results


def assert_served_is_the_oracles(emulator, query: str, filters: dict[str, t.Any]) -> Outcome:
    """The task's results are exactly the oracle's, in order; what it left out, the
    oracle left out for a reason; the emulator's ground truth says the same."""
    task_id, served = run_search(emulator, query, filters)
    everything = universe(emulator.state, query, seen_by=task_id)
    outcome = search_oracle(everything, **filters)
    assert served == outcome.kept
    assert emulator.state.search_ground_truth(query, seen_by=task_id, **filters) == outcome.kept
    served_ids = {result["id"] for result in served}
    assert len(served_ids) == len(served)  # each once
    left_out = [result for result in everything if result["id"] not in served_ids]
    assert left_out == outcome.excluded
    for result in left_out:
        assert outcome.reasons[result["id"]], result  # fails a bound, or past max_results
    return outcome


def _nth(results: list[t.Any], name: str, fraction: float) -> int:
    """A count present in the data: the ``name`` of the result ``fraction`` of the way
    through those that have one."""
    present = [count(r["stats"][name]) for r in results if r["stats"][name] is not None]
    return sorted(present)[int(len(present) * fraction)]


def _instant(results: list[t.Any], index: int, shift: float = 0.0) -> str:
    """The publish time of result ``index`` (shifted by ``shift`` seconds), ISO-8601."""
    return (published(results[index]) + dt.timedelta(seconds=shift)).isoformat()


def _day(results: list[t.Any], index: int) -> str:
    return published(results[index]).date().isoformat()


@dataclasses.dataclass(frozen=True)
class Case:
    """A search: its query, its filters (from the query's results, for bounds equal to a
    value in the data), and how much it keeps: some of the results, all, or none."""

    name: str
    query: str
    filters: t.Callable[[list[t.Any]], dict[str, t.Any]]
    keeps: str = "some"


# fmt: off
CASES = [
    # Sorts alone; omitted, newest first.
    Case("default", "cats size300", lambda r: {}, "all"),
    *(Case(f"sort {s}", "#airfryer size400", lambda r, s=s: {"sort_by": s}, "all") for s in SORTS),
    Case("newest with a tie", TIED, lambda r: {"sort_by": "newest"}, "all"),
    # Each window; "all" is no window.
    *(
        Case(f"window {w}", LONG, lambda r, w=w: {"published_within": w},
             "all" if w == "all" else "some")
        for w in WINDOW_DAYS
    ),
    # Date bounds: whole days, instants with a zone, each alone and together.
    Case("after a day", LONG, lambda r: {"after_datetime": "2025-11-15"}),
    Case("before a day", LONG, lambda r: {"before_datetime": "2025-11-15"}),
    Case("between days", LONG, lambda r: {"after_datetime": "2025-10-01",
                                          "before_datetime": "2025-10-31"}),
    Case("older day form", LONG, lambda r: {"after_datetime": "20251115"}),
    Case("instant in another zone", LONG,
         lambda r: {"after_datetime": "2025-12-20T08:30:00+02:00"}),
    Case("after the instant of a result", LONG, lambda r: {"after_datetime": _instant(r, 100)}),
    Case("before the instant of a result", LONG, lambda r: {"before_datetime": _instant(r, 100)}),
    Case("exactly the instant of a result", LONG,
         lambda r: {"after_datetime": _instant(r, 100), "before_datetime": _instant(r, 100)}),
    Case("exactly the day of a result", LONG,
         lambda r: {"after_datetime": _day(r, 100), "before_datetime": _day(r, 100)}),
    Case("half a second after a result", LONG,
         lambda r: {"after_datetime": _instant(r, 100, 0.5)}),
    Case("half a second before a result", LONG,
         lambda r: {"before_datetime": _instant(r, 100, -0.5)}),
    # Like and view bounds, at counts present in the data (inclusive), alone and together.
    Case("min likes", "#airfryer size400", lambda r: {"min_likes": _nth(r, "likes", 0.5)}),
    Case("max likes", "#airfryer size400", lambda r: {"max_likes": _nth(r, "likes", 0.5)}),
    Case("likes exactly", "#airfryer size400",
         lambda r: {"min_likes": _nth(r, "likes", 0.3), "max_likes": _nth(r, "likes", 0.3)}),
    Case("min views", "#airfryer size400", lambda r: {"min_views": _nth(r, "views", 0.5)}),
    Case("max views", "#airfryer size400", lambda r: {"max_views": _nth(r, "views", 0.5)}),
    Case("views exactly", "#airfryer size400",
         lambda r: {"min_views": _nth(r, "views", 0.7), "max_views": _nth(r, "views", 0.7)}),
    Case("min views zero leaves out null views", "#airfryer size400",
         lambda r: {"min_views": 0}),
    # max_results: cutting the sorted matches, or more than there are.
    Case("max results newest", LONG, lambda r: {"max_results": 10}),
    Case("max results relevance", LONG, lambda r: {"max_results": 7, "sort_by": "relevance"}),
    Case("max results most liked", "#airfryer size400",
         lambda r: {"max_results": 25, "sort_by": "most_liked", "min_likes": 300}),
    Case("max results above the matches", "cats size300", lambda r: {"max_results": 400}, "all"),
    Case("max results one", TIED, lambda r: {"max_results": 1}),
    # Everything at once (the SDK test's search), and other combinations.
    Case("every filter", "#airfryer size400", lambda r: {
        "max_results": 150, "parallel_search_slices": 2, "sort_by": "most_liked",
        "published_within": "last_6_months", "after_datetime": "2025-08-01",
        "before_datetime": "2025-12-31", "min_likes": 20, "max_likes": 100_000,
        "min_views": 100, "max_views": 10_000_000,
    }),
    Case("window and dates", LONG, lambda r: {"published_within": "this_month",
                                              "after_datetime": "2025-12-10",
                                              "before_datetime": "2025-12-20T12:00:00Z",
                                              "sort_by": "relevance"}),
    Case("window and likes", LONG, lambda r: {"published_within": "last_3_months",
                                              "min_likes": 400, "max_views": 20_000,
                                              "sort_by": "most_liked"}),
    # Nothing to serve.
    Case("empty query", "empty", lambda r: {"sort_by": "most_liked"}, "none"),
    Case("no result that liked", "cats size300", lambda r: {"min_likes": 10**12}, "none"),
    Case("after the present", "cats size300", lambda r: {"after_datetime": "2026-01-02"}, "none"),
    Case("dates that meet nothing", LONG,
         lambda r: {"after_datetime": "2025-06-01T00:00:00Z",
                    "before_datetime": "2025-06-01T00:30:00Z"}, "none"),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_what_a_search_serves_is_the_oracles(emulator, case):
    filters = case.filters(universe(emulator.state, case.query))
    outcome = assert_served_is_the_oracles(emulator, case.query, filters)
    total = len(outcome.kept) + len(outcome.excluded)
    if case.keeps == "none":
        assert outcome.kept == []
    elif case.keeps == "all":
        assert len(outcome.kept) == total > 0
    else:  # the filters decide something: the test would see a wrong bound
        assert 0 < len(outcome.kept) < total


def test_bounds_equal_to_a_value_in_the_data_keep_it(emulator):
    everything = universe(emulator.state, "#airfryer size400")
    likes = _nth(everything, "likes", 0.3)
    outcome = assert_served_is_the_oracles(
        emulator, "#airfryer size400", {"min_likes": likes, "max_likes": likes}
    )
    assert outcome.kept and all(count(r["stats"]["likes"]) == likes for r in outcome.kept)
    views = _nth(everything, "views", 0.7)
    outcome = assert_served_is_the_oracles(
        emulator, "#airfryer size400", {"min_views": views, "max_views": views}
    )
    assert outcome.kept and all(count(r["stats"]["views"]) == views for r in outcome.kept)
    # A result's own instant bounds it on both sides; half a second more leaves it out.
    results = universe(emulator.state, LONG)
    one = results[100]
    moment = _instant(results, 100)
    outcome = assert_served_is_the_oracles(
        emulator, LONG, {"after_datetime": moment, "before_datetime": moment}
    )
    assert outcome.kept == [one]
    for filters in (
        {"after_datetime": _instant(results, 100, 0.5)},
        {"before_datetime": _instant(results, 100, -0.5)},
    ):
        outcome = assert_served_is_the_oracles(emulator, LONG, filters)
        assert one in outcome.excluded
        assert outcome.reasons[one["id"]] == tuple(filters)
    # A day bound holds the whole UTC day, both ends.
    day = published(one).date()
    outcome = assert_served_is_the_oracles(
        emulator, LONG, {"after_datetime": day.isoformat(), "before_datetime": day.isoformat()}
    )
    assert one in outcome.kept
    assert {published(r).date() for r in outcome.kept} == {day}
    assert len(outcome.kept) == sum(published(r).date() == day for r in results) > 1


def test_ties_are_broken_by_id_and_a_null_like_count_ranks_as_zero(emulator):
    newest = assert_served_is_the_oracles(emulator, TIED, {}).kept
    stamps = [r["timestamp"] for r in newest]
    assert stamps == sorted(stamps, reverse=True)
    tied = [i for i in range(len(newest) - 1) if stamps[i] == stamps[i + 1]]
    assert tied, "the query no longer has two results published in the same second"
    for i in tied:
        assert int(newest[i]["id"]) < int(newest[i + 1]["id"])
    liked = assert_served_is_the_oracles(
        emulator, "#airfryer size400", {"sort_by": "most_liked"}
    ).kept
    likes = [count(r["stats"]["likes"]) or 0 for r in liked]
    assert likes == sorted(likes, reverse=True)
    ties = [i for i in range(len(liked) - 1) if likes[i] == likes[i + 1]]
    assert len(ties) > 10
    for i in ties:
        assert int(liked[i]["id"]) < int(liked[i + 1]["id"])
    nulls = [r for r in liked if r["stats"]["likes"] is None]
    assert nulls and liked[-len(nulls) :] == nulls  # every other result has likes > 0
    assert any(isinstance(r["stats"]["likes"], str) for r in liked)  # strings are counts


def test_results_published_since_the_present_are_in_every_window(emulator):
    fresh = emulator.state.publish_results("owls", 5)
    assert all(int(r["timestamp"]) > PRESENT for r in fresh)
    fresh_ids = {r["id"] for r in fresh}
    for window in WINDOW_DAYS:
        for sort_by in SORTS:
            filters = {"published_within": window, "sort_by": sort_by}
            outcome = assert_served_is_the_oracles(emulator, "owls size100", filters)
            assert fresh_ids <= set(outcome.kept_ids)
    # Young results' counts are those of the moment: the most liked one's bound splits them.
    most = max(count(r["stats"]["likes"]) or 0 for r in fresh)
    outcome = assert_served_is_the_oracles(
        emulator, "owls size100", {"published_within": "past_24_hours", "min_likes": most}
    )
    assert 0 < len(fresh_ids & set(outcome.kept_ids)) < len(fresh_ids)
    outcome = assert_served_is_the_oracles(
        emulator, "owls size100", {"after_datetime": "2026-01-01", "sort_by": "relevance"}
    )
    assert outcome.kept_ids == [r["id"] for r in fresh]  # newest first, as published


def test_windows_end_at_the_fixed_present_to_the_second():
    # The catalogue has no result on a window's first second: feed the emulator's
    # selection results that are.
    template = search.search_results("owls size1")[0]
    stamps = sorted(
        {PRESENT + 3600, PRESENT, PRESENT - 1}
        | {
            PRESENT - days * DAY + shift
            for days in WINDOW_DAYS.values()
            if days
            for shift in (-1, 0, 1)
        }
    )
    results = [
        {**template, "id": str(10**18 + i), "timestamp": stamp} for i, stamp in enumerate(stamps)
    ]
    for window in WINDOW_DAYS:
        request = kinds.SEARCH.parse({"query": "owls", "published_within": window})
        served, _ = kinds.SEARCH.select(results, request)
        outcome = search_oracle(results, published_within=window)
        assert served == outcome.kept
        days = WINDOW_DAYS[window]
        start = PRESENT - days * DAY if days else 0
        assert sorted(r["timestamp"] for r in served) == [s for s in stamps if s >= start]


def test_the_universe_is_the_generated_catalogue_in_relevance_order(emulator):
    # What the oracle starts from: the query's every result, none filtered out, in the
    # generator's order (all settled: the catalogue ends before the present).
    for query in ("cats size300", "#airfryer size400", LONG, TIED, "dance challenge", "empty"):
        everything = universe(emulator.state, query)
        assert everything == list(search.search_results(query))
        assert len(everything) == search.result_count(query)
        assert all(int(r["timestamp"]) < PRESENT for r in everything)
        assert all(len(r["id"]) == 19 and r["id"].isdigit() for r in everything)
    # With published results: those first, newest first, then the catalogue's.
    fresh = emulator.state.publish_results("cats", 3)
    everything = universe(emulator.state, "cats size300")
    assert [r["id"] for r in everything] == [r["id"] for r in fresh] + [
        r["id"] for r in search.search_results("cats size300")
    ]
    # The oracle's present, windows and sorts are the ones the emulator knows by name.
    assert PRESENT == BASE_EPOCH
    assert set(WINDOW_DAYS) == set(search.PUBLISHED_WITHIN)
    assert set(SORTS) == set(search.SORT_BY)


def test_the_oracle_refuses_what_it_cannot_judge():
    results = list(search.search_results("cats size5"))
    with pytest.raises(ValueError, match="sort_by must be one of"):
        search_oracle(results, sort_by="oldest")
    with pytest.raises(ValueError, match="published_within must be one of"):
        search_oracle(results, published_within="yesterday")
    with pytest.raises(ValueError, match="needs its time zone"):
        search_oracle(results, after_datetime="2025-12-01T10:00:00")
    with pytest.raises(ValueError, match="not a count"):
        search_oracle([{**results[0], "stats": {"likes": "many"}}], min_likes=1)
    with pytest.raises(TypeError):
        search_oracle(results, after_date="2025-12-01")  # the API's search has no such filter
    # The SDK's date and datetime objects are bounds too.
    day = published(results[0]).date()
    assert search_oracle(results, after_datetime=day) == search_oracle(
        results, after_datetime=day.isoformat()
    )
    assert AFTER_MAX_RESULTS in search_oracle(results, max_results=1).reasons[results[-1]["id"]]
