"""Faults: the ground truth exactly, and exactly the retries each fault kind deserves.

A failure that proves nothing was created (429, the API's own 503) is retried by every
request; an ambiguous one (a 5xx without or beside the API's 503 body, a reset, a
timeout, an answer lost after the task was created) is retried by scrapes, searches and
captions, and never by a per-video paid submit (speech-to-text): its video is reported
as an uncertain purchase until the user releases it (ledger.py, docs/costs.md).
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

import pytest
import requests
import urllib3.exceptions
from singer_sdk.exceptions import RetriableAPIError

from tap_vidnavigator.client import AMBIGUOUS, SAFE, failure_certainty
from tap_vidnavigator.emulator import ALL_FAULT_KINDS, ANSWER_LOST, FaultPlan
from tap_vidnavigator.errors import AmbiguousSubmitError
from tap_vidnavigator.families import TRANSCRIPTS
from tap_vidnavigator.lifecycle import TaskLifecycle
from tap_vidnavigator.records.profiles import PROFILE_KIND
from tap_vidnavigator.records.transcripts import SPEECH_TO_TEXT_KIND
from tap_vidnavigator.run import Run
from tap_vidnavigator.settings import TaskRequest, parse_settings
from tap_vidnavigator.state import InFlightTasks
from tap_vidnavigator.tasks import KindWork
from tests.conftest import KEY, assert_videos_match, base_config, run_tap
from tests.test_lifecycle import FakeApi, FakeClock, FakeParentStream

# @big6000: a dozen pages of 500, so faults land mid-paging as well as on submits and polls.
PROFILES = ["@big6000", "@tiktok", "@empty", "@notfound_faulty", "@size777"]
#: Kinds that prove nothing was created, and the ambiguous ones.
SAFE_KINDS = ("429", "503")
AMBIGUOUS_KINDS = ("500", "502", "reset", "slow", ANSWER_LOST)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("use_download_url", [True, False])
def test_faults_of_every_kind_lose_and_duplicate_nothing(
    make_emulator, tmp_path, seed, use_download_url
):
    # A slow fault is a gateway's 504 after 6 s, well inside request_timeout, as is a
    # real answer on a loaded CI machine (a 5 s timeout there once bought a task twice).
    # A submit whose answer is lost is bought again (scrapes retry ambiguous failures:
    # 0.0001 credit a page): the emulator reports each such task.
    plan = FaultPlan(rate=0.2, kinds=ALL_FAULT_KINDS, seed=seed, retry_after=0.1, slow_seconds=6.0)
    emulator = make_emulator(processing_seconds=0.5, faults=plan)
    config = base_config(
        emulator,
        profiles=PROFILES,
        page_size=500,
        request_timeout=30.0,
        use_download_url=use_download_url,
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr[-4000:]
    videos = result.records("videos")
    for profile in PROFILES:
        assert_videos_match(videos, emulator, f"https://www.tiktok.com/{profile}")
    assert len(videos) == len({v["id"] for v in videos})
    assert sorted(r["profile_url"] for r in result.records("profile_tasks")) == sorted(
        f"https://www.tiktok.com/{p}" for p in PROFILES
    )
    injections = emulator.injections
    assert injections and {i.kind for i in injections} <= set(ALL_FAULT_KINDS)
    counters = emulator.counters()
    # One submit a profile, plus one for each submit whose answer was lost after its
    # task was created: nothing else is bought.
    assert counters.submits == len(PROFILES) + sum(i.created for i in injections)
    assert all(i.created == (i.kind == ANSWER_LOST and i.route == "submit") for i in injections)
    assert counters.leaked_keys == 0
    # Every fault on the API host is retried exactly once; a faulted download falls
    # back to paging instead.
    on_api = [i for i in injections if i.route != "download"]
    assert result.stderr.count("Retrying ") == len(on_api)
    assert result.stderr.count("was sent but its answer was lost") == 0


# ----------------------------------------------------------------- per kind
CAPTIONLESS = "https://www.tiktok.com/@nocaptions_a"
PROFILE_SUBMIT, CAPTIONS, TRANSCRIBE = (
    "/v1/tiktok/profile",
    "/v1/transcript",
    "/v1/transcribe/async",
)


def _one_captionless_video(emulator, tmp_path, **settings: t.Any) -> dict[str, t.Any]:
    transcripts = {"enabled": True, "speech_to_text": True, "max_transcription_hours_per_run": 5}
    return base_config(
        emulator,
        profiles=[{"profile_url": CAPTIONLESS, "max_posts": 1}],
        ledger_dir=str(tmp_path / "ledger"),
        **{TRANSCRIPTS.setting: transcripts},
        **settings,
    )


@pytest.mark.parametrize("kind", [*SAFE_KINDS, *AMBIGUOUS_KINDS])
def test_each_fault_kind_on_each_paid_call_gets_exactly_its_retries(make_emulator, tmp_path, kind):
    # The first profile submit, captions call and speech-to-text submit each get one.
    script = tuple((path, 1, kind) for path in (PROFILE_SUBMIT, CAPTIONS, TRANSCRIBE))
    emulator = make_emulator(
        FaultPlan(script=script, retry_after=0.05, slow_seconds=0.2),
    )
    run = run_tap(tmp_path, _one_captionless_video(emulator, tmp_path))
    assert run.returncode == 0, run.stderr[-4000:]
    injections = emulator.injections
    assert [(i.path, i.kind) for i in injections] == [(p, kind) for p, _, _ in script]
    (video,) = emulator.ground_truth(CAPTIONLESS, max_posts=1)
    url = video["url"]
    transcriptions = emulator.transcripts.transcriptions_of(url)
    rows = run.records(TRANSCRIPTS.stream)
    lost = kind == ANSWER_LOST
    # Scrapes and captions retry every kind: a lost scrape submit is bought twice.
    assert emulator.counters().submits == 1 + lost
    # (The captions call of a captionless video is answered, and charged, all the same.)
    assert [i.created for i in injections] == [lost, lost, lost]
    assert_videos_match(run.records("videos"), emulator, CAPTIONLESS, max_posts=1)
    if kind in SAFE_KINDS:
        assert run.stderr.count("Retrying ") == 3
        assert len(transcriptions) == 1
        assert [(r["video_id"], r["text_source"], r["task_id"]) for r in rows] == [
            (video["id"], "speech_to_text", transcriptions[0])
        ]
        assert "uncertain purchase" not in run.stderr
    else:
        assert run.stderr.count("Retrying ") == 2
        assert run.stderr.count(f"POST {TRANSCRIBE} was sent but its answer was lost") == 1
        assert len(transcriptions) == lost  # created or not, never submitted again
        assert rows == []  # no row: the video waits for the user's word
        assert f"1 uncertain purchase(s), not bought again: speech-to-text of {url}" in run.stderr
        assert "release_uncertain_purchases" in run.stderr


def test_an_uncertain_purchase_is_bought_again_only_once_released(make_emulator, tmp_path):
    emulator = make_emulator(FaultPlan(script=((TRANSCRIBE, 1, ANSWER_LOST),)))
    config = _one_captionless_video(emulator, tmp_path)
    (video,) = emulator.ground_truth(CAPTIONLESS, max_posts=1)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-4000:]
    assert len(emulator.transcripts.transcriptions_of(video["url"])) == 1
    # Its STATE kept (the video still pending) or lost: never bought again unasked.
    for state in (first.last_state, None):
        again = run_tap(tmp_path, config, state=state)
        assert again.returncode == 0, again.stderr[-4000:]
        assert again.records(TRANSCRIPTS.stream) == []
        assert "1 uncertain purchase(s)" in again.stderr
        assert len(emulator.transcripts.transcriptions_of(video["url"])) == 1
    released = run_tap(
        tmp_path, {**config, "release_uncertain_purchases": True}, state=first.last_state
    )
    assert released.returncode == 0, released.stderr[-4000:]
    assert "Released the uncertain speech-to-text purchase" in released.stderr
    transcriptions = emulator.transcripts.transcriptions_of(video["url"])
    assert len(transcriptions) == 2
    assert [(r["text_source"], r["task_id"]) for r in released.records(TRANSCRIPTS.stream)] == [
        ("speech_to_text", transcriptions[1])
    ]
    assert "uncertain purchase(s)" not in released.stderr
    assert emulator.transcripts.counters[KEY].transcriptions_completed == 1


# -------------------------------------------------------- which failure is which
def _response(status: int, body: bytes, content_type: str = "application/json"):
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers["Content-Type"] = content_type
    return response


API_503 = b'{"status":"error","error":"system_overload","message":"busy","retry_after_seconds":2}'
API_500 = b'{"status":"error","error":"internal_error","message":"oops"}'
GATEWAY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
REFUSED = requests.exceptions.ConnectionError(
    urllib3.exceptions.MaxRetryError(
        t.cast("t.Any", None), "/v1/transcribe/async",
        urllib3.exceptions.NewConnectionError(t.cast("t.Any", None), "Connection refused"),
    )
)  # fmt: skip
ABORTED = requests.exceptions.ConnectionError(
    urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
)


@pytest.mark.parametrize(
    ("failure", "certainty"),
    [
        (REFUSED, SAFE),
        (requests.exceptions.ConnectTimeout(), SAFE),
        (RetriableAPIError("", _response(429, b'{"status":"error","error":"rate"}')), SAFE),
        (RetriableAPIError("", _response(503, API_503)), SAFE),
        (RetriableAPIError("", _response(503, GATEWAY, "text/html")), AMBIGUOUS),
        (RetriableAPIError("", _response(500, API_500)), AMBIGUOUS),
        (RetriableAPIError("", _response(502, GATEWAY, "text/html")), AMBIGUOUS),
        (RetriableAPIError("", _response(504, b"")), AMBIGUOUS),
        (requests.exceptions.ReadTimeout(), AMBIGUOUS),
        (ABORTED, AMBIGUOUS),
        (requests.exceptions.ChunkedEncodingError(), AMBIGUOUS),
        (ConnectionResetError(), AMBIGUOUS),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_which_failures_prove_nothing_was_created(failure, certainty):
    assert failure_certainty(failure) == certainty


# ------------------------------------------------------------ the fake clock
class _LosingApi(FakeApi):
    """The fake provider, whose answer to each subject's first submit is lost."""

    def __init__(self, clock: FakeClock, durations: dict[str, float]) -> None:
        super().__init__(clock, durations)
        self.retry_flags: list[bool] = []

    def __call__(self, method: str, path: str, *, retry_ambiguous: bool = True, **kwargs: t.Any):
        if method == "POST":
            self.retry_flags.append(retry_ambiguous)
            answer = super().__call__(method, path, **kwargs)
            if not retry_ambiguous and len(self.retry_flags) == 1:
                raise AmbiguousSubmitError("lost", cause="no response within request_timeout")
            return answer
        return super().__call__(method, path, **kwargs)


