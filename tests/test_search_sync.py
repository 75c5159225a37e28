"""Keyword searches beside profiles: exact records, bodies, credits, state, bad input."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from tap_vidnavigator.records.searches import search_result_typer
from tests.conftest import HELD, assert_videos_match, base_config, run_tap
from tests.search_oracle import expected
from tests.test_state import _run_until

CATS = {"query": "cats", "sort_by": "most_liked", "published_within": "last_6_months",
        "min_likes": 10}  # fmt: skip
CATS_FILTERS = {"sort_by": "most_liked", "published_within": "last_6_months", "min_likes": 10}


def _accepted(emulator) -> list[bytes]:
    return [body for _, body, status in emulator.state.submissions if status == 202]


def assert_results_match(records, emulator, query: str, **filters) -> None:
    """The search_results of one query are exactly what the search oracle keeps of the
    results its task saw (served order, each once, field by field), and none of the
    results it leaves out."""
    mine = [r for r in records if r["query"] == query]
    tasks = {r["task_id"] for r in mine}
    assert len(tasks) <= 1, f"{query!r} came from {len(tasks)} tasks"
    outcome = expected(emulator.state, query, seen_by=next(iter(tasks), None), **filters)
    assert [r["id"] for r in mine] == outcome.kept_ids  # served order, each once
    assert not {r["id"] for r in mine} & outcome.excluded_ids
    for record, raw in zip(mine, outcome.kept, strict=True):
        assert record == search_result_typer(record["task_id"], query)(raw)


def test_profiles_and_searches_in_one_run_are_exactly_the_ground_truth(make_emulator, tmp_path):
    emulator = make_emulator(processing_polls=1, plan="voyager")
    searches = ["#airfryer size150", CATS, "empty", "fail on purpose", "  #airfryer   size150 "]
    config = base_config(emulator, profiles=["@size40"], searches=searches)
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size40")
    results = result.records("search_results")
    assert_results_match(results, emulator, "#airfryer size150")
    assert_results_match(results, emulator, "cats", **CATS_FILTERS)
    assert (
        len({(r["query"], r["id"]) for r in results})
        == len(results)
        == 150 + len(expected(emulator.state, "cats", **CATS_FILTERS).kept)
    )
    # The same query twice (spacing aside) is submitted once; the SDK's names and order.
    assert _accepted(emulator) == [
        b'{"profile_url": "https://www.tiktok.com/@size40"}',
        b'{"query": "#airfryer size150"}',
        b'{"query": "cats", "sort_by": "most_liked", "published_within": "last_6_months", '
        b'"min_likes": 10}',
        b'{"query": "empty"}',
        b'{"query": "fail on purpose"}',
    ]
    tasks = {r["query"]: r for r in result.records("search_tasks")}
    assert tasks["fail on purpose"]["task_status"] == "failed"
    assert tasks["fail on purpose"]["error_code"] == "search_failed"
    assert tasks["empty"]["stats"]["results_count"] == 0
    assert tasks["cats"]["filters"]["sort_by"] == "most_liked"
    for query, filters in (("#airfryer size150", {}), ("cats", CATS_FILTERS)):
        usage = emulator.state.expected_search_usage(query, **filters)
        assert tasks[query]["credits_used"] == usage["total_credits"]
    assert "Run summary: 4 search_tasks records (3 completed, 1 failed)" in result.stderr
    assert emulator.counters().credits_charged == sum(
        decimal.Decimal(str(task.usage["total_credits"])) for task in emulator.state.tasks.values()
    )


def test_a_search_is_incremental_per_query(emulator, tmp_path):
    config = base_config(emulator, searches=["#airfryer size300"], lookback_days=2)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    newest = max(r["published_at"] for r in first.records("search_results"))
    partitions = first.last_state["bookmarks"]["search_results"]["partitions"]
    assert partitions == [
        {
            "context": {"query": "#airfryer size300"},
            "replication_key": "published_at",
            "replication_key_value": newest,
        }
    ]
    second = run_tap(tmp_path, config, state=first.last_state)
    assert second.returncode == 0, second.stderr
    floor = (dt.datetime.fromisoformat(newest).date() - dt.timedelta(days=2)).isoformat()
    assert _accepted(emulator)[-1] == (
        b'{"query": "#airfryer size300", "after_datetime": "' + floor.encode() + b'"}'
    )
    assert_results_match(
        second.records("search_results"), emulator, "#airfryer size300", after_datetime=floor
    )
    assert 0 < len(second.records("search_results")) < 300


def test_top_level_filters_are_a_searchs_defaults_unless_it_sets_its_own(emulator, tmp_path):
    config = base_config(
        emulator,
        searches=["dogs", {"query": "birds", "min_likes": 5, "max_views": 10_000_000}],
        min_likes=50,
        max_posts=3,  # a profile filter: not a search's
        after_date="2025-10-01",
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert _accepted(emulator) == [
        b'{"query": "dogs", "after_datetime": "2025-10-01", "min_likes": 50}',
        b'{"query": "birds", "after_datetime": "2025-10-01", "min_likes": 5, '
        b'"max_views": 10000000}',
    ]
    results = result.records("search_results")
    assert_results_match(results, emulator, "dogs", after_datetime="2025-10-01", min_likes=50)


def test_search_task_ids_are_read_without_submitting(emulator, tmp_path):
    import requests

    task_id = requests.post(
        f"{emulator.url}/tiktok/search",
        json={"query": "owls size25"},
        headers={"X-API-Key": "demo-key"},
        timeout=10,
    ).json()["data"]["task_id"]
    result = run_tap(tmp_path, base_config(emulator, search_task_ids=[task_id]))
    assert result.returncode == 0, result.stderr
    assert [r["task_id"] for r in result.records("search_tasks")] == [task_id]
    assert_results_match(result.records("search_results"), emulator, "owls size25")
    assert emulator.counters().submits == 1  # the one above


@pytest.mark.parametrize(
    ("searches", "message"),
    [
        ([""], "searches[0] has an empty query: give a keyword or #hashtag"),
        ([{"query": "x", "sort_by": "oldest"}],
         "searches[0].sort_by must be one of relevance, most_liked, newest, got 'oldest'"),
        ([{"query": "x", "published_within": "yesterday"}],
         "searches[0].published_within must be one of all, past_24_hours, this_week, "
         "this_month, last_3_months, last_6_months, got 'yesterday'"),
        ([{"query": "x", "min_views": -1}], "searches[0].min_views must be >= 0, got -1"),
        (["ok", {"query": "x", "min_views": 9, "max_views": 2}],
         "searches[1].min_views 9 is greater than searches[1].max_views 2"),
        ([{"query": "x", "min_likes": 9, "max_likes": 2}],
         "searches[0].min_likes 9 is greater than searches[0].max_likes 2"),
        ([{"query": "x", "max_results": 0}], "searches[0].max_results must be >= 1, got 0"),
        ([{"query": "x", "colour": "red"}], "searches[0] has unknown keys ['colour']"),
        ([{"query": "x", "after_date": "2025-13-01"}],
         "searches[0].after_date must be a date written YYYY-MM-DD"),
        ([7], "7 is not valid under any of the given schemas in config['searches'][0]"),
    ],
)  # fmt: skip
def test_every_bad_search_value_is_refused_before_any_request(
    emulator, tmp_path, searches, message
):
    result = run_tap(tmp_path, base_config(emulator, searches=searches))
    assert result.returncode == 1
    assert message in result.stderr
    assert "invalid configuration" in result.last_line
    assert emulator.state.submissions == [] and emulator.counters().polls == 0


def test_a_run_killed_mid_search_resumes_without_paying_twice(make_emulator, tmp_path):
    emulator = make_emulator(processing_seconds=HELD)  # processing until completed
    config = base_config(emulator, searches=["#airfryer size400", "cats size90"])

    def both_saved(messages):
        states = [m for m in messages if m["type"] == "STATE"]
        in_flight = states[-1]["value"]["bookmarks"].get("search_tasks", {}) if states else {}
        return len(in_flight.get("in_flight", {})) == 2

    killed = _run_until(tmp_path, config, both_saved)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    assert emulator.counters().submits == 2
    assert len(emulator.complete()) == 2  # both were processing when the run was killed
    resumed = run_tap(tmp_path, config, state=state)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("Resuming task") == 2
    assert emulator.counters().submits == 2  # nothing paid twice
    results = resumed.records("search_results")
    assert_results_match(results, emulator, "#airfryer size400")
    assert_results_match(results, emulator, "cats size90")
    assert resumed.last_state["bookmarks"].get("search_tasks", {}).get("in_flight", {}) == {}
