"""The bad-input matrix: each case with its expected message and exit code.

Config cases run the real CLI; API cases run it against a hostile fake API
(pytest-httpserver), since the emulator is correct by design.
"""

from __future__ import annotations

import base64
import json
import typing as t

import pytest
from werkzeug.wrappers import Request, Response

from tests.conftest import KEY, answer_usage, run_tap

GOOD = {"api_key": KEY, "api_url": "http://127.0.0.1:9/v1", "profiles": ["@tiktok"]}

CONFIG_CASES = [
    ("missing key", {"api_key": None}, "'api_key' is a required property"),
    ("empty key", {"api_key": ""}, "api_key"),
    ("nothing to extract", {"profiles": None}, "nothing to extract: set profiles"),
    ("not a tiktok url", {"profiles": ["https://youtube.com/@someone"]}, "is not a TikTok profile"),
    (
        "not a profile url",
        {"profiles": ["https://www.tiktok.com/@x/video/1"]},
        "is not a TikTok profile",
    ),
    (
        "malformed date",
        {"after_date": "2024/01/01"},
        "after_date must be a date written YYYY-MM-DD",
    ),
    (
        "impossible date",
        {"before_date": "2024-02-30"},
        "before_date must be a date written YYYY-MM-DD",
    ),
    (
        "dates reversed",
        {"after_date": "2024-05-01", "before_date": "2024-01-01"},
        "is later than before_date",
    ),
    (
        "likes reversed",
        {"min_likes": 10, "max_likes": 5},
        "min_likes 10 is greater than max_likes 5",
    ),
    ("page_size 0", {"page_size": 0}, "0 is less than the minimum of 1"),
    ("page_size 501", {"page_size": 501}, "501 is greater than the maximum of 500"),
    ("negative max_posts", {"max_posts": -3}, "-3 is less than the minimum of 1"),
    ("negative min_likes", {"min_likes": -1}, "-1 is less than the minimum of 0"),
    ("page_size wrong type", {"page_size": "ten"}, "'ten' is not of type 'integer'"),
    ("poll_interval zero", {"poll_interval": 0}, "poll_interval"),
    ("use_download_url wrong type", {"use_download_url": "yes"}, "'yes' is not of type 'boolean'"),
    (
        "plain http to a remote host",
        {"api_url": "http://api.vidnavigator.com/v1"},
        "plain http to a non-loopback host",
    ),
    ("api_url not a url", {"api_url": "ftp://x/v1"}, "is not an http(s) URL"),
    (
        "profile object unknown key",
        {"profiles": [{"profile_url": "@ab", "min_like": 3}]},
        "unknown keys ['min_like']",
    ),
    ("profile of wrong type", {"profiles": [42]}, "is not valid under any of the given schemas"),
    (
        "profile override reversed",
        {"max_likes": 5, "profiles": [{"profile_url": "@ab", "min_likes": 9}]},
        "min_likes 9 is greater than",
    ),
    (
        "task_ids of wrong type",
        {"task_ids": [""], "profiles": None},
        "task_ids must be a list of non-empty",
    ),
    ("profiles not a list", {"profiles": "@tiktok"}, "is not of type 'array'"),
]


@pytest.mark.parametrize(
    ("case", "change", "message"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES]
)
def test_config_errors(tmp_path, case, change, message):
    config = {**GOOD, **change}
    config = {k: v for k, v in config.items() if v is not None}
    result = run_tap(tmp_path, config)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert result.last_line.endswith("fix the settings above")
    assert result.messages == []  # nothing was requested, nothing emitted


# --- a hostile API -------------------------------------------------------------------

TASK = "tt_profile_hostile"
PROFILE = "https://www.tiktok.com/@hostile"


def video(number: int, **extra: t.Any) -> dict[str, t.Any]:
    return {
        "id": str(7_300_000_000_000_000_000 + number),
        "timestamp": 1_700_000_000 - number,
        "likes": "12",
        **extra,
    }


def page(videos, *, total=None, next_cursor=None, status="completed", **extra):
    data = {
        "task_id": TASK,
        "task_status": status,
        "profile_url": PROFILE,
        "profile": {"uploader": "hostile"},
        "videos": videos,
        "pagination": {
            "limit": 500,
            "offset": 0,
            "total_items": len(videos) if total is None else total,
            "has_next": next_cursor is not None,
            "has_prev": False,
            "next_cursor": next_cursor,
            "prev_cursor": None,
        },
        "download_url": None,
        **extra,
    }
    return {"status": "success", "data": data}


def hostile_api(httpserver, pages: dict[str | None, t.Any], *, raw: bytes | None = None):
    """A fake API whose submit creates TASK and whose GETs answer ``pages[cursor]``."""
    answer_usage(httpserver)
    httpserver.expect_request("/v1/tiktok/profile", method="POST").respond_with_json(
        {"status": "success", "data": {"task_id": TASK, "task_status": "processing"}}, status=202
    )

    def answer(request: Request) -> Response:
        if raw is not None:
            return Response(raw, status=200, content_type="text/html")
        body = pages[request.args.get("cursor")]
        return Response(json.dumps(body), status=200, content_type="application/json")

    httpserver.expect_request(f"/v1/tiktok/profile/{TASK}", method="GET").respond_with_handler(
        answer
    )
    return {
        "api_key": KEY,
        "api_url": httpserver.url_for("/v1"),
        "profiles": ["@hostile"],
        "poll_interval": 0.05,
        "max_retries": 1,
    }