def test_the_lifecycle_never_resubmits_a_kind_that_forbids_it():
    settings = parse_settings({"api_key": "k", "profiles": ["@aa", "@bb"], "poll_interval": 3})
    clock = FakeClock()
    api = _LosingApi(clock, {"aa": 1, "bb": 1})
    run = Run(lambda: settings)
    # A profile kind declared as a paid per-video job is.
    paid = dataclasses.replace(PROFILE_KIND, retry_ambiguous_submit=False)
    assert SPEECH_TO_TEXT_KIND.retry_ambiguous_submit is False
    assert PROFILE_KIND.retry_ambiguous_submit is True
    uncertain: list[tuple[str, str]] = []
    work = KindWork(
        kind=paid,
        requests=[TaskRequest(f"https://www.tiktok.com/@{s}", ()) for s in ("aa", "bb")],
        task_ids=(),
        in_flight=InFlightTasks(t.cast("t.Any", FakeParentStream()), paid.subject_field),
        submit_filters=lambda request: {},
        submit_uncertain=lambda request, cause: uncertain.append((request.subject, cause)),
    )
    lifecycle = TaskLifecycle(
        api=api, run=run, work=[work], logger=logging.getLogger("tap-vidnavigator.test"),
        clock=clock.monotonic, sleep=clock.sleep,
    )  # fmt: skip
    finished = [(clock.now, f.task_id, f.subject) for f in lifecycle.finished_tasks()]
    # @aa's task was created (t1) and its answer lost: never submitted again, never polled.
    assert [call for call in api.calls if call[1] == "POST"] == [
        (0, "POST", "aa"),
        (0, "POST", "bb"),
    ]
    assert api.retry_flags == [False, False]
    assert uncertain == [("https://www.tiktok.com/@aa", "no response within request_timeout")]
    assert finished == [(1, "t2", "https://www.tiktok.com/@bb")]
    assert run.problems == ()


def test_a_lost_answer_comes_after_the_task_was_created(make_emulator):
    emulator = make_emulator(FaultPlan(script=((PROFILE_SUBMIT, 1, ANSWER_LOST),)))
    body = {"profile_url": "https://www.tiktok.com/@tiktok"}
    with pytest.raises(requests.exceptions.ConnectionError) as lost:
        requests.post(f"{emulator.url}/tiktok/profile", json=body, headers={"X-API-Key": KEY})
    assert failure_certainty(lost.value) == AMBIGUOUS
    answered = requests.post(
        f"{emulator.url}/tiktok/profile", json=body, headers={"X-API-Key": KEY}
    )
    assert answered.status_code == 202
    # Two tasks exist, the client knows one; the report says which fault created one.
    assert len(emulator.state.tasks) == 2 and emulator.counters().submits == 2
    assert [(i.route, i.path, i.kind, i.created) for i in emulator.injections] == [
        ("submit", PROFILE_SUBMIT, ANSWER_LOST, True)
    ]
    assert emulator.faults_injected[ANSWER_LOST] == 1
