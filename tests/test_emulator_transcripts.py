"""Contract tests of the emulator's transcript routes, over real HTTP.

``POST /transcript`` (captions), ``POST /transcribe/async`` and ``GET
/transcribe/{task_id}`` (speech-to-text), as docs/emulator-transcripts.md describes them.
"""

from __future__ import annotations

import decimal
import time

import pytest
import requests

from tap_vidnavigator.emulator import FaultPlan, transcript_options
from tap_vidnavigator.emulator.__main__ import _parser, main
from tap_vidnavigator.emulator.captions import LANGUAGES, parse_video_url
from tap_vidnavigator.emulator.transcript_options import TranscriptConfig
from tests.conftest import HELD, ManualClock

# Run once, on the default Python, not on each Python of the matrix (noxfile.py):
# the emulator's transcript routes and options: no code of the tap runs.
pytestmark = pytest.mark.python_independent

KEY = {"X-API-Key": "demo-key"}
KEY2 = {"X-API-Key": "demo-key-2"}
PROFILE = "https://www.tiktok.com/@size40"
VIDEO_INFO_FIELDS = {
    "title", "description", "thumbnail", "url", "channel", "channel_url", "duration",
    "views", "likes", "published_date", "keywords", "category", "available_languages",
    "selected_language",
}  # fmt: skip


def transcript(emulator, video_url, headers=KEY, **options):
    return requests.post(
        f"{emulator.url}/transcript", json={"video_url": video_url, **options}, headers=headers,
        timeout=10,
    )  # fmt: skip


def transcribe(emulator, video_url, headers=KEY, **options):
    body = {"video_url": video_url, "transcript_text": False, "all_videos": False, **options}
    return requests.post(f"{emulator.url}/transcribe/async", json=body, headers=headers, timeout=10)


def job(emulator, task_id, headers=KEY, **params):
    return requests.get(
        f"{emulator.url}/transcribe/{task_id}", params=params, headers=headers, timeout=10
    )


def urls(emulator, profile=PROFILE):
    return [video["url"] for video in emulator.ground_truth(profile)]


def split(emulator, profile=PROFILE):
    """The profile's videos with captions and without, by the ground truth."""
    videos = urls(emulator, profile)
    without = emulator.transcripts.captionless(videos)
    return [url for url in videos if url not in without], without


# 1. Captions ---------------------------------------------------------------------------


def test_every_video_of_a_profile_answers_its_captions_or_404(emulator):
    with_captions, without = split(emulator)
    assert with_captions and without  # the profile has both kinds
    for url in with_captions:
        answer = transcript(emulator, url, include_usage=True)
        assert answer.status_code == 200
        body = answer.json()
        truth = emulator.transcripts.transcript_of(url)
        assert body["data"]["transcript"] == list(truth.segments)
        info = body["data"]["video_info"]
        assert set(info) == VIDEO_INFO_FIELDS
        assert info == emulator.transcripts.video_info_of(url)
        assert info["selected_language"] == truth.language == truth.available_languages[0]
        assert info["available_languages"] == list(truth.available_languages)
        assert body["usage"] == {
            "charges": [
                {"service_type": "standard_request", "quantity": 1, "credits": 0.0001,
                 "waived": False, "credits_saved": 0},
            ],
            "total_credits": 0.0001,
            "credits_remaining_after": None,
            "waived": None,
        }  # fmt: skip
    for url in without:
        answer = transcript(emulator, url)
        assert answer.status_code == 404
        assert answer.json()["error"] == "transcript_not_available"
    counters = emulator.transcripts.counters["demo-key"]
    assert counters.transcript_calls == len(with_captions) + len(without)
    assert (counters.transcripts_served, counters.no_captions) == (
        len(with_captions),
        len(without),
    )
    # One standard_request each, answered or not (the API reference's billing rule).
    assert counters.credits_charged == decimal.Decimal("0.0001") * counters.transcript_calls


def test_video_info_describes_the_catalogue_video(emulator):
    video = emulator.ground_truth(PROFILE)[3]
    info = transcript(emulator, video["url"], metadata_only=True).json()["data"]["video_info"]
    handle = parse_video_url(video["url"]).handle
    assert info["url"] == video["url"]
    assert (info["channel"], info["channel_url"]) == (handle, f"https://www.tiktok.com/@{handle}")
    assert (info["title"], info["description"]) == (video["title"], video["description"])
    assert info["duration"] == float(video["duration"])
    assert info["views"] == (None if video["views"] is None else int(video["views"]))
    assert info["published_date"] == video["published_at"]
    assert info["category"] is None


