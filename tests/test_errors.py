"""Each error class of the contract, against the emulator (or a fake where it cannot err)."""

from __future__ import annotations

import json
import re

from werkzeug.wrappers import Request, Response

from tap_vidnavigator.emulator import FaultPlan
from tests.conftest import (
    HELD,
    answer_usage,
    assert_videos_match,
    base_config,
    create_task,
    run_tap,
)


def test_refused_key_stops_the_run(emulator, tmp_path):
    config = base_config(emulator, profiles=["@tiktok"], api_key="not-a-real-key-123")
    result = run_tap(tmp_path, config)
    assert result.returncode == 1
    assert "refused the API key (HTTP 401 invalid_api_key" in result.last_line
    assert "not-a-real-key-123" not in result.stderr
    assert emulator.state.tasks == {}


def test_out_of_credits_stops_submits_but_finishes_running_tasks(make_emulator, tmp_path):
    # One page (0.0001 credits) each: two are paid for, the third submit is refused.
    emulator = make_emulator(plan="trial", monthly_remaining=0, purchased_credits=0.0002)
    profiles = ["@size10", "@size20", "@size30", "@size40"]
    config = base_config(emulator, profiles=profiles, max_active_tasks=1)
    result = run_tap(tmp_path, config)
    assert result.returncode == 1
    assert "no credits left" in result.stderr
    assert (
        "not submitted: https://www.tiktok.com/@size30, https://www.tiktok.com/@size40"
        in result.last_line
    )
    assert len(result.records("profile_tasks")) == 2
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size10")
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size20")
    assert emulator.counters().submits == 2


def test_missing_task_id_is_an_error_and_others_are_extracted(emulator, tmp_path):
    created = create_task(emulator, "size15")
    result = run_tap(tmp_path, base_config(emulator, task_ids=["tt_profile_missing", created]))
    assert result.returncode == 1
    assert re.search(r"ERROR .*Task tt_profile_missing \(task_ids\) is gone", result.stderr)
    assert "tt_profile_missing" in result.last_line
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size15")


def test_another_users_task_is_not_found(emulator, tmp_path):
    created = create_task(emulator, "size15", key="demo-key-2")
    result = run_tap(tmp_path, base_config(emulator, task_ids=[created]))
    assert result.returncode == 1 and f"task {created} (task_ids) not found" in result.last_line


def test_retry_after_is_honoured(make_emulator, tmp_path):
    emulator = make_emulator(
        faults=FaultPlan(rate=0.5, kinds=("429", "503"), seed=3, retry_after=0.3)
    )
    result = run_tap(
        tmp_path, base_config(emulator, profiles=["@size50"], page_size=10, use_download_url=False)
    )
    assert result.returncode == 0, result.stderr
    waits = re.findall(r"Retrying .* after HTTP (429|503) .*waiting ([0-9.]+) s", result.stderr)
    assert waits and {wait for _, wait in waits} == {"0.3"}
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size50")


def test_retries_are_bounded_with_a_clear_error(make_emulator, tmp_path):
    emulator = make_emulator(faults=FaultPlan(rate=1.0, kinds=("503",), retry_after=0.05))
    result = run_tap(tmp_path, base_config(emulator, profiles=["@tiktok"], max_retries=2))
    assert result.returncode == 1
    assert "Gave up on POST /v1/tiktok/profile after 3 attempts" in result.last_line
    assert "HTTP 503 overloaded" in result.last_line and "rerun later" in result.last_line
    assert result.stderr.count("Retrying POST /v1/tiktok/profile") == 2


def test_timeouts_are_retried(make_emulator, tmp_path):
    emulator = make_emulator(faults=FaultPlan(rate=0.3, kinds=("slow",), seed=1, slow_seconds=0.6))
    config = base_config(
        emulator, profiles=["@size40"], page_size=5, request_timeout=0.3, use_download_url=False
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "no response within request_timeout" in result.stderr
    assert_videos_match(result.records("videos"), emulator, "https://www.tiktok.com/@size40")


def test_invalid_cursor_names_task_and_cursor(httpserver, tmp_path):
    answer_usage(httpserver)
    task = "tt_profile_cursor"
    httpserver.expect_request("/v1/tiktok/profile", method="POST").respond_with_json(
        {"status": "success", "data": {"task_id": task, "task_status": "processing"}}, status=202
    )

    def answer(request: Request) -> Response:
        if request.args.get("cursor"):
            body = {
                "status": "error",
                "error": "invalid_cursor",
                "message": "The supplied cursor is invalid",
            }
            return Response(json.dumps(body), status=400, content_type="application/json")
        data = {
            "task_id": task,
            "task_status": "completed",
            "profile_url": "https://www.tiktok.com/@x1",
            "videos": [{"id": "1", "timestamp": 1}],
            "pagination": {"has_next": True, "next_cursor": "Y3Vyc29yLTQy", "total_items": 2},
        }
        return Response(
            json.dumps({"status": "success", "data": data}), content_type="application/json"
        )

    httpserver.expect_request(f"/v1/tiktok/profile/{task}").respond_with_handler(answer)
    config = {
        "api_key": "demo-key",
        "api_url": httpserver.url_for("/v1"),
        "profiles": ["@x1"],
        "poll_interval": 0.05,
    }
    result = run_tap(tmp_path, config)
    assert result.returncode == 1
    assert "invalid_cursor" in result.last_line
    assert task in result.last_line and "cursor=Y3Vyc29yLTQy" in result.last_line


def test_connection_test_spends_no_credits(emulator, tmp_path):
    ok = run_tap(tmp_path, base_config(emulator, profiles=["@tiktok"]), args=["--test"])
    assert ok.returncode == 0 and "Connection test passed" in ok.stderr
    refused = run_tap(
        tmp_path, base_config(emulator, profiles=["@tiktok"], api_key="nope-nope"), args=["--test"]
    )
    assert refused.returncode == 1 and "refused the API key" in refused.last_line
    assert emulator.counters().submits == 0 and emulator.state.tasks == {}


def test_task_timeout_names_task_and_profile_and_keeps_it_for_the_next_run(make_emulator, tmp_path):
    emulator = make_emulator(processing_seconds=HELD)
    config = base_config(emulator, profiles=["@size10"], task_timeout=0.5, poll_interval=0.1)
    result = run_tap(tmp_path, config)
    assert result.returncode == 1
    task_id = next(iter(emulator.state.tasks))
    assert (
        f"Task {task_id} for https://www.tiktok.com/@size10 was still processing" in result.stderr
    )
    assert f"task {task_id} for https://www.tiktok.com/@size10 timed out" in result.last_line
    in_flight = result.last_state["bookmarks"]["profile_tasks"]["in_flight"]
    assert in_flight["https://www.tiktok.com/@size10"]["task_id"] == task_id


def test_newer_error_bodies_are_read(httpserver, tmp_path):
    answer_usage(httpserver)
    body = {"status": "error", "error_code": "insufficient_credits", "message": "Top up",
            "docs_url": "https://docs.vidnavigator.example/credits"}  # fmt: skip
    httpserver.expect_request("/v1/tiktok/profile").respond_with_json(body, status=402)
    config = {"api_key": "demo-key", "api_url": httpserver.url_for("/v1"), "profiles": ["@ab"]}
    result = run_tap(tmp_path, config)
    assert result.returncode == 1
    assert (
        "HTTP 402 insufficient_credits: Top up (see https://docs.vidnavigator.example/credits)"
        in result.stderr
    )
