"""Typing of API values into records, field by field."""

from __future__ import annotations

import datetime as dt
import logging
import math

import pytest

from tap_vidnavigator.records import values as records
from tap_vidnavigator.records.profiles import (
    PROFILE_TASK_SCHEMA,
    VIDEOS,
    VideoTaskInfo,
    profile_task_record,
)
from tap_vidnavigator.records.values import (
    RecordError,
    iso_from_unix,
    to_datetime,
    to_int,
    to_number,
)
from tap_vidnavigator.results import SeenIds

INFO = VideoTaskInfo("tt_1", "https://www.tiktok.com/@ab", "ab")


def video_record(raw, info):
    return VIDEOS.typer(info)(raw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        ("5", 5),
        (" 1,234 ", 1234),
        ("12.0", 12),
        (3.9, 3),
        (None, None),
        ("", None),
        ("n/a", None),
        (True, None),
        (float("nan"), None),
        (2**70, None),
        ("1e3", 1000),
        ([], None),
    ],
)
def test_to_int(value, expected):
    assert to_int(value) == expected


def test_to_number_and_datetime():
    assert to_number("12.5") == 12.5 and to_number(7) == 7 and to_number("x") is None
    assert to_number(float("inf")) is None
    assert to_datetime("2024-01-02T03:04:05Z") == "2024-01-02T03:04:05+00:00"
    assert to_datetime("2024-01-02T05:04:05+02:00") == "2024-01-02T03:04:05+00:00"
    assert to_datetime("yesterday") is None


@pytest.mark.parametrize(
    "seconds",
    [0, 59, 60, 3_599, 3_600, 43_261, 86_399, 86_400, 1_700_000_000, 1_767_225_599, -1, -86_401],
)
def test_iso_from_unix_matches_datetime(seconds):
    assert iso_from_unix(seconds) == dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()


def test_video_record_types_every_field():
    raw = {
        "id": 7300000000000000001,
        "track": None,
        "artists": ["a", None, 3],
        "duration": "12.5",
        "title": 42,
        "description": "multi\nline",
        "timestamp": "1700000000",
        "views": "1,000",
        "likes": None,
        "reposts": 2.0,
        "comments": "x",
        "thumbnails": [{"url": "u"}, "junk"],
        "url": "https://www.tiktok.com/@ab/video/7300000000000000001",
        "unexpected": "dropped",
    }
    assert video_record(raw, INFO) == {
        "id": "7300000000000000001",
        "task_id": "tt_1",
        "profile_url": "https://www.tiktok.com/@ab",
        "uploader": "ab",
        "published_at": "2023-11-14T22:13:20+00:00",
        "timestamp": 1_700_000_000,
        "title": "42",
        "description": "multi\nline",
        "track": None,
        "artists": ["a", "3"],
        "duration": 12.5,
        "views": 1000,
        "likes": None,
        "reposts": 2,
        "comments": None,
        "thumbnails": [{"url": "u"}],
        "url": "https://www.tiktok.com/@ab/video/7300000000000000001",
    }


def test_published_at_from_the_newer_api_wins(monkeypatch, caplog):
    monkeypatch.setattr(records, "_mismatch_reported", False)
    record = video_record({"id": "1", "timestamp": 0, "published_at": "2025-01-01T00:00:00Z"}, INFO)
    assert record["published_at"] == "2025-01-01T00:00:00+00:00"


def test_published_at_and_timestamp_that_disagree_are_reported_once(monkeypatch, caplog):
    monkeypatch.setattr(records, "_mismatch_reported", False)
    agreeing = {"id": "1", "timestamp": 1735689600, "published_at": "2025-01-01T00:00:00.250Z"}
    with caplog.at_level(logging.WARNING, logger="tap-vidnavigator"):
        assert video_record(dict(agreeing), INFO)["published_at"] == (
            "2025-01-01T00:00:00.250000+00:00"
        )
        assert caplog.records == []
        for video_id in ("2", "3"):
            off = {**agreeing, "id": video_id, "timestamp": 1735689600 - 3600}
            assert video_record(off, INFO)["published_at"] == "2025-01-01T00:00:00.250000+00:00"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        "Video 2 has published_at 2025-01-01T00:00:00.250Z but timestamp 1735686000"
        in (warnings[0])
    )
    assert "using published_at" in warnings[0]


