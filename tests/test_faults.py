"""Exactly the ground truth under 20% injected faults of every kind, at several seeds."""

from __future__ import annotations

import pytest

from tap_vidnavigator.emulator import FAULT_KINDS, FaultPlan
from tests.conftest import assert_videos_match, base_config, run_tap

# @big6000: a dozen pages of 500, so faults land mid-paging as well as on submits and polls.
PROFILES = ["@big6000", "@tiktok", "@empty", "@notfound_faulty", "@size777"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("use_download_url", [True, False])
def test_faults_of_every_kind_lose_and_duplicate_nothing(
    make_emulator, tmp_path, seed, use_download_url
):
    # A slow fault outlasts request_timeout; a real answer, even on a loaded CI machine,
    # does not (a submit answered after the tap gave up would be bought twice: the API
    # has no idempotency key, so that is the API's hazard, not what this test measures).
    plan = FaultPlan(rate=0.2, kinds=FAULT_KINDS, seed=seed, retry_after=0.1, slow_seconds=6.0)
    emulator = make_emulator(processing_seconds=0.5, faults=plan)
    config = base_config(
        emulator,
        profiles=PROFILES,
        page_size=500,
        request_timeout=5.0,
        use_download_url=use_download_url,
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr[-4000:]
    videos = result.records("videos")
    for profile in PROFILES:
        assert_videos_match(videos, emulator, f"https://www.tiktok.com/{profile}")
    assert len(videos) == len({v["id"] for v in videos})
    assert sorted(r["profile_url"] for r in result.records("profile_tasks")) == sorted(
        f"https://www.tiktok.com/{p}" for p in PROFILES
    )
    counters = emulator.counters()
    assert counters.submits == len(PROFILES)  # no extra submit
    assert counters.leaked_keys == 0
    injected = sum(emulator.faults_injected.values())
    assert injected > 0
    assert result.stderr.count("Retrying ") >= injected - emulator.faults_injected["reset"] - (
        0 if not use_download_url else counters.downloads + 5
    )
