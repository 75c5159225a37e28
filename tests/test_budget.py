"""The budget through the tap against the emulator's price table: exact caps, the
summary people read, and the next run picking up what was skipped."""

from __future__ import annotations

import decimal
import json

from tests.conftest import assert_videos_match, base_config, run_tap

#: One listing page each (30 videos or fewer): 0.0001 credits a task.
ONE_PAGE = ["@size30", "@size20", "@size25", "@size10", "@size15"]
URLS = [f"https://www.tiktok.com/{p}" for p in ONE_PAGE]


def _spent(emulator) -> decimal.Decimal:
    return emulator.counters().credits_charged


def test_max_credits_per_run_stops_submits_at_the_cap(make_emulator, tmp_path):
    emulator = make_emulator(processing_polls=1, plan="voyager")
    config = base_config(emulator, profiles=ONE_PAGE, max_credits_per_run="0.0003")
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr  # not asked to fail
    assert emulator.counters().submits == 3 and _spent(emulator) == decimal.Decimal("0.0003")
    assert first.last_line.endswith(
        "Budget: 2 request(s) not submitted, max_credits_per_run 0.0003 reached: 0.0003 "
        "credits settled + 0 estimated for 0 running task(s) >= the cap of 0.0003. Skipped "
        f"profile: {URLS[3]}, {URLS[4]}. They are kept in the STATE and submitted first on "
        "the next run."
    )
    for url in URLS[:3]:
        assert_videos_match(first.records("videos"), emulator, url)
    assert list(first.last_state["bookmarks"]["profile_tasks"]["skipped"]) == URLS[3:]
    # The account's balance, read before the run bought anything.
    [usage] = first.records("account_usage")
    assert (usage["balance"], usage["monthly_unlimited"], usage["plan_id"]) == (
        80,
        False,
        "voyager",
    )

    # The next run submits the skipped profiles first: they are paid for, whatever else
    # the cap leaves out this time.
    second = run_tap(tmp_path, {**config, "fail_when_over_budget": True}, state=first.last_state)
    assert second.returncode == 1
    assert "budget reached, 2 request(s) not submitted (fail_when_over_budget)" in second.last_line
    bought = [json.loads(body)["profile_url"] for _, body, _ in emulator.state.submissions]
    assert bought == [*URLS[:3], URLS[3], URLS[4], URLS[0]]
    [usage] = second.records("account_usage")
    assert usage["balance"] == 79.9997 and usage["standard_request_used"] == 3


def test_min_credits_balance_keeps_the_floor(make_emulator, tmp_path):
    # 0.0002 above the floor: two one-page tasks.
    emulator = make_emulator(plan="trial", monthly_remaining=0, purchased_credits=1.0002)
    config = base_config(emulator, profiles=ONE_PAGE, min_credits_balance=1)
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert emulator.counters().submits == 2 and _spent(emulator) == decimal.Decimal("0.0002")
    assert "min_credits_balance 1 (balance 1.0002 before this run) reached" in result.last_line
    assert emulator.counters().usage_reads == 1  # the account_usage row served the floor
