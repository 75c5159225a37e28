"""video_extractions: exact against the emulator's ground truth, once per video, the
schema refused before any request, typed columns, budgets and re-extraction."""

from __future__ import annotations

import json
import typing as t

from tap_vidnavigator.emulator import ExtractionConfig
from tap_vidnavigator.extraction_schema import fingerprint
from tap_vidnavigator.families import EXTRACTION
from tap_vidnavigator.records.extractions import user_values
from tests.conftest import HELD, base_config, expected_videos, run_tap, start_tap, wait_for

STREAM = EXTRACTION.stream
PROFILE = "https://www.tiktok.com/@size5"
#: A schema with one field of each scalar kind, an array and an object.
SCHEMA: dict[str, t.Any] = {
    "brand": {"type": "String", "description": "The brand the video names"},
    "sentiment": {
        "type": "Enum",
        "description": "The video's tone",
        "enum": ["positive", "neutral", "negative"],
    },
    "sponsored": {"type": "Boolean", "description": "Whether the video is sponsored"},
    "mentions": {"type": "Integer", "description": "How many products it names"},
    "score": {"type": "Number", "description": "How enthusiastic it is"},
    "products": {
        "type": "Array",
        "description": "Products named",
        "items": {"type": "String", "description": "A product"},
    },
    "offer": {
        "type": "Object",
        "description": "A call to action",
        "properties": {
            "code": {"type": "String", "description": "A discount code"},
            "percent": {"type": "Integer", "description": "The discount"},
        },
    },
}


def _config(emulator, tmp_path, **extraction: t.Any) -> dict[str, t.Any]:
    setting = {"enabled": True, "schema": SCHEMA, **extraction}
    return base_config(
        emulator,
        profiles=[{"profile_url": PROFILE, "max_posts": 5}],
        ledger_dir=str(tmp_path / "ledger"),
        **{EXTRACTION.setting: setting},
    )


def _expected_row(emulator, video: dict[str, t.Any], *, transcribe: bool = False) -> dict:
    outcome = emulator.extraction.expected(video["url"], SCHEMA, transcribe=transcribe)
    row = {
        "video_id": video["id"],
        "video_url": video["url"],
        "found_by": "profile",
        "profile_url": PROFILE,
        "query": None,
        "schema_fingerprint": fingerprint(SCHEMA, None),
        "credits_used": float(outcome.credits),
        "error_code": outcome.failure.code if outcome.failure else None,
        "error_message": outcome.failure.message if outcome.failure else None,
    }
    row.update(user_values(SCHEMA, outcome.result))
    return row


def _volatile(row: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in row.items() if k not in ("task_id", "extracted_at")}


def test_each_video_once_with_typed_values_exactly_as_the_emulator_extracts(emulator, tmp_path):
    config = _config(emulator, tmp_path)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    videos = expected_videos(emulator, PROFILE)
    rows = first.records(STREAM)
    by_id = {row["video_id"]: _volatile(row) for row in rows}
    assert len(rows) == len(by_id) == len(videos) == 5
    assert by_id == {v["id"]: _expected_row(emulator, v) for v in videos.values()}
    assert all(row["task_id"] and row["extracted_at"] for row in rows)
    for url in (v["url"] for v in videos.values()):
        assert len(emulator.extraction.extractions_of(url)) == 1
    schema_message = [m for m in first.messages if m["type"] == "SCHEMA" and m["stream"] == STREAM]
    properties = schema_message[0]["schema"]["properties"]
    assert properties["sentiment"] == {
        "type": ["string", "null"],
        "enum": ["positive", "neutral", "negative", None],
        "description": "The video's tone",
    }
    assert properties["offer"]["properties"]["percent"]["type"] == ["integer", "null"]
    assert properties["products"] == {
        "type": ["array", "null"],
        "items": {"type": ["string", "null"], "description": "A product"},
        "description": "Products named",
    }
    # A second run (a lookback finds the same videos) extracts nothing again.
    second = run_tap(tmp_path, config, state=first.last_state)
    assert second.returncode == 0, second.stderr
    assert second.records(STREAM) == []
    for url in (v["url"] for v in videos.values()):
        assert len(emulator.extraction.extractions_of(url)) == 1


def test_a_refused_schema_stops_before_any_request(emulator, tmp_path):
    bad = {
        "Brand": {"type": "String", "description": "one"},
        "brand": {"type": "String", "description": "two"},
        "video_id": {"type": "Integer", "description": "a clash"},
        "tone": {"type": "Enum", "description": "no values"},
        "list": {"type": "Array", "description": "no items"},
    }
    config = base_config(
        emulator,
        profiles=[PROFILE],
        **{EXTRACTION.setting: {"enabled": True, "schema": bad}},
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "Invalid setting" in line]
    text = "\n".join(errors)
    for name in ("brand", "video_id", "tone", "list"):
        assert name in text, text
    assert emulator.counters().submits == 0
    counters = emulator.counters()
    assert (counters.polls, counters.usage_reads, counters.page_requests) == (0, 0, 0)


