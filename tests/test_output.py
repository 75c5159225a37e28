"""What a person reads: one line per task state change and a summary, no SDK chatter by
default; the detail back at DEBUG; one-line config file errors; help and about that say
what the tap does; request metrics labelled by their own kind."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, base_config, minimal_env, run_tap

#: What the SDK says at INFO about itself, one line per stream, context or request.
SDK_CHATTER = (
    "METRIC: ",
    "Beginning sync of",
    "Starting incremental sync",
    "Added 'videos' as child stream",
    "Skipping parse of env var settings",
    "Parsing env var for settings config",
    "Meltano SDK v",
)
ROUTES = {
    "profile_tasks": "/tiktok/profile",
    "videos": "/tiktok/profile/",
    "search_tasks": "/tiktok/search",
    "search_results": "/tiktok/search/",
    "account_usage": "/usage",
}


def _tap_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tap_vidnavigator.tap", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env=minimal_env(**(env or {})),
    )  # fmt: skip


def test_default_output_is_a_line_per_state_change_and_a_summary(make_emulator, tmp_path):
    # Each task's first poll finds it processing (on any machine), the next its end.
    emulator = make_emulator(processing_polls=1)
    config = base_config(emulator, profiles=["@tiktok", "@notfound_x"], searches=["#airfryer"])
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line.split(" | ")[-1] for line in run.stderr.splitlines() if line.strip()]
    for chatter in SDK_CHATTER:
        assert not [line for line in lines if chatter in line], chatter
    tasks = {m.group(1) for line in lines if (m := re.match(r"Submitted task (\S+) for", line))}
    assert len(tasks) == 3
    for task_id in tasks:
        mine = [re.sub(r" for .*?(is|completed|failed)", r" \1", line) for line in lines]
        mine = [line for line in mine if task_id in line]
        # Submitted, processing, then one line for its end: completed with what it
        # found, or failed with why.
        assert len(mine) == 3, mine
        assert mine[0].startswith("Submitted task")
        assert mine[1] == f"Task {task_id} is processing"
        assert re.match(rf"Task {task_id} (completed: |failed: )", mine[2]), mine[2]
    summaries = [line for line in lines if line.startswith("Run summary: ")]
    assert len(summaries) == 2
    assert lines[0] == "Account: plan Odyssey, unlimited monthly credits, 0 purchased"
    # Nothing else: the balance, each line above, the two summaries and no other line.
    assert len(lines) == 1 + 3 * 3 + 2, lines


def test_a_kind_without_tasks_says_so_in_its_summary(emulator, tmp_path):
    run = run_tap(tmp_path, base_config(emulator, profiles=["@tiktok"]))
    assert run.returncode == 0
    assert "0 search_tasks records" in run.stderr
    assert "credits: none (no task of this kind)" in run.stderr
    assert "not reported by the API" not in run.stderr


def _metric_points(stderr: str) -> list[dict]:
    return [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in stderr.splitlines()
        if "METRIC: " in line
    ]


def test_debug_brings_the_sdk_detail_back_and_metrics_name_their_kind(emulator, tmp_path):
    config = base_config(
        emulator, profiles=["@tiktok"], searches=["#airfryer"], use_download_url=False, page_size=10
    )
    run = run_tap(tmp_path, config, env={"TAP_VIDNAVIGATOR_LOGLEVEL": "debug"})
    assert run.returncode == 0
    assert "Beginning sync of 'search_tasks'" in run.stderr
    requests = [p for p in _metric_points(run.stderr) if p["metric"] == "http_request_duration"]
    labels = {(p["tags"]["stream"], p["tags"]["endpoint"]) for p in requests}
    assert {stream for stream, _ in labels} == set(ROUTES)
    for stream, endpoint in labels:
        assert endpoint.startswith(ROUTES[stream]), (stream, endpoint)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            '{"api_key": "x",\n',
            "is not valid JSON: Expecting property name enclosed in double quotes at line 2 "
            "column 1",
        ),
        ('["@tiktok"]', "must hold a JSON object of settings, not list"),
        (None, "does not exist"),
    ],
    ids=["malformed", "not an object", "missing"],
)
@pytest.mark.parametrize("args", [(), ("--test",)], ids=["run", "check"])
def test_a_bad_config_file_is_one_line(tmp_path, content, problem, args):
    config = tmp_path / "config.json"
    if content is not None:
        config.write_text(content)
    result = _tap_cli("--config", str(config), *args)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.endswith(f"tap-vidnavigator failed: config file {config} {problem}")


def test_discovery_without_config_warns_nothing():
    result = _tap_cli("--discover")
    assert result.returncode == 0
    assert result.stderr == ""
    streams = {s["tap_stream_id"] for s in json.loads(result.stdout)["streams"]}
    # Every stream that calls the API, video_stats, which calls none, and
    # the enrichments video_transcripts and video_extractions (off unless their settings
    # turn them on).
    assert streams == {*ROUTES, "video_stats", "video_transcripts", "video_extractions"}


def test_help_says_test_is_the_free_key_check():
    result = _tap_cli("--help")
    help_text = " ".join(result.stdout.split())
    assert (
        "--test TEXT Check the API key with one free call (submits nothing, spends no credits)"
        in help_text
    )
    assert "sync a single record" not in help_text


@pytest.mark.parametrize("format_", ["text", "json"])
def test_about_describes_profiles_and_searches(format_):
    result = _tap_cli("--about", *(["--format", format_] if format_ == "json" else []))
    assert result.returncode == 0
    about = result.stdout if format_ == "text" else json.loads(result.stdout)["description"]
    assert "profile scrapes and keyword searches" in about


def test_a_shard_without_search_tasks_does_not_claim_unreported_credits(emulator, tmp_path):
    from tap_vidnavigator.shards import shard_of

    queries = [q for q in (f"query {n}" for n in range(20)) if shard_of(q, 2) == 1][:2]
    profiles = [f"@creator{n:02d}" for n in range(4)]
    mine = [p for p in profiles if shard_of(f"https://www.tiktok.com/{p}", 2) == 0]
    assert queries and mine
    config = base_config(
        emulator, profiles=profiles, searches=queries, shard_count=2, shard_index=0
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    [summary] = [line for line in run.stderr.splitlines() if "0 search_tasks records" in line]
    assert "credits: none (no task of this kind)" in summary
    assert "not reported by the API" not in run.stderr
    assert emulator.counters().submits == len(mine)