A, B = base64.b64encode(b'{"offset":1}').decode(), base64.b64encode(b'{"offset":2}').decode()

API_CASES = [
    (
        "body not json",
        None,
        b"<html>gateway</html>",
        "with a body that is not JSON: '<html>gateway</html>'",
    ),
    ("json without data", {None: {"status": "success"}}, None, "without a 'data' object"),
    ("unknown task_status", {None: page([], status="paused")}, None, "has task_status 'paused'"),
    ("videos not a list", {None: page({"id": "1"})}, None, "'videos' that is not a list"),
    (
        "pagination missing",
        {None: {"status": "success", "data": {**page([video(1)])["data"], "pagination": None}}},
        None,
        "has no 'pagination' object",
    ),
    (
        "has_next without cursor",
        {
            None: {
                "status": "success",
                "data": {
                    **page([video(1)])["data"],
                    "pagination": {"has_next": True, "next_cursor": None, "total_items": 2},
                },
            }
        },
        None,
        "says has_next but gives no next_cursor",
    ),
    (
        "cursor repeats",
        {
            None: page([video(1)], total=3, next_cursor=A),
            A: page([video(2)], total=3, next_cursor=A),
        },
        None,
        "a second time",
    ),
    (
        "cursor cycles",
        {
            None: page([video(1)], total=4, next_cursor=A),
            A: page([video(2)], total=4, next_cursor=B),
            B: page([video(3)], total=4, next_cursor=A),
        },
        None,
        "a second time",
    ),
]


@pytest.mark.parametrize(
    ("case", "pages", "raw", "message"), API_CASES, ids=[c[0] for c in API_CASES]
)
def test_hostile_responses_fail_clearly(httpserver, tmp_path, case, pages, raw, message):
    config = hostile_api(httpserver, pages or {}, raw=raw)
    result = run_tap(tmp_path, config)
    assert result.returncode == 1, result.stderr
    assert message in result.last_line, result.stderr
    assert result.last_line.startswith(result.last_line.split("tap-vidnavigator failed:")[0])
    assert "tap-vidnavigator failed:" in result.last_line
    # The submitted task was saved before anything failed, so a rerun pays nothing.
    assert result.states and TASK in json.dumps(result.states[-1])


def test_video_without_id_is_skipped_loudly(httpserver, tmp_path):
    config = hostile_api(
        httpserver, {None: page([video(1), {"title": "no id"}, video(2)], total=2)}
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 1
    assert [r["id"] for r in result.records("videos")] == [video(1)["id"], video(2)["id"]]
    assert "has no id" in result.stderr and "has no id" in result.last_line


def test_repeated_id_within_a_task_is_emitted_once(httpserver, tmp_path):
    pages = {
        None: page([video(1), video(2)], total=3, next_cursor=A),
        A: page([video(2), video(3)], total=3),
    }
    result = run_tap(tmp_path, hostile_api(httpserver, pages))
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in result.records("videos")] == [video(n)["id"] for n in (1, 2, 3)]


def test_total_items_disagreeing_with_what_was_served(httpserver, tmp_path):
    result = run_tap(tmp_path, hostile_api(httpserver, {None: page([video(1), video(2)], total=5)}))
    assert result.returncode == 1
    assert len(result.records("videos")) == 2
    assert "reported total_items=5 but served 2 distinct videos" in result.last_line
    # The bookmark does not move past an incomplete result.
    assert "replication_key_value" not in json.dumps(result.last_state)


def test_counts_as_strings_and_nulls_are_typed(httpserver, tmp_path):
    odd = video(
        1,
        views="1,234",
        likes=None,
        comments=3.0,
        reposts="n/a",
        duration="12.5",
        timestamp="1700000000",
    )
    result = run_tap(tmp_path, hostile_api(httpserver, {None: page([odd])}))
    assert result.returncode == 0, result.stderr
    record = result.records("videos")[0]
    assert (record["views"], record["likes"], record["comments"], record["reposts"]) == (
        1234,
        None,
        3,
        None,
    )
    assert record["duration"] == 12.5 and record["timestamp"] == 1_700_000_000
    assert record["published_at"] == "2023-11-14T22:13:20+00:00"


def test_download_truncated_or_of_another_shape_falls_back(httpserver, tmp_path):
    videos = [video(n) for n in range(1, 6)]
    download_answers = iter(
        [b'{"videos": [' + json.dumps(videos[0]).encode() + b",", b'{"unexpected": true}']
    )

    def download(_request: Request) -> Response:
        return Response(next(download_answers), status=200, content_type="application/json")

    httpserver.expect_request("/bucket/task.json").respond_with_handler(download)
    # The terminal poll holds the first two videos (a task whose first page holds them
    # all is never downloaded); the fallback pages through the rest.
    url = httpserver.url_for("/bucket/task.json") + "?X-Goog-Signature=abc"
    first = page(videos[:2], total=5, next_cursor=A, download_url=url)
    rest = page(videos[2:], total=5)
    for _ in range(2):
        result = run_tap(tmp_path, hostile_api(httpserver, {None: first, A: rest}))
        assert result.returncode == 0, result.stderr
        assert [r["id"] for r in result.records("videos")] == [v["id"] for v in videos]
        assert "Could not use the download" in result.stderr
        assert "abc" not in result.stderr
        httpserver.clear()
