"""video_transcripts: exact against the emulator's ground truth, once per video, STATE bounded."""

from __future__ import annotations

import collections
import itertools
import json
import threading
import typing as t

import pytest

from tap_vidnavigator.enrichment_state import PENDING, RANGES
from tap_vidnavigator.families import TRANSCRIPTS
from tap_vidnavigator.records.values import to_datetime
from tests.conftest import HELD, KEY, base_config, run_tap, start_tap, wait_for
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
    results = batched(run.messages, "search_results") if batching else run.records("search_results")
    expected = {v["id"]: _expected_row(emulator, v, "profile", PROFILE) for v in videos}
    for result in results:
        expected.setdefault(result["id"], _expected_row(emulator, result, "search", QUERY))
    rows = _rows(run, batching)
    assert _without_moving(rows) == expected
    # Both kinds of answer are among them: the test sees captions and their absence.
    sources = {row["text_source"] for row in rows}
    assert sources == {"captions", "none"}
    assert emulator.transcripts.counters[KEY].transcript_calls == len(expected)


def test_a_second_run_asks_only_for_the_new_videos(make_emulator, tmp_path):
    emulator = make_emulator()
    config = _config(emulator, tmp_path)
    config.update(profiles=[PROFILE], searches=[QUERY], lookback_days=3)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    calls = emulator.transcripts.counters[KEY].transcript_calls
    emulator.advance_clock(days=1)
    new = emulator.state.publish(PROFILE, 3)
    second = run_tap(tmp_path, config, state=first.last_state)
    assert second.returncode == 0, second.stderr
    # The second scrape saw old videos again (lookback_days) and asked only for the new.
    assert {v["id"] for v in second.records("videos")} > {str(v["id"]) for v in new}
    assert {r["video_id"] for r in second.records(STREAM)} == {str(v["id"]) for v in new}
    assert emulator.transcripts.counters[KEY].transcript_calls == calls + 3
    for row in first.records(STREAM) + second.records(STREAM):
        assert emulator.transcripts.calls_for(row["video_url"]) == 1


def test_max_per_run_leaves_the_rest_to_later_runs_newest_first(make_emulator, tmp_path):
    emulator = make_emulator()
    config = _config(emulator, tmp_path, max_per_run=15)
    config.update(profiles=[PROFILE], lookback_days=0)
    state, taken = None, []
    for expected in (15, 15, 10, 0):
        run = run_tap(tmp_path, config, state=state)
        assert run.returncode == 0, run.stderr
        rows = run.records(STREAM)
        assert len(rows) == expected
        taken.append(rows)
        state = run.last_state
    everything = [row for rows in taken for row in rows]
    videos = emulator.ground_truth(PROFILE)
    assert sorted(r["video_id"] for r in everything) == sorted(v["id"] for v in videos)
    # Each run took the newest of what was left.
    for earlier, later in itertools.pairwise(taken):
        if later:
            assert min(r["published_at"] for r in earlier) > max(r["published_at"] for r in later)
    for video in videos:
        assert emulator.transcripts.calls_for(video["url"]) == 1


def _state_of(run) -> dict[str, t.Any]:
    return run.last_state["bookmarks"][STREAM]


def test_state_size_is_the_same_for_100_and_1000_transcribed_videos(make_emulator, tmp_path):
    sizes = {}
    for count in (100, 1000):
        emulator = make_emulator()
        config = _config(emulator, tmp_path)
        config.update(profiles=[f"@size{count:04d}"])
        run = run_tap(tmp_path, config)
        assert run.returncode == 0, run.stderr
        assert len(run.records(STREAM)) == count
        state = _state_of(run)
        assert state.get(PENDING, []) == []
        assert list(state[RANGES]) == [f"profile https://www.tiktok.com/@size{count:04d}"]
        sizes[count] = len(json.dumps(state))
    assert sizes[100] == sizes[1000]


class _Stream:
    name = "video_transcripts"

    def __init__(self) -> None:
        self.stream_state: dict[str, t.Any] = {}


