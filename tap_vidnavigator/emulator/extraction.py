"""The emulated structured-extraction API: a schema filled from a video's words, as a task.

* ``POST /extract/video/async`` (paid): ``video_url``, ``schema`` (the provider's own
  format, CONTRACT.md section 8), ``what_to_extract``, ``transcribe`` (default true),
  ``webhook_url``; as a JSON body, a YAML body, or multipart with the schema as an
  uploaded JSON or YAML file (what the SDK's ``schema_file`` sends). An invalid schema
  is ``400 invalid_schema`` at submit, before anything is billed.
* ``GET /extract/video/{task_id}`` (free): processing, then completed (``result``: the
  extracted object, ``video_info``) or failed (``error``); ``usage`` beside ``data``
  with ``include_usage=true``; 404 once expired. :mod:`.jobs` runs the job's
  lifecycle, this desk declares it and decides what it serves and costs.

Shapes follow the provider's SDK (``vidnavigator`` 2.1.0: ``AsyncJobSubmitResponse``,
``ExtractVideoJobResponse``, ``ExtractVideoJob``, ``UsageBlock``); what is extracted,
what it costs and which videos fail is decided here, deterministically, from the
video's captions (:mod:`.captions`): docs/emulator-extraction.md tells the model, and
:meth:`ExtractionDesk.expected` answers it as ground truth.
"""

from __future__ import annotations

import dataclasses
import decimal
import email.parser
import email.policy
import json
import math
import typing as t
import zlib

import yaml
from typing_extensions import override

from tap_vidnavigator.emulator import captions, jobs, pricing
from tap_vidnavigator.emulator.jobs import BadRequestError, Failure
from tap_vidnavigator.emulator.state import (
    EmulatorState,
    Response,
    error_response,
)
from tap_vidnavigator.emulator.transcripts import (
    TranscriptDesk,
    _Found,
    _video_info,
    transcription_hours,
)

EXTRACT_VIDEO = jobs.JobKind(
    job_type="extract_video",
    path="/v1/extract/video",
    started="Extraction started",
    docs_url="https://docs.vidnavigator.com/api-reference/endpoint/extract-video",
    usage_when_failed=True,
)

# ----------------------------------------------------------------- the schema
#: The field types of the provider's schema format.
TYPES = ("String", "Number", "Integer", "Boolean", "Enum", "Array", "Object")
MAX_ROOT_FIELDS = 10
MAX_DEPTH = 3
#: Every video of a handle starting with this fails its extraction.
FAILING_PREFIX = "failextract"

Schema = dict[str, t.Any]


class SchemaProblem(t.NamedTuple):
    """Why the provider refuses a schema: where (a dotted path) and what."""

    path: str
    message: str


def schema_problem(schema: t.Any) -> SchemaProblem | None:
    """The first rule a schema breaks (CONTRACT.md section 8), else None.

    Levels: the top-level fields are level 1; an Object's ``properties`` and an
    Array's ``items`` are one level below their field; nothing below level 3.
    """
    if not isinstance(schema, dict) or not schema:
        return SchemaProblem("", "schema must be a non-empty object of fields")
    if len(schema) > MAX_ROOT_FIELDS:
        return SchemaProblem(
            "", f"schema has {len(schema)} top-level fields; at most {MAX_ROOT_FIELDS}"
        )
    return _fields_problem(schema, "", 1)


def _fields_problem(fields: dict[str, t.Any], prefix: str, depth: int) -> SchemaProblem | None:
    for name, field in fields.items():
        path = f"{prefix}{name}"
        if not isinstance(name, str) or not name.strip():
            return SchemaProblem(path, "a field name must be a non-empty string")
        problem = _field_problem(field, path, depth)
        if problem is not None:
            return problem
    return None


