"""The tap end to end against the emulator: exact record sets, paging, download, concurrency."""

from __future__ import annotations

import pytest

from tap_vidnavigator.records.values import iso_from_unix
from tests.conftest import (
    assert_videos_match,
    base_config,
    create_task,
    expected_videos,
    run_tap,
)

PROFILES = [
    "https://www.tiktok.com/@tiktok",
    "@empty",
    "https://www.tiktok.com/@notfound_gone",
    {"profile_url": "@big1500", "min_likes": 100, "max_posts": 900},
]


def test_several_profiles_exact(emulator, tmp_path):
    result = run_tap(tmp_path, base_config(emulator, profiles=PROFILES, page_size=100))
    assert result.returncode == 0, result.stderr
    tasks = {r["profile_url"]: r for r in result.records("profile_tasks")}
    assert set(tasks) == {
        "https://www.tiktok.com/@tiktok",
        "https://www.tiktok.com/@empty",
        "https://www.tiktok.com/@notfound_gone",
        "https://www.tiktok.com/@big1500",
    }
    failed = tasks["https://www.tiktok.com/@notfound_gone"]
    assert failed["task_status"] == "failed" and failed["error_code"] == "user_not_found"
    assert "notfound_gone" in failed["error_message"]
    assert "WARNING" in result.stderr and "@notfound_gone failed: user_not_found" in result.stderr
    done = tasks["https://www.tiktok.com/@big1500"]
    assert done["filters"]["min_likes"] == 100 and done["filters"]["max_posts"] == 900
    assert done["stats"]["videos_matched"] == len(
        expected_videos(emulator, "https://www.tiktok.com/@big1500", min_likes=100, max_posts=900)
    )
    assert (
        done["uploader"] == "big1500"
        and done["follower_count"] == done["profile"]["follower_count"]
    )
    assert "download_url" not in done
    videos = result.records("videos")
    assert_videos_match(videos, emulator, "https://www.tiktok.com/@tiktok")
    assert_videos_match(
        videos, emulator, "https://www.tiktok.com/@big1500", min_likes=100, max_posts=900
    )
    assert not [v for v in videos if v["profile_url"].endswith(("@empty", "@notfound_gone"))]
    assert emulator.counters().submits == 4
    assert emulator.counters().leaked_keys == 0


