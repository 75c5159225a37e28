"""Contract tests of the emulator, over real HTTP, one section per point of its spec."""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import itertools
import json
import math
import socket
import subprocess
import sys
import time
import zlib
from urllib.parse import urlsplit

import pytest
import requests

from tap_vidnavigator.emulator import FAULT_KINDS, FaultPlan
from tap_vidnavigator.emulator.data import BASE_EPOCH, profile_size
from tap_vidnavigator.emulator.state import iso
from tests import search_oracle
from tests.conftest import HELD, ManualClock

# Run once, on the default Python, not on each Python of the matrix (noxfile.py):
# the emulator's HTTP contract, asked over HTTP: no code of the tap runs.
pytestmark = pytest.mark.python_independent

KEY = {"X-API-Key": "demo-key"}
KEY2 = {"X-API-Key": "demo-key-2"}
TIKTOK = "https://www.tiktok.com/@tiktok"


def submit(emulator, profile_url=TIKTOK, headers=KEY, **filters):
    return requests.post(
        f"{emulator.url}/tiktok/profile",
        json={"profile_url": profile_url, **filters},
        headers=headers,
        timeout=10,
    )


def task_id_of(response):
    assert response.status_code == 202, response.text
    return response.json()["data"]["task_id"]


def get(emulator, task_id, headers=KEY, **params):
    return requests.get(
        f"{emulator.url}/tiktok/profile/{task_id}", params=params, headers=headers, timeout=10
    )


def all_pages(emulator, task_id, limits):
    """Page through a task with a limit per request (cycling through ``limits``)."""
    videos, cursor, index = [], None, 0
    while True:
        params = {"limit": limits[index % len(limits)]}
        if cursor:
            params["cursor"] = cursor
        data = get(emulator, task_id, **params).json()["data"]
        videos += data["videos"]
        index += 1
        if not data["pagination"]["has_next"]:
            assert data["pagination"]["next_cursor"] is None
            return videos
        cursor = data["pagination"]["next_cursor"]


# 1. Routes ---------------------------------------------------------------------------


def test_routes_and_storage_on_another_host(emulator):
    task_id = task_id_of(submit(emulator))
    data = get(emulator, task_id).json()["data"]
    assert data["task_status"] == "completed"
    api, storage = urlsplit(emulator.url), urlsplit(data["download_url"])
    assert api.hostname == storage.hostname == "127.0.0.1"
    assert api.port != storage.port
    assert storage.path.startswith("/storage/")
    assert requests.get(f"{emulator.url}/nothing", headers=KEY, timeout=5).status_code == 404


def test_cli_prints_base_url_first():
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_vidnavigator.emulator", "--port", "0", "--processing", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        answer = requests.post(
            f"{url}/tiktok/profile", json={"profile_url": TIKTOK}, headers=KEY, timeout=5
        )
        assert answer.status_code == 202
    finally:
        process.terminate()
        process.wait(timeout=10)


# 2. Auth -----------------------------------------------------------------------------