def _field_problem(field: t.Any, path: str, depth: int) -> SchemaProblem | None:
    if depth > MAX_DEPTH:
        return SchemaProblem(path, f"schema nests deeper than {MAX_DEPTH} levels")
    if not isinstance(field, dict):
        return SchemaProblem(path, "a field must be an object with type and description")
    kind = field.get("type")
    if kind not in TYPES:
        return SchemaProblem(path, f"type must be one of {', '.join(TYPES)}, got {kind!r}")
    description = field.get("description")
    if not isinstance(description, str) or not description.strip():
        return SchemaProblem(path, "every field needs a description")
    if kind == "Enum":
        values = field.get("enum")
        if not isinstance(values, list) or not values:
            return SchemaProblem(path, "an Enum field needs enum, a non-empty list of values")
        if not all(isinstance(value, str) and value for value in values):
            return SchemaProblem(path, "enum values must be non-empty strings")
    if kind == "Array":
        items = field.get("items")
        if items is None:
            return SchemaProblem(path, "an Array field needs items (one element's field)")
        return _field_problem(items, f"{path}.items", depth + 1)
    if kind == "Object":
        properties = field.get("properties")
        if not isinstance(properties, dict) or not properties:
            return SchemaProblem(path, "an Object field needs properties, its sub-fields")
        return _fields_problem(properties, f"{path}.", depth + 1)
    return None


# ------------------------------------------------------------- the extraction
def _hash(*parts: str) -> int:
    return zlib.crc32(":".join(parts).encode())


class _Words(t.NamedTuple):
    """The text an extraction reads: its sentences (caption segments) and all of it."""

    segments: tuple[dict[str, t.Any], ...]
    language: str

    @property
    def text(self) -> str:
        return " ".join(segment["text"] for segment in self.segments)


def _spoken_name(name: str) -> str:
    """How the captions would name a field: ``is_sponsored`` -> ``is sponsored``."""
    return name.replace("_", " ").strip().lower()


class _Filler:
    """Fills a schema from one video's words (docs/emulator-extraction.md, the rules)."""

    def __init__(self, video_id: str, words: _Words) -> None:
        self.video_id = video_id
        self.segments = words.segments
        self.lowered = words.text.lower()

    def _segment(self, path: str) -> dict[str, t.Any]:
        return self.segments[_hash(self.video_id, path) % len(self.segments)]

    def _named(self, value: str) -> bool:
        return bool(value) and value.lower() in self.lowered

    def value(self, name: str, field: dict[str, t.Any], path: str) -> t.Any:
        kind = field["type"]
        if kind == "String":
            return self._segment(path)["text"]
        if kind == "Enum":
            named = [value for value in field["enum"] if self._named(value)]
            if named:
                return named[0]
            return field["enum"][_hash(self.video_id, path) % len(field["enum"])]
        if kind == "Boolean":
            return self._named(_spoken_name(name))
        if kind == "Integer":
            spoken = _spoken_name(name)
            times = self.lowered.count(spoken) if spoken else 0
            return times or len(self._segment(path)["text"].split())
        if kind == "Number":
            return float(self._segment(path)["start"])
        if kind == "Array":
            item = field["items"]
            if item["type"] == "Enum":
                return [value for value in item["enum"] if self._named(value)][:3]
            count = _hash(self.video_id, f"{path}[]") % 4
            return [self.value(name, item, f"{path}[{index}]") for index in range(count)]
        return {
            sub: self.value(sub, subfield, f"{path}.{sub}")
            for sub, subfield in field["properties"].items()
        }

    def fill(self, schema: Schema) -> dict[str, t.Any]:
        return {name: self.value(name, field, name) for name, field in schema.items()}


#: Tokens of the provider's own instructions around every extraction prompt.
PROMPT_OVERHEAD_TOKENS = 400


def _tokens_of(text: str) -> int:
    """About four characters a token, rounded up (docs/emulator-extraction.md)."""
    return math.ceil(len(text) / 4)