def test_transcript_text_is_the_whole_text_in_one_string(emulator):
    [url, *_], _ = split(emulator)
    truth = emulator.transcripts.transcript_of(url)
    body = transcript(emulator, url, transcript_text=True).json()
    assert body["data"]["transcript"] == truth.text
    assert truth.text == " ".join(segment["text"] for segment in truth.segments)
    assert "usage" not in body  # not asked


def test_languages_are_selected_and_fall_back_to_the_spoken_one(emulator):
    tracks = [emulator.transcripts.transcript_of(url) for url in urls(emulator)]
    url, spoken = next(
        (url, track)
        for url, track in zip(urls(emulator), tracks, strict=True)
        if track is not None and len(track.available_languages) > 1
    )
    other = spoken.available_languages[1]
    answer = transcript(emulator, url, language=other.upper()).json()["data"]
    assert answer["video_info"]["selected_language"] == other
    translated = emulator.transcripts.transcript_of(url, other)
    assert answer["transcript"] == list(translated.segments)
    # The same timings, other words.
    assert [(s["start"], s["end"]) for s in translated.segments] == [
        (s["start"], s["end"]) for s in spoken.segments
    ]
    assert translated.text != spoken.text
    missing = next(code for code in LANGUAGES if code not in spoken.available_languages)
    fallback = transcript(emulator, url, language=missing).json()["data"]
    assert fallback["video_info"]["selected_language"] == spoken.language
    assert fallback["transcript"] == list(spoken.segments)


def test_no_captions_with_the_metadata_fallback(emulator):
    _, [url, *_] = split(emulator)
    for as_text, empty in ((False, []), (True, "")):
        body = transcript(emulator, url, fallback_to_metadata=True, transcript_text=as_text).json()
        assert body["data"]["transcript"] == empty
        info = body["data"]["video_info"]
        assert info["available_languages"] == [] and info["selected_language"] is None
        assert info == emulator.transcripts.video_info_of(url)


def test_metadata_only_answers_the_video_info_alone(emulator):
    [url, *_], _ = split(emulator)
    body = transcript(emulator, url, metadata_only=True, fallback_to_metadata=True).json()
    assert set(body["data"]) == {"video_info"}
    info = body["data"]["video_info"]
    assert info["available_languages"] == list(
        emulator.transcripts.transcript_of(url).available_languages
    )
    assert info["selected_language"] is None
    assert info == emulator.transcripts.video_info_of(url, metadata_only=True)
    assert emulator.transcripts.counters["demo-key"].metadata_only == 1


def test_no_caption_handles_and_search_results(emulator):
    assert emulator.transcripts.captionless(urls(emulator, "https://www.tiktok.com/@nocaptions_a"))
    for url in urls(emulator, "https://www.tiktok.com/@nocaptions_a"):
        assert transcript(emulator, url).json()["error"] == "transcript_not_available"
    # A search result is known once a search task that found it was read.
    task = requests.post(
        f"{emulator.url}/tiktok/search", json={"query": "#ramen size5"}, headers=KEY, timeout=10
    ).json()["data"]["task_id"]
    results = emulator.state.search_ground_truth("#ramen size5")
    assert transcript(emulator, results[0]["url"]).json()["error"] == "video_not_found"
    requests.get(f"{emulator.url}/tiktok/search/{task}", headers=KEY, timeout=10)
    for result in results:
        info = emulator.transcripts.video_info_of(result["url"])
        assert info["keywords"] == result["hashtags"]
        assert info["channel"] == result["author"]["unique_id"]
        answer = transcript(emulator, result["url"], fallback_to_metadata=True).json()["data"]
        assert answer["video_info"] == info
        truth = emulator.transcripts.transcript_of(result["url"])
        assert answer["transcript"] == ([] if truth is None else list(truth.segments))


