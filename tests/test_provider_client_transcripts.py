"""The emulator's transcript routes driven by the provider's own client (``vidnavigator``
2.1.0): ``get_transcript``, ``submit_transcribe_video`` / ``transcribe_video`` and
``resume_job``. What the SDK sends, the emulator accepts; what it answers has exactly the
fields of the SDK's models; every documented error surfaces as the SDK's own class.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import typing as t

import pytest
from vidnavigator import exceptions, models

from tap_vidnavigator.emulator.transcript_options import TranscriptConfig
from tests.conftest import HELD, KEY, wait_for
from tests.test_provider_client_conformance import LLM_ONLY, assert_exact, sdk_client

# Run once, on the default Python, not on each Python of the matrix (noxfile.py):
# the provider's client against the emulator: no code of the tap runs.
pytestmark = pytest.mark.python_independent

PROFILE = "https://www.tiktok.com/@size40"
#: VideoInfo's carousel block is Instagram's: a TikTok video has none.
NOT_TIKTOK = {"carousel_info"}


def assert_usage(usage: dict[str, t.Any]) -> None:
    assert_exact(usage, models.UsageBlock, optional=LLM_ONLY)
    for charge in usage["charges"]:
        assert_exact(charge, models.UsageCharge, optional=LLM_ONLY)


def assert_transcript_answer(body: dict[str, t.Any], *, metadata_only: bool = False) -> None:
    """A ``POST /transcript`` answer, field by field against the SDK's models."""
    assert_exact(body, models.TranscriptResponse, optional={"usage"})
    optional = {"transcript"} if metadata_only else set()
    assert_exact(body["data"], models.TranscriptData, optional=optional)
    assert_exact(body["data"]["video_info"], models.VideoInfo, optional=NOT_TIKTOK)
    for segment in body["data"].get("transcript") or []:
        if isinstance(segment, dict):
            assert_exact(segment, models.TranscriptSegment)
    if "usage" in body:
        assert_usage(body["usage"])


def assert_job_answer(body: dict[str, t.Any]) -> None:
    """A ``GET /transcribe/{task_id}`` answer against the SDK's models."""
    assert_exact(body, models.TranscribeJobResponse, optional={"usage"})
    data = body["data"]
    assert_exact(data, models.TranscribeJob)
    if data["result"] is not None:
        assert_exact(data["result"], models.TranscriptData)
        assert_exact(data["result"]["video_info"], models.VideoInfo, optional=NOT_TIKTOK)
    if data["error"] is not None:
        assert_exact(data["error"], models.AsyncJobError)
    if data["webhook"] is not None:
        assert_exact(data["webhook"], models.AsyncJobWebhookStatus)
    if "usage" in body:
        assert_usage(body["usage"])
    models.TranscribeJobResponse.model_validate(body)


def split(emulator) -> tuple[list[str], list[str]]:
    videos = [video["url"] for video in emulator.ground_truth(PROFILE)]
    without = emulator.transcripts.captionless(videos)
    return [url for url in videos if url not in without], without


def test_get_transcript_reads_segments_text_languages_and_usage(emulator):
    client, recorder = sdk_client(emulator)
    with_captions, _ = split(emulator)
    url = with_captions[0]
    answer = client.get_transcript(video_url=url, include_usage=True)
    # What the SDK sent reached the emulator as sent.
    request, status, body = recorder.answers[-1]
    assert status == 200
    assert json.loads(t.cast("bytes", request.body)) == {
        "video_url": url,
        "metadata_only": False,
        "fallback_to_metadata": False,
        "transcript_text": False,
        "include_usage": True,
    }
    assert_transcript_answer(body)
    truth = emulator.transcripts.transcript_of(url)
    assert [segment.model_dump() for segment in answer.data.transcript] == list(truth.segments)
    assert answer.data.video_info.selected_language == truth.language
    assert answer.data.video_info.available_languages == list(truth.available_languages)
    assert answer.usage.charge_for("standard_request").credits == 0.0001
    assert answer.usage.total_credits == 0.0001

    text = client.get_transcript(video_url=url, transcript_text=True)
    assert text.data.transcript == truth.text
    assert_transcript_answer(recorder.answers[-1][2])

    for other in truth.available_languages[1:]:
        translated = client.get_transcript(video_url=url, language=other, transcript_text=True)
        assert translated.data.transcript == emulator.transcripts.transcript_of(url, other).text
        assert translated.data.video_info.selected_language == other

    metadata = client.get_transcript(video_url=url, metadata_only=True)
    assert metadata.data.transcript is None
    assert_transcript_answer(recorder.answers[-1][2], metadata_only=True)
    assert emulator.transcripts.counters[KEY].transcript_calls == 3 + len(
        truth.available_languages[1:]
    )


def test_a_video_without_captions_is_not_found_unless_the_metadata_fallback_is_asked(emulator):
    client, recorder = sdk_client(emulator)
    _, [url, *_] = split(emulator)
    with pytest.raises(exceptions.NotFoundError) as raised:
        client.get_transcript(video_url=url)
    assert raised.value.error_code == "transcript_not_available"
    assert raised.value.status_code == 404
    fallback = client.get_transcript(video_url=url, fallback_to_metadata=True, include_usage=True)
    assert fallback.data.transcript == []
    assert fallback.data.video_info.available_languages == []
    assert fallback.data.video_info.selected_language is None
    assert fallback.data.video_info.model_dump(exclude=NOT_TIKTOK) == (
        emulator.transcripts.video_info_of(url)
    )
    assert_transcript_answer(recorder.answers[-1][2])
    # The captions-first recipe of the SDK's README, then speech-to-text.
    try:
        text = client.get_transcript(video_url=url, transcript_text=True).data.transcript
    except (exceptions.NotFoundError, exceptions.BadRequestError):
        text = client.transcribe_video(video_url=url, transcript_text=True).data.transcript
    assert text == emulator.transcripts.speech_of(url).text


