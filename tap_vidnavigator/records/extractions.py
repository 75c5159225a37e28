"""The ``video_extractions`` table: the stream's own columns, and a row from a job.

One row per video (keyed ``video_id``): which video, what found it, which extraction
job filled it under which schema (``schema_fingerprint``), when, what it cost and, when
it failed, why; beside them one column per top-level field of the user's schema
(``extraction_schema.py`` types them, :func:`extraction_row` fills them). Made from a
finished ``GET /extract/video/{task_id}`` (the provider's SDK's ``ExtractVideoJob``
and ``UsageBlock``).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.kinds import JobKind
from tap_vidnavigator.records.fields import RowColumn as Column
from tap_vidnavigator.records.fields import schema_of
from tap_vidnavigator.records.values import to_datetime, to_int, to_number, to_text

#: What found a video (``found_by``), and the column its subject goes to.
SUBJECT_COLUMNS = {"profile": "profile_url", "search": "query"}


EXTRACTION_FIELDS: tuple[Column, ...] = (
    Column("video_id", th.StringType, "TikTok video ID.", required=True),
    Column("video_url", th.StringType, "The video's page URL, as sent to the extraction."),
    Column("found_by", th.StringType, "The kind of task that found it: profile or search."),
    Column("profile_url", th.StringType, "The profile whose scrape found it (null when a "
           "search did)."),
    Column("query", th.StringType, "The search query that found it (null when a profile "
           "did)."),
    Column("task_id", th.StringType, "The extraction job that filled this row."),
    Column("schema_fingerprint", th.StringType, "Which schema and what_to_extract filled "
           "this row (16 hex digits): a new one when either changes."),
    Column("extracted_at", th.DateTimeType, "When the extraction job ended (its "
           "completed_at; the time the tap read it when the API does not say)."),
    Column("credits_used", th.NumberType, "Credits this extraction cost (the usage block's "
           "total_credits, speech-to-text included); 0 when it failed (charges waived); "
           "null when not reported."),
    Column("error_code", th.StringType, "Why the extraction failed (code), e.g. "
           "transcript_not_available, extraction_failed; null when it succeeded."),
    Column("error_message", th.StringType, "Why the extraction failed."),
)  # fmt: skip
#: The stream's own column names: no field of a user's schema may take one.
OWN_COLUMNS: tuple[str, ...] = tuple(column.name for column in EXTRACTION_FIELDS)
#: The stream's schema without a user's schema (discovery without the setting).
EXTRACTION_SCHEMA = schema_of(EXTRACTION_FIELDS)


# ------------------------------------------------------------- user values
def _boolean(value: t.Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: t.Any) -> str | None:
    return value if isinstance(value, str) else None


def typed_value(field: t.Mapping[str, t.Any], value: t.Any) -> t.Any:
    """A value of the extraction's result as its field's column holds it.

    The provider validates its output against the schema; anything that still does not
    fit the field's type (a count sent as ``"3"`` is read as 3) becomes null rather than
    failing the loader: String and Enum text, Integer a whole number, Number a number,
    Boolean true/false only, Array a list (each element typed by ``items``), Object an
    object with the declared properties (each typed; undeclared ones dropped).
    """
    kind = field.get("type")
    if value is None:
        return None
    if kind in ("String", "Enum"):
        return _text(value)
    if kind == "Integer":
        return to_int(value)
    if kind == "Number":
        return to_number(value)
    if kind == "Boolean":
        return _boolean(value)
    if kind == "Array":
        if not isinstance(value, list):
            return None
        items = field.get("items")
        return [typed_value(items, item) if isinstance(items, dict) else item for item in value]
    if kind == "Object":
        properties = field.get("properties")
        if not isinstance(value, dict) or not isinstance(properties, dict):
            return None
        return {name: typed_value(sub, value.get(name)) for name, sub in properties.items()}
    return None


def user_values(schema: t.Mapping[str, t.Mapping[str, t.Any]], result: t.Any) -> dict[str, t.Any]:
    """One value per top-level field of the user's schema, from a job's ``result``
    (every field present; null when the result lacks it or the job failed)."""
    found = result if isinstance(result, dict) else {}
    return {name: typed_value(field, found.get(name)) for name, field in schema.items()}


# -------------------------------------------------------------------- rows
def extraction_row(
    *,
    video_id: str,
    video_url: str,
    found_by: str,
    subject: str,
    fingerprint: str,
    schema: t.Mapping[str, t.Mapping[str, t.Any]],
    job: t.Mapping[str, t.Any],
    usage: t.Mapping[str, t.Any] | None,
    now: dt.datetime | None = None,
) -> dict[str, t.Any]:
    """A row from a finished extraction job: ``job`` is the poll answer's ``data``
    (``ExtractVideoJob``), ``usage`` the ``usage`` beside it (None: not asked for)."""
    error = job.get("error")
    error = error if isinstance(error, dict) else {}
    extracted_at = to_datetime(job.get("completed_at"))
    if extracted_at is None:
        extracted_at = (now or dt.datetime.now(dt.timezone.utc)).isoformat()
    row = {
        "video_id": video_id,
        "video_url": video_url,
        "found_by": found_by,
        "profile_url": subject if found_by == "profile" else None,
        "query": subject if found_by == "search" else None,
        "task_id": to_text(job.get("task_id")),
        "schema_fingerprint": fingerprint,
        "extracted_at": extracted_at,
        "credits_used": to_number((usage or {}).get("total_credits")),
        "error_code": to_text(error.get("error") or error.get("code")),
        "error_message": to_text(error.get("message") or job.get("error_message")),
    }
    completed = job.get("task_status") == "completed"
    row.update(user_values(schema, job.get("result") if completed else None))
    return row


# ------------------------------------------------------------ the job kind
#: Structured extraction of one video: a paid job submitted at ``POST
#: /extract/video/async`` and polled at ``GET /extract/video/{task_id}`` (free); the
#: terminal poll holds the whole result under ``result``. Never re-sent after an
#: ambiguous failure: at least 1 credit a video.
EXTRACTION_KIND = JobKind(
    name="extraction",
    route="/extract/video",
    submit_route="/extract/video/async",
    subject_field="video_url",
    results_field="result",
    paged=False,
    retry_ambiguous_submit=False,
)
