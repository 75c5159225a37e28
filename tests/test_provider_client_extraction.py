"""The emulator's extraction routes driven by the provider's own client (``vidnavigator``
2.1.0): ``submit_extract_video_data`` / ``extract_video_data`` (inline ``schema`` and the
multipart ``schema_file``), ``Job.wait()``/``result()`` and ``resume_job``. What the SDK
sends, the emulator accepts; what it answers has exactly the fields of the SDK's models;
every value is the emulator's ground truth (``emulator.extraction.expected``); every
documented refusal surfaces as the SDK's own class.

No test waits for a state on the clock: jobs end at once (processing 0), or stay
processing for an hour when a test needs one running; waits have a deadline.
"""

from __future__ import annotations

import decimal
import json
import typing as t

import pytest
import requests
import yaml
from vidnavigator import exceptions, models

from tap_vidnavigator.emulator import extraction_options
from tap_vidnavigator.emulator.__main__ import _parser, main
from tap_vidnavigator.emulator.extraction_options import ExtractionConfig
from tests.conftest import KEY
from tests.test_provider_client_conformance import LLM_ONLY, assert_exact, sdk_client

# Run once, on the default Python, not on each Python of the matrix (noxfile.py):
# the provider's client against the emulator: no code of the tap runs.
pytestmark = pytest.mark.python_independent

PROFILE = "https://www.tiktok.com/@size40"
#: VideoInfo's carousel block is Instagram's: a TikTok video has none.
NOT_TIKTOK = {"carousel_info"}
#: A deadline for every wait: a job that never ends fails the test instead of hanging it.
DEADLINE = 60.0
#: Jobs end at their first poll; no video fails unless a test asks.
AT_ONCE = ExtractionConfig(processing_seconds=0, failure_one_in=0)
#: What a creator-tracking user asks of a video (docs/extraction.md's example, smaller).
SCHEMA: dict[str, t.Any] = {
    "brands": {
        "type": "Array",
        "description": "Brands or products named in the video",
        "items": {"type": "Enum", "description": "A brand", "enum": ["ramen", "receita", "Nike"]},
    },
    "sentiment": {
        "type": "Enum",
        "description": "The overall sentiment",
        "enum": ["positive", "neutral", "negative"],
    },
    "follow": {"type": "Boolean", "description": "Whether the creator asks to follow"},
    "quote": {"type": "String", "description": "The most telling sentence"},
    "mentions": {"type": "Integer", "description": "How often the product is mentioned"},
    "first_mention_at": {"type": "Number", "description": "Seconds into the video"},
    "call_to_action": {
        "type": "Object",
        "description": "The call to action, if any",
        "properties": {
            "text": {"type": "String", "description": "Its words"},
            "hashtags": {
                "type": "Array",
                "description": "Hashtags it names",
                "items": {"type": "String", "description": "One hashtag"},
            },
        },
    },
}


def assert_usage(usage: dict[str, t.Any]) -> None:
    assert_exact(usage, models.UsageBlock, optional=LLM_ONLY)
    for charge in usage["charges"]:
        assert_exact(charge, models.UsageCharge, optional=LLM_ONLY)
        if "tokens" in charge:
            assert_exact(charge["tokens"], models.UsageTokens)
    if usage["waived"] is not None:
        assert_exact(usage["waived"], models.UsageWaived)


def assert_job_answer(body: dict[str, t.Any]) -> None:
    """A ``GET /extract/video/{task_id}`` answer against the SDK's models."""
    assert_exact(body, models.ExtractVideoJobResponse, optional={"usage"})
    data = body["data"]
    assert_exact(data, models.ExtractVideoJob)
    if data["video_info"] is not None:
        assert_exact(data["video_info"], models.VideoInfo, optional=NOT_TIKTOK)
    if data["error"] is not None:
        assert_exact(data["error"], models.AsyncJobError)
    if data["webhook"] is not None:
        assert_exact(data["webhook"], models.AsyncJobWebhookStatus)
    if "usage" in body:
        assert_usage(body["usage"])
    models.ExtractVideoJobResponse.model_validate(body)


def split(emulator) -> tuple[list[str], list[str]]:
    """A profile's videos with captions, and those without."""
    videos = [video["url"] for video in emulator.ground_truth(PROFILE)]
    without = emulator.transcripts.captionless(videos)
    return [url for url in videos if url not in without], without


def polls(recorder) -> list[dict[str, t.Any]]:
    return [body for request, _, body in recorder.answers if request.method == "GET"]


