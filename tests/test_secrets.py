"""The API key and signed download links never reach a log line or a foreign host."""

from __future__ import annotations

import json
import logging
import re

from werkzeug.wrappers import Request, Response

from tap_vidnavigator.emulator import FaultPlan
from tap_vidnavigator.redaction import RedactingFilter, redact, register_secret
from tests.conftest import answer_usage, base_config, run_tap

SECRET = "sk-live-0123456789abcdef"  # a key shape nothing else in the output contains


def test_debug_run_never_prints_the_key_or_a_signature(make_emulator, tmp_path):
    emulator = make_emulator(
        keys=(SECRET,),
        download_ttl_seconds=-1,  # links are refused, so their URLs show up in errors
        faults=FaultPlan(
            rate=0.3, kinds=("429", "503", "500", "502", "reset"), seed=11, retry_after=0.05
        ),
    )
    profiles = ["@size1200", "@empty", "@notfound_key"]
    config = base_config(emulator, profiles=profiles, api_key=SECRET, page_size=200)
    result = run_tap(tmp_path, config, env={"TAP_VIDNAVIGATOR_LOGLEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DEBUG" in result.stderr  # the run really logged at DEBUG
    assert SECRET not in result.stderr
    assert SECRET not in json.dumps(result.messages)
    signatures = re.findall(r"X-Goog-Signature=([^&\s\"']+)", result.stderr)
    assert signatures and set(signatures) == {"[REDACTED]"}
    assert emulator.counters(SECRET).leaked_keys == 0
    # Every fault the emulator injected was on this key's requests, and there were some.
    assert emulator.counters(SECRET).faults == sum(emulator.faults_injected.values()) > 0


def test_key_is_never_sent_to_the_download_host(make_emulator, tmp_path):
    emulator = make_emulator()
    result = run_tap(tmp_path, base_config(emulator, profiles=["@size700"]))
    assert result.returncode == 0
    assert emulator.counters().downloads == 1 and emulator.counters().leaked_keys == 0


def test_an_api_echoing_the_key_is_redacted(httpserver, tmp_path):
    answer_usage(httpserver)

    def echo(request: Request) -> Response:
        body = {
            "status": "error",
            "error": "invalid_api_key",
            "message": f"key {request.headers['X-API-Key']} is revoked",
        }
        return Response(json.dumps(body), status=401, content_type="application/json")

    httpserver.expect_request("/v1/tiktok/profile").respond_with_handler(echo)
    config = {"api_key": SECRET, "api_url": httpserver.url_for("/v1"), "profiles": ["@tiktok"]}
    result = run_tap(tmp_path, config, env={"TAP_VIDNAVIGATOR_LOGLEVEL": "DEBUG"})
    assert result.returncode == 1
    assert SECRET not in result.stderr
    assert "key [REDACTED] is revoked" in result.last_line


def test_redacting_filter_covers_messages_args_and_tracebacks():
    register_secret("abcd-secret-key")
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "got %s", ("abcd-secret-key",), None
    )
    try:
        raise ValueError(
            "https://s/x.json?X-Goog-Signature=deadbeef&X-Goog-Expires=1 abcd-secret-key"
        )
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert record.getMessage() == "got [REDACTED]"
    assert "deadbeef" not in record.exc_text and "abcd-secret-key" not in record.exc_text
    assert redact("X-API-Key: abcd-secret-key") == "X-API-Key: [REDACTED]"


def test_a_redirect_is_refused_so_the_key_goes_nowhere_else(httpserver, tmp_path):
    from pytest_httpserver import HTTPServer

    answer_usage(httpserver)

    elsewhere = HTTPServer(host="127.0.0.1", port=0)
    elsewhere.expect_request("/v1/tiktok/profile").respond_with_json({"status": "success"})
    elsewhere.start()
    try:
        httpserver.expect_request("/v1/tiktok/profile").respond_with_data(
            "", status=307, headers={"Location": elsewhere.url_for("/v1/tiktok/profile")}
        )
        config = {"api_key": SECRET, "api_url": httpserver.url_for("/v1"), "profiles": ["@tiktok"]}
        result = run_tap(tmp_path, config)
        assert result.returncode == 1
        assert "HTTP 307, a redirect to 127.0.0.1" in result.last_line
        assert all(SECRET not in str(request.headers) for request, _ in elsewhere.log)
        assert elsewhere.log == []
    finally:
        elsewhere.stop()


def test_download_session_never_carries_credentials(tmp_path, monkeypatch):
    import requests

    from tap_vidnavigator.download import download_session

    netrc = tmp_path / ".netrc"
    netrc.write_text("machine storage.example login user password hunter2\n")
    monkeypatch.setenv("NETRC", str(netrc))
    prepared = download_session().prepare_request(
        requests.Request("GET", "https://storage.example/x.json")
    )
    assert "Authorization" not in prepared.headers and "X-API-Key" not in prepared.headers
