"""Value conversion: what the API sends (counts as strings, nulls, two time fields)
as the typed values a record holds. Every record table types its values with these."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
import typing as t


class RecordError(ValueError):
    """An API object that cannot become a record (for example a video without id)."""


INT64_MAX = 2**63 - 1


def to_int(value: t.Any) -> int | None:
    """Counts as the API sends them (int, numeric string, integral float) or None."""
    number = _to_int(value)
    # No count is that large; every warehouse column would overflow on it.
    return number if number is None or -INT64_MAX <= number <= INT64_MAX else None


def _to_int(value: t.Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if math.isfinite(number) else None
    return None


def exact(value: float | int) -> decimal.Decimal:
    """A number as the decimal the API wrote (``0.0001``, not the nearest binary float).

    Credits are summed so: a run's total then equals a warehouse's numeric sum.
    """
    return decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)


def to_number(value: t.Any) -> float | int | None:
    """A duration or other measure as a number, or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def to_text(value: t.Any) -> str | None:
    """A text field, or None."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


_DAY_TEXT: dict[int, str] = {}
_EPOCH = dt.date(1970, 1, 1)
# "THH:MM:" for each minute of a day and "SS+00:00" for each second of a minute.
_MINUTE_TEXT = tuple(f"T{minute // 60:02d}:{minute % 60:02d}:" for minute in range(1440))
_SECOND_TEXT = tuple(f"{second:02d}+00:00" for second in range(60))


def iso_from_unix(seconds: int | None) -> str | None:
    """Unix seconds as ``YYYY-MM-DDTHH:MM:SS+00:00``, what datetime.isoformat() gives.

    Once per video: the text is assembled from per-day, per-minute and per-second
    pieces (a profile's videos share few days), several times cheaper than building
    a datetime and formatting it.
    """
    if seconds is None:
        return None
    day, second = divmod(seconds, 86_400)
    text = _DAY_TEXT.get(day)
    if text is None:
        try:
            text = (_EPOCH + dt.timedelta(days=day)).isoformat()
        except OverflowError:
            return None
        if len(_DAY_TEXT) < 100_000:
            _DAY_TEXT[day] = text
    minute, second = divmod(second, 60)
    return text + _MINUTE_TEXT[minute] + _SECOND_TEXT[second]


def _parse_datetime(value: t.Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def to_datetime(value: t.Any) -> str | None:
    """An ISO-8601 datetime from the API, normalised to UTC, or None."""
    moment = _parse_datetime(value)
    return None if moment is None else moment.isoformat()


_LOGGER = logging.getLogger("tap-vidnavigator")
_mismatch_reported = False


def published_time(published: t.Any, timestamp: int | None, video_id: t.Any) -> str | None:
    """A video's publication time: ``published_at`` when usable, else ``timestamp``.

    Newer API versions send both. When they name different seconds, ``published_at``
    is trusted and the first such video of the run is reported at WARNING.
    """
    from_timestamp = iso_from_unix(timestamp)
    # The usual case, without parsing: "YYYY-MM-DDTHH:MM:SSZ" naming the same second.
    if (
        from_timestamp is not None
        and type(published) is str
        and len(published) == 20
        and published[19] == "Z"
        and published[:19] == from_timestamp[:19]
    ):
        return from_timestamp
    moment = _parse_datetime(published) if published else None
    if moment is None:
        return from_timestamp
    if timestamp is not None and int(moment.timestamp()) != timestamp:
        _report_mismatch(published, timestamp, video_id)
    return moment.isoformat()


def _report_mismatch(published: t.Any, timestamp: int, video_id: t.Any) -> None:
    global _mismatch_reported  # noqa: PLW0603 - once per process, i.e. per run
    if _mismatch_reported:
        return
    _mismatch_reported = True
    _LOGGER.warning(
        "Video %s has published_at %s but timestamp %d (%s); using published_at. Other "
        "videos of this run that disagree the same way are not reported again.",
        video_id,
        published,
        timestamp,
        iso_from_unix(timestamp),
    )
