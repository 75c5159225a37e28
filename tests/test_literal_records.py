"""Every typer and row builder against rows written out by hand.

The other tests compare records with the emulator's ground truth passed through the same
typer: they catch a wrong value served, not a wrong typing. Here each builder gets a
handful of hand-made API values (odd shapes included) and the exact row it must make,
written from the contract (docs/, CONTRACT.md), not from the code under test.
"""

from __future__ import annotations

from tap_vidnavigator.enrichment_state import Candidate
from tap_vidnavigator.records.account_usage import account_usage_record
from tap_vidnavigator.records.profiles import PROFILE_KIND, video_typer
from tap_vidnavigator.records.searches import SEARCH_KIND, search_result_typer
from tap_vidnavigator.records.transcripts import empty_row, transcript_row
from tap_vidnavigator.records.video_stats import TaskObservations

QUERY = "#airfryer size3"

SEARCH_RAWS = [
    {
        "id": "7400000000000000001",
        "timestamp": 1_767_225_599,
        "published_at": "2025-12-31T23:59:59Z",
        "item_type": 0,
        "description": "crispy 🍟 in 8 min #airfryer",
        "author": {"id": 123, "unique_id": "chef.a", "nickname": "Chef A", "sec_uid": "MS4w"},
        "stats": {"views": "1,204", "likes": 88, "comments": "7", "shares": 0, "collects": None},
        "music": {"id": "m1", "title": "original sound", "author_name": "Chef A", "duration": 15},
        "duration": "15.2",
        "hashtags": ["airfryer", None, "fries"],
        "url": "https://www.tiktok.com/@chef.a/video/7400000000000000001",
        "extra": "dropped",
    },
    {
        # The oldest shape: no published_at, no author, no music, counts missing.
        "id": 7400000000000000002,
        "timestamp": "1700000000",
        "description": None,
        "stats": {"views": None},
        "hashtags": None,
        "url": None,
    },
]

SEARCH_RECORDS = [
    {
        "query": QUERY,
        "id": "7400000000000000001",
        "task_id": "tt_search_1",
        "published_at": "2025-12-31T23:59:59+00:00",
        "timestamp": 1_767_225_599,
        "item_type": 0,
        "description": "crispy 🍟 in 8 min #airfryer",
        "author_id": "123",
        "author_unique_id": "chef.a",
        "author_nickname": "Chef A",
        "author_sec_uid": "MS4w",
        "views": 1204,
        "likes": 88,
        "comments": 7,
        "shares": 0,
        "collects": None,
        "music_id": "m1",
        "music_title": "original sound",
        "music_author_name": "Chef A",
        "music_duration": 15,
        "duration": 15.2,
        "hashtags": ["airfryer", "fries"],
        "url": "https://www.tiktok.com/@chef.a/video/7400000000000000001",
    },
    {
        "query": QUERY,
        "id": "7400000000000000002",
        "task_id": "tt_search_1",
        "published_at": "2023-11-14T22:13:20+00:00",
        "timestamp": 1_700_000_000,
        "item_type": None,
        "description": None,
        "author_id": None,
        "author_unique_id": None,
        "author_nickname": None,
        "author_sec_uid": None,
        "views": None,
        "likes": None,
        "comments": None,
        "shares": None,
        "collects": None,
        "music_id": None,
        "music_title": None,
        "music_author_name": None,
        "music_duration": None,
        "duration": None,
        "hashtags": None,
        "url": None,
    },
]


def test_search_results_are_typed_as_written_by_hand():
    typer = search_result_typer("tt_search_1", QUERY)
    assert [typer(dict(raw)) for raw in SEARCH_RAWS] == SEARCH_RECORDS


PROFILE = "https://www.tiktok.com/@ab"
VIDEO = {
    "id": "7300000000000000001",
    "timestamp": 1_700_000_000,
    "views": "2,000",
    "likes": 10,
    "comments": None,
    "reposts": "3",
    "url": "https://www.tiktok.com/@ab/video/7300000000000000001",
}