def test_unknown_and_missing_keys_are_401(emulator):
    for headers in ({"X-API-Key": "wrong"}, {}):
        answer = submit(emulator, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["status"] == "error"
        assert get(emulator, "tt_profile_x", headers=headers).status_code == 401


def test_a_task_belongs_to_the_key_that_created_it(emulator):
    task_id = task_id_of(submit(emulator))
    answer = get(emulator, task_id, headers=KEY2)
    assert answer.status_code == 404
    assert answer.json()["error"] == "task_not_found"
    assert get(emulator, task_id).status_code == 200


def test_custom_keys(make_emulator):
    emulator = make_emulator(keys=("alpha", "beta"))
    assert submit(emulator, headers={"X-API-Key": "alpha"}).status_code == 202
    assert submit(emulator, headers=KEY).status_code == 401


# 3. Lifecycle ------------------------------------------------------------------------


def admin(emulator, action, **body):
    """The emulator's own control route (docs/emulator.md), not the provider's API."""
    base = emulator.url.removesuffix("/v1")
    if action == "tasks":
        return requests.get(f"{base}/_emulator/tasks", timeout=10)
    return requests.post(f"{base}/_emulator/{action}", json=body, timeout=10)


def test_processing_then_completed(make_emulator):
    emulator = make_emulator(processing_seconds=HELD)
    task_id, other = task_id_of(submit(emulator)), task_id_of(submit(emulator, TIKTOK + "x"))
    data = get(emulator, task_id).json()["data"]
    assert data["task_status"] == "processing"
    assert data["profile"] is None and data["videos"] == [] and data["download_url"] is None
    assert admin(emulator, "tasks").json()["data"] == {task_id: "processing", other: "processing"}
    assert admin(emulator, "complete", task_id=task_id).json()["data"] == {"complete": [task_id]}
    data = get(emulator, task_id).json()["data"]
    assert data["task_status"] == "completed"
    assert data["profile"]["uploader"] == "tiktok" and data["videos"]
    assert data["videos"] == emulator.ground_truth(TIKTOK, seen_by=task_id)
    assert get(emulator, other).json()["data"]["task_status"] == "processing"
    # Completing again changes nothing; without an id, every processing task ends.
    assert admin(emulator, "complete", task_id=task_id).json()["data"] == {"complete": []}
    assert admin(emulator, "complete").json()["data"] == {"complete": [other]}
    assert admin(emulator, "tasks").json()["data"] == {task_id: "completed", other: "completed"}


def test_processing_polls_counts_the_lifecycle_in_polls(make_emulator):
    emulator = make_emulator(processing_seconds=HELD, processing_polls=2)
    task_id = task_id_of(submit(emulator))
    statuses = [get(emulator, task_id).json()["data"]["task_status"] for _ in range(4)]
    assert statuses == ["processing", "processing", "completed", "completed"]
    assert emulator.counters().polls == 2


def test_expiry_answers_404_and_expires_at_tells_the_truth(make_emulator):
    clock = ManualClock()
    emulator = make_emulator(expire_seconds=600.0, download_ttl_seconds=3600, clock=clock)
    task_id = task_id_of(submit(emulator))
    data = get(emulator, task_id).json()["data"]
    assert data["completed_at"] == iso(clock.now)
    assert data["expires_at"] == iso(clock.now + 600)
    link = data["download_url"]
    clock.advance(599)
    assert get(emulator, task_id).status_code == 200
    clock.advance(1)
    gone = get(emulator, task_id)
    assert (gone.status_code, gone.json()["error"]) == (404, "task_not_found")
    assert b"NoSuchKey" in requests.get(link, timeout=10).content
    # The control route: a task expires now, whatever its lifetime.
    live = task_id_of(submit(emulator))
    assert admin(emulator, "expire", task_id=live).json()["data"] == {"expire": [live]}
    assert get(emulator, live).status_code == 404
    assert admin(emulator, "tasks").json()["data"] == {task_id: "expired", live: "expired"}


def test_failing_handle_fails_with_error_object(emulator):
    task_id = task_id_of(submit(emulator, "https://www.tiktok.com/@notfound_someone"))
    data = get(emulator, task_id).json()["data"]
    assert data["task_status"] == "failed"
    assert data["error"]["error"] == "user_not_found"
    assert data["error_message"] and data["videos"] == []


# 4. Data -----------------------------------------------------------------------------


def test_data_is_deterministic_and_realistic(emulator):
    first = all_pages(
        emulator, task_id_of(submit(emulator, "https://www.tiktok.com/@big3000")), [500]
    )
    second = all_pages(
        emulator, task_id_of(submit(emulator, "https://www.tiktok.com/@big3000")), [500]
    )
    assert first == second and len(first) == 3000
    assert all(len(video["id"]) == 19 and video["id"].isdigit() for video in first)
    stamps = [int(video["timestamp"]) for video in first]
    assert stamps == sorted(stamps, reverse=True) and stamps[0] < BASE_EPOCH
    assert any(isinstance(video["views"], str) for video in first)
    assert any(video["likes"] is None for video in first)
    assert any(video["description"] is None for video in first)
    assert any(any(ord(ch) > 0xFFFF for ch in video["title"] or "") for video in first)


def test_sizes_by_handle(emulator):
    assert profile_size("empty") == 0
    assert profile_size("big60000") == 60000
    assert profile_size("size7") == 7
    assert 20 <= profile_size("tiktok") <= 200
    data = get(emulator, task_id_of(submit(emulator, "https://www.tiktok.com/@empty"))).json()[
        "data"
    ]
    assert data["task_status"] == "completed" and data["pagination"]["total_items"] == 0


# 5. Filters --------------------------------------------------------------------------


def test_filters_are_applied_echoed_and_counted(emulator):
    url = "https://www.tiktok.com/@big2000"
    everything = emulator.ground_truth(url)
    cut = everything[100]["timestamp"]
    day = time.strftime("%Y-%m-%d", time.gmtime(int(cut)))
    filters = {"after_date": day, "min_likes": 200, "max_likes": 5000, "max_posts": 40}
    data = get(emulator, task_id_of(submit(emulator, url, **filters)), limit=500).json()["data"]
    assert data["filters"] == {
        "max_posts": 40,
        "after_date": day.replace("-", ""),
        "before_date": None,
        "min_likes": 200,
        "max_likes": 5000,
    }
    served = data["videos"]
    assert served == emulator.ground_truth(url, **filters)
    # The truth computed here, not by the emulator's filter code: newest first, the
    # first 40 on or after the day (UTC midnight, in any TZ) with 200 to 5000 likes.
    day_start = calendar.timegm(time.strptime(day, "%Y-%m-%d"))

    def kept(video):
        likes = video["likes"]
        return likes is not None and 200 <= int(likes) <= 5000

    recent = [video for video in everything if int(video["timestamp"]) >= day_start]
    assert served == [video for video in recent if kept(video)][:40]
    # What was left out: every newer video that failed a bound, or came after the 40th.
    last = everything.index(served[-1])
    for video in everything[: last + 1]:
        assert (video in served) == kept(video), video
    assert len(served) == 40
    assert data["stats"]["videos_matched"] == len(served)
    assert data["stats"]["videos_scanned"] >= len(served)


@pytest.mark.parametrize(
    ("after", "before", "echo"),
    [
        # The page's older names: echoed under them, as YYYYMMDD (the page's example).
        (
            {"after_date": "20251201"},
            {"before_date": "2025-12-20"},
            {"after_date": "20251201", "before_date": "20251220"},
        ),
        # The SDK's names: echoed under them, as sent (the SDK's TikTokProfileFilters).
        (
            {"after_datetime": "2025-12-01T00:00:00Z"},
            {"before_datetime": "2025-12-20T23:59:59+00:00"},
            {
                "after_datetime": "2025-12-01T00:00:00Z",
                "before_datetime": "2025-12-20T23:59:59+00:00",
            },
        ),
        (
            {"after_datetime": "2025-12-01"},
            {"before_datetime": "2025-12-20"},
            {"after_datetime": "2025-12-01", "before_datetime": "2025-12-20"},
        ),
    ],
)
def test_date_filters_under_both_names_are_applied_and_echoed_as_sent(
    emulator, after, before, echo
):
    url = "https://www.tiktok.com/@big1000"
    data = get(emulator, task_id_of(submit(emulator, url, **after, **before)), limit=500).json()[
        "data"
    ]
    assert data["filters"] == {"max_posts": None, **echo, "min_likes": None, "max_likes": None}
    assert data["videos"] == emulator.ground_truth(url, **after, **before)
    # Both spellings of the same day select exactly the same videos.
    assert data["videos"] == emulator.ground_truth(
        url, after_date="2025-12-01", before_date="2025-12-20"
    )


def test_a_datetime_bound_with_a_fraction_of_a_second_is_that_very_instant(emulator):
    # The SDK sends datetime.isoformat(), microseconds and all: a post at 10:00:00 is
    # not after 10:00:00.5, nor before 09:59:59.5 (timestamps are whole seconds).
    url = "https://www.tiktok.com/@big1000"
    video = emulator.ground_truth(url)[100]
    moment = dt.datetime.fromtimestamp(int(video["timestamp"]), dt.timezone.utc)
    half = dt.timedelta(microseconds=500_000)
    for bounds, kept in (
        ({"after_datetime": moment.isoformat(), "before_datetime": moment.isoformat()}, True),
        ({"after_datetime": (moment + half).isoformat()}, False),
        ({"before_datetime": (moment - half).isoformat()}, False),
        ({"after_datetime": (moment - half).isoformat()}, True),
        ({"before_datetime": (moment + half).isoformat()}, True),
    ):
        served = all_pages(emulator, task_id_of(submit(emulator, url, **bounds)), [500])
        assert (video in served) == kept, bounds
        assert served == emulator.ground_truth(url, **bounds)
    # Searches read the same bounds: tests/test_search_oracle.py checks them.


def test_filters_without_dates_are_echoed_under_the_sdk_names(emulator):
    data = get(emulator, task_id_of(submit(emulator, min_likes=5))).json()["data"]
    assert data["filters"] == {
        "max_posts": None,
        "after_datetime": None,
        "before_datetime": None,
        "min_likes": 5,
        "max_likes": None,
    }


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"max_posts": 0}, "max_posts"),
        ({"min_likes": -1}, "min_likes"),
        ({"max_likes": "many"}, "max_likes"),
        ({"after_date": "yesterday"}, "after_date"),
        ({"after_date": "2025-02-01", "before_date": "2025-01-01"}, "after_date"),
        ({"after_datetime": "2025-02-01", "before_datetime": "2025-01-01"}, "after_datetime"),
        ({"before_datetime": "soon"}, "before_datetime"),
        ({"min_likes": 10, "max_likes": 5}, "min_likes"),
    ],
)
def test_invalid_filters_are_400_naming_the_field(emulator, filters, field):
    answer = submit(emulator, **filters)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request" and field in answer.json()["message"]