def test_a_profile_video_found_by_a_search_is_the_same_video_either_way(make_emulator):
    """A search for ``@size40`` finds the profile's videos; known through that search
    first, each answers what it answers known through the profile: the same captions,
    video_info (duration, title, thumbnail) and speech."""
    through_profile, through_search = make_emulator(), make_emulator()
    task = requests.post(
        f"{through_search.url}/tiktok/search",
        json={"query": "@size40 #ramen size5"},
        headers=KEY,
        timeout=10,
    ).json()["data"]["task_id"]
    requests.get(f"{through_search.url}/tiktok/search/{task}", headers=KEY, timeout=10)
    results = through_search.state.search_ground_truth("@size40 #ramen size5")
    profile_urls = urls(through_profile)
    assert {r["url"] for r in results} > set(profile_urls)
    # A video only the search found is asked first: the desk learns the search's videos.
    ramen = next(r["url"] for r in results if r["url"] not in profile_urls)
    assert transcript(through_search, ramen, fallback_to_metadata=True).status_code == 200
    for url in profile_urls:
        for options in ({"fallback_to_metadata": True}, {"metadata_only": True}):
            answer = transcript(through_search, url, **options)
            assert answer.json() == transcript(through_profile, url, **options).json()
        assert through_search.transcripts.speech_of(url) == through_profile.transcripts.speech_of(
            url
        )
        info = through_search.transcripts.video_info_of(url)
        assert info == through_profile.transcripts.video_info_of(url)


def test_young_videos_answer_the_counts_of_the_moment(emulator):
    [fresh] = emulator.state.publish(PROFILE, 1)
    first = emulator.transcripts.video_info_of(fresh["url"])
    assert first["likes"] == (None if fresh["likes"] is None else int(fresh["likes"]))
    emulator.advance_clock(days=2)
    later = transcript(emulator, fresh["url"], metadata_only=True).json()["data"]["video_info"]
    assert later == emulator.transcripts.video_info_of(fresh["url"], metadata_only=True)
    if first["views"] is not None:
        assert later["views"] > first["views"]


# 2. Bad requests, keys, credits ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_parameter", "video_url"),
        ({"video_url": "https://www.youtube.com/watch?v=x"}, "invalid_url", "video_url"),
        ({"video_url": "https://www.tiktok.com/@tiktok"}, "invalid_url", "video_url"),
        ({"video_url": "https://www.tiktok.com/@a1/video/1", "language": "eng"},
         "invalid_parameter", "language"),
        ({"video_url": "https://www.tiktok.com/@a1/video/1", "transcript_text": "yes"},
         "invalid_parameter", "transcript_text"),
    ],
)  # fmt: skip
def test_bad_transcript_requests_are_400_naming_the_field(emulator, body, code, field):
    answer = requests.post(f"{emulator.url}/transcript", json=body, headers=KEY, timeout=10)
    assert answer.status_code == 400
    assert (answer.json()["error"], answer.json()["field"]) == (code, field)
    assert emulator.transcripts.counters["demo-key"].credits_charged == 0


def test_unknown_videos_keys_and_bodies(emulator):
    answer = transcript(emulator, "https://www.tiktok.com/@size40/video/123")
    assert (answer.status_code, answer.json()["error"]) == (404, "video_not_found")
    url = urls(emulator)[0]
    assert transcript(emulator, url, headers={}).status_code == 401
    assert transcript(emulator, url, headers={"X-API-Key": "nope"}).status_code == 401
    raw = requests.post(f"{emulator.url}/transcript", data=b"[1]", headers=KEY, timeout=10)
    assert (raw.status_code, raw.json()["error"]) == (400, "request_body_required")


def test_out_of_credits_is_402_and_buys_nothing(make_emulator):
    emulator = make_emulator(credits=0)
    url = urls(emulator)[0]
    for answer in (transcript(emulator, url), transcribe(emulator, url)):
        assert (answer.status_code, answer.json()["error"]) == (402, "limit_exceeded")
    assert emulator.transcripts.tasks == {}
    assert emulator.transcripts.counters["demo-key"].credits_charged == 0


def test_credits_left_after_each_transcript(make_emulator):
    emulator = make_emulator(credits=1)
    [first, second] = urls(emulator)[:2]
    usage = transcript(emulator, first, include_usage=True).json()["usage"]
    assert usage["credits_remaining_after"] == 0.9999
    usage = transcript(emulator, second, include_usage=True).json()["usage"]
    assert usage["credits_remaining_after"] == 0.9998


# 3. Latency and rate limits ----------------------------------------------------------------


