"""The object settings of the per-video enrichments (``transcripts``, ``extraction``).

Each enrichment's setting is one object, so that turning it on is one setting. Its keys
are declared once, as :class:`Key` (name, JSON type, check); the keys every enrichment
has (:data:`COMMON_KEYS`: ``enabled``, ``sources``, ``min_views``, ``max_per_run``) are
declared here, and one parser (:func:`parse_object`) checks any enrichment's object
before any request: an unknown key is refused with the closest known one, a wrong value
with what is allowed.
"""

from __future__ import annotations

import dataclasses
import decimal
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.config_keys import did_you_mean
from tap_vidnavigator.families import ENRICHMENT_SOURCES

if t.TYPE_CHECKING:
    from tap_vidnavigator.families import EnrichmentFamily, TaskFamily

Options = t.TypeVar("Options")
#: A key's check: its place ("transcripts.min_views"), its raw value and the errors
#: list; the parsed value, or None when it was refused (the error appended).
Check = t.Callable[[str, t.Any, list[str]], t.Any]


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of an enrichment's object setting."""

    name: str
    type: th.JSONTypeHelper[t.Any] | type[th.JSONTypeHelper[t.Any]]
    check: Check


def whole(low: int, high: int | None = None) -> Check:
    """A whole number between ``low`` and ``high`` (no upper bound when None)."""

    def check(where: str, value: t.Any, errors: list[str]) -> int | None:
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

    return check


def flag(where: str, value: t.Any, errors: list[str]) -> bool | None:
    """true or false."""
    if not isinstance(value, bool):
        errors.append(f"{where} must be true or false, got {value!r}")
        return None
    return value


def amount(unit: str) -> Check:
    """A number >= 0 of ``unit`` (not infinite)."""

    def check(where: str, value: t.Any, errors: list[str]) -> float | None:
        try:
            number = float(value)
            if isinstance(value, (bool, str)) or not number >= 0 or number == float("inf"):
                raise ValueError
        except (TypeError, ValueError):
            errors.append(f"{where} must be a number of {unit} >= 0, got {value!r}")
            return None
        return number

    return check


def text(what: str) -> Check:
    """A non-empty string (``what`` says what it is, for the error)."""

    def check(where: str, value: t.Any, errors: list[str]) -> str | None:
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{where} must be {what}, got {value!r}")
            return None
        return value

    return check


def _sources(where: str, value: t.Any, errors: list[str]) -> tuple[TaskFamily, ...] | None:
    if value in ENRICHMENT_SOURCES:
        return ENRICHMENT_SOURCES[value]
    errors.append(f"{where} must be one of {', '.join(ENRICHMENT_SOURCES)}, got {value!r}")
    return None


#: The keys of every enrichment's setting: which videos, and how many per run.
COMMON_KEYS: tuple[Key, ...] = (
    Key("enabled", th.BooleanType, flag),
    Key("sources", th.StringType, _sources),
    Key("min_views", th.IntegerType, whole(0)),
    Key("max_per_run", th.IntegerType, whole(1)),
)


def object_property(family: EnrichmentFamily, keys: t.Sequence[Key]) -> th.Property:
    """The setting's JSON schema property."""
    return th.Property(
        family.setting,
        th.ObjectType(
            *(th.Property(key.name, key.type) for key in keys),
            # Unknown keys are refused by parse_object, with a did-you-mean, rather than
            # by the schema's terser message.
            additional_properties=True,
        ),
        title=family.title,
        description=family.description,
    )


def parse_object(
    raw: t.Any, setting: str, keys: t.Sequence[Key], defaults: Options, errors: list[str]
) -> Options:
    """An enrichment's object setting, checked key by key into ``defaults``' dataclass
    (each key a field of the same name); problems are appended to ``errors``."""
    if raw is None:
        return defaults
    if not isinstance(raw, dict):
        errors.append(f'{setting} must be an object such as {{"enabled": true}}, got {raw!r}')
        return defaults
    names = tuple(key.name for key in keys)
    unknown = sorted(set(raw) - set(names))
    if unknown:
        errors.append(
            f"{setting} has unknown keys {unknown}{did_you_mean(unknown, names)}; allowed: "
            f"{', '.join(names)}"
        )
    values = {}
    for key in keys:
        if raw.get(key.name) is not None:
            value = key.check(f"{setting}.{key.name}", raw[key.name], errors)
            # An invalid value was reported; the default stands in until the raise.
            if value is not None:
                values[key.name] = value
    return dataclasses.replace(defaults, **values)  # type: ignore[type-var]