def test_profile_url_must_be_a_tiktok_profile(emulator):
    answer = submit(emulator, "https://example.com/@x")
    assert answer.status_code == 400 and "profile_url" in answer.json()["message"]


# 6. Cursor paging --------------------------------------------------------------------


def test_cursor_paging_exactly_as_documented(emulator):
    url = "https://www.tiktok.com/@size60"
    task_id = task_id_of(submit(emulator, url))
    first = get(emulator, task_id, limit=25).json()["data"]["pagination"]
    assert first == {
        "limit": 25,
        "offset": 0,
        "total_items": 60,
        "has_next": True,
        "has_prev": False,
        "next_cursor": base64.b64encode(b'{"offset":25}').decode(),
        "prev_cursor": None,
    }
    last = get(emulator, task_id, limit=25, cursor=base64.b64encode(b'{"offset":50}').decode())
    pagination = last.json()["data"]["pagination"]
    assert pagination["has_next"] is False and pagination["next_cursor"] is None
    assert pagination["has_prev"] is True and pagination["prev_cursor"]
    assert len(last.json()["data"]["videos"]) == 10
    assert get(emulator, task_id).json()["data"]["pagination"]["limit"] == 50


def test_changing_limit_never_skips_or_repeats(emulator):
    url = "https://www.tiktok.com/@size777"
    task_id = task_id_of(submit(emulator, url))
    videos = all_pages(emulator, task_id, [1, 7, 500, 13, 2])
    assert [v["id"] for v in videos] == [v["id"] for v in emulator.ground_truth(url)]