def test_extract_video_data_fills_the_schema_from_the_captions(make_emulator):
    emulator = make_emulator(extraction=AT_ONCE)
    client, recorder = sdk_client(emulator)
    with_captions, _ = split(emulator)
    for url in with_captions[:5]:
        answer = client.extract_video_data(
            video_url=url, schema=SCHEMA, include_usage=True, timeout=DEADLINE
        )
        expected = emulator.extraction.expected(url, SCHEMA)
        assert isinstance(answer, models.ExtractionApiResponse)
        assert answer.data == expected.result
        assert set(answer.data) == set(SCHEMA)
        truth = emulator.transcripts.transcript_of(url)
        assert answer.video_info.selected_language == truth.language == expected.language
        assert answer.video_info.model_dump(exclude=NOT_TIKTOK) == (
            emulator.transcripts.video_info_of(url, truth.language)
        )
        # One credit: a TikTok video's words are far below 15,000 tokens.
        analysis = answer.usage.charge_for("analysis_request")
        assert (analysis.credits, analysis.quantity, analysis.waived) == (1, 100, False)
        assert analysis.tokens.model_dump() == expected.tokens
        assert answer.usage.analysis_tokens.total_tokens == expected.tokens["total_tokens"]
        assert answer.usage.charge_for("transcription_hour") is None
        assert answer.usage.total_credits == 1
    # What the SDK sent reached the emulator as sent: JSON, None values omitted.
    submits = [request for request, _, _ in recorder.answers if request.method == "POST"]
    assert json.loads(t.cast("bytes", submits[0].body)) == {
        "video_url": with_captions[0],
        "transcribe": True,
        "schema": SCHEMA,
    }
    for body in polls(recorder):
        assert_job_answer(body)
    counters = emulator.extraction.counters[KEY]
    assert (counters.submitted, counters.completed, counters.failed) == (5, 5, 0)
    assert counters.credits_charged == 5
    assert emulator.counters().credits_charged == 5
    assert [emulator.extraction.bought(url) for url in with_captions[:6]] == [1] * 5 + [0]


def test_the_values_follow_the_documented_rules(make_emulator):
    """docs/emulator-extraction.md's rules, checked against the captions themselves."""
    emulator = make_emulator(extraction=AT_ONCE)
    with_captions, _ = split(emulator)
    checked = {"named": 0, "unnamed": 0}
    for url in with_captions:
        truth = emulator.transcripts.transcript_of(url)
        text = truth.text.lower()
        sentences = [segment["text"] for segment in truth.segments]
        result = emulator.extraction.result_of(url, SCHEMA)
        assert result["follow"] is ("follow" in text)
        named = [brand for brand in ("ramen", "receita", "Nike") if brand.lower() in text]
        assert result["brands"] == named[:3]
        if "positive" not in text and "neutral" not in text and "negative" not in text:
            assert result["sentiment"] in ("positive", "neutral", "negative")
        assert result["quote"] in sentences
        assert result["call_to_action"]["text"] in sentences
        assert len(result["call_to_action"]["hashtags"]) <= 3
        assert set(result["call_to_action"]["hashtags"]) <= set(sentences)
        starts = {segment["start"] for segment in truth.segments}
        assert result["first_mention_at"] in starts
        # Integer: how often the captions name the field, else a sentence's word count.
        assert result["mentions"] in {len(sentence.split()) for sentence in sentences}
        checked["named" if named else "unnamed"] += 1
    assert checked["named"] > 0
    assert checked["unnamed"] > 0
    # The same video and schema give the same result in every emulator.
    again = make_emulator(extraction=AT_ONCE)
    assert again.extraction.result_of(with_captions[0], SCHEMA) == (
        emulator.extraction.result_of(with_captions[0], SCHEMA)
    )


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_schema_file_is_uploaded_as_multipart_and_read_as_the_inline_schema(
    make_emulator, tmp_path, suffix
):
    emulator = make_emulator(extraction=AT_ONCE)
    client, recorder = sdk_client(emulator)
    url = split(emulator)[0][0]
    path = tmp_path / f"schema{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(SCHEMA), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(SCHEMA, allow_unicode=True), encoding="utf-8")
    answer = client.extract_video_data(
        video_url=url,
        schema_file=str(path),
        what_to_extract="Brand mentions and the call to action",
        include_usage=True,
        timeout=DEADLINE,
    )
    expected = emulator.extraction.expected(
        url, SCHEMA, what_to_extract="Brand mentions and the call to action"
    )
    assert answer.data == expected.result
    assert answer.usage.analysis_tokens.model_dump() == expected.tokens
    request = next(request for request, _, _ in recorder.answers if request.method == "POST")
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = t.cast("bytes", request.body)
    assert b'name="schema"; filename="schema' + suffix.encode() + b'"' in body
    assert b'name="transcribe"\r\n\r\ntrue' in body
    counters = emulator.extraction.counters[KEY]
    assert (counters.submitted, counters.schema_files) == (1, 1)


