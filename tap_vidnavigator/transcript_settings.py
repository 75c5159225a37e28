"""The ``transcripts`` setting: its keys, declared once, and its parsed form.

An object (enrichment_settings.py parses it like every enrichment's): the keys every
enrichment has, plus the languages, the captions' concurrency and speech-to-text.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.enrichment_settings import (
    COMMON_KEYS,
    Key,
    amount,
    flag,
    object_property,
    parse_object,
    text,
    whole,
)
from tap_vidnavigator.families import ENRICHMENT_SOURCES, TRANSCRIPTS

if t.TYPE_CHECKING:
    from tap_vidnavigator.families import TaskFamily

#: Where today's speech-to-text ledger was kept by default: read by the purchase ledger
#: (ledger.py) so that an upgrade buys nothing again. ``ledger_path`` is deprecated for
#: the top-level ``ledger_dir``.
DEFAULT_LEDGER_PATH = ".tap-vidnavigator/transcriptions.jsonl"
#: Requests at once: more than this only queues at the API's rate limit.
MAX_CONCURRENCY = 64
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")


@dataclasses.dataclass(frozen=True)
class TranscriptSettings:
    """The validated ``transcripts`` object."""

    enabled: bool = False
    sources: tuple[TaskFamily, ...] = ENRICHMENT_SOURCES["both"]
    min_views: int = 0
    languages: tuple[str, ...] = ()
    #: Videos handled per run (captions asked for), newest first; None: all.
    max_per_run: int | None = None
    concurrency: int = 8
    speech_to_text: bool = False
    max_transcription_hours_per_run: float = 1.0
    #: Deprecated (``ledger_dir``): a speech-to-text ledger of today's tap, still read.
    ledger_path: str = DEFAULT_LEDGER_PATH


def _languages(where: str, value: t.Any, errors: list[str]) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(
        isinstance(code, str) and _LANGUAGE_RE.match(code.strip().lower()) for code in value
    ):
        errors.append(
            f"{where} must be a list of two-letter ISO 639-1 codes such as "
            f'["en", "es"], got {value!r}'
        )
        return None
    return tuple(dict.fromkeys(c.strip().lower() for c in value))


_ENABLED, _SOURCES, _MIN_VIEWS, _MAX_PER_RUN = COMMON_KEYS
#: In the order the setting's description lists them.
KEYS: tuple[Key, ...] = (
    _ENABLED,
    _SOURCES,
    _MIN_VIEWS,
    Key("languages", th.ArrayType(th.StringType), _languages),
    _MAX_PER_RUN,
    Key("concurrency", th.IntegerType, whole(1, MAX_CONCURRENCY)),
    Key("speech_to_text", th.BooleanType, flag),
    Key("max_transcription_hours_per_run", th.NumberType, amount("hours")),
    Key("ledger_path", th.StringType, text("a file path")),
)
PROPERTY = object_property(TRANSCRIPTS, KEYS)


def deprecated_ledger_path(raw: t.Any) -> str | None:
    """``transcripts.ledger_path`` when set (deprecated: the top-level ``ledger_dir``)."""
    path = raw.get("ledger_path") if isinstance(raw, dict) else None
    return path if isinstance(path, str) and path.strip() else None


def parse_transcripts(raw: t.Any, errors: list[str]) -> TranscriptSettings:
    """The ``transcripts`` setting, checked; problems are appended to ``errors``."""
    return parse_object(raw, TRANSCRIPTS.setting, KEYS, TranscriptSettings(), errors)