@pytest.mark.parametrize("limit", ["0", "501", "-3", "ten"])
def test_limit_out_of_range_is_400(emulator, limit):
    answer = get(emulator, task_id_of(submit(emulator)), limit=limit)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "cursor", ["%%%", "bm90IGpzb24=", base64.b64encode(b'{"offset":-1}').decode()]
)
def test_malformed_cursor_is_400_invalid_cursor(emulator, cursor):
    answer = get(emulator, task_id_of(submit(emulator)), cursor=cursor)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_cursor"


# 7. Download URL ---------------------------------------------------------------------


def test_download_url_serves_the_whole_result_and_is_fresh_each_poll(make_emulator):
    clock = ManualClock()
    emulator = make_emulator(clock=clock)
    url = "https://www.tiktok.com/@size1234"
    task_id = task_id_of(submit(emulator, url))
    first = get(emulator, task_id).json()["data"]["download_url"]
    clock.advance(1)
    second = get(emulator, task_id).json()["data"]["download_url"]
    assert first != second
    body = requests.get(second, timeout=10).json()
    assert body["task_id"] == task_id and body["videos"] == emulator.ground_truth(url)
    assert emulator.counters("demo-key").downloads == 1


@pytest.mark.parametrize("shape", ["task", "envelope", "list"])
def test_download_shapes(make_emulator, shape):
    emulator = make_emulator(download_shape=shape)
    task_id = task_id_of(submit(emulator))
    body = requests.get(get(emulator, task_id).json()["data"]["download_url"], timeout=10).json()
    videos = {
        "task": lambda b: b["videos"],
        "envelope": lambda b: b["data"]["videos"],
        "list": lambda b: b,
    }
    assert videos[shape](body) == emulator.ground_truth(TIKTOK)


def test_bad_or_expired_signature_is_403(make_emulator):
    clock = ManualClock()
    emulator = make_emulator(download_ttl_seconds=1, clock=clock)
    link = get(emulator, task_id_of(submit(emulator))).json()["data"]["download_url"]
    tampered = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    assert requests.get(tampered, timeout=5).status_code == 403
    clock.advance(1)
    assert requests.get(link, timeout=5).status_code == 200  # to its last second
    clock.advance(1)
    expired = requests.get(link, timeout=5)
    assert expired.status_code == 403 and b"ExpiredToken" in expired.content


def test_storage_counts_requests_carrying_the_key(emulator):
    link = get(emulator, task_id_of(submit(emulator))).json()["data"]["download_url"]
    requests.get(link, timeout=5)
    assert emulator.counters("demo-key").leaked_keys == 0
    requests.get(link, headers=KEY, timeout=5)
    assert emulator.counters("demo-key").leaked_keys == 1


def test_no_download_url_when_disabled(make_emulator):
    emulator = make_emulator(offer_download_url=False)
    assert get(emulator, task_id_of(submit(emulator))).json()["data"]["download_url"] is None