def test_the_pending_list_is_bounded_and_the_ranges_give_up_what_it_dropped(monkeypatch):
    import logging

    from tap_vidnavigator import enrichment_state
    from tap_vidnavigator.enrichment_state import Candidate

    monkeypatch.setattr(enrichment_state, "PENDING_LIMIT", 3)
    store = enrichment_state.EnrichmentState(_Stream(), logging.getLogger("test"))
    times = [f"2026-01-0{day}T00:00:00+00:00" for day in range(1, 6)]
    seen = [
        (when, Candidate(str(i), f"u{i}", when, "profile", "p")) for i, when in enumerate(times)
    ]
    assert store.add_seen("profile p", seen, complete=True) == 5
    # The three newest wait; the range no longer claims the two oldest.
    assert [entry[0] for entry in store.pending] == ["4", "3", "2"]
    assert store.ranges["profile p"] == ["2026-01-02T00:00:00.000001+00:00", times[-1]]
    assert not store.covered("profile p", times[1]) and store.covered("profile p", times[2])
    # Seen again, the waiting are not added twice; the dropped come back (and, the list
    # being full of newer ones, are dropped again).
    assert store.add_seen("profile p", seen, complete=True) == 2
    assert [entry[0] for entry in store.pending] == ["4", "3", "2"]
    store.done({"4", "3"})
    assert store.add_seen("profile p", seen[:2], complete=True) == 2
    assert sorted(entry[0] for entry in store.pending) == ["0", "1", "2"]


CAPTIONLESS = "https://www.tiktok.com/@nocaptions_a"
SILENT = "https://www.tiktok.com/@silent_a"


def _speech_config(emulator, tmp_path, profiles: list[str]) -> dict[str, t.Any]:
    config = _config(emulator, tmp_path, speech_to_text=True, max_transcription_hours_per_run=5)
    config["profiles"] = [{"profile_url": url, "max_posts": 4} for url in profiles]
    return config


def _expected_speech_row(
    emulator, video: dict[str, t.Any], task_id: str, *, captions_asked: bool = True
) -> dict[str, t.Any]:
    """A video's speech-to-text row; ``captions_asked``: its captions call was made in
    the same run (a resumed task's row counts only the transcription)."""
    desk = emulator.transcripts
    captions = 0.0001 if captions_asked else 0
    url = video["url"]
    speech, info = desk.speech_of(url), desk.video_info_of(url)
    row = {
        "video_id": video["id"], "video_url": url, "found_by": "profile",
        "subject": url.split("/video/")[0], "published_at": to_datetime(video["published_at"]),
        "requested_language": None, "available_languages": [], "duration": info["duration"],
        "title": info["title"], "views": info["views"], "task_id": task_id,
    }  # fmt: skip
    if speech is None:
        row.update(text_source="none", language=None, segments=None, text=None,
                   no_transcript_reason="speech_to_text_failed", credits_used=captions)  # fmt: skip
    else:
        usage = desk.transcription_usage(url)
        row.update(text_source="speech_to_text", language=speech.language,
                   segments=[dict(s) for s in speech.segments], text=speech.text,
                   no_transcript_reason=None,
                   credits_used=round(usage["total_credits"] + captions, 6))  # fmt: skip
    return row


@pytest.mark.parametrize("batching", [False, True], ids=["RECORD", "BATCH"])
def test_speech_to_text_for_videos_without_captions_and_its_failures(
    make_emulator, tmp_path, batching
):
    emulator = make_emulator()
    config = _speech_config(emulator, tmp_path, [CAPTIONLESS, SILENT])
    if batching:
        config["batch_config"] = batch_config(tmp_path / "batches")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    videos = batched(run.messages, "videos") if batching else run.records("videos")
    assert len(videos) == 8
    rows = _without_moving(_rows(run, batching))
    expected = {}
    for video in videos:
        tasks = emulator.transcripts.transcriptions_of(video["url"])
        assert len(tasks) == 1
        expected[video["id"]] = _expected_speech_row(emulator, video, tasks[0])
    assert rows == expected
    assert {r["text_source"] for r in rows.values()} == {"speech_to_text", "none"}
    counters = emulator.transcripts.counters[KEY]
    assert (counters.transcriptions_completed, counters.transcriptions_failed) == (4, 4)
    if batching:
        # A finished transcription leaves STATE only after its row's BATCH message.
        messages = run.messages
        first_batch = next(
            i for i, m in enumerate(messages) if m["type"] == "BATCH" and m["stream"] == STREAM
        )
        flights = [
            (i, len(m["value"]["bookmarks"].get(STREAM, {}).get("in_flight", {})))
            for i, m in enumerate(messages)
            if m["type"] == "STATE"
        ]
        peak = max(range(len(flights)), key=lambda n: flights[n][1])
        assert flights[peak][1] > 0
        first_drop = next(i for i, count in flights[peak:] if count < flights[peak][1])
        assert first_batch < first_drop


