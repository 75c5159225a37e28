"""Stream schemas, and the one place where API objects become typed records.

The API may send counts as strings, any field as null, and (in newer versions)
``published_at`` beside ``timestamp``. Typing each value here, once, is what lets the
streams turn the SDK's per-record type conformance off.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import typing as t
from math import isfinite

from singer_sdk import typing as th

from tap_vidnavigator.settings import FILTER_API_FIELDS, canonical_profile_url

_NULLABLE_STRING = th.StringType
_COUNT = th.IntegerType

VIDEO_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="TikTok video ID (19 digits)."),
    th.Property("task_id", th.StringType, required=True, description="Scrape task that served it."),
    th.Property("profile_url", th.StringType, description="Canonical profile URL."),
    th.Property("uploader", th.StringType, description="Profile handle, without @."),
    th.Property("published_at", th.DateTimeType, description="Publication time (UTC)."),
    th.Property("timestamp", th.IntegerType, description="Publication time, unix seconds."),
    th.Property("title", _NULLABLE_STRING),
    th.Property("description", _NULLABLE_STRING),
    th.Property("track", _NULLABLE_STRING, description="Sound or track name."),
    th.Property("artists", th.ArrayType(th.StringType)),
    th.Property("duration", th.NumberType, description="Length in seconds."),
    th.Property("views", _COUNT),
    th.Property("likes", _COUNT),
    th.Property("reposts", _COUNT),
    th.Property("comments", _COUNT),
    th.Property(
        "thumbnails",
        th.ArrayType(th.ObjectType(additional_properties=True)),
        description="Thumbnail objects as the API sends them.",
    ),
    th.Property("url", th.StringType, description="Video page URL."),
).to_dict()

TASK_SCHEMA = th.PropertiesList(
    th.Property("task_id", th.StringType, required=True),
    th.Property("task_status", th.StringType, description="completed or failed."),
    th.Property("profile_url", th.StringType, description="Canonical profile URL."),
    th.Property("uploader", th.StringType, description="Profile handle, without @."),
    th.Property(
        "profile",
        th.ObjectType(additional_properties=True),
        description="Profile metadata as scraped (uploader, follower_count, ...).",
    ),
    th.Property("follower_count", th.IntegerType),
    th.Property(
        "filters",
        th.ObjectType(
            *(
                th.Property(api_field, th.StringType if "date" in name else th.IntegerType)
                for name, api_field in FILTER_API_FIELDS.items()
            )
        ),
        description="Filters the task ran with, as the API echoes them (the dates under "
        "after_datetime/before_datetime, whether echoed under those names or the older "
        "after_date/before_date).",
    ),
    th.Property(
        "stats",
        th.ObjectType(
            th.Property("videos_scanned", th.IntegerType),
            th.Property("videos_matched", th.IntegerType),
            th.Property("pages_consumed", th.IntegerType),
        ),
    ),
    th.Property("error_code", th.StringType, description="Why a failed task failed (code)."),
    th.Property("error_message", th.StringType, description="Why a failed task failed."),
    th.Property(
        "error_http_status",
        th.IntegerType,
        description="The HTTP status the synchronous call would have failed with.",
    ),
    th.Property(
        "webhook",
        th.ObjectType(
            th.Property("status", th.StringType),
            th.Property("attempts", th.IntegerType),
            th.Property("response_status", th.IntegerType),
            th.Property("last_error", th.StringType),
            th.Property("delivered_at", th.DateTimeType),
        ),
        description="Delivery of the task's webhook, when it has one.",
    ),
    th.Property(
        "credits_used",
        th.NumberType,
        description="Credits this task cost (usage.total_credits); null when not reported.",
    ),
    th.Property(
        "credits_remaining_after",
        th.NumberType,
        description="The key's credit balance right after this task was charged.",
    ),
    th.Property("credits_saved", th.NumberType, description="Credits waived for this task."),
    th.Property(
        "charges",
        th.ArrayType(
            th.ObjectType(
                th.Property("service_type", th.StringType),
                th.Property("quantity", th.NumberType),
                th.Property("credits", th.NumberType),
                th.Property("waived", th.BooleanType),
                th.Property("credits_saved", th.NumberType),
            )
        ),
        description="Each meter charged for this task (usage.charges).",
    ),
    th.Property("created_at", th.DateTimeType),
    th.Property("completed_at", th.DateTimeType),
    th.Property("expires_at", th.DateTimeType),
).to_dict()


class RecordError(ValueError):
    """An API object that cannot become a record (for example a video without id)."""


_INT64 = 2**63 - 1


def to_int(value: t.Any) -> int | None:
    """Counts as the API sends them (int, numeric string, integral float) or None."""
    number = _to_int(value)
    # No count is that large; every warehouse column would overflow on it.
    return number if number is None or -_INT64 <= number <= _INT64 else None


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


class TaskInfo(t.NamedTuple):
    """What every video record of a task carries."""

    task_id: str
    profile_url: str
    uploader: str


def _count(value: t.Any) -> int | None:
    # The common case (a plain int in range) without a function call per field.
    if type(value) is int and -_INT64 <= value <= _INT64:
        return value
    return to_int(value)


_API_FIELDS = frozenset(
    ("id", "track", "artists", "duration", "title", "description", "timestamp", "views", "likes",
     "reposts", "comments", "thumbnails", "url")
)  # fmt: skip
_API_FIELDS_NEWER = _API_FIELDS | {"published_at"}


def video_record(raw: t.Any, task: TaskInfo) -> dict[str, t.Any]:
    """Type one API video; RecordError when it has no usable id.

    This runs once per video. A video with exactly the contract's fields is typed in
    place (the page it came from is not used again); any other shape is rebuilt.
    """
    if type(raw) is dict and (raw.keys() == _API_FIELDS or raw.keys() == _API_FIELDS_NEWER):
        video_id = raw["id"]
        if type(video_id) is str and video_id:
            return _typed_in_place(raw, task)
    return _rebuilt(raw, task)


def _typed_in_place(raw: dict[str, t.Any], task: TaskInfo) -> dict[str, t.Any]:
    # Written out field by field, without helper calls or generators for the values
    # that are already right: this runs for every video and is most of what the tap
    # itself spends per record.
    timestamp = raw["timestamp"]
    if type(timestamp) is not int or not -_INT64 <= timestamp <= _INT64:
        raw["timestamp"] = timestamp = to_int(timestamp)
    published = raw.get("published_at")
    raw["published_at"] = (
        published_time(published, timestamp, raw["id"]) if published else iso_from_unix(timestamp)
    )
    raw["task_id"] = task.task_id
    raw["profile_url"] = task.profile_url
    raw["uploader"] = task.uploader
    value = raw["title"]
    if value is not None and type(value) is not str:
        raw["title"] = str(value)
    value = raw["description"]
    if value is not None and type(value) is not str:
        raw["description"] = str(value)
    value = raw["track"]
    if value is not None and type(value) is not str:
        raw["track"] = str(value)
    value = raw["url"]
    if value is not None and type(value) is not str:
        raw["url"] = str(value)
    value = raw["views"]
    if value is not None and (type(value) is not int or not -_INT64 <= value <= _INT64):
        raw["views"] = to_int(value)
    value = raw["likes"]
    if value is not None and (type(value) is not int or not -_INT64 <= value <= _INT64):
        raw["likes"] = to_int(value)
    value = raw["reposts"]
    if value is not None and (type(value) is not int or not -_INT64 <= value <= _INT64):
        raw["reposts"] = to_int(value)
    value = raw["comments"]
    if value is not None and (type(value) is not int or not -_INT64 <= value <= _INT64):
        raw["comments"] = to_int(value)
    value = raw["duration"]
    kind = type(value)
    if value is not None and kind is not int and (kind is not float or not isfinite(value)):
        raw["duration"] = to_number(value)
    value = raw["artists"]
    if value is not None:
        if type(value) is not list:
            raw["artists"] = None
        else:
            for item in value:
                if type(item) is not str:
                    raw["artists"] = [str(a) for a in value if a is not None]
                    break
    value = raw["thumbnails"]
    if value is not None:
        if type(value) is not list:
            raw["thumbnails"] = None
        else:
            for item in value:
                if type(item) is not dict:
                    raw["thumbnails"] = [x for x in value if isinstance(x, dict)]
                    break
    return raw


def _rebuilt(raw: t.Any, task: TaskInfo) -> dict[str, t.Any]:
    if type(raw) is not dict:
        msg = f"a video of task {task.task_id} is not an object: {str(raw)[:80]!r}"
        raise RecordError(msg)
    get = raw.get
    video_id = get("id")
    if type(video_id) is not str:
        if isinstance(video_id, bool) or not isinstance(video_id, int):
            msg = f"a video of task {task.task_id} has no id: {str(raw)[:120]!r}"
            raise RecordError(msg)
        video_id = str(video_id)
    elif not video_id:
        msg = f"a video of task {task.task_id} has no id: {str(raw)[:120]!r}"
        raise RecordError(msg)
    timestamp = _count(get("timestamp"))
    published_at = published_time(get("published_at"), timestamp, video_id)
    artists = get("artists")
    if type(artists) is list:
        if not all(type(a) is str for a in artists):
            artists = [str(a) for a in artists if a is not None]
    else:
        artists = None
    thumbnails = get("thumbnails")
    if type(thumbnails) is list:
        if not all(type(x) is dict for x in thumbnails):
            thumbnails = [x for x in thumbnails if isinstance(x, dict)]
    else:
        thumbnails = None
    duration = get("duration")
    title, description, track, url = get("title"), get("description"), get("track"), get("url")
    return {
        "id": video_id,
        "task_id": task.task_id,
        "profile_url": task.profile_url,
        "uploader": task.uploader,
        "published_at": published_at,
        "timestamp": timestamp,
        "title": title if title is None or type(title) is str else str(title),
        "description": description
        if description is None or type(description) is str
        else str(description),
        "track": track if track is None or type(track) is str else str(track),
        "artists": artists,
        "duration": duration if type(duration) is int else to_number(duration),
        "views": _count(get("views")),
        "likes": _count(get("likes")),
        "reposts": _count(get("reposts")),
        "comments": _count(get("comments")),
        "thumbnails": thumbnails,
        "url": url if url is None or type(url) is str else str(url),
    }


def task_profile_url(data: t.Mapping[str, t.Any], fallback: str | None = None) -> str:
    """The canonical profile URL of a task body (falling back to what was submitted)."""
    raw = data.get("profile_url")
    canonical = canonical_profile_url(raw) if isinstance(raw, str) else None
    return canonical or fallback or (raw if isinstance(raw, str) else "")


def _int_fields(value: t.Any, names: tuple[str, ...]) -> dict[str, t.Any] | None:
    if not isinstance(value, dict):
        return None
    return {name: to_int(value.get(name)) for name in names}


def _echoed_filters(filters: t.Any) -> dict[str, t.Any] | None:
    # Each filter under the SDK's name, read from whichever name the API echoed it
    # under: today's (after_datetime) or the page's older one (after_date, which is
    # also the setting's name).
    if not isinstance(filters, dict):
        return None
    typed: dict[str, t.Any] = {}
    for name, api_field in FILTER_API_FIELDS.items():
        value = filters.get(api_field)
        if value is None:
            value = filters.get(name)
        typed[api_field] = to_text(value) if "date" in name else to_int(value)
    return typed


def _webhook(value: t.Any) -> dict[str, t.Any] | None:
    if not isinstance(value, dict):
        return None
    return {
        "status": to_text(value.get("status")),
        "attempts": to_int(value.get("attempts")),
        "response_status": to_int(value.get("response_status")),
        "last_error": to_text(value.get("last_error")),
        "delivered_at": to_datetime(value.get("delivered_at")),
    }


def _flag(value: t.Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _charges(value: t.Any) -> list[dict[str, t.Any]] | None:
    if not isinstance(value, list):
        return None
    return [
        {
            "service_type": to_text(charge.get("service_type")),
            "quantity": to_number(charge.get("quantity")),
            "credits": to_number(charge.get("credits")),
            "waived": _flag(charge.get("waived")),
            "credits_saved": to_number(charge.get("credits_saved")),
        }
        for charge in value
        if isinstance(charge, dict)
    ]


def _usage_fields(usage: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    usage = usage or {}
    waived = usage.get("waived")
    return {
        "credits_used": to_number(usage.get("total_credits")),
        "credits_remaining_after": to_number(usage.get("credits_remaining_after")),
        "credits_saved": to_number(waived.get("credits_saved"))
        if isinstance(waived, dict)
        else None,
        "charges": _charges(usage.get("charges")),
    }


def task_record(
    data: t.Mapping[str, t.Any],
    profile_url: str,
    usage: t.Mapping[str, t.Any] | None = None,
) -> dict[str, t.Any]:
    """One ``profile_tasks`` record from a terminal task body and its usage block.

    The ``error`` object wins over the deprecated ``error_message``; ``download_url``
    (a bearer link) and ``pagination`` (the state of one request) are not kept.
    """
    profile: dict[str, t.Any] | None = (
        data["profile"] if isinstance(data.get("profile"), dict) else None
    )
    error: dict[str, t.Any] = data["error"] if isinstance(data.get("error"), dict) else {}
    error_message = error.get("message") or data.get("error_message")
    return {
        "task_id": str(data["task_id"]),
        "task_status": data.get("task_status"),
        "profile_url": profile_url,
        "uploader": profile_url.rsplit("@", 1)[-1] if "@" in profile_url else None,
        "profile": profile,
        "follower_count": to_int(profile.get("follower_count")) if profile else None,
        "filters": _echoed_filters(data.get("filters")),
        "stats": _int_fields(
            data.get("stats"), ("videos_scanned", "videos_matched", "pages_consumed")
        ),
        "error_code": to_text(error.get("error") or error.get("code")),
        "error_message": to_text(error_message),
        "error_http_status": to_int(error.get("http_status")),
        "webhook": _webhook(data.get("webhook")),
        **_usage_fields(usage),
        "created_at": to_datetime(data.get("created_at")),
        "completed_at": to_datetime(data.get("completed_at")),
        "expires_at": to_datetime(data.get("expires_at")),
    }