# 8. Errors and faults ----------------------------------------------------------------


def test_out_of_credits_is_402_and_creates_nothing(make_emulator):
    # 0.0002 credits: a 1-page task (0.0001) leaves 0.0001, a 3-page one overdraws.
    emulator = make_emulator(plan="trial", monthly_remaining=0.0001, purchased_credits=0.0001)
    assert submit(emulator, "https://www.tiktok.com/@size20").status_code == 202
    assert submit(emulator, "https://www.tiktok.com/@size90").status_code == 202
    # A running task always finishes: its charge may take purchased credits below 0.
    answer = submit(emulator)
    assert answer.status_code == 402 and answer.json()["status"] == "error"
    assert answer.json()["error"] == "insufficient_credits"
    assert emulator.counters("demo-key").submits == 2 and len(emulator.state.tasks) == 2
    credits = requests.get(f"{emulator.url}/usage", headers=KEY, timeout=10).json()["data"]
    assert credits["credits"] == {"monthly_total": 5, "monthly_remaining": 0, "purchased": -0.0002}


def test_too_many_active_jobs_is_429(make_emulator):
    emulator = make_emulator(processing_seconds=HELD, max_active_tasks=2)
    task_id_of(submit(emulator))
    task_id_of(submit(emulator))
    answer = submit(emulator)
    assert answer.status_code == 429 and answer.json()["error"] == "too_many_active_jobs"
    assert submit(emulator, headers=KEY2).status_code == 202  # another user is not limited


def _faulted(make_emulator, kind):
    emulator = make_emulator(
        faults=FaultPlan(rate=1.0, kinds=(kind,), retry_after=2, slow_seconds=0.3)
    )
    return emulator, submit(emulator) if kind != "reset" else None


@pytest.mark.parametrize("kind", ["429", "503", "500", "502"])
def test_status_faults(make_emulator, kind):
    emulator, answer = _faulted(make_emulator, kind)
    assert answer.status_code == int(kind)
    if kind == "429":
        assert answer.headers["Retry-After"] == "2"
    if kind == "503":
        assert answer.json()["retry_after_seconds"] == 2
    if kind == "502":
        assert answer.headers["Content-Type"] == "text/html" and b"Bad Gateway" in answer.content
    assert emulator.state.tasks == {}  # a faulted submit never creates a task
    assert emulator.faults_injected[kind] == 1


def test_reset_fault_breaks_the_body(make_emulator):
    emulator, _ = _faulted(make_emulator, "reset")
    with pytest.raises(requests.exceptions.RequestException):
        submit(emulator)


def test_slow_fault_exceeds_a_short_timeout(make_emulator):
    emulator = make_emulator(faults=FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=1.0))
    with pytest.raises(requests.exceptions.Timeout):
        requests.post(
            f"{emulator.url}/tiktok/profile", json={"profile_url": TIKTOK}, headers=KEY, timeout=0.3
        )


def test_faults_are_replayable_by_seed(make_emulator):
    def sequence(seed):
        emulator = make_emulator(faults=FaultPlan(rate=0.5, kinds=("429", "500", "503"), seed=seed))
        return [submit(emulator).status_code for _ in range(30)]

    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)
    assert set(FAULT_KINDS) == {"429", "503", "500", "502", "reset", "slow"}


# 9. Counters -------------------------------------------------------------------------


def test_counters_per_key(make_emulator):
    emulator = make_emulator(processing_seconds=HELD)
    task_id = task_id_of(submit(emulator))
    assert get(emulator, task_id).json()["data"]["task_status"] == "processing"
    assert emulator.complete(task_id) == [task_id]
    data = get(emulator, task_id, limit=10).json()["data"]
    requests.get(data["download_url"], timeout=5)
    counters = emulator.counters("demo-key")
    assert (counters.submits, counters.polls, counters.page_requests, counters.downloads) == (
        1,
        1,
        1,
        1,
    )
    assert counters.videos_served == 10
    assert emulator.counters("demo-key-2").submits == 0
    kinds = [kind for _, kind, _ in emulator.state.timeline()]
    assert kinds == ["submitted", "finished"]


# 10. Ground truth --------------------------------------------------------------------


def test_ground_truth_equals_what_is_served(emulator):
    url = "https://www.tiktok.com/@big4321"
    filters = {"min_likes": 50, "before_date": "2025-11-30"}
    served = all_pages(emulator, task_id_of(submit(emulator, url, **filters)), [500])
    assert served == emulator.ground_truth(url, **filters)
    assert emulator.ground_truth("https://www.tiktok.com/@notfound") == []


