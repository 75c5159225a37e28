"""The ``extraction`` setting: its keys, declared once, and its parsed form.

An object (enrichment_settings.py parses it like every enrichment's): the keys every
enrichment has, plus the user's schema (inline or as a file, read and checked here,
before any request: extraction_schema.py), what to extract, speech-to-text and
re-extraction.
"""

from __future__ import annotations

import dataclasses
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.enrichment_settings import (
    COMMON_KEYS,
    Key,
    flag,
    object_property,
    parse_object,
    text,
)
from tap_vidnavigator.extraction_schema import SchemaError, checked_schema, fingerprint
from tap_vidnavigator.families import ENRICHMENT_SOURCES, EXTRACTION

if t.TYPE_CHECKING:
    from tap_vidnavigator.families import TaskFamily


@dataclasses.dataclass(frozen=True)
class ExtractionSettings:
    """The validated ``extraction`` object."""

    enabled: bool = False
    sources: tuple[TaskFamily, ...] = ENRICHMENT_SOURCES["both"]
    min_views: int = 0
    #: Videos extracted per run, newest first; None: all.
    max_per_run: int | None = None
    #: The user's schema as given inline (the parsed ``schema`` below is what counts).
    schema: dict[str, t.Any] | None = None
    schema_file: str | None = None
    what_to_extract: str | None = None
    #: Speech-to-text for videos without captions (billed on top). Off by default, while
    #: the API's default is on: every submit says it explicitly.
    transcribe: bool = False
    reextract: bool = False
    #: The schema sent and typed (inline, or the file's content), once checked.
    fields: dict[str, t.Any] | None = None
    #: Which schema and what_to_extract a row was extracted under.
    fingerprint: str | None = None

    @property
    def concurrency(self) -> int:
        """Extraction jobs run on the shared lifecycle (``max_active_tasks``): no pool."""
        return 1


def _object(where: str, value: t.Any, errors: list[str]) -> dict[str, t.Any] | None:
    if not isinstance(value, dict):
        errors.append(
            f'{where} must be an object of fields such as {{"brand": {{"type": "String", '
            f'"description": "The brand named"}}}}, got {value!r}'
        )
        return None
    return value


KEYS: tuple[Key, ...] = (
    *COMMON_KEYS,
    Key("schema", th.ObjectType(additional_properties=True), _object),
    Key("schema_file", th.StringType, text("a JSON or YAML file path")),
    Key("what_to_extract", th.StringType, text("a sentence saying what to extract")),
    Key("transcribe", th.BooleanType, flag),
    Key("reextract", th.BooleanType, flag),
)
PROPERTY = object_property(EXTRACTION, KEYS)


def parse_extraction(raw: t.Any, errors: list[str]) -> ExtractionSettings:
    """The ``extraction`` setting, checked (its schema read and checked by the
    provider's rules and the tap's); problems are appended to ``errors``."""
    options = parse_object(raw, EXTRACTION.setting, KEYS, ExtractionSettings(), errors)
    given = options.schema is not None or options.schema_file is not None
    if not (options.enabled or given):
        return options
    if options.schema is not None and options.schema_file is not None:
        errors.append(
            f"{EXTRACTION.setting} has both schema and schema_file: give one (the inline "
            "schema, or the file that holds it)"
        )
        return options
    if not given:
        errors.append(
            f"{EXTRACTION.setting} is enabled without a schema: set schema (the fields to "
            "extract, in the provider's format) or schema_file (a JSON or YAML file of it)"
        )
        return options
    try:
        fields = checked_schema(options.schema, options.schema_file, setting=EXTRACTION.setting)
    except SchemaError as exc:
        errors.extend(exc.errors)
        return options
    return dataclasses.replace(
        options, fields=fields, fingerprint=fingerprint(fields, options.what_to_extract)
    )
