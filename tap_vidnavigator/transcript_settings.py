"""The ``transcripts`` setting: its schema, and its parsing into :class:`TranscriptSettings`.

An object, so that turning transcripts on is one setting; every key is checked before
any request (an unknown key is refused with the closest known one).
"""

from __future__ import annotations

import dataclasses
import decimal
import re
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.config_keys import did_you_mean
from tap_vidnavigator.families import TRANSCRIPT_SOURCES, TRANSCRIPTS

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
    sources: tuple[TaskFamily, ...] = TRANSCRIPT_SOURCES["both"]
    min_views: int = 0
    languages: tuple[str, ...] = ()
    #: Videos handled per run (captions asked for), newest first; None: all.
    max_per_run: int | None = None
    concurrency: int = 8
    speech_to_text: bool = False
    max_transcription_hours_per_run: float = 1.0
    #: Deprecated (``ledger_dir``): a speech-to-text ledger of today's tap, still read.
    ledger_path: str = DEFAULT_LEDGER_PATH


_DEFAULTS = TranscriptSettings()
KEYS = tuple(field.name for field in dataclasses.fields(TranscriptSettings))

PROPERTY = th.Property(
    TRANSCRIPTS.setting,
    th.ObjectType(
        th.Property("enabled", th.BooleanType),
        th.Property("sources", th.StringType),
        th.Property("min_views", th.IntegerType),
        th.Property("languages", th.ArrayType(th.StringType)),
        th.Property("max_per_run", th.IntegerType),
        th.Property("concurrency", th.IntegerType),
        th.Property("speech_to_text", th.BooleanType),
        th.Property("max_transcription_hours_per_run", th.NumberType),
        th.Property("ledger_path", th.StringType),
        # Unknown keys are refused by parse_transcripts, with a did-you-mean, rather
        # than by the schema's terser message.
        additional_properties=True,
    ),
    title=TRANSCRIPTS.title,
    description=TRANSCRIPTS.description,
)


def _whole(where: str, value: t.Any, low: int, high: int | None, errors: list[str]) -> int | None:
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        value = int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        errors.append(f"{where} must be a whole number {bound}, got {value!r}")
        return None
    return value


def _flag(where: str, value: t.Any, errors: list[str]) -> bool | None:
    if not isinstance(value, bool):
        errors.append(f"{where} must be true or false, got {value!r}")
        return None
    return value


def deprecated_ledger_path(raw: t.Any) -> str | None:
    """``transcripts.ledger_path`` when set (deprecated: the top-level ``ledger_dir``)."""
    path = raw.get("ledger_path") if isinstance(raw, dict) else None
    return path if isinstance(path, str) and path.strip() else None


def parse_transcripts(raw: t.Any, errors: list[str]) -> TranscriptSettings:
    """The ``transcripts`` setting, checked; problems are appended to ``errors``."""
    name = TRANSCRIPTS.setting
    if raw is None:
        return _DEFAULTS
    if not isinstance(raw, dict):
        errors.append(f'{name} must be an object such as {{"enabled": true}}, got {raw!r}')
        return _DEFAULTS
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        errors.append(
            f"{name} has unknown keys {unknown}{did_you_mean(unknown, KEYS)}; allowed: "
            f"{', '.join(KEYS)}"
        )
    values: dict[str, t.Any] = {}

    def given(key: str) -> bool:
        return key in raw and raw[key] is not None

    for key in ("enabled", "speech_to_text"):
        if given(key):
            values[key] = _flag(f"{name}.{key}", raw[key], errors)
    if given("sources"):
        choice = raw["sources"]
        if choice in TRANSCRIPT_SOURCES:
            values["sources"] = TRANSCRIPT_SOURCES[choice]
        else:
            errors.append(
                f"{name}.sources must be one of {', '.join(TRANSCRIPT_SOURCES)}, got {choice!r}"
            )
    if given("min_views"):
        values["min_views"] = _whole(f"{name}.min_views", raw["min_views"], 0, None, errors)
    if given("max_per_run"):
        values["max_per_run"] = _whole(f"{name}.max_per_run", raw["max_per_run"], 1, None, errors)
    if given("concurrency"):
        values["concurrency"] = _whole(
            f"{name}.concurrency", raw["concurrency"], 1, MAX_CONCURRENCY, errors
        )
    if given("languages"):
        languages = raw["languages"]
        if not isinstance(languages, list) or not all(
            isinstance(code, str) and _LANGUAGE_RE.match(code.strip().lower()) for code in languages
        ):
            errors.append(
                f"{name}.languages must be a list of two-letter ISO 639-1 codes such as "
                f'["en", "es"], got {languages!r}'
            )
        else:
            values["languages"] = tuple(dict.fromkeys(c.strip().lower() for c in languages))
    if given("max_transcription_hours_per_run"):
        hours = raw["max_transcription_hours_per_run"]
        try:
            number = float(hours)
            if isinstance(hours, (bool, str)) or not number >= 0 or number == float("inf"):
                raise ValueError
            values["max_transcription_hours_per_run"] = number
        except (TypeError, ValueError):
            errors.append(
                f"{name}.max_transcription_hours_per_run must be a number of hours >= 0, "
                f"got {hours!r}"
            )
    if given("ledger_path"):
        path = raw["ledger_path"]
        if not isinstance(path, str) or not path.strip():
            errors.append(f"{name}.ledger_path must be a file path, got {path!r}")
        else:
            values["ledger_path"] = path
    # An invalid value was reported; the default stands in until the raise.
    return dataclasses.replace(
        _DEFAULTS, **{key: value for key, value in values.items() if value is not None}
    )