def test_a_job_is_processing_then_completed_and_expires(make_emulator):
    emulator = make_emulator(extraction=ExtractionConfig(processing_seconds=3600))
    client, recorder = sdk_client(emulator)
    url = split(emulator)[0][0]
    job = client.submit_extract_video_data(
        video_url=url, schema=SCHEMA, transcribe=False, webhook_url="https://hooks.example/x"
    )
    _, status, accepted = recorder.answers[-1]
    assert status == 202
    assert_exact(accepted, models.AsyncJobSubmitResponse)
    assert_exact(accepted["data"], models.AsyncJobSubmitData)
    assert accepted["data"]["job_type"] == "extract_video"
    assert job.check_status_url == f"/v1/extract/video/{job.task_id}"
    assert job.webhook_url == "https://hooks.example/x"
    polled = client.resume_job("extract_video", job.task_id).refresh(include_usage=True)
    assert polled.data.task_status == "processing"
    assert polled.data.result is None
    assert polled.usage is None
    assert polled.data.request == {"video_url": url, "what_to_extract": None, "transcribe": False}
    assert_job_answer(recorder.answers[-1][2])
    assert recorder.answers[-1][2]["data"]["webhook"]["status"] == "pending"
    # A job that ends at once and expires as it ends: read once, then gone.
    done = make_emulator(extraction=AT_ONCE, expire_seconds=3600)
    client, recorder = sdk_client(done)
    job = client.submit_extract_video_data(video_url=url, schema=SCHEMA)
    waited = job.wait(timeout=DEADLINE, include_usage=True)
    assert waited.data.task_status == "completed"
    assert waited.data.completed_at is not None
    assert_job_answer(recorder.answers[-1][2])
    gone = make_emulator(extraction=AT_ONCE, expire_seconds=0)
    client, _ = sdk_client(gone)
    job = client.submit_extract_video_data(video_url=url, schema=SCHEMA)
    with pytest.raises(exceptions.NotFoundError) as raised:
        job.refresh()
    assert raised.value.error_code == "task_not_found"
    with pytest.raises(exceptions.NotFoundError):
        client.resume_job("extract_video", "no-such-task").refresh()


def test_speech_to_text_is_billed_when_transcribe_is_on_and_the_video_has_no_captions(
    make_emulator,
):
    emulator = make_emulator(extraction=AT_ONCE)
    client, recorder = sdk_client(emulator)
    _, [url, *_] = split(emulator)
    answer = client.extract_video_data(
        video_url=url, schema=SCHEMA, include_usage=True, timeout=DEADLINE
    )
    expected = emulator.extraction.expected(url, SCHEMA)
    assert expected.transcribed
    assert answer.data == expected.result
    heard = emulator.transcripts.speech_of(url)
    assert answer.data["quote"] in [segment["text"] for segment in heard.segments]
    assert answer.video_info.selected_language == heard.language
    hours = answer.usage.charge_for("transcription_hour")
    assert hours.quantity == hours.credits == round(answer.video_info.duration / 3600, 6)
    assert answer.usage.total_credits == pytest.approx(1 + hours.credits)
    assert emulator.extraction.counters[KEY].credits_charged == expected.credits
    assert expected.credits == 1 + decimal.Decimal(str(hours.credits))
    assert_job_answer(polls(recorder)[-1])


def test_without_transcribe_a_video_without_captions_fails_and_costs_nothing(make_emulator):
    emulator = make_emulator(extraction=AT_ONCE)
    client, recorder = sdk_client(emulator)
    _, [url, *_] = split(emulator)
    with pytest.raises(exceptions.NotFoundError) as raised:
        client.extract_video_data(
            video_url=url, schema=SCHEMA, transcribe=False, include_usage=True, timeout=DEADLINE
        )
    assert raised.value.error_code == "transcript_not_available"
    assert json.loads(t.cast("bytes", recorder.answers[0][0].body))["transcribe"] is False
    body = polls(recorder)[-1]
    assert_job_answer(body)
    assert body["data"]["result"] is None
    assert body["usage"]["charges"] == []
    assert body["usage"]["total_credits"] == 0
    expected = emulator.extraction.expected(url, SCHEMA, transcribe=False)
    assert expected.failure.code == "transcript_not_available"
    assert expected.credits == 0
    assert emulator.counters().credits_charged == 0
    assert emulator.extraction.bought(url) == 0