def test_unusable_published_at_falls_back_to_timestamp():
    record = video_record({"id": "1", "timestamp": 86400, "published_at": "soon"}, INFO)
    assert record["published_at"] == "1970-01-02T00:00:00+00:00"


@pytest.mark.parametrize(
    "raw", [{"title": "x"}, {"id": ""}, {"id": None}, {"id": True}, "text", None]
)
def test_video_without_id_is_refused(raw):
    with pytest.raises(RecordError):
        video_record(raw, INFO)


def test_task_record_drops_the_download_url_and_reads_both_error_forms():
    data = {
        "task_id": "tt_9",
        "task_status": "failed",
        "profile_url": "https://www.tiktok.com/@ab",
        "download_url": "https://storage.example/x?X-Goog-Signature=s",
        "error_message": "old form",
        "error": {"error": "user_not_found", "message": "new form", "http_status": 404},
        "created_at": "2026-01-01T00:00:00Z",
    }
    record = profile_task_record(data, "https://www.tiktok.com/@ab")
    assert "download_url" not in record
    assert (record["error_code"], record["error_message"]) == ("user_not_found", "new form")
    legacy = profile_task_record({**data, "error": None}, "https://www.tiktok.com/@ab")
    assert (legacy["error_code"], legacy["error_message"]) == (None, "old form")
    assert record["created_at"] == "2026-01-01T00:00:00+00:00"
    assert record["error_http_status"] == 404 and legacy["error_http_status"] is None


@pytest.mark.parametrize(
    "echo",
    [
        {"after_datetime": "2024-01-01", "before_datetime": None, "max_posts": "50"},
        {"after_date": "2024-01-01", "before_date": None, "max_posts": 50},  # the page's names
    ],
)
def test_task_record_keeps_echoed_filters_under_either_name(echo):
    record = profile_task_record({"task_id": "t", "filters": {**echo, "min_likes": 10}}, "")
    assert record["filters"] == {
        "max_posts": 50,
        "after_datetime": "2024-01-01",
        "before_datetime": None,
        "min_likes": 10,
        "max_likes": None,
    }


def test_task_record_types_usage_and_webhook():
    usage = {
        "charges": [
            {"service_type": "tiktok_profile_scrape", "quantity": 1, "credits": "1",
             "waived": False, "credits_saved": 0},
            {"service_type": "tiktok_profile_videos", "quantity": 250, "credits": 3,
             "waived": False, "credits_saved": 0, "tokens": None},
            "not a charge",
        ],
        "total_credits": 4,
        "credits_remaining_after": 96.5,
        "waived": None,
    }  # fmt: skip
    webhook = {"status": "delivered", "attempts": "2", "response_status": 200,
               "last_error": None, "delivered_at": "2026-01-01T00:00:05Z"}  # fmt: skip
    record = profile_task_record({"task_id": "t", "webhook": webhook}, "", usage)
    assert (record["credits_used"], record["credits_remaining_after"]) == (4, 96.5)
    assert record["credits_saved"] is None
    assert record["charges"] == [
        {"service_type": "tiktok_profile_scrape", "quantity": 1, "credits": 1.0,
         "waived": False, "credits_saved": 0},
        {"service_type": "tiktok_profile_videos", "quantity": 250, "credits": 3,
         "waived": False, "credits_saved": 0},
    ]  # fmt: skip
    assert record["webhook"] == {
        **webhook,
        "attempts": 2,
        "delivered_at": "2026-01-01T00:00:05+00:00",
    }
    waived = profile_task_record(
        {"task_id": "t"}, "", {"total_credits": 0, "waived": {"credits_saved": 1}}
    )
    assert (waived["credits_used"], waived["credits_saved"]) == (0, 1)
    bare = profile_task_record({"task_id": "t"}, "")
    assert [bare[k] for k in ("credits_used", "charges", "webhook")] == [None, None, None]