def test_killed_during_speech_to_text_then_rerun_buys_nothing_twice(make_emulator, tmp_path):
    from tap_vidnavigator.emulator import TranscriptConfig
    from tests.test_state import _run_until

    # Held: the four jobs stay processing until the test completes them.
    emulator = make_emulator(transcripts=TranscriptConfig(transcription_seconds=HELD))
    config = _speech_config(emulator, tmp_path, [CAPTIONLESS])

    def all_submitted(messages: list[dict]) -> bool:
        states = [m["value"] for m in messages if m["type"] == "STATE"]
        in_flight = states[-1]["bookmarks"].get(STREAM, {}).get("in_flight", {}) if states else {}
        return len(in_flight) == 4

    killed = _run_until(tmp_path, config, all_submitted)
    assert not [m for m in killed if m.get("stream") == STREAM and m["type"] == "RECORD"]
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    assert len(emulator.complete()) == 4  # the four jobs, processing at the kill
    rerun = run_tap(tmp_path, config, state=state)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("Resuming task") == 4
    videos = emulator.ground_truth(CAPTIONLESS, max_posts=4)
    rows = _without_moving(rerun.records(STREAM))
    assert rows == {
        v["id"]: _expected_speech_row(emulator, v, emulator.transcripts.transcriptions_of(
            v["url"])[0], captions_asked=False) for v in videos
    }  # fmt: skip
    # STATE lost (a new state ID, a full refresh): the ledger still knows.
    again = run_tap(tmp_path, config)
    assert again.returncode == 0, again.stderr
    for video in videos:
        assert len(emulator.transcripts.transcriptions_of(video["url"])) == 1
        assert emulator.transcripts.bought(video["url"]) == 1
    assert {r["no_transcript_reason"] for r in again.records(STREAM)} == {
        "speech_to_text_bought_before"
    }


def test_429_and_5xx_are_retried_and_every_row_still_lands_once(make_emulator, tmp_path):
    from tap_vidnavigator.emulator import FaultPlan

    faults = FaultPlan(rate=0.3, kinds=("429", "500"), retry_after=0.05, routes=("transcript",))
    emulator = make_emulator(faults)
    config = _config(emulator, tmp_path, concurrency=4)
    config.update(profiles=[PROFILE], max_retries=10)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert "Retrying POST /v1/transcript" in run.stderr
    expected = {
        v["id"]: _expected_row(emulator, v, "profile", PROFILE) for v in run.records("videos")
    }
    assert _without_moving(run.records(STREAM)) == expected


def test_selected_alone_it_needs_no_other_stream_and_off_it_costs_nothing(emulator, tmp_path):
    from tests.test_video_stats import _catalog, _discover

    config = _config(emulator, tmp_path)
    config["profiles"] = [PROFILE]
    catalog = json.loads(_discover(tmp_path, config))
    alone = run_tap(tmp_path, config, args=["--catalog", _catalog(tmp_path, catalog, {STREAM})])
    assert alone.returncode == 0, alone.stderr
    streams = {m["stream"] for m in alone.messages if m["type"] in ("RECORD", "SCHEMA")}
    assert streams == {STREAM}
    assert len(alone.records(STREAM)) == 40
    # Off (the default), nothing is asked for, even with the stream selected.
    off = run_tap(tmp_path, base_config(emulator, profiles=["@size30"]))
    assert off.returncode == 0, off.stderr
    assert off.records(STREAM) == []
    assert emulator.transcripts.counters[KEY].transcript_calls == 40