def test_latency_delays_every_answer(make_emulator):
    emulator = make_emulator(transcripts=TranscriptConfig(latency_seconds=0.3))
    started = time.monotonic()
    assert transcript(emulator, urls(emulator)[0]).status_code in (200, 404)
    assert time.monotonic() - started >= 0.3


def test_the_rate_limit_answers_429_with_retry_after_per_key(make_emulator):
    emulator = make_emulator(transcripts=TranscriptConfig(rate_limit=3, rate_window_seconds=60))
    url = urls(emulator)[0]
    assert [transcript(emulator, url).status_code in (200, 404) for _ in range(3)] == [True] * 3
    limited = transcript(emulator, url)
    assert limited.status_code == 429 and limited.json()["error"] == "limit_exceeded"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (limited.json()["usage"], limited.json()["limit"]) == (3, 3)
    assert transcript(emulator, url, headers=KEY2).status_code in (200, 404)  # another key
    counters = emulator.transcripts.counters["demo-key"]
    assert (counters.transcript_calls, counters.rate_limited) == (4, 1)
    assert counters.credits_charged == decimal.Decimal("0.0003")  # the 429 is free


def test_injected_faults_reach_the_transcript_route_only_when_asked(make_emulator):
    asked = make_emulator(FaultPlan(rate=1.0, kinds=("429",), routes=("transcript",)))
    answer = transcript(asked, urls(asked)[0])
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    assert asked.transcripts.counters["demo-key"].transcript_calls == 0
    default = make_emulator(FaultPlan(rate=1.0, kinds=("500",)))
    assert transcript(default, urls(default)[0]).status_code in (200, 404)


# 4. Speech-to-text -------------------------------------------------------------------------


def test_a_transcription_runs_like_a_task_and_is_charged_by_the_hour(make_emulator):
    clock = ManualClock()
    emulator = make_emulator(transcripts=TranscriptConfig(transcription_seconds=0.3), clock=clock)
    _, [url, *_] = split(emulator)
    submitted = transcribe(emulator, url, transcript_text=True)
    assert submitted.status_code == 202
    accepted = submitted.json()["data"]
    task_id = accepted["task_id"]
    assert accepted["check_status_url"] == f"/v1/transcribe/{task_id}"
    assert (accepted["task_status"], accepted["job_type"]) == ("processing", "transcribe")
    running = job(emulator, task_id, include_usage="true").json()
    assert running["data"]["task_status"] == "processing" and running["data"]["result"] is None
    assert "usage" not in running
    clock.advance(0.3)
    done = job(emulator, task_id, include_usage="true").json()
    data = done["data"]
    assert data["task_status"] == "completed" and data["error"] is None
    assert data["request"] == {"video_url": url, "transcript_text": True, "all_videos": False}
    heard = emulator.transcripts.speech_of(url)
    assert data["result"]["transcript"] == heard.text
    info = data["result"]["video_info"]
    assert info["selected_language"] == heard.language and info["available_languages"] == []
    hours = round(float(info["duration"]) / 3600, 6)
    assert done["usage"] == emulator.transcripts.transcription_usage(url)
    assert [c["service_type"] for c in done["usage"]["charges"]] == [
        "standard_request",
        "transcription_hour",
    ]
    assert done["usage"]["charges"][1]["quantity"] == hours
    total = decimal.Decimal("0.0001") + decimal.Decimal(str(hours))
    assert done["usage"]["total_credits"] == float(total)
    # Polls are free and do not charge twice.
    assert job(emulator, task_id).json()["data"]["result"] == data["result"]
    assert "usage" not in job(emulator, task_id).json()
    counters = emulator.transcripts.counters["demo-key"]
    assert (counters.transcriptions_submitted, counters.transcriptions_completed) == (1, 1)
    assert counters.credits_charged == decimal.Decimal(str(done["usage"]["total_credits"]))
    assert emulator.transcripts.bought(url) == 1

    # The provider transcribed it before: a second one (another key) skips the metadata fetch.
    again = transcribe(emulator, url, headers=KEY2).json()["data"]["task_id"]
    assert job(emulator, again, headers=KEY2).json()["data"]["task_status"] == "processing"
    assert emulator.complete(again) == [again]
    second = job(emulator, again, headers=KEY2, include_usage="true").json()
    assert second["data"]["result"]["transcript"] == list(heard.segments)
    assert [c["service_type"] for c in second["usage"]["charges"]] == ["transcription_hour"]
    assert second["usage"] == emulator.transcripts.transcription_usage(url, cached=True)
    assert emulator.transcripts.bought(url) == 2
    assert emulator.transcripts.transcriptions_of(url) == [task_id, again]
    # Another user's task is not found.
    assert job(emulator, task_id, headers=KEY2).status_code == 404