def test_publish_adds_newer_videos(emulator):
    before = emulator.ground_truth(TIKTOK)
    fresh = emulator.state.publish(TIKTOK, 3)
    after = emulator.ground_truth(TIKTOK)
    assert after == fresh + before and int(fresh[-1]["timestamp"]) > int(before[0]["timestamp"])


def test_todays_fields_by_default_and_the_pages_older_shape_on_request(make_emulator):
    emulator = make_emulator()
    video = get(emulator, task_id_of(submit(emulator))).json()["data"]["videos"][0]
    assert video["published_at"] == iso(int(video["timestamp"]))
    legacy = make_emulator(modern_fields=False)
    video = get(legacy, task_id_of(submit(legacy))).json()["data"]["videos"][0]
    assert "published_at" not in video


def test_keep_alive_serves_many_requests_on_one_connection(emulator):
    task_id = task_id_of(submit(emulator))
    with requests.Session() as session:
        for _ in range(20):
            assert session.get(
                f"{emulator.url}/tiktok/profile/{task_id}", headers=KEY, timeout=5
            ).ok
    host, port = urlsplit(emulator.url).hostname, urlsplit(emulator.url).port
    with socket.create_connection((host, port), timeout=5) as raw:
        request = (
            f"GET /v1/tiktok/profile/{task_id} HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\n\r\n"
        )
        raw.sendall((request * 2).encode())
        # Both pipelined answers, in order, each whole (the socket's timeout is the deadline).
        received = b""
        while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"}"):
            chunk = raw.recv(1 << 20)
            assert chunk, f"the connection closed after {received.count(b'HTTP/1.1 ')} answers"
            received += chunk
        assert received.count(b"HTTP/1.1 ") == 2
        bodies = [part.split(b"\r\n\r\n", 1)[1] for part in received.split(b"HTTP/1.1 200")[1:]]
        assert [json.loads(body)["data"]["task_id"] for body in bodies] == [task_id, task_id]
    assert json.loads(get(emulator, task_id).content)["status"] == "success"


def test_ground_truth_is_a_copy(emulator):
    truth = emulator.ground_truth(TIKTOK)
    truth[0]["views"] = "changed"
    truth[0]["extra"] = 1
    assert emulator.ground_truth(TIKTOK)[0] != truth[0]


# 11. Growth on the emulated calendar (docs/emulator-model.md) --------------------------

FRESH = "https://www.tiktok.com/@size30"
PROFILE_COUNTS = ("views", "likes", "comments", "reposts")


def expected_count(settled, video_id, age):
    """The documented model, written out: floor(settled * (1 - exp(-age / tau)))."""
    if settled is None:
        return None
    tau = 12 * 3600 + 60 * 3600 * (zlib.crc32(video_id.encode()) / 0xFFFFFFFF)
    part = 0.0 if age <= 0 else 1.0 if age >= 40 * 72 * 3600 else 1 - math.exp(-age / tau)
    return int(int(settled) * part)


def settled_videos(emulator, profile_url):
    """The profile's videos as generated (their settled counts), by id."""
    handle = profile_url.rsplit("@", 1)[-1]
    return {video["id"]: video for video in emulator.state.profile_videos(handle)}


