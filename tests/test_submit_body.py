"""What the tap submits, byte for byte: the field names the provider's SDK sends.

The provider's SDK (``vidnavigator`` 2.1.0, ``_core.submit_tiktok_profile_scrape``)
sends the date bounds as ``after_datetime``/``before_datetime``. A field the live API
does not know is most likely ignored in silence, and then every incremental run would
re-scrape, and pay for, each whole profile. The settings keep their names.
"""

from __future__ import annotations

from tests.conftest import assert_videos_match, base_config, run_tap


def _accepted_bodies(emulator) -> list[bytes]:
    return [body for _, body, status in emulator.state.submissions if status == 202]


def test_first_run_bodies_with_defaults_start_date_and_per_profile_overrides(emulator, tmp_path):
    config = base_config(
        emulator,
        profiles=[
            "@size30",
            {"profile_url": "@size40", "after_date": "2025-11-01", "max_likes": 90000},
            {
                "profile_url": "https://www.tiktok.com/@size50",
                "before_date": "2025-12-31",
                "max_posts": 7,
                "min_likes": 0,
            },
        ],
        max_posts=500,
        min_likes=10,
        start_date="2025-06-01",
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert _accepted_bodies(emulator) == [
        b'{"profile_url": "https://www.tiktok.com/@size30", "max_posts": 500, '
        b'"after_datetime": "2025-06-01", "min_likes": 10}',
        b'{"profile_url": "https://www.tiktok.com/@size40", "max_posts": 500, '
        b'"after_datetime": "2025-11-01", "min_likes": 10, "max_likes": 90000}',
        b'{"profile_url": "https://www.tiktok.com/@size50", "max_posts": 7, '
        b'"after_datetime": "2025-06-01", "before_datetime": "2025-12-31", "min_likes": 0}',
    ]
    # The emulator applied what was sent: the videos are exactly those filters' ground truth.
    videos = result.records("videos")
    assert_videos_match(
        videos,
        emulator,
        "https://www.tiktok.com/@size30",
        max_posts=500,
        after_datetime="2025-06-01",
        min_likes=10,
    )
    assert_videos_match(
        videos,
        emulator,
        "https://www.tiktok.com/@size40",
        max_posts=500,
        after_datetime="2025-11-01",
        min_likes=10,
        max_likes=90000,
    )
    assert_videos_match(
        videos,
        emulator,
        "https://www.tiktok.com/@size50",
        max_posts=7,
        after_datetime="2025-06-01",
        before_datetime="2025-12-31",
        min_likes=0,
    )


def test_a_bare_profile_sends_only_its_url(emulator, tmp_path):
    result = run_tap(tmp_path, base_config(emulator, profiles=["@size20"]))
    assert result.returncode == 0, result.stderr
    assert _accepted_bodies(emulator) == [b'{"profile_url": "https://www.tiktok.com/@size20"}']


def _bookmarked(profile_url: str, published_at: str) -> dict:
    return {
        "bookmarks": {
            "videos": {
                "partitions": [
                    {
                        "context": {"profile_url": profile_url},
                        "replication_key": "published_at",
                        "replication_key_value": published_at,
                    }
                ]
            }
        }
    }


def test_incremental_body_is_the_bookmark_less_lookback_unless_a_later_bound_is_set(
    emulator, tmp_path
):
    state = _bookmarked("https://www.tiktok.com/@size60", "2025-12-20T10:00:00+00:00")
    state["bookmarks"]["videos"]["partitions"] += _bookmarked(
        "https://www.tiktok.com/@size70", "2025-12-20T10:00:00+00:00"
    )["bookmarks"]["videos"]["partitions"]
    config = base_config(
        emulator,
        profiles=["@size60", {"profile_url": "@size70", "after_date": "2025-12-19"}],
        lookback_days=2,
        start_date="2025-01-01",
    )
    result = run_tap(tmp_path, config, state=state)
    assert result.returncode == 0, result.stderr
    assert _accepted_bodies(emulator) == [
        b'{"profile_url": "https://www.tiktok.com/@size60", "after_datetime": "2025-12-18"}',
        b'{"profile_url": "https://www.tiktok.com/@size70", "after_datetime": "2025-12-19"}',
    ]


def test_profile_tasks_store_the_echoed_filters_under_the_sdk_names(emulator, tmp_path):
    config = base_config(
        emulator,
        profiles=[
            {"profile_url": "@size30", "after_date": "2025-01-01", "before_date": "2025-12-31"}
        ],
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    [task] = result.records("profile_tasks")
    assert task["filters"] == {
        "max_posts": None,
        "after_datetime": "2025-01-01",
        "before_datetime": "2025-12-31",
        "min_likes": None,
        "max_likes": None,
    }