def test_preferred_languages_first_first_with_one_more_call_when_needed(make_emulator, tmp_path):
    emulator = make_emulator()
    preferred = ["fr", "en"]
    config = _config(emulator, tmp_path, languages=preferred)
    config["profiles"] = [PROFILE]
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    desk, expected, second_calls = emulator.transcripts, {}, 0
    for video in run.records("videos"):
        row = _expected_row(emulator, video, "profile", PROFILE)
        spoken = desk.transcript_of(video["url"])
        if spoken is not None:
            # The first call asks for the first choice; only when it served another track
            # than the best one the video has, one more call asks for that.
            pick = next((c for c in preferred if c in spoken.available_languages), None)
            served = desk.transcript_of(video["url"], preferred[0]).language
            asked = preferred[0] if pick in (None, served) else pick
            second_calls += asked != preferred[0]
            track = desk.transcript_of(video["url"], asked)
            row.update(language=track.language, requested_language=asked,
                       segments=[dict(s) for s in track.segments], text=track.text,
                       credits_used=0.0002 if asked != preferred[0] else 0.0001)  # fmt: skip
        expected[video["id"]] = row
    assert _without_moving(run.records(STREAM)) == expected
    assert second_calls  # the case is exercised
    assert desk.counters[KEY].transcript_calls == 40 + second_calls
    assert {r["language"] for r in expected.values()} >= {"fr", "en"}


def test_resharding_keeps_every_range_pending_video_and_transcription_once():
    from orchestrate.shard import _merge_states, _only_shard
    from tap_vidnavigator.shards import shard_of

    def shard_state(subjects: list[str]) -> dict[str, t.Any]:
        ranges = {f"profile {s}": ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
                  for s in subjects}  # fmt: skip
        pending = [[f"{n}{s}", f"{s}/video/{n}", f"2026-01-0{n}T00:00:00+00:00", "profile", s]
                   for s in subjects for n in (1, 2)]  # fmt: skip
        flying = {pending[0][1]: {"task_id": "t-" + subjects[0], "video_url": pending[0][1]}}
        value = {RANGES: ranges, PENDING: pending, "in_flight": flying}
        return {"bookmarks": {STREAM: value}}

    subjects = [f"https://www.tiktok.com/@p{n}" for n in range(12)]
    merged = _merge_states([shard_state(subjects[:6]), shard_state(subjects[6:])])
    whole = merged["bookmarks"][STREAM]
    assert len(whole[RANGES]) == 12 and len(whole[PENDING]) == 24
    assert len(whole["in_flight"]) == 2
    parts = [_only_shard(merged, index, 3)["bookmarks"][STREAM] for index in range(3)]
    assert sorted(k for p in parts for k in p[RANGES]) == sorted(whole[RANGES])
    assert sorted(e[0] for p in parts for e in p[PENDING]) == sorted(e[0] for e in whole[PENDING])
    assert sorted(u for p in parts for u in p["in_flight"]) == sorted(whole["in_flight"])
    for index, part in enumerate(parts):
        assert all(shard_of(e[4], 3) == index for e in part[PENDING])
        assert set(part["in_flight"]) <= {e[1] for e in part[PENDING]}


def test_the_hour_budget_leaves_videos_for_a_later_run(make_emulator, tmp_path):
    emulator = make_emulator()
    config = _speech_config(emulator, tmp_path, [CAPTIONLESS])
    videos = emulator.ground_truth(CAPTIONLESS, max_posts=4)
    hours = sorted(emulator.transcripts.video_info_of(v["url"])["duration"] / 3600 for v in videos)
    # Room for the shortest video only (the newest first that fit).
    config["transcripts"]["max_transcription_hours_per_run"] = hours[0] * 1.01
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    assert len(first.records(STREAM)) == 1
    assert "wait for a later run: max_transcription_hours_per_run" in first.stderr
    assert len(_state_of(first)[PENDING]) == 3
    config["transcripts"]["max_transcription_hours_per_run"] = sum(hours)
    second = run_tap(tmp_path, config, state=first.last_state)
    assert second.returncode == 0, second.stderr
    rows = first.records(STREAM) + second.records(STREAM)
    assert sorted(r["video_id"] for r in rows) == sorted(v["id"] for v in videos)
    assert {r["text_source"] for r in rows} == {"speech_to_text"}
    assert _state_of(second).get(PENDING, []) == []
    for video in videos:
        assert emulator.transcripts.bought(video["url"]) == 1


#: A search naming the profile's creator: the profile's videos with 300 likes or more
#: (most of them, captionless ones among them) and videos of its word that the profile
#: does not have.
CREATOR_SEARCH = {"query": "@size40 kittens size10", "min_likes": 300}