@pytest.mark.parametrize(
    ("handle", "error_class", "code"),
    [
        ("failextract_a", exceptions.ServerError, "extraction_failed"),
        ("silent_b", exceptions.ServerError, "transcription_failed"),
    ],
)
def test_a_failed_extraction_raises_its_sdk_exception_and_its_charges_are_waived(
    make_emulator, handle, error_class, code
):
    emulator = make_emulator(extraction=AT_ONCE)
    client, recorder = sdk_client(emulator)
    url = emulator.ground_truth(f"https://www.tiktok.com/@{handle}")[0]["url"]
    with pytest.raises(error_class) as raised:
        client.extract_video_data(video_url=url, schema=SCHEMA, timeout=DEADLINE)
    assert raised.value.error_code == code
    job = client.submit_extract_video_data(video_url=url, schema=SCHEMA)
    failed = job.wait(include_usage=True, raise_on_failure=False, timeout=DEADLINE)
    assert failed.data.task_status == "failed"
    assert failed.data.error.error == code
    assert failed.data.result is None
    assert_job_answer(polls(recorder)[-1])
    assert failed.usage.total_credits == 0
    assert failed.usage.charges
    assert all(charge.waived and charge.credits == 0 for charge in failed.usage.charges)
    saved = sum(charge.credits_saved for charge in failed.usage.charges)
    assert saved > 0
    assert failed.usage.waived.credits_saved == pytest.approx(saved)
    assert emulator.counters().credits_charged == 0
    assert emulator.extraction.counters[KEY].failed == 2
    assert emulator.extraction.expected(url, SCHEMA).failure.code == code


def test_one_video_in_n_fails_by_a_hash_of_its_id(make_emulator):
    emulator = make_emulator(extraction=ExtractionConfig(processing_seconds=0, failure_one_in=4))
    client, _ = sdk_client(emulator)
    videos, _ = split(emulator)
    failing = [url for url in videos if emulator.extraction.fails(url)]
    assert 0 < len(failing) < len(videos)
    for url in videos[:8]:
        job = client.submit_extract_video_data(video_url=url, schema=SCHEMA)
        ended = job.wait(raise_on_failure=False, timeout=DEADLINE)
        assert (ended.data.task_status == "failed") is (url in failing)
        assert ended.data.result == emulator.extraction.result_of(url, SCHEMA)


def test_credits_grow_with_the_tokens(make_emulator):
    emulator = make_emulator(extraction=AT_ONCE)
    client, _ = sdk_client(emulator)
    url = split(emulator)[0][0]
    focus = "Name every brand, product, price and promise; " * 1_500
    answer = client.extract_video_data(
        video_url=url, schema=SCHEMA, what_to_extract=focus, include_usage=True, timeout=DEADLINE
    )
    expected = emulator.extraction.expected(url, SCHEMA, what_to_extract=focus)
    tokens = expected.tokens["total_tokens"]
    assert 15_000 < tokens <= 30_000
    assert answer.usage.analysis_tokens.total_tokens == tokens
    analysis = answer.usage.charge_for("analysis_request")
    assert (analysis.credits, analysis.quantity) == (2, 200)
    assert answer.usage.total_credits == 2 == expected.credits
    usage = client.get_usage()
    assert usage.data.usage.analysis_request.used == 200


BAD_SCHEMAS = {
    "too many fields": (
        {f"f{i}": {"type": "String", "description": "d"} for i in range(11)},
        "schema",
    ),
    "too deep": (
        {
            "a": {
                "type": "Object",
                "description": "d",
                "properties": {
                    "b": {
                        "type": "Array",
                        "description": "d",
                        "items": {
                            "type": "Object",
                            "description": "d",
                            "properties": {"c": {"type": "String", "description": "d"}},
                        },
                    }
                },
            }
        },
        "schema.a.b.items.c",
    ),
    "unknown type": ({"a": {"type": "string", "description": "d"}}, "schema.a"),
    "no description": ({"a": {"type": "Boolean"}}, "schema.a"),
    "enum without values": ({"a": {"type": "Enum", "description": "d"}}, "schema.a"),
    "array without items": ({"a": {"type": "Array", "description": "d"}}, "schema.a"),
    "object without properties": ({"a": {"type": "Object", "description": "d"}}, "schema.a"),
}


