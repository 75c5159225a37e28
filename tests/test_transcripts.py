"""video_transcripts: exact against the emulator's ground truth, once per video, STATE bounded."""

from __future__ import annotations

import json
import typing as t

import pytest

from tap_vidnavigator.families import TRANSCRIPTS
from tap_vidnavigator.transcript_state import PENDING, PENDING_LIMIT, RANGES
from tests.conftest import KEY, base_config, run_tap
from tests.test_batch import batch_config, batched

STREAM = TRANSCRIPTS.stream
PROFILE = "https://www.tiktok.com/@size40"
QUERY = "sourdough"
#: Volatile columns: when the row was fetched.
MOVING = ("fetched_at",)


def _config(emulator, tmp_path, **transcripts: t.Any) -> dict[str, t.Any]:
    setting = {"enabled": True, "ledger_path": str(tmp_path / "ledger.jsonl"), **transcripts}
    return base_config(emulator, **{TRANSCRIPTS.setting: setting})


def _rows(run, batching: bool) -> list[dict[str, t.Any]]:
    return batched(run.messages, STREAM) if batching else run.records(STREAM)


def _expected_row(emulator, video: dict[str, t.Any], found_by: str, subject: str) -> dict:
    """The row of one video as the emulator's ground truth makes it (captions only)."""
    url = video["url"]
    desk = emulator.transcripts
    track = desk.transcript_of(url)
    info = desk.video_info_of(url)
    row = {
        "video_id": video["id"],
        "video_url": url,
        "found_by": found_by,
        "subject": subject,
        "published_at": video["published_at"],
        "requested_language": None,
        "available_languages": list(info["available_languages"]),
        "duration": info["duration"],
        "title": info["title"],
        "views": info["views"],
        "task_id": None,
        "credits_used": 0.0001,
    }
    if track is None:
        row.update(text_source="none", language=None, segments=None, text=None,
                   no_transcript_reason="no_captions")  # fmt: skip
    else:
        row.update(text_source="captions", language=track.language,
                   segments=[dict(s) for s in track.segments], text=track.text,
                   no_transcript_reason=None)  # fmt: skip
    return row


def _without_moving(rows: list[dict]) -> dict[str, dict]:
    by_id = {r["video_id"]: {k: v for k, v in r.items() if k not in MOVING} for r in rows}
    assert len(by_id) == len(rows), "a video has two rows"
    return by_id


@pytest.mark.parametrize("batching", [False, True], ids=["RECORD", "BATCH"])
def test_profiles_and_searches_land_exactly_the_emulators_transcripts(
    make_emulator, tmp_path, batching
):
    emulator = make_emulator()
    config = _config(emulator, tmp_path)
    config.update(profiles=[PROFILE], searches=[QUERY])
    if batching:
        config["batch_config"] = batch_config(tmp_path / "batches")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    videos = batched(run.messages, "videos") if batching else run.records("videos")
    results = (
        batched(run.messages, "search_results") if batching else run.records("search_results")
    )
    expected = {v["id"]: _expected_row(emulator, v, "profile", PROFILE) for v in videos}
    for result in results:
        expected.setdefault(result["id"], _expected_row(emulator, result, "search", QUERY))
    rows = _rows(run, batching)
    assert _without_moving(rows) == expected
    # Both kinds of answer are among them: the test sees captions and their absence.
    sources = {row["text_source"] for row in rows}
    assert sources == {"captions", "none"}
    assert emulator.transcripts.counters[KEY].transcript_calls == len(expected)