@pytest.mark.parametrize("page_size", [1, 7, 500])
def test_page_sizes_give_the_same_records(make_emulator, tmp_path, page_size):
    emulator = make_emulator(offer_download_url=False)
    profile = "https://www.tiktok.com/@size1003"
    result = run_tap(tmp_path, base_config(emulator, profiles=[profile], page_size=page_size))
    assert result.returncode == 0, result.stderr
    assert_videos_match(result.records("videos"), emulator, profile)
    pages = -(-1003 // page_size)
    assert emulator.counters().page_requests == pages
    assert emulator.counters().downloads == 0


@pytest.mark.parametrize("shape", ["task", "envelope", "list"])
def test_download_and_cursor_paths_give_identical_records(make_emulator, tmp_path, shape):
    profiles = ["https://www.tiktok.com/@size2222", "https://www.tiktok.com/@empty"]
    emulator = make_emulator(download_shape=shape)
    downloaded = run_tap(tmp_path, base_config(emulator, profiles=profiles))
    paged = run_tap(tmp_path, base_config(emulator, profiles=profiles, use_download_url=False))
    assert downloaded.returncode == paged.returncode == 0, downloaded.stderr + paged.stderr

    def strip(records):
        return sorted(({**r, "task_id": None} for r in records), key=lambda r: r["id"])

    assert strip(downloaded.records("videos")) == strip(paged.records("videos"))
    assert_videos_match(downloaded.records("videos"), emulator, profiles[0])
    counters = emulator.counters()
    # One per completed task of the first run whose terminal poll did not already hold
    # every video: @empty's holds all of its none.
    assert counters.downloads == 1
    assert counters.leaked_keys == 0
    assert counters.page_requests == 2 + 2 + 4  # terminal polls, then 2222 videos at 500 a page


def test_expired_download_link_falls_back_to_paging(make_emulator, tmp_path):
    emulator = make_emulator(download_ttl_seconds=-5)  # every link is born expired
    profile = "https://www.tiktok.com/@size1300"
    result = run_tap(tmp_path, base_config(emulator, profiles=[profile]))
    assert result.returncode == 0, result.stderr
    assert "Could not use the download" in result.stderr and "HTTP 403" in result.stderr
    assert_videos_match(result.records("videos"), emulator, profile)
    assert "X-Goog-Signature=" not in result.stderr.replace("X-Goog-Signature=[REDACTED]", "")


def test_the_pages_older_video_shape_is_accepted(make_emulator, tmp_path):
    emulator = make_emulator(modern_fields=False)
    profile = "https://www.tiktok.com/@tiktok"
    result = run_tap(tmp_path, base_config(emulator, profiles=[profile]))
    assert result.returncode == 0, result.stderr
    records = result.records("videos")
    truth = expected_videos(emulator, profile)
    assert {r["id"] for r in records} == set(truth)
    for record in records:
        assert "published_at" not in truth[record["id"]]
        assert record["published_at"] == iso_from_unix(int(truth[record["id"]]["timestamp"]))


def test_task_ids_are_read_without_submitting(emulator, tmp_path):
    created = create_task(emulator, "size321")
    result = run_tap(tmp_path, base_config(emulator, task_ids=[created]))
    assert result.returncode == 0, result.stderr
    assert [r["task_id"] for r in result.records("profile_tasks")] == [created]
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size321")
    assert emulator.counters().submits == 1  # only the one made above
    # Its usage is asked for too: what it cost, though this run paid nothing.
    [task] = result.records("profile_tasks")
    expected = emulator.state.expected_usage("https://www.tiktok.com/@size321")
    # 321 videos are 11 listing pages of 30: 11 standard requests, 1 credit per 10,000.
    assert task["credits_used"] == expected["total_credits"] == 0.0011
    assert task["charges"] == [
        {"service_type": "standard_request", "quantity": 11, "credits": 0.0011,
         "waived": False, "credits_saved": 0},
    ]  # fmt: skip
    assert "credits: 0.0011 used by 1 task(s)" in result.stderr


def test_the_same_request_twice_is_submitted_once(emulator, tmp_path):
    profiles = [
        "@tiktok",
        "https://www.tiktok.com/@TikTok",
        {"profile_url": "@tiktok"},
        {"profile_url": "@tiktok", "max_posts": 5},
    ]
    result = run_tap(tmp_path, base_config(emulator, profiles=profiles))
    assert result.returncode == 0, result.stderr
    assert emulator.counters().submits == 2
    assert len(result.records("profile_tasks")) == 2


def test_polls_all_tasks_in_one_loop(make_emulator, tmp_path):
    # Each task answers processing to three polls: a loop that waited on one task before
    # submitting the next would finish a task before the last submit.
    emulator = make_emulator(processing_polls=3)
    profiles = [f"@concurrent{i}" for i in range(8)]
    result = run_tap(tmp_path, base_config(emulator, profiles=profiles))
    assert result.returncode == 0, result.stderr
    timeline = emulator.state.timeline()
    submits = [when for when, kind, _ in timeline if kind == "submitted"]
    finishes = [when for when, kind, _ in timeline if kind == "finished"]
    assert len(submits) == len(finishes) == 8
    assert max(submits) <= min(finishes)  # every submit before the first completion
    for profile in profiles:
        url = f"https://www.tiktok.com/{profile}"
        assert_videos_match(result.records("videos"), emulator, url)
    # Three processing answers a task, no more: a completed task is not polled again.
    assert emulator.counters().polls == 8 * 3


def test_max_active_tasks_is_respected(make_emulator, tmp_path):
    # A task completes at its second poll, whatever the clock: the tap's cap of 2 is
    # reached (both submitted before either is polled) and never passed.
    emulator = make_emulator(processing_polls=1)
    profiles = [f"@limited{i}" for i in range(5)]
    result = run_tap(tmp_path, base_config(emulator, profiles=profiles, max_active_tasks=2))
    assert result.returncode == 0, result.stderr
    events = sorted(
        [(when, +1) for when, kind, _ in emulator.state.timeline() if kind == "submitted"]
        + [(when, -1) for when, kind, _ in emulator.state.timeline() if kind == "finished"]
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2
    assert len(result.records("profile_tasks")) == 5
    assert emulator.counters().refused_submits == 0  # the tap's own cap, not the API's


def test_too_many_active_jobs_waits_then_submits(make_emulator, tmp_path):
    # Tasks stay processing until polled: the API's cap of 2 is hit at the third submit.
    emulator = make_emulator(processing_polls=1, max_active_tasks=2)
    profiles = [f"@queued{i}" for i in range(5)]
    result = run_tap(tmp_path, base_config(emulator, profiles=profiles, max_active_tasks=10))
    assert result.returncode == 0, result.stderr
    assert "too many active jobs" in result.stderr
    assert emulator.counters().submits == 5
    # How often the API refuses depends on when the tap tries again; each refusal is seen
    # and told once, and the third submit, before any poll, is always refused.
    refused = emulator.counters().refused_submits
    assert refused >= 1
    assert result.stderr.count("The API has too many active jobs for this key") == refused
    assert len(result.records("profile_tasks")) == 5
    for profile in profiles:
        assert_videos_match(result.records("videos"), emulator, f"https://www.tiktok.com/{profile}")


def test_progress_is_logged(emulator, tmp_path):
    result = run_tap(tmp_path, base_config(emulator, profiles=["@tiktok", "@notfound_x"]))
    assert result.returncode == 0
    for fragment in (
        "Submitted task",
        "completed:",
        "failed: user_not_found",
        "Run summary: 2 profile_tasks records",
    ):
        assert fragment in result.stderr, fragment