def test_task_schema_has_every_record_field():
    record = profile_task_record({"task_id": "t"}, "")
    assert set(record) == set(PROFILE_TASK_SCHEMA["properties"])


@pytest.mark.parametrize(
    "ids",
    [
        ["9", "8", "7", "8"],  # descending, then a repeat out of order
        ["9", "8", "9"],
        ["5", "5"],
        ["abc", "9", "abc"],
        ["9223372036854775808", "1", "9223372036854775808"],  # beyond int64
        ["3", "007", "7", "3"],
    ],
)
def test_seen_ids_catch_every_repeat(ids):
    seen = SeenIds()
    results = [seen.add(i) for i in ids]
    assert results == [True] * (len(ids) - 1) + [False]
    assert len(seen) == len(set(ids))


def test_seen_ids_are_exact():
    seen = SeenIds()
    assert seen.add("7300000000000000001") and not seen.add("7300000000000000001")
    assert seen.add("abc") and not seen.add("abc") and seen.add("0007")
    assert seen.add("7") and seen.add("²") and len(seen) == 5


def test_in_place_typing_equals_rebuilding_on_every_emulated_shape():
    import copy

    from tap_vidnavigator.emulator.data import profile_videos

    videos = [dict(v) for v in profile_videos("big3000")]
    odd = [
        {**v, "views": "1,000", "likes": 2.5, "title": 5, "artists": ["a", None], "duration": "3.5",
         "timestamp": str(v["timestamp"]), "thumbnails": "none"}
        for v in videos[:100]
    ]  # fmt: skip
    odder = [
        {**v, "duration": math.inf, "url": 7, "track": 1.5, "description": ["x"],
         "reposts": 2**64, "comments": True, "artists": "solo", "thumbnails": [{"id": 1}, 3]}
        for v in videos[:50]
    ] + [
        {**v, "duration": math.nan, "views": -(2**64), "timestamp": 2**70, "artists": [1, "b"]}
        for v in videos[50:100]
    ]  # fmt: skip
    newer = [{**v, "published_at": "2025-01-01T00:00:00Z"} for v in videos[:100]]
    for raw in videos + odd + odder + newer:
        assert video_record(copy.deepcopy(raw), INFO) == VIDEOS.rebuild(copy.deepcopy(raw), INFO)


def test_each_field_is_written_once_and_everything_derives_from_the_tables():
    from tap_vidnavigator.records.profiles import PROFILE_TASK_FIELDS as TASK_FIELDS
    from tap_vidnavigator.records.profiles import VIDEO_FIELDS, VIDEO_SCHEMA
    from tap_vidnavigator.records.result_typing import in_place_source

    api_fields = VIDEOS._sent
    api_fields_newer = VIDEOS._sent_newer

    names = [field.name for field in VIDEO_FIELDS]
    assert list(VIDEO_SCHEMA["properties"]) == names
    assert list(PROFILE_TASK_SCHEMA["properties"]) == [field.name for field in TASK_FIELDS]
    # The fields the contract sends, and the newer API's one more.
    assert set(names) - {"task_id", "profile_url", "uploader", "published_at"} == api_fields
    assert api_fields | {"published_at"} == api_fields_newer
    # The fast path types every field but the id (checked before it is taken) ...
    source = in_place_source(VIDEO_FIELDS)
    for name in names[1:]:
        assert f'raw["{name}"]' in source, name
    # ... and the fallback builds every field, in the schema's order.
    assert list(video_record({"id": "1", "extra": True}, INFO)) == names
    assert list(profile_task_record({"task_id": "t"}, "")) == list(
        PROFILE_TASK_SCHEMA["properties"]
    )