def _found(emulator, profiles, searches) -> dict[str, set[tuple[str, str]]]:
    """Which subjects find each video, by the emulator's ground truth."""
    found: dict[str, set[tuple[str, str]]] = collections.defaultdict(set)
    for url in profiles:
        for video in emulator.ground_truth(url):
            found[video["id"]].add(("profile", url))
    for search in searches:
        body = {"query": search} if isinstance(search, str) else dict(search)
        query = body.pop("query")
        for result in emulator.state.search_ground_truth(query, **body):
            found[result["id"]].add(("search", query))
    return found


@pytest.mark.parametrize(
    ("profiles", "searches"),
    [([], ["kittens size30", "kittens puppies size30"]), ([PROFILE], [CREATOR_SEARCH])],
    ids=["two-searches", "profile-and-search"],
)
def test_a_video_found_through_two_subjects_is_transcribed_once(
    make_emulator, tmp_path, profiles, searches
):
    """Two subjects find some of the same videos (two searches that share a word; a
    profile and a search naming its creator): each video has one row (its first finder's),
    its captions are asked once, and a captionless one is bought once, not once a subject."""
    emulator = make_emulator()
    desk = emulator.transcripts
    config = _config(emulator, tmp_path, speech_to_text=True, max_transcription_hours_per_run=50)
    config.update(profiles=profiles, searches=searches)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    truth = _found(emulator, profiles, searches)
    # The run found exactly what the ground truth says each subject finds.
    found, records = collections.defaultdict(set), {}
    for video in run.records("videos"):
        found[video["id"]].add(("profile", video["profile_url"]))
        records.setdefault(video["id"], video)
    for result in run.records("search_results"):
        found[result["id"]].add(("search", result["query"]))
        records.setdefault(result["id"], result)
    assert found == truth
    shared = {video_id for video_id, subjects in truth.items() if len(subjects) == 2}
    captionless = {i for i in truth if not desk.has_captions(records[i]["url"])}
    # The case is there: shared videos, one of them only speech-to-text could read, and
    # videos only one subject or only the other found.
    assert shared & captionless
    assert len({frozenset(subjects) for subjects in truth.values()}) == 3
    rows = _without_moving(run.records(STREAM))
    assert set(rows) == set(truth)
    for video_id, row in rows.items():
        video, url = records[video_id], records[video_id]["url"]
        finder = (row["found_by"], row["subject"])
        assert finder in truth[video_id]
        if video_id in captionless:
            [task] = desk.transcriptions_of(url)
            expected = _expected_speech_row(emulator, video, task)
        else:
            expected = _expected_row(emulator, video, *finder)
        assert row == {**expected, "found_by": finder[0], "subject": finder[1]}
        assert desk.bought(url) == (video_id in captionless)
        assert desk.calls_for(url) == 1  # captions asked once too
    assert desk.counters[KEY].transcriptions_submitted == len(captionless)


def test_two_runs_at_once_sharing_the_ledger_buy_nothing_twice(make_emulator, tmp_path):
    """Two runs of the same config at once (a retried schedule beside a slow one), the
    ledger in one folder: every captionless video is bought once between them."""
    from tap_vidnavigator.emulator import TranscriptConfig

    # Held: the transcriptions stay processing until both runs are well under way.
    emulator = make_emulator(transcripts=TranscriptConfig(transcription_seconds=HELD))
    config = _speech_config(emulator, tmp_path, [CAPTIONLESS])
    first = start_tap(tmp_path, config, cold=True)
    second = start_tap(tmp_path, config, cold=True)
    desk = emulator.transcripts
    # Both runs asked for the four videos' captions: each is past its scrape.
    wait_for(lambda: desk.counters[KEY].transcript_calls == 8, "both runs asking for captions")
    wait_for(lambda: desk.counters[KEY].transcriptions_submitted >= 4, "transcriptions bought")
    completer = threading.Event()

    def complete_until_done():
        while not completer.is_set():
            emulator.complete()
            completer.wait(0.05)

    thread = threading.Thread(target=complete_until_done)
    thread.start()
    try:
        runs = [first.result(timeout=300), second.result(timeout=300)]
    finally:
        completer.set()
        thread.join()
    for run in runs:
        assert run.returncode == 0, run.stderr
    for video in emulator.ground_truth(CAPTIONLESS, max_posts=4):
        assert desk.bought(video["url"]) == 1, video["url"]
    assert desk.counters[KEY].transcriptions_submitted == 4