def parse_iso(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_two_tasks_of_a_profile_at_two_moments_see_exactly_the_models_counts(emulator):
    fresh = emulator.state.publish(FRESH, 5)
    first = task_id_of(submit(emulator, FRESH))
    first_body = get(emulator, first, limit=500).json()["data"]
    moment = emulator.state.observed_at(first)
    assert emulator.advance_clock(days=1) == moment + 86_400
    second = task_id_of(submit(emulator, FRESH))
    second_body = get(emulator, second, limit=500).json()["data"]
    assert emulator.state.observed_at(second) == moment + 86_400
    # The served dates follow the calendar: the second task is a day later.
    gap = parse_iso(second_body["completed_at"]) - parse_iso(first_body["completed_at"])
    assert 86_400 <= gap < 86_400 + 60
    settled = settled_videos(emulator, FRESH)
    grew = 0
    for task_id, body in ((first, first_body), (second, second_body)):
        observed = emulator.state.observed_at(task_id)
        assert len(body["videos"]) == 35
        for video in body["videos"]:
            source = settled[video["id"]]
            age = observed - int(source["timestamp"])
            for name in PROFILE_COUNTS:
                want = expected_count(source[name], video["id"], age)
                got = video[name]
                assert (None if got is None else int(got)) == want, (video["id"], name)
                assert type(got) is type(source[name])  # strings stay strings, nulls null
            assert emulator.state.counts_seen(task_id, video["id"]) == {
                name: None if video[name] is None else int(video[name]) for name in PROFILE_COUNTS
            }
    before = {v["id"]: v for v in first_body["videos"]}
    for video in second_body["videos"]:
        if video["id"] in {v["id"] for v in fresh}:
            grew += int(video["views"] or 0) > int(before[video["id"]]["views"] or 0)
        else:  # the catalogue is months old: settled, served as generated
            assert video == before[video["id"]]
            assert video["views"] == settled[video["id"]]["views"]
    assert grew == sum(1 for v in fresh if v["views"] is not None and int(v["views"]) > 0)


def test_counts_never_fall_and_settle_at_the_generated_ones(emulator):
    emulator.state.publish(FRESH, 8)
    settled = settled_videos(emulator, FRESH)
    young = [i for i, v in settled.items() if int(v["timestamp"]) > BASE_EPOCH]
    assert len(young) == 8
    history = []
    for step in (0, 3 / 24, 0.5, 1, 2, 5, 20, 100):  # days, moved forward step by step
        emulator.advance_clock(days=step)
        task_id = task_id_of(submit(emulator, FRESH))
        get(emulator, task_id)
        history.append({i: emulator.state.counts_seen(task_id, i) for i in young})
    for earlier, later in itertools.pairwise(history):
        for video_id in young:
            for name in PROFILE_COUNTS:
                if earlier[video_id][name] is not None:
                    assert later[video_id][name] >= earlier[video_id][name]
    for video_id in young:  # 128 days on: every fresh video has settled
        source = settled[video_id]
        assert history[-1][video_id] == {
            name: None if source[name] is None else int(source[name]) for name in PROFILE_COUNTS
        }
    assert history[0] != history[-1]


def test_the_ground_truth_of_a_task_is_what_it_served_whatever_happened_since(emulator):
    emulator.state.publish(FRESH, 4)
    task_id = task_id_of(submit(emulator, FRESH, min_likes=1))
    served = all_pages(emulator, task_id, [7, 500])
    assert served == emulator.ground_truth(FRESH, seen_by=task_id, min_likes=1)
    assert served == emulator.state.served(task_id)
    emulator.advance_clock(days=3)
    emulator.state.publish(FRESH, 2)  # published after the task saw the profile
    assert served == emulator.ground_truth(FRESH, seen_by=task_id, min_likes=1)
    now = emulator.ground_truth(FRESH, min_likes=1)
    assert len(now) >= len(served) + 1 and now != served
    later = task_id_of(submit(emulator, FRESH, min_likes=1))
    assert all_pages(emulator, later, [500]) == now
    with pytest.raises(KeyError):
        emulator.state.counts_seen(task_id, now[0]["id"])  # not yet published for it
    with pytest.raises(ValueError, match="profile task, not a search"):
        emulator.state.search_ground_truth("cats", seen_by=task_id)


def test_search_results_have_their_counts_in_stats_and_keep_them_once_settled(emulator):
    def search(query):
        answer = requests.post(
            f"{emulator.url}/tiktok/search", json={"query": query}, headers=KEY, timeout=10
        )
        return task_id_of(answer)

    first = search("cats size40")
    emulator.advance_clock(days=2)
    second = search("cats size40")
    for task_id in (first, second):
        results = emulator.state.served(task_id)
        assert results == emulator.state.search_ground_truth("cats size40", seen_by=task_id)
        assert (
            results == search_oracle.expected(emulator.state, "cats size40", seen_by=task_id).kept
        )
        for result in results:
            stats = result["stats"]
            assert emulator.state.counts_seen(task_id, result["id"]) == {
                name: None if stats[name] is None else int(stats[name])
                for name in ("views", "likes", "comments", "shares", "collects")
            }
    assert emulator.state.served(first) == emulator.state.served(second)


def test_the_lifecycle_stays_on_real_time_while_the_dates_follow_the_calendar(make_emulator):
    clock = ManualClock()
    emulator = make_emulator(expire_seconds=3600, clock=clock)
    before = task_id_of(submit(emulator))
    first = get(emulator, before).json()["data"]
    emulator.advance_clock(days=10)
    # An earlier task keeps its dates and does not expire: time travel is for new tasks.
    again = get(emulator, before)
    assert again.status_code == 200
    assert again.json()["data"]["completed_at"] == first["completed_at"]
    after = get(emulator, task_id_of(submit(emulator))).json()["data"]
    for field in ("created_at", "completed_at"):
        assert after[field] == iso(clock.now + 10 * 86_400)
    # expires_at is never earlier than on real time: a client's real clock sees no
    # task expire sooner than it does.
    assert after["expires_at"] == iso(clock.now + 10 * 86_400 + 3600)
    with pytest.raises(ValueError, match="only moves forward"):
        emulator.advance_clock(days=-1)


def test_videos_are_never_published_after_the_calendars_now(emulator):
    fresh = emulator.state.publish(FRESH, 3)
    moment = emulator.state.calendar.moment()
    assert all(BASE_EPOCH < int(video["timestamp"]) < moment for video in fresh)
    assert all(int(video["timestamp"]) > moment - 86_400 for video in fresh)
    with pytest.raises(ValueError, match="advance the clock first"):
        emulator.state.publish(FRESH, 10_000)
    emulator.advance_clock(hours=2)
    newer = emulator.state.publish(FRESH, 3)
    assert int(newer[-1]["timestamp"]) > int(fresh[0]["timestamp"])
    now = emulator.ground_truth(FRESH)
    assert [video["id"] for video in now[:6]] == [video["id"] for video in newer + fresh]


def test_admin_routes_move_the_clock_and_publish_for_the_demo(make_emulator):
    clock = ManualClock()
    emulator = make_emulator(clock=clock)
    answer = requests.post(f"{emulator.url[:-3]}/_emulator/clock", json={"days": 2}, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["data"]["now"] == iso(clock.now + 2 * 86_400)
    published = requests.post(
        f"{emulator.url[:-3]}/_emulator/publish",
        json={"profile_url": FRESH, "count": 2},
        timeout=5,
    ).json()["data"]["published"]
    assert published == [video["id"] for video in emulator.ground_truth(FRESH)[:2]]
    results = requests.post(
        f"{emulator.url[:-3]}/_emulator/publish", json={"word": "owls", "count": 2}, timeout=5
    ).json()["data"]["published"]
    assert results == search_oracle.expected(emulator.state, "owls").kept_ids[:2]  # newest first
    bad = requests.post(f"{emulator.url[:-3]}/_emulator/clock", json={"days": -1}, timeout=5)
    assert bad.status_code == 400 and "only moves forward" in bad.json()["message"]
    assert requests.post(f"{emulator.url[:-3]}/_emulator/x", timeout=5).status_code == 404


def test_cli_starts_the_calendar_ahead():
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_vidnavigator.emulator", "--processing", "0",
         "--clock-offset-days", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        url = process.stdout.readline().strip()
        before = int(time.time())
        answer = requests.post(
            f"{url}/tiktok/profile", json={"profile_url": TIKTOK}, headers=KEY, timeout=5
        )
        after = time.time()
        created = parse_iso(
            requests.get(
                f"{url}/tiktok/profile/{task_id_of(answer)}", headers=KEY, timeout=5
            ).json()["data"]["created_at"]
        )
        # Created between the two reads of the real clock, three days ahead.
        assert before <= created - 3 * 86_400 <= after
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_published_search_results_grow_under_stats_for_every_query_with_the_word(emulator):
    def search(query):
        answer = requests.post(
            f"{emulator.url}/tiktok/search", json={"query": query}, headers=KEY, timeout=10
        )
        return task_id_of(answer)

    fresh = emulator.state.publish_results("#Cats", 3)
    assert all(BASE_EPOCH < int(r["timestamp"]) < emulator.state.calendar.moment() for r in fresh)
    first = search("cats size40")
    emulator.advance_clock(days=1)
    second = search("cats size40")
    settled = {r["id"]: r for r in emulator.state.search_results("cats size40")}
    names = ("views", "likes", "comments", "shares", "collects")
    for task_id in (first, second):
        served = emulator.state.served(task_id)
        assert [r["id"] for r in served[:3]] == [r["id"] for r in fresh]  # newest first
        assert len(served) == 43
        observed = emulator.state.observed_at(task_id)
        for result in served:
            source = settled[result["id"]]
            age = observed - int(source["timestamp"])
            want = {n: expected_count(source["stats"][n], result["id"], age) for n in names}
            assert emulator.state.counts_seen(task_id, result["id"]) == want
    before = {r["id"]: r for r in emulator.state.served(first)}
    for result in emulator.state.served(second):
        views, earlier = result["stats"]["views"], before[result["id"]]["stats"]["views"]
        if result["id"] in {r["id"] for r in fresh} and views is not None:
            assert int(views) > int(earlier)
        elif result["id"] not in {r["id"] for r in fresh}:
            assert result == before[result["id"]]
    other = emulator.state.search_ground_truth("dogs #cats")
    assert {r["id"] for r in fresh} <= {r["id"] for r in other}
    assert not {r["id"] for r in fresh} & {
        r["id"] for r in emulator.state.search_ground_truth("dogs")
    }
