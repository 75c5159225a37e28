"""Stream schemas, and the one place where API objects become typed records.

The API may send counts as strings, any field as null, and (in newer versions)
``published_at`` beside ``timestamp``. Typing each value here, once, is what lets the
streams turn the SDK's per-record type conformance off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import typing as t
from math import isfinite

from singer_sdk import typing as th

from tap_vidnavigator.settings import FILTER_API_FIELDS


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


# ------------------------------------------------------------------ videos
# Each video field, once: its JSON type, what it means, and how it is typed from the
# API. The schema, the set of fields the contract sends, the fast in-place typing and
# the fallback for any other shape are all derived from this table.


@dataclasses.dataclass(frozen=True)
class Field:
    """One column of a record shape."""

    name: str
    type: th.JSONTypeHelper | type[th.JSONTypeHelper]
    #: How its value is typed: for results, a key of _IN_PLACE / _REBUILD below; for
    #: tasks, the function that reads it from a task's Source.
    typing: t.Any
    description: str | None = None
    #: "always" sent by the API, "newer" only by newer versions, or "never" (the
    #: tap adds it).
    api: str = "always"
    required: bool = False
    #: Where a result's value is in the API object (``a.b``: field ``b`` of object
    #: ``a``); by default the field's own name.
    source: str = ""

    @property
    def path(self) -> str:
        """Where the value is read from."""
        return self.source or self.name


VIDEO_FIELDS: tuple[Field, ...] = (
    Field("id", th.StringType, "id", "TikTok video ID (19 digits).", required=True),
    Field("task_id", th.StringType, "task", "Scrape task that served it.", "never", True),
    Field("profile_url", th.StringType, "task", "Canonical profile URL.", "never"),
    Field("uploader", th.StringType, "task", "Profile handle, without @.", "never"),
    Field("published_at", th.DateTimeType, "published", "Publication time (UTC).", "newer"),
    Field("timestamp", th.IntegerType, "timestamp", "Publication time, unix seconds."),
    Field("title", th.StringType, "text"),
    Field("description", th.StringType, "text"),
    Field("track", th.StringType, "text", "Sound or track name."),
    Field("artists", th.ArrayType(th.StringType), "strings"),
    Field("duration", th.NumberType, "number", "Length in seconds."),
    Field("views", th.IntegerType, "count"),
    Field("likes", th.IntegerType, "count"),
    Field("reposts", th.IntegerType, "count"),
    Field("comments", th.IntegerType, "count"),
    Field(
        "thumbnails",
        th.ArrayType(th.ObjectType(additional_properties=True)),
        "objects",
        "Thumbnail objects as the API sends them.",
    ),
    Field("url", th.StringType, "text", "Video page URL."),
)


def schema_of(fields: tuple[Field, ...]) -> dict[str, t.Any]:
    """The JSON schema of a record shape."""
    return th.PropertiesList(
        *(
            th.Property(f.name, f.type, required=f.required, description=f.description)
            for f in fields
        )
    ).to_dict()


VIDEO_SCHEMA = schema_of(VIDEO_FIELDS)

_API_FIELDS = frozenset(f.name for f in VIDEO_FIELDS if f.api == "always")
_API_FIELDS_NEWER = _API_FIELDS | {f.name for f in VIDEO_FIELDS if f.api == "newer"}


class TaskInfo(t.NamedTuple):
    """What every video record of a task carries (the fields typed "task")."""

    task_id: str
    profile_url: str
    uploader: str


def _count(value: t.Any) -> int | None:
    # The common case (a plain int in range) without a function call per field.
    if type(value) is int and -_INT64 <= value <= _INT64:
        return value
    return to_int(value)


def _text(value: t.Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _number(value: t.Any) -> float | int | None:
    return value if type(value) is int else to_number(value)


def _strings(value: t.Any) -> list[str] | None:
    if type(value) is not list:
        return None
    if all(type(item) is str for item in value):
        return value
    return [str(item) for item in value if item is not None]


def _objects(value: t.Any) -> list[dict] | None:
    if type(value) is not list:
        return None
    if all(type(item) is dict for item in value):
        return value
    return [item for item in value if isinstance(item, dict)]


#: The fallback's typing of each kind of field: any value in, the typed value out.
_REBUILD: dict[str, t.Callable[[t.Any], t.Any]] = {
    "text": _text,
    "count": _count,
    "number": _number,
    "strings": _strings,
    "objects": _objects,
}

#: The fast path's typing of each kind of field, as statements on ``raw["{name}"]``:
#: for the values that are already right (nearly all), no call is made at all.
_IN_PLACE: dict[str, str] = {
    "id": "",  # checked before the fast path is taken
    "task": 'raw["{name}"] = task.{name}',
    "timestamp": (
        'timestamp = raw["{name}"]\n'
        "if type(timestamp) is not int or not -_INT64 <= timestamp <= _INT64:\n"
        '    raw["{name}"] = timestamp = to_int(timestamp)'
    ),
    "published": (
        'published = raw.get("{name}")\n'
        'raw["{name}"] = (\n'
        '    published_time(published, timestamp, raw["id"]) if published\n'
        "    else iso_from_unix(timestamp)\n"
        ")"
    ),
    "text": (
        'value = raw["{name}"]\n'
        "if value is not None and type(value) is not str:\n"
        '    raw["{name}"] = str(value)'
    ),
    "count": (
        'value = raw["{name}"]\n'
        "if value is not None and (type(value) is not int or not -_INT64 <= value <= _INT64):\n"
        '    raw["{name}"] = to_int(value)'
    ),
    "number": (
        'value = raw["{name}"]\n'
        "kind = type(value)\n"
        "if value is not None and kind is not int and (kind is not float or not isfinite(value)):\n"
        '    raw["{name}"] = to_number(value)'
    ),
    "strings": (
        'value = raw["{name}"]\n'
        "if value is not None:\n"
        "    if type(value) is not list:\n"
        '        raw["{name}"] = None\n'
        "    else:\n"
        "        for item in value:\n"
        "            if type(item) is not str:\n"
        '                raw["{name}"] = [str(a) for a in value if a is not None]\n'
        "                break"
    ),
    "objects": (
        'value = raw["{name}"]\n'
        "if value is not None:\n"
        "    if type(value) is not list:\n"
        '        raw["{name}"] = None\n'
        "    else:\n"
        "        for item in value:\n"
        "            if type(item) is not dict:\n"
        '                raw["{name}"] = [x for x in value if isinstance(x, dict)]\n'
        "                break"
    ),
}


def _in_place_source(fields: tuple[Field, ...]) -> str:
    """The source of the fast typing function: each field's statements, in turn.

    Generated (as dataclasses generates ``__init__``) so that the table stays the one
    place a field is written, while the hottest code of the tap keeps no loop and no
    call per field. ``timestamp`` goes first: ``published_at`` is typed from it.
    """
    first = [f for f in fields if f.typing == "timestamp"]
    ordered = first + [f for f in fields if f.typing != "timestamp"]
    body = [_IN_PLACE[f.typing].format(name=f.name) for f in ordered]
    lines = "\n".join(line for statement in body if statement for line in statement.splitlines())
    return (
        "def typed_in_place(raw, task):\n"
        + "\n".join(f"    {line}" for line in lines.splitlines())
        + "\n    return raw\n"
    )


def _compile_in_place(fields: tuple[Field, ...]) -> t.Callable[[dict, TaskInfo], dict]:
    namespace: dict[str, t.Any] = {
        "_INT64": _INT64,
        "to_int": to_int,
        "to_number": to_number,
        "isfinite": isfinite,
        "published_time": published_time,
        "iso_from_unix": iso_from_unix,
    }
    exec(compile(_in_place_source(fields), "<records: video typing>", "exec"), namespace)  # noqa: S102 - source built above from VIDEO_FIELDS only
    return t.cast("t.Callable[[dict, TaskInfo], dict]", namespace["typed_in_place"])


_typed_in_place = _compile_in_place(VIDEO_FIELDS)


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


def _rebuilt(raw: t.Any, task: TaskInfo) -> dict[str, t.Any]:
    return rebuild_result(VIDEO_FIELDS, raw, task, "a video of task")


def _at(raw: t.Mapping[str, t.Any], path: str) -> t.Any:
    value: t.Any = raw
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def rebuild_result(
    fields: tuple[Field, ...], raw: t.Any, task: t.Any, what: str
) -> dict[str, t.Any]:
    """Type one result of any shape from its table; RecordError when it has no id.

    ``task`` carries the fields typed "task" by name; ``what`` names a result in
    errors ("a video of task").
    """
    if type(raw) is not dict:
        msg = f"{what} {task.task_id} is not an object: {str(raw)[:80]!r}"
        raise RecordError(msg)
    result_id = raw.get("id")
    if isinstance(result_id, int) and not isinstance(result_id, bool):
        result_id = str(result_id)
    if type(result_id) is not str or not result_id:
        msg = f"{what} {task.task_id} has no id: {str(raw)[:120]!r}"
        raise RecordError(msg)
    [stamp] = [field for field in fields if field.typing == "timestamp"]
    timestamp = _count(_at(raw, stamp.path))
    record: dict[str, t.Any] = {}
    for field in fields:
        how = field.typing
        if how == "id":
            record[field.name] = result_id
        elif how == "task":
            record[field.name] = getattr(task, field.name)
        elif how == "timestamp":
            record[field.name] = timestamp
        elif how == "published":
            record[field.name] = published_time(_at(raw, field.path), timestamp, result_id)
        else:
            record[field.name] = _REBUILD[how](_at(raw, field.path))
    return record


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


# ------------------------------------------------------------------ tasks
# Each profile_tasks field, once: its JSON type, what it means, and how its value is
# read from a terminal task body (``Source``). The schema and the record both derive
# from this table.


class Source(t.NamedTuple):
    """What a task record is read from: the terminal body, its subject and usage."""

    data: t.Mapping[str, t.Any]
    subject: str
    usage: t.Mapping[str, t.Any]

    @property
    def profile(self) -> dict[str, t.Any] | None:
        profile = self.data.get("profile")
        return profile if isinstance(profile, dict) else None

    @property
    def error(self) -> dict[str, t.Any]:
        error = self.data.get("error")
        return error if isinstance(error, dict) else {}

    @property
    def waived(self) -> dict[str, t.Any]:
        waived = self.usage.get("waived")
        return waived if isinstance(waived, dict) else {}


_FILTERS_TYPE = th.ObjectType(
    *(
        th.Property(api_field, th.StringType if "date" in name else th.IntegerType)
        for name, api_field in FILTER_API_FIELDS.items()
    )
)
_STATS = ("videos_scanned", "videos_matched", "pages_consumed")
_WEBHOOK_TYPE = th.ObjectType(
    th.Property("status", th.StringType),
    th.Property("attempts", th.IntegerType),
    th.Property("response_status", th.IntegerType),
    th.Property("last_error", th.StringType),
    th.Property("delivered_at", th.DateTimeType),
)
_CHARGES_TYPE = th.ArrayType(
    th.ObjectType(
        th.Property("service_type", th.StringType),
        th.Property("quantity", th.NumberType),
        th.Property("credits", th.NumberType),
        th.Property("waived", th.BooleanType),
        th.Property("credits_saved", th.NumberType),
    )
)


def _uploader(source: Source) -> str | None:
    return source.subject.rsplit("@", 1)[-1] if "@" in source.subject else None


def _follower_count(source: Source) -> int | None:
    profile = source.profile
    return to_int(profile.get("follower_count")) if profile else None


#: What every kind's task record ends with: the error, the webhook, credits and times.
TASK_TAIL: tuple[Field, ...] = (
    Field(
        "error_code",
        th.StringType,
        lambda s: to_text(s.error.get("error") or s.error.get("code")),
        "Why a failed task failed (code).",
    ),
    Field(
        "error_message",
        th.StringType,
        # The error object wins over the deprecated error_message.
        lambda s: to_text(s.error.get("message") or s.data.get("error_message")),
        "Why a failed task failed.",
    ),
    Field(
        "error_http_status",
        th.IntegerType,
        lambda s: to_int(s.error.get("http_status")),
        "The HTTP status the synchronous call would have failed with.",
    ),
    Field(
        "webhook",
        _WEBHOOK_TYPE,
        lambda s: _webhook(s.data.get("webhook")),
        "Delivery of the task's webhook, when it has one.",
    ),
    Field(
        "credits_used",
        th.NumberType,
        lambda s: to_number(s.usage.get("total_credits")),
        "Credits this task cost (usage.total_credits); null when not reported.",
    ),
    Field(
        "credits_remaining_after",
        th.NumberType,
        lambda s: to_number(s.usage.get("credits_remaining_after")),
        "The key's credit balance right after this task was charged.",
    ),
    Field(
        "credits_saved",
        th.NumberType,
        lambda s: to_number(s.waived.get("credits_saved")),
        "Credits waived for this task.",
    ),
    Field(
        "charges",
        _CHARGES_TYPE,
        lambda s: _charges(s.usage.get("charges")),
        "Each meter charged for this task (usage.charges).",
    ),
    Field("created_at", th.DateTimeType, lambda s: to_datetime(s.data.get("created_at"))),
    Field("completed_at", th.DateTimeType, lambda s: to_datetime(s.data.get("completed_at"))),
    Field("expires_at", th.DateTimeType, lambda s: to_datetime(s.data.get("expires_at"))),
)

TASK_FIELDS: tuple[Field, ...] = (
    Field("task_id", th.StringType, lambda s: str(s.data["task_id"]), required=True),
    Field(
        "task_status", th.StringType, lambda s: s.data.get("task_status"), "completed or failed."
    ),
    Field("profile_url", th.StringType, lambda s: s.subject, "Canonical profile URL."),
    Field("uploader", th.StringType, _uploader, "Profile handle, without @."),
    Field(
        "profile",
        th.ObjectType(additional_properties=True),
        lambda s: s.profile,
        "Profile metadata as scraped (uploader, follower_count, ...).",
    ),
    Field("follower_count", th.IntegerType, _follower_count),
    Field(
        "filters",
        _FILTERS_TYPE,
        lambda s: _echoed_filters(s.data.get("filters")),
        "Filters the task ran with, as the API echoes them (the dates under "
        "after_datetime/before_datetime, whether echoed under those names or the older "
        "after_date/before_date).",
    ),
    Field(
        "stats",
        th.ObjectType(*(th.Property(name, th.IntegerType) for name in _STATS)),
        lambda s: _int_fields(s.data.get("stats"), _STATS),
    ),
    *TASK_TAIL,
)

TASK_SCHEMA = schema_of(TASK_FIELDS)


def task_record(
    data: t.Mapping[str, t.Any],
    profile_url: str,
    usage: t.Mapping[str, t.Any] | None = None,
) -> dict[str, t.Any]:
    """One ``profile_tasks`` record from a terminal task body and its usage block.

    ``download_url`` (a bearer link) and ``pagination`` (the state of one request)
    are not kept.
    """
    return record_from(TASK_FIELDS, Source(data, profile_url, usage or {}))


def record_from(fields: tuple[Field, ...], source: Source) -> dict[str, t.Any]:
    """A task record of any kind: each field read from the source by its table entry."""
    return {field.name: t.cast("t.Callable", field.typing)(source) for field in fields}


# --------------------------------------------------------------- searches
_SEARCH_FILTERS = {
    "sort_by": to_text,
    "published_within": to_text,
    "after_datetime": to_text,
    "before_datetime": to_text,
    "min_likes": to_int,
    "max_likes": to_int,
    "min_views": to_int,
    "max_views": to_int,
}
_SEARCH_STATS = {
    "pages_fetched": to_int,
    "results_count": to_int,
    "next_search_cursor": to_int,
    "sort_by": to_text,
    "published_within": to_text,
}


def _typed_object(
    value: t.Any, typers: t.Mapping[str, t.Callable[[t.Any], t.Any]]
) -> dict[str, t.Any] | None:
    if not isinstance(value, dict):
        return None
    return {name: typer(value.get(name)) for name, typer in typers.items()}


def _object_type(typers: t.Mapping[str, t.Callable[[t.Any], t.Any]]) -> th.ObjectType:
    return th.ObjectType(
        *(
            th.Property(name, th.IntegerType if typer is to_int else th.StringType)
            for name, typer in typers.items()
        )
    )


SEARCH_TASK_FIELDS: tuple[Field, ...] = (
    Field("task_id", th.StringType, lambda s: str(s.data["task_id"]), required=True),
    Field(
        "task_status", th.StringType, lambda s: s.data.get("task_status"), "completed or failed."
    ),
    Field("query", th.StringType, lambda s: s.subject, "The search query, as submitted."),
    Field(
        "parallel_search_slices",
        th.IntegerType,
        lambda s: to_int(s.data.get("parallel_search_slices")),
    ),
    Field(
        "filters",
        _object_type(_SEARCH_FILTERS),
        lambda s: _typed_object(s.data.get("filters"), _SEARCH_FILTERS),
        "Filters the search ran with, as the API echoes them.",
    ),
    Field(
        "stats",
        _object_type(_SEARCH_STATS),
        lambda s: _typed_object(s.data.get("stats"), _SEARCH_STATS),
    ),
    *TASK_TAIL,
)

SEARCH_TASK_SCHEMA = schema_of(SEARCH_TASK_FIELDS)


def search_task_record(
    data: t.Mapping[str, t.Any], query: str, usage: t.Mapping[str, t.Any] | None = None
) -> dict[str, t.Any]:
    """One ``search_tasks`` record from a terminal search task body and its usage."""
    return record_from(SEARCH_TASK_FIELDS, Source(data, query, usage or {}))


class SearchTaskInfo(t.NamedTuple):
    """What every result record of a search task carries."""

    task_id: str
    query: str


#: Each search result column: its type, how it is typed, and where it is read from
#: (``a.b`` reads field ``b`` of object ``a``): the author, stats and music objects
#: become columns a dashboard can use directly.
SEARCH_RESULT_FIELDS: tuple[Field, ...] = (
    Field("query", th.StringType, "task", "The query it matched.", "never", True),
    Field("id", th.StringType, "id", "TikTok video ID.", required=True),
    Field("task_id", th.StringType, "task", "Search task that served it.", "never", True),
    Field("published_at", th.DateTimeType, "published", "Published (UTC)."),
    Field("timestamp", th.IntegerType, "timestamp", "Published, unix seconds."),
    Field("item_type", th.IntegerType, "count"),
    Field("description", th.StringType, "text"),
    Field("author_id", th.StringType, "text", source="author.id"),
    Field("author_unique_id", th.StringType, "text", "Author handle.", source="author.unique_id"),
    Field("author_nickname", th.StringType, "text", source="author.nickname"),
    Field("author_sec_uid", th.StringType, "text", source="author.sec_uid"),
    Field("views", th.IntegerType, "count", source="stats.views"),
    Field("likes", th.IntegerType, "count", source="stats.likes"),
    Field("comments", th.IntegerType, "count", source="stats.comments"),
    Field("shares", th.IntegerType, "count", source="stats.shares"),
    Field("collects", th.IntegerType, "count", source="stats.collects"),
    Field("music_id", th.StringType, "text", source="music.id"),
    Field("music_title", th.StringType, "text", source="music.title"),
    Field("music_author_name", th.StringType, "text", source="music.author_name"),
    Field("music_duration", th.IntegerType, "count", "Seconds.", source="music.duration"),
    Field("duration", th.NumberType, "number", "Length in seconds."),
    Field("hashtags", th.ArrayType(th.StringType), "strings"),
    Field("url", th.StringType, "text", "Video page URL."),
)  # fmt: skip

SEARCH_RESULT_SCHEMA = schema_of(SEARCH_RESULT_FIELDS)


def search_result_record(raw: t.Any, task: SearchTaskInfo) -> dict[str, t.Any]:
    """Type one search result; RecordError when it has no usable id."""
    return rebuild_result(SEARCH_RESULT_FIELDS, raw, task, "a result of search task")