def _compact(value: t.Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def token_counts(
    words: str, schema: Schema, what_to_extract: str | None, result: t.Any
) -> dict[str, int]:
    """The prompt (instructions, words, schema, ``what_to_extract``) and the completion
    (the result as compact JSON) in tokens, each ``ceil(characters / 4)``."""
    prompt = (
        PROMPT_OVERHEAD_TOKENS
        + _tokens_of(words)
        + _tokens_of(_compact(schema))
        + _tokens_of(what_to_extract or "")
    )
    completion = _tokens_of(_compact(result))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class Outcome(t.NamedTuple):
    """What an extraction of a video with a schema ends with (the ground truth)."""

    #: The extracted object; None when the extraction fails.
    result: dict[str, t.Any] | None
    failure: Failure | None
    #: Its usage ``charges`` (waived when it failed).
    charges: list[dict[str, t.Any]]
    #: The track the words came from (a language code), None without words.
    language: str | None
    #: Whether speech-to-text ran (and was billed, unless the extraction failed).
    transcribed: bool

    @property
    def credits(self) -> decimal.Decimal:
        """What it costs, exactly (0 when it failed: every charge is waived)."""
        return pricing.total(self.charges)

    @property
    def tokens(self) -> dict[str, int] | None:
        """Its token counts, when the analysis ran."""
        for charge in self.charges:
            if charge["service_type"] == "analysis_request":
                return t.cast("dict[str, int]", charge["tokens"])
        return None


def _outcome(
    found: _Found | None,
    video_id: str,
    schema: Schema,
    *,
    what_to_extract: str | None,
    transcribe: bool,
    failure_one_in: int,
) -> Outcome:
    if found is None:
        failure = Failure("video_not_found", f"Video {video_id} was not found", 404)
        return Outcome(None, failure, [], None, False)
    duration = found.video["duration"]
    track = captions.captions(found.channel, video_id, duration)
    hours: float | None = None
    if track is None:
        if not transcribe:
            failure = Failure(
                "transcript_not_available",
                "No transcript is available for this video and transcribe is false",
                404,
            )
            return Outcome(None, failure, [], None, False)
        hours = transcription_hours(duration)
        track = captions.speech(found.channel, video_id, duration)
        if track is None:
            failure = Failure(
                "transcription_failed", "No speech could be transcribed from this video", 500
            )
            charges = [pricing.charge("transcription_hour", hours, waived=True)]
            return Outcome(None, failure, charges, None, True)
    words = _Words(track.segments, track.language)
    result = _Filler(video_id, words).fill(schema)
    tokens = token_counts(words.text, schema, what_to_extract, result)
    fails = found.channel.lower().startswith(FAILING_PREFIX) or (
        failure_one_in > 0 and _hash(video_id, "extraction") % failure_one_in == 0
    )
    if fails:
        failure = Failure("extraction_failed", "The extraction failed; nothing was charged", 500)
        charges = pricing.extraction_charges(tokens, hours, waived=True)
        return Outcome(None, failure, charges, None, hours is not None)
    charges = pricing.extraction_charges(tokens, hours)
    return Outcome(result, None, charges, words.language, hours is not None)


# ---------------------------------------------------------------- the request
class Submitted(t.NamedTuple):
    """A submit's fields, read from JSON, YAML or multipart."""

    video_url: str
    ref: captions.VideoRef
    schema: Schema
    what_to_extract: str | None
    transcribe: bool
    webhook_url: str | None
    #: How the schema came: "json", "yaml" (a YAML body) or "file" (multipart upload).
    form: str


def _yaml_or_json(raw: bytes, what: str, code: str, field: str) -> t.Any:
    try:
        # YAML is a superset of JSON: one parser reads both.
        return yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadRequestError(code, f"{what} is neither JSON nor YAML", field) from exc


def _multipart(raw: bytes, content_type: str) -> tuple[dict[str, t.Any], t.Any]:
    """The form fields (strings) and the uploaded schema file's parsed content."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise BadRequestError("bad_request", "Malformed multipart body", "")
    fields: dict[str, t.Any] = {}
    schema: t.Any = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if name == "schema":
            schema = _yaml_or_json(payload, "the uploaded schema file", "invalid_schema", "schema")
        elif isinstance(name, str):
            fields[name] = payload.decode("utf-8")
    return fields, schema


def _body(raw: bytes, content_type: str) -> tuple[dict[str, t.Any], str]:
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media == "multipart/form-data":
        fields, schema = _multipart(raw, content_type)
        if schema is not None:
            fields["schema"] = schema
        return fields, "file"
    if media in ("application/x-yaml", "application/yaml", "text/yaml"):
        body = _yaml_or_json(raw or b"{}", "the request body", "request_body_required", "")
        return jobs.object_body(body), "yaml"
    return jobs.json_body(raw), "json"


def _flag(value: t.Any, name: str) -> bool:
    # Multipart sends booleans as the SDK's "true" / "false".
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise BadRequestError("invalid_parameter", f"{name} must be true or false", name)
    return value


def parse_submit(raw: bytes, content_type: str) -> Submitted:
    """A submit's fields, checked in the provider's order; BadRequestError otherwise."""
    body, form = _body(raw, content_type)
    ref = jobs.video_ref(body)
    if "schema" not in body or body["schema"] is None:
        raise BadRequestError(
            "missing_parameter", "schema (or an uploaded schema file) is required", "schema"
        )
    schema = body["schema"]
    problem = schema_problem(schema)
    if problem is not None:
        where = "schema" + (f".{problem.path}" if problem.path else "")
        raise BadRequestError(
            "invalid_schema", f"Invalid schema at {where}: {problem.message}", where
        )
    what = body.get("what_to_extract")
    if what is not None and not isinstance(what, str):
        raise BadRequestError(
            "invalid_parameter", "what_to_extract must be a string", "what_to_extract"
        )
    transcribe = _flag(body.get("transcribe", True), "transcribe")
    webhook_url = jobs.webhook_url(body)
    return Submitted(
        str(body["video_url"]), ref, schema, what or None, transcribe, webhook_url, form
    )


# ------------------------------------------------------------------- the task
@dataclasses.dataclass
class ExtractionCounters:
    """One key's extraction calls (after injected faults)."""

    #: ``POST /extract/video/async`` accepted (a job was created).
    submitted: int = 0
    #: Of those, how many sent the schema as an uploaded file (multipart).
    schema_files: int = 0
    #: Submits refused: 402, or 429 ``too_many_active_jobs``.
    refused: int = 0
    #: Submits refused with ``400 invalid_schema``.
    invalid_schemas: int = 0
    polls: int = 0
    #: Extractions that completed and were charged: bought.
    completed: int = 0
    failed: int = 0
    #: Every 400 and 404 of both routes.
    errors: int = 0
    credits_charged: decimal.Decimal = pricing.ZERO


@dataclasses.dataclass(kw_only=True)
class Extraction(jobs.Job):
    """One extraction job (its lifecycle: :class:`.jobs.Job`)."""

    submitted: Submitted
    found: _Found | None
    outcome: Outcome
    video_info: dict[str, t.Any] | None = None


class ExtractionDesk(jobs.JobDesk[Extraction, ExtractionCounters]):
    """The extraction routes of one emulator, their counters and their ground truth."""

    kind = EXTRACT_VIDEO

    def __init__(self, state: EmulatorState, transcripts: TranscriptDesk) -> None:
        # Its jobs count against the same active-job cap as the transcriptions'.
        super().__init__(state, ExtractionCounters, active=transcripts.active)
        self.transcripts = transcripts
        self.options = state.config.extraction

    def answer(
        self,
        method: str,
        path: str,
        key: str,
        raw: bytes,
        query: t.Mapping[str, str],
        *,
        content_type: str,
    ) -> Response:
        """Answer a request of an authorised key (:meth:`fault_route` said it is ours)."""
        if method == "POST":
            return self.submit(key, raw, content_type)
        return self.poll(key, t.cast("str", self.kind.task_id(path)), query)

    # ------------------------------------------------------------ submit
    def submit(self, key: str, raw: bytes, content_type: str = "application/json") -> Response:
        """``POST /extract/video/async``: a job, charged when it ends."""
        counters = self.counters[key]
        try:
            submitted = parse_submit(raw, content_type)
        except BadRequestError as exc:
            counters.errors += 1
            if exc.code == "invalid_schema":
                counters.invalid_schemas += 1
            return exc.response
        with self.state._lock:
            self.state._settle_finished(key)
            refused = not self.state.account(key).can_submit()
        if refused:
            counters.refused += 1
            return error_response(
                402, "insufficient_credits", "Insufficient credits: top up your plan"
            )
        found = self.transcripts._find(submitted.ref)
        answer = self._start(key, lambda now: self._task(key, submitted, found, now))
        if answer.status == 202:
            counters.schema_files += submitted.form == "file"
        return answer

    def _task(self, key: str, submitted: Submitted, found: _Found | None, now: float) -> Extraction:
        outcome = _outcome(
            found,
            submitted.ref.video_id,
            submitted.schema,
            what_to_extract=submitted.what_to_extract,
            transcribe=submitted.transcribe,
            failure_one_in=self.options.failure_one_in,
        )
        return Extraction(
            **self._lifecycle(key, now, self.options.processing_seconds),
            video_id=submitted.ref.video_id,
            webhook_url=submitted.webhook_url,
            failure=outcome.failure,
            submitted=submitted,
            found=found,
            outcome=outcome,
        )

    # -------------------------------------------------------------- poll
    @override
    def _request(self, task: Extraction) -> dict[str, t.Any]:
        submitted = task.submitted
        return {
            "video_url": submitted.video_url,
            "what_to_extract": submitted.what_to_extract,
            "transcribe": submitted.transcribe,
        }

    @override
    def _result(self, task: Extraction, completed: bool) -> dict[str, t.Any]:
        return {
            "result": task.outcome.result if completed else None,
            "video_info": task.video_info if completed else None,
        }

    @override
    def _end(self, task: Extraction) -> list[dict[str, t.Any]] | None:
        """A completed job's video_info; its charges (waived when it failed)."""
        outcome = task.outcome
        if outcome.failure is None:
            found = t.cast("_Found", task.found)
            moment = self.state.calendar.moment(task.completes_at, task.offset)
            seen = TranscriptDesk._observed(found, moment)
            video_id = str(found.video["id"])
            available = captions.caption_languages(found.channel, video_id)
            task.video_info = _video_info(found, seen, available, outcome.language)
        return [dict(charge) for charge in outcome.charges]

    # ------------------------------------------------------ ground truth
    def _known(self, video_url: str) -> tuple[captions.VideoRef, _Found]:
        ref = captions.parse_video_url(video_url)
        found = None if ref is None else self.transcripts._find(ref)
        if ref is None or found is None:
            msg = f"the emulator knows no video {video_url!r}"
            raise LookupError(msg)
        return ref, found

    def expected(
        self,
        video_url: str,
        schema: Schema,
        *,
        what_to_extract: str | None = None,
        transcribe: bool = True,
    ) -> Outcome:
        """What an extraction of the video with this schema ends with: its result (or
        why it fails), its charges and tokens. LookupError for an unknown video;
        ValueError for a schema the provider refuses."""
        problem = schema_problem(schema)
        if problem is not None:
            msg = f"the provider refuses this schema at {problem.path!r}: {problem.message}"
            raise ValueError(msg)
        ref, found = self._known(video_url)
        return _outcome(
            found,
            ref.video_id,
            schema,
            what_to_extract=what_to_extract or None,
            transcribe=transcribe,
            failure_one_in=self.options.failure_one_in,
        )

    def result_of(
        self, video_url: str, schema: Schema, **options: t.Any
    ) -> dict[str, t.Any] | None:
        """The extracted object (None: the extraction fails); see :meth:`expected`."""
        return self.expected(video_url, schema, **options).result

    def fails(self, video_url: str) -> bool:
        """Whether every extraction of this video fails whatever the schema
        (``extraction_failed``: its handle, or one video in ``failure_one_in``)."""
        ref, found = self._known(video_url)
        probe = {"probe": {"type": "String", "description": "probe"}}
        outcome = _outcome(
            found,
            ref.video_id,
            probe,
            what_to_extract=None,
            transcribe=True,
            failure_one_in=self.options.failure_one_in,
        )
        return outcome.failure is not None and outcome.failure.code == "extraction_failed"

    def extractions_of(self, video_url: str) -> list[str]:
        """The extraction jobs submitted for this video (all keys), oldest first."""
        return self.jobs_of(video_url)
