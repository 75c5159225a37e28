"""The ``video_transcripts`` table, and speech-to-text as a task kind.

One row per video: where its words came from (captions, speech-to-text, or none), in
which language, the segments and the whole text, what it cost and, without words, why.
Made from a ``POST /transcript`` answer or a finished ``/transcribe`` task (the
provider's SDK's ``TranscriptResponse`` and ``TranscribeJob``).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.enrichment_state import Candidate
from tap_vidnavigator.kinds import JobKind
from tap_vidnavigator.records.fields import RowColumn as Column
from tap_vidnavigator.records.fields import schema_of
from tap_vidnavigator.records.values import to_datetime, to_int, to_number, to_text

#: Where a row's words came from.
CAPTIONS = "captions"
SPEECH = "speech_to_text"
NONE = "none"


_SEGMENT = th.ObjectType(
    th.Property("text", th.StringType),
    th.Property("start", th.NumberType),
    th.Property("end", th.NumberType),
)
TRANSCRIPT_FIELDS: tuple[Column, ...] = (
    Column("video_id", th.StringType, "TikTok video ID.", required=True),
    Column("video_url", th.StringType, "The video's page URL, as transcribed."),
    Column("found_by", th.StringType, "The kind of task that found it: profile or search."),
    Column("subject", th.StringType, "The profile URL or the query that found it."),
    Column("published_at", th.DateTimeType, "Publication time (UTC)."),
    Column("text_source", th.StringType, "Where the words came from: captions, "
           "speech_to_text, or none (no_transcript_reason says why)."),
    Column("language", th.StringType, "The language of the text (ISO 639-1)."),
    Column("requested_language", th.StringType, "The language asked for, when one was."),
    Column("available_languages", th.ArrayType(th.StringType), "The video's caption tracks."),
    Column("segments", th.ArrayType(_SEGMENT), "The text in timed segments (seconds)."),
    Column("text", th.StringType, "The whole text: the segments' texts joined by spaces."),
    Column("duration", th.NumberType, "The video's length in seconds."),
    Column("title", th.StringType, "The video's title."),
    Column("views", th.IntegerType, "Views when the transcript was fetched."),
    Column("no_transcript_reason", th.StringType, "Why there is no text: no_captions, "
           "video_not_found, video_unavailable, speech_to_text_failed, no_speech (an empty "
           "transcription), speech_to_text_bought_before (bought by an earlier run)."),
    Column("task_id", th.StringType, "The speech-to-text task, for its words."),
    Column("credits_used", th.NumberType, "Credits this row cost (the usage block's "
           "total_credits); null when not reported."),
    Column("fetched_at", th.DateTimeType, "When the tap fetched it."),
)  # fmt: skip
TRANSCRIPT_SCHEMA = schema_of(TRANSCRIPT_FIELDS)


def _segments(value: t.Any) -> list[dict[str, t.Any]] | None:
    if not isinstance(value, list):
        return None
    return [
        {"text": to_text(s.get("text")), "start": to_number(s.get("start")),
         "end": to_number(s.get("end"))}
        for s in value
        if isinstance(s, dict)
    ]  # fmt: skip


def has_words(transcript: t.Any) -> bool:
    """Whether an answer's ``transcript`` holds any text: null, ``[]`` and ``""`` (and
    an absent one) all mean none (docs/emulator-transcripts.md)."""
    return bool(transcript)


def transcript_row(
    candidate: Candidate,
    data: t.Mapping[str, t.Any],
    *,
    source: str,
    usage: t.Mapping[str, t.Any] | None,
    requested_language: str | None = None,
    reason: str | None = None,
    task_id: str | None = None,
) -> dict[str, t.Any]:
    """A row from a ``/transcript`` answer's ``data`` or a transcription's ``result``."""
    info = data.get("video_info")
    info = info if isinstance(info, dict) else {}
    transcript = data.get("transcript")
    segments = _segments(transcript)
    if isinstance(transcript, str):
        text: str | None = transcript or None
    else:
        text = " ".join(s["text"] or "" for s in segments) if segments else None
    if not has_words(transcript):
        segments, text = None, None
    languages = info.get("available_languages")
    return {
        "video_id": candidate.video_id,
        "video_url": candidate.url,
        "found_by": candidate.found_by,
        "subject": candidate.subject,
        "published_at": to_datetime(candidate.published_at),
        "text_source": source if text is not None else NONE,
        "language": to_text(info.get("selected_language")) if text is not None else None,
        "requested_language": requested_language,
        "available_languages": [to_text(code) for code in languages]
        if isinstance(languages, list)
        else None,
        "segments": segments,
        "text": text,
        "duration": to_number(info.get("duration")),
        "title": to_text(info.get("title")),
        "views": to_int(info.get("views")),
        "no_transcript_reason": reason if text is None else None,
        "task_id": task_id,
        "credits_used": to_number((usage or {}).get("total_credits")),
        "fetched_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }


def empty_row(
    candidate: Candidate,
    reason: str,
    *,
    usage: t.Mapping[str, t.Any] | None = None,
    task_id: str | None = None,
) -> dict[str, t.Any]:
    """A row for a video without words and without an answer to read them from."""
    return transcript_row(candidate, {}, source=NONE, usage=usage, reason=reason, task_id=task_id)


# ------------------------------------------------------- speech-to-text kind
#: Speech-to-text for a video without captions: a paid job per video, submitted at
#: ``POST /transcribe/async`` and polled at ``GET /transcribe/{task_id}`` (free); the
#: terminal poll holds the whole result (a ``TranscriptData``) under ``result``.
SPEECH_TO_TEXT_KIND = JobKind(
    name="speech-to-text",
    route="/transcribe",
    submit_route="/transcribe/async",
    subject_field="video_url",
    results_field="result",
    paged=False,
    retry_ambiguous_submit=False,
)