def test_video_stats_rows_as_written_by_hand():
    """One row per observation, from a profile's video and from a search result."""
    profile_rows = TaskObservations(
        PROFILE_KIND.name,
        PROFILE_KIND.result_schema["properties"],
        {"profile_url": PROFILE, "task_id": "tt_profile_1"},
        "2026-12-07T00:00:01Z",
    )
    video = video_typer("tt_profile_1", PROFILE)(dict(VIDEO))
    assert profile_rows.row(video) == {
        "video_id": "7300000000000000001",
        "task_id": "tt_profile_1",
        "observed_at": "2026-12-07T00:00:01+00:00",
        "source": "profile",
        "profile_url": PROFILE,
        "query": None,
        "views": 2000,
        "likes": 10,
        "comments": None,
        "reposts": 3,
        "shares": None,
        "collects": None,
    }
    search_rows = TaskObservations(
        SEARCH_KIND.name,
        SEARCH_KIND.result_schema["properties"],
        {"query": QUERY, "task_id": "tt_search_1"},
        "2026-12-06T23:59:59+00:00",
    )
    assert [search_rows.row(record) for record in SEARCH_RECORDS] == [
        {
            "video_id": "7400000000000000001",
            "task_id": "tt_search_1",
            "observed_at": "2026-12-06T23:59:59+00:00",
            "source": "search",
            "profile_url": None,
            "query": QUERY,
            "views": 1204,
            "likes": 88,
            "comments": 7,
            "reposts": None,
            "shares": 0,
            "collects": None,
        },
        {
            "video_id": "7400000000000000002",
            "task_id": "tt_search_1",
            "observed_at": "2026-12-06T23:59:59+00:00",
            "source": "search",
            "profile_url": None,
            "query": QUERY,
            "views": None,
            "likes": None,
            "comments": None,
            "reposts": None,
            "shares": None,
            "collects": None,
        },
    ]


CANDIDATE = Candidate(
    "7300000000000000001",
    "https://www.tiktok.com/@ab/video/7300000000000000001",
    "2023-11-14T22:13:20+00:00",
    "profile",
    PROFILE,
)


def _without_fetched_at(row):
    assert row.pop("fetched_at").endswith("+00:00")  # when the tap read it: now, in UTC
    return row


def test_transcript_rows_as_written_by_hand():
    captions = {
        "transcript": [
            {"text": "hello", "start": 0.0, "end": 1.5},
            {"text": "world", "start": 1.5, "end": 2.0},
        ],
        "video_info": {
            "title": "Hi",
            "duration": "2",
            "views": "1,000",
            "selected_language": "en",
            "available_languages": ["en", "fr"],
        },
    }
    usage = {"total_credits": 0.0001}
    row = transcript_row(CANDIDATE, captions, source="captions", usage=usage)
    assert _without_fetched_at(row) == {
        "video_id": "7300000000000000001",
        "video_url": "https://www.tiktok.com/@ab/video/7300000000000000001",
        "found_by": "profile",
        "subject": PROFILE,
        "published_at": "2023-11-14T22:13:20+00:00",
        "text_source": "captions",
        "language": "en",
        "requested_language": None,
        "available_languages": ["en", "fr"],
        "segments": [
            {"text": "hello", "start": 0.0, "end": 1.5},
            {"text": "world", "start": 1.5, "end": 2.0},
        ],
        "text": "hello world",
        "duration": 2,
        "title": "Hi",
        "views": 1000,
        "no_transcript_reason": None,
        "task_id": None,
        "credits_used": 0.0001,
    }
    # Speech-to-text's text form, and a transcript without words: no text, a reason.
    spoken = {"transcript": "said aloud", "video_info": {"selected_language": "de"}}
    row = transcript_row(
        CANDIDATE, spoken, source="speech_to_text", usage=None, task_id="tt_transcribe_1"
    )
    assert _without_fetched_at(row) == {
        **dict.fromkeys(("requested_language", "available_languages", "segments")),
        **dict.fromkeys(("duration", "title", "views", "no_transcript_reason")),
        "video_id": "7300000000000000001",
        "video_url": "https://www.tiktok.com/@ab/video/7300000000000000001",
        "found_by": "profile",
        "subject": PROFILE,
        "published_at": "2023-11-14T22:13:20+00:00",
        "text_source": "speech_to_text",
        "language": "de",
        "text": "said aloud",
        "task_id": "tt_transcribe_1",
        "credits_used": None,
    }
    silent = empty_row(CANDIDATE, "no_speech", usage={"total_credits": 0.0004}, task_id="tt_t2")
    assert _without_fetched_at(silent) == {
        **dict.fromkeys(("language", "requested_language", "available_languages")),
        **dict.fromkeys(("segments", "text", "duration", "title", "views")),
        "video_id": "7300000000000000001",
        "video_url": "https://www.tiktok.com/@ab/video/7300000000000000001",
        "found_by": "profile",
        "subject": PROFILE,
        "published_at": "2023-11-14T22:13:20+00:00",
        "text_source": "none",
        "no_transcript_reason": "no_speech",
        "task_id": "tt_t2",
        "credits_used": 0.0004,
    }