@pytest.mark.parametrize(
    ("video_url", "code", "http_status"),
    [
        ("https://www.tiktok.com/@silent_one/video/{id}", "transcription_failed", 500),
        ("https://www.tiktok.com/@size40/video/1", "video_not_found", 404),
    ],
)
def test_failed_transcriptions_cost_nothing(emulator, video_url, code, http_status):
    video_id = emulator.ground_truth("https://www.tiktok.com/@silent_one")[0]["id"]
    url = video_url.format(id=video_id)
    task_id = transcribe(emulator, url).json()["data"]["task_id"]
    failed = job(emulator, task_id, include_usage="true").json()
    assert failed["data"]["task_status"] == "failed" and failed["data"]["result"] is None
    assert failed["data"]["error"]["error"] == code
    assert failed["data"]["error"]["http_status"] == http_status
    assert "usage" not in failed
    counters = emulator.transcripts.counters["demo-key"]
    assert counters.transcriptions_failed == 1 and counters.credits_charged == 0
    assert emulator.transcripts.bought(url) == 0


def test_results_expire_and_the_active_cap_counts_every_job(make_emulator):
    clock = ManualClock()
    emulator = make_emulator(expire_seconds=0.3, max_active_tasks=1, clock=clock)
    [first, second] = urls(emulator)[:2]
    task_id = transcribe(emulator, first).json()["data"]["task_id"]
    assert job(emulator, task_id).status_code == 200
    clock.advance(0.3)
    gone = job(emulator, task_id)
    assert (gone.status_code, gone.json()["error"]) == (404, "task_not_found")
    busy = make_emulator(max_active_tasks=1, processing_seconds=HELD)
    requests.post(
        f"{busy.url}/tiktok/profile", json={"profile_url": PROFILE}, headers=KEY, timeout=10
    )
    refused = transcribe(busy, second)
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_active_jobs"
    assert busy.transcripts.counters["demo-key"].transcriptions_refused == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_parameter", "video_url"),
        ({"video_url": "https://www.tiktok.com/@a1/video/1", "all_videos": 1},
         "invalid_parameter", "all_videos"),
        ({"video_url": "https://www.tiktok.com/@a1/video/1", "webhook_url": "ftp://x"},
         "invalid_parameter", "webhook_url"),
    ],
)  # fmt: skip
def test_bad_transcription_submits_create_no_task(emulator, body, code, field):
    answer = requests.post(f"{emulator.url}/transcribe/async", json=body, headers=KEY, timeout=10)
    assert answer.status_code == 400
    assert (answer.json()["error"], answer.json()["field"]) == (code, field)
    assert emulator.transcripts.tasks == {}


# 5. Counters, determinism, the CLI -------------------------------------------------------


def test_calls_are_counted_per_key_and_per_video(emulator):
    [first, second] = urls(emulator)[:2]
    transcript(emulator, first)
    transcript(emulator, first, headers=KEY2)
    transcript(emulator, second, headers=KEY2)
    assert emulator.transcripts.counters["demo-key"].transcript_calls == 1
    assert emulator.transcripts.counters["demo-key-2"].transcript_calls == 2
    assert (emulator.transcripts.calls_for(first), emulator.transcripts.calls_for(second)) == (2, 1)


def test_two_emulators_answer_the_same_transcripts(make_emulator):
    one, two = make_emulator(), make_emulator()
    for url in urls(one)[:10]:
        assert transcript(one, url).json() == transcript(two, url).json()


def test_every_transcript_option_has_its_cli_option():
    args = _parser().parse_args(
        [
            "--transcript-latency", "0.3", "--transcript-rate-limit", "5",
            "--transcript-rate-window", "2", "--transcription-processing", "4",
        ]
    )  # fmt: skip
    assert transcript_options.from_arguments(args) == TranscriptConfig(
        latency_seconds=0.3, rate_limit=5, rate_window_seconds=2, transcription_seconds=4
    )
    assert main(["--transcript-rate-limit", "0"]) == 2