def test_reextract_buys_the_older_videos_again_under_the_new_schema(emulator, tmp_path):
    config = _config(emulator, tmp_path)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    changed = dict(SCHEMA, brand={"type": "String", "description": "The main brand named"})
    again = _config(emulator, tmp_path, schema=changed, reextract=True, max_per_run=2)
    second = run_tap(tmp_path, again, state=first.last_state)
    assert second.returncode == 0, second.stderr
    videos = sorted(
        expected_videos(emulator, PROFILE).values(), key=lambda v: v["published_at"], reverse=True
    )
    rows = second.records(STREAM)
    # Newest first, within max_per_run, under the new fingerprint.
    assert [r["video_id"] for r in rows] == [v["id"] for v in videos[:2]]
    assert {r["schema_fingerprint"] for r in rows} == {fingerprint(changed, None)}
    for video in videos:
        assert len(emulator.extraction.extractions_of(video["url"])) == (
            2 if video in videos[:2] else 1
        )


def test_the_budget_buys_what_fits_by_the_estimate(emulator, tmp_path):
    config = _config(emulator, tmp_path, max_per_run=5)
    config["max_credits_per_run"] = 2.5
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    extracted = result.records(STREAM)
    # Two estimates of 1 credit fit under 2.5; a third would not (the first job's real
    # price, once known, is at least 1 too): the other three wait, pending, for a later run.
    assert len(extracted) == 2, json.dumps(extracted)
    pending = result.last_state["bookmarks"][STREAM]["pending"]
    assert len(pending) == 3
    assert {entry[0] for entry in pending}.isdisjoint(r["video_id"] for r in extracted)


def test_a_run_that_gave_up_on_running_jobs_is_resumed_not_bought_again(make_emulator, tmp_path):
    """Extraction jobs still processing when a run ends (task_timeout here; a crash
    leaves the same STATE) are polled by the next run: each video bought once."""
    emulator = make_emulator(extraction=ExtractionConfig(processing_seconds=HELD))
    config = _config(emulator, tmp_path, max_per_run=2)
    first = run_tap(tmp_path, {**config, "task_timeout": 1})
    assert first.returncode == 1  # the two jobs timed out: a problem of the run
    assert first.records(STREAM) == []
    saved = first.last_state["bookmarks"][STREAM]["in_flight"]
    assert len(saved) == 2
    assert len(emulator.complete()) == 2
    running = start_tap(tmp_path, config, state=first.last_state)
    # The rerun buys two more videos (held too): complete them once both are submitted.
    wait_for(lambda: len(emulator.extraction.tasks) == 4, "the rerun's two new jobs")
    assert len(emulator.complete()) == 2
    second = running.result(timeout=300)
    assert second.returncode == 0, second.stderr
    rows = second.records(STREAM)
    # The two resumed jobs' rows, then two more videos (max_per_run counts new ones).
    resumed = {entry["task_id"] for entry in saved.values()}
    assert resumed <= {row["task_id"] for row in rows}
    assert len(rows) == 4
    jobs = {
        video["id"]: len(emulator.extraction.extractions_of(video["url"]))
        for video in expected_videos(emulator, PROFILE).values()
    }
    assert jobs == {video_id: int(video_id in {r["video_id"] for r in rows}) for video_id in jobs}


def test_a_video_found_through_a_profile_and_a_search_is_extracted_once(emulator, tmp_path):
    """A search naming the profile's creator finds its videos again, beside videos of its
    word: each video has one row (its first finder's) and is extracted once."""
    query = "@size5 kittens size2"
    config = _config(emulator, tmp_path)
    config["searches"] = [query]
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    profile = set(expected_videos(emulator, PROFILE))
    found = {r["id"]: r for r in emulator.state.search_ground_truth(query)}
    # The search found every video of the profile, and two the profile does not have.
    assert profile < set(found) and len(found) == 7
    assert {r["id"] for r in run.records("search_results")} == set(found)
    rows = run.records(STREAM)
    by_id = {row["video_id"]: _volatile(row) for row in rows}
    assert len(rows) == len(by_id)
    assert set(by_id) == set(found)
    for video_id, row in by_id.items():
        expected = _expected_row(emulator, found[video_id])
        if video_id not in profile or row["found_by"] == "search":
            expected.update(found_by="search", profile_url=None, query=query)
        assert row == expected
        assert len(emulator.extraction.extractions_of(found[video_id]["url"])) == 1