def test_account_usage_rows_as_written_by_hand():
    limited = {
        "generated_at": "2026-12-07T01:02:03Z",
        "credits": {"monthly_total": 100, "monthly_remaining": "0.0003", "purchased": 1},
        "subscription": {
            "plan_id": "voyager",
            "plan_name": "Voyager",
            "interval": "month",
            "status": "active",
            "cancel_at_period_end": False,
        },
        "billing_period": {"start": "2026-12-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
        "usage": {
            "standard_request": {"used": 12, "limit": None},
            "transcription_hour": {"used": "0.25"},
            "new_meter": {"used": 2},
            "junk": 5,
        },
    }
    assert account_usage_record(limited, "2026-12-07T01:02:04+00:00") == {
        "read_at": "2026-12-07T01:02:04+00:00",
        "generated_at": "2026-12-07T01:02:03+00:00",
        "balance": 1.0003,
        "monthly_total": 100,
        "monthly_remaining": 0.0003,
        "monthly_unlimited": False,
        "purchased": 1,
        "plan_id": "voyager",
        "plan_name": "Voyager",
        "plan_interval": "month",
        "subscription_status": "active",
        "cancel_at_period_end": False,
        "period_start": "2026-12-01T00:00:00+00:00",
        "period_end": "2027-01-01T00:00:00+00:00",
        "standard_request_used": 12,
        "residential_request_used": None,
        "search_request_used": None,
        "analysis_request_used": None,
        "transcription_hour_used": 0.25,
        "counters": {"standard_request": 12, "transcription_hour": 0.25, "new_meter": 2},
    }
    unlimited = {
        "credits": {"monthly_total": "unlimited", "monthly_remaining": "unlimited", "purchased": 0},
        "subscription": {"plan_id": "odyssey", "cancel_at_period_end": "no"},
    }
    assert account_usage_record(unlimited, "2026-12-07T01:02:04+00:00") == {
        **dict.fromkeys(("generated_at", "balance", "monthly_total", "monthly_remaining")),
        **dict.fromkeys(("plan_name", "plan_interval", "subscription_status")),
        **dict.fromkeys(("cancel_at_period_end", "period_start", "period_end", "counters")),
        **dict.fromkeys(f"{meter}_used" for meter in (
            "standard_request", "residential_request", "search_request", "analysis_request",
            "transcription_hour")),
        "read_at": "2026-12-07T01:02:04+00:00",
        "monthly_unlimited": True,
        "purchased": 0,
        "plan_id": "odyssey",
    }  # fmt: skip