@pytest.mark.parametrize("case", list(BAD_SCHEMAS))
def test_an_invalid_schema_is_refused_at_submit_before_anything_is_billed(make_emulator, case):
    emulator = make_emulator(extraction=AT_ONCE)
    client, recorder = sdk_client(emulator)
    url = split(emulator)[0][0]
    schema, where = BAD_SCHEMAS[case]
    with pytest.raises(exceptions.BadRequestError) as raised:
        client.submit_extract_video_data(video_url=url, schema=schema)
    assert raised.value.error_code == "invalid_schema"
    assert raised.value.status_code == 400
    assert recorder.answers[-1][2]["field"] == where
    with pytest.raises(ValueError, match="refuses this schema"):
        emulator.extraction.expected(url, schema)
    counters = emulator.extraction.counters[KEY]
    assert (counters.submitted, counters.invalid_schemas) == (0, 1)
    assert emulator.extraction.extractions_of(url) == []
    assert emulator.counters().credits_charged == 0


def test_documented_refusals_raise_the_sdks_classes(make_emulator):
    broke = make_emulator(credits=0, extraction=AT_ONCE)
    client, _ = sdk_client(broke)
    url = split(broke)[0][0]
    with pytest.raises(exceptions.PaymentRequiredError):
        client.submit_extract_video_data(video_url=url, schema=SCHEMA)
    with pytest.raises(exceptions.BadRequestError) as bad:  # checked before the balance
        client.submit_extract_video_data(video_url="https://www.tiktok.com/@size40", schema=SCHEMA)
    assert bad.value.error_code == "invalid_url"
    assert broke.extraction.counters[KEY].refused == 1
    busy = make_emulator(max_active_tasks=1, extraction=ExtractionConfig(processing_seconds=3600))
    client, _ = sdk_client(busy)
    client.submit_extract_video_data(video_url=url, schema=SCHEMA)
    with pytest.raises(exceptions.TooManyActiveJobsError):
        client.submit_extract_video_data(video_url=url, schema=SCHEMA)
    # Extractions and transcriptions share the key's cap.
    with pytest.raises(exceptions.TooManyActiveJobsError):
        client.submit_transcribe_video(video_url=url)
    unknown = "https://www.tiktok.com/@size40/video/42"
    done = make_emulator(extraction=AT_ONCE)
    client, _ = sdk_client(done)
    with pytest.raises(exceptions.NotFoundError) as raised:
        client.extract_video_data(video_url=unknown, schema=SCHEMA, timeout=DEADLINE)
    assert raised.value.error_code == "video_not_found"


def test_a_yaml_request_body_is_read_as_the_docs_say(make_emulator):
    """The extraction page: the body may be JSON or YAML (``application/x-yaml``)."""
    emulator = make_emulator(extraction=AT_ONCE)
    client, _ = sdk_client(emulator)
    url = split(emulator)[0][0]
    body = yaml.safe_dump({"video_url": url, "schema": SCHEMA, "transcribe": False})
    answer = requests.post(
        f"{emulator.url}/extract/video/async",
        data=body.encode(),
        headers={"X-API-Key": KEY, "Content-Type": "application/x-yaml"},
        timeout=DEADLINE,
    )
    assert answer.status_code == 202
    job = client.resume_job("extract_video", answer.json()["data"]["task_id"])
    result = job.result(timeout=DEADLINE)
    assert result.data == emulator.extraction.result_of(url, SCHEMA, transcribe=False)
    refused = requests.post(
        f"{emulator.url}/extract/video/async",
        data=b"video_url: [unclosed",
        headers={"X-API-Key": KEY, "Content-Type": "text/yaml"},
        timeout=DEADLINE,
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "request_body_required"


def test_every_extraction_option_has_its_cli_option():
    args = _parser().parse_args(
        ["--extraction-processing", "4", "--extraction-failure-one-in", "7"]
    )
    assert extraction_options.from_arguments(args) == ExtractionConfig(
        processing_seconds=4, failure_one_in=7
    )
    assert extraction_options.from_arguments(_parser().parse_args([])) == ExtractionConfig()
    assert main(["--extraction-failure-one-in", "-1"]) == 2
    assert main(["--extraction-processing", "-1"]) == 2