def test_transcribe_video_waits_for_the_task_and_reads_its_usage(make_emulator):
    emulator = make_emulator(transcripts=TranscriptConfig(transcription_seconds=HELD))
    client, recorder = sdk_client(emulator)
    _, [url, *_] = split(emulator)
    job = client.submit_transcribe_video(video_url=url, webhook_url="https://hooks.example/t")
    _, _, accepted = recorder.answers[-1]
    assert_exact(accepted, models.AsyncJobSubmitResponse)
    assert_exact(accepted["data"], models.AsyncJobSubmitData)
    assert job.check_status_url == f"/v1/transcribe/{job.task_id}"
    assert job.webhook_url == "https://hooks.example/t"
    assert job.status() == "processing"
    assert emulator.complete(job.task_id) == [job.task_id]  # held until the test saw it
    result = client.resume_job("transcribe", job.task_id).result(
        include_usage=True, poll_interval=0.05
    )
    assert isinstance(result, models.TranscriptResponse)
    heard = emulator.transcripts.speech_of(url)
    assert [segment.model_dump() for segment in result.data.transcript] == list(heard.segments)
    assert result.data.video_info.selected_language == heard.language
    hours = result.usage.charge_for("transcription_hour")
    assert hours.quantity == round(result.data.video_info.duration / 3600, 6) == hours.credits
    assert result.usage.charge_for("standard_request").credits == 0.0001
    polls = [body for request, _, body in recorder.answers if request.method == "GET"]
    assert {body["data"]["task_status"] for body in polls} == {"processing", "completed"}
    for body in polls:
        assert_job_answer(body)
    assert polls[-1]["data"]["webhook"]["status"] == "not_sent"

    # The blocking call, as text; the provider has it cached: no metadata fetch. The
    # test completes the job once it exists (a wait with a deadline, on a thread).
    completer = threading.Thread(target=wait_for, args=(emulator.complete, "the second job"))
    completer.start()
    again = client.transcribe_video(video_url=url, transcript_text=True, include_usage=True)
    completer.join()
    assert again.data.transcript == heard.text
    assert [charge.service_type for charge in again.usage.charges] == ["transcription_hour"]
    assert emulator.transcripts.bought(url) == 2
    assert emulator.transcripts.counters[KEY].transcriptions_completed == 2


@pytest.mark.parametrize(
    ("handle", "video_id", "error_class", "code"),
    [
        ("silent_sdk", None, exceptions.ServerError, "transcription_failed"),
        ("size40", "42", exceptions.NotFoundError, "video_not_found"),
    ],
)
def test_a_failed_transcription_raises_the_sdk_exception_of_its_error(
    emulator, handle, video_id, error_class, code
):
    client, recorder = sdk_client(emulator)
    if video_id is None:
        video_id = emulator.ground_truth(f"https://www.tiktok.com/@{handle}")[0]["id"]
    url = f"https://www.tiktok.com/@{handle}/video/{video_id}"
    with pytest.raises(error_class) as raised:
        client.transcribe_video(video_url=url, include_usage=True)
    assert raised.value.error_code == code
    assert_job_answer(recorder.answers[-1][2])
    assert emulator.transcripts.counters[KEY].credits_charged == 0


def test_documented_refusals_raise_the_sdks_classes(make_emulator):
    broke = make_emulator(credits=0)
    client, _ = sdk_client(broke)
    url = broke.ground_truth(PROFILE)[0]["url"]
    with pytest.raises(exceptions.PaymentRequiredError):
        client.get_transcript(video_url=url)
    with pytest.raises(exceptions.PaymentRequiredError):
        client.submit_transcribe_video(video_url=url)
    with pytest.raises(exceptions.BadRequestError) as bad:  # checked before the balance
        client.get_transcript(video_url="https://www.tiktok.com/@size40")
    assert bad.value.error_code == "invalid_url"
    limited = make_emulator(
        max_active_tasks=1,
        transcripts=TranscriptConfig(
            rate_limit=1, rate_window_seconds=60, transcription_seconds=30
        ),
    )
    client, _ = sdk_client(limited)
    client.get_transcript(video_url=url, fallback_to_metadata=True)
    with pytest.raises(exceptions.RateLimitExceeded) as raised:
        client.get_transcript(video_url=url, fallback_to_metadata=True)
    assert raised.value.error_code == "limit_exceeded"
    client.submit_transcribe_video(video_url=url)
    with pytest.raises(exceptions.TooManyActiveJobsError):
        client.submit_transcribe_video(video_url=url)
    with pytest.raises(exceptions.NotFoundError):
        client.resume_job("transcribe", "no-such-task").refresh()


def test_concurrent_clients_read_every_transcript(make_emulator):
    emulator = make_emulator(transcripts=TranscriptConfig(latency_seconds=0.05))
    with_captions, without = split(emulator)
    videos = with_captions + without

    def fetch(url: str) -> models.TranscriptResponse:
        client, _ = sdk_client(emulator)
        return client.get_transcript(video_url=url, fallback_to_metadata=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(fetch, videos))
    for url, answer in zip(videos, answers, strict=True):
        truth = emulator.transcripts.transcript_of(url)
        expected = [] if truth is None else list(truth.segments)
        assert [segment.model_dump() for segment in answer.data.transcript] == expected
    assert emulator.transcripts.counters[KEY].transcript_calls == len(videos)
    assert emulator.transcripts.counters[KEY].no_captions == len(without)
