"""The profile family's record tables: ``profile_tasks`` and ``videos``."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.families import PROFILES
from tap_vidnavigator.kinds import TaskKind
from tap_vidnavigator.records.fields import (
    TASK_TAIL,
    ResultField,
    Source,
    TaskField,
    schema_of,
    task_head,
    task_record_from,
)
from tap_vidnavigator.records.result_typing import ResultShape, ResultTyper
from tap_vidnavigator.records.values import to_int, to_text

# ------------------------------------------------------------------ videos
VIDEO_FIELDS: tuple[ResultField, ...] = (
    ResultField("id", th.StringType, "id", "TikTok video ID (19 digits).", required=True),
    ResultField("task_id", th.StringType, "task", "Scrape task that served it.", "never", True),
    ResultField("profile_url", th.StringType, "task", "Canonical profile URL.", "never"),
    ResultField("uploader", th.StringType, "task", "Profile handle, without @.", "never"),
    ResultField("published_at", th.DateTimeType, "published", "Publication time (UTC).", "newer"),
    ResultField("timestamp", th.IntegerType, "timestamp", "Publication time, unix seconds."),
    ResultField("title", th.StringType, "text"),
    ResultField("description", th.StringType, "text"),
    ResultField("track", th.StringType, "text", "Sound or track name."),
    ResultField("artists", th.ArrayType(th.StringType), "strings"),
    ResultField("duration", th.NumberType, "number", "Length in seconds."),
    ResultField("views", th.IntegerType, "count"),
    ResultField("likes", th.IntegerType, "count"),
    ResultField("reposts", th.IntegerType, "count"),
    ResultField("comments", th.IntegerType, "count"),
    ResultField(
        "thumbnails",
        th.ArrayType(th.ObjectType(additional_properties=True)),
        "objects",
        "Thumbnail objects as the API sends them.",
    ),
    ResultField("url", th.StringType, "text", "Video page URL."),
)
VIDEO_SCHEMA = schema_of(VIDEO_FIELDS)
VIDEOS = ResultShape(VIDEO_FIELDS, "a video of task")


class VideoTaskInfo(t.NamedTuple):
    """What every video record of a task carries (the fields typed "task")."""

    task_id: str
    profile_url: str
    uploader: str


def video_typer(task_id: str, profile_url: str) -> ResultTyper:
    """Types the videos of one profile task."""
    handle = profile_url.rsplit("@", 1)[-1]
    return VIDEOS.typer(VideoTaskInfo(task_id, profile_url, handle))


# ----------------------------------------------------------- profile tasks
def _echoed_filters(filters: t.Any) -> dict[str, t.Any] | None:
    # Each filter under the SDK's name, read from whichever name the API echoed it
    # under: today's (after_datetime) or the page's older one (after_date, which is
    # also the setting's name).
    if not isinstance(filters, dict):
        return None
    typed: dict[str, t.Any] = {}
    for item in PROFILES.filters:
        value = filters.get(item.api_field)
        if value is None:
            value = filters.get(item.name)
        typed[item.api_field] = to_text(value) if item.type == "date" else to_int(value)
    return typed


_FILTERS_TYPE = th.ObjectType(
    *(
        th.Property(item.api_field, th.StringType if item.type == "date" else th.IntegerType)
        for item in PROFILES.filters
    )
)
_STATS = ("videos_scanned", "videos_matched", "pages_consumed")


def _uploader(source: Source) -> str | None:
    return source.subject.rsplit("@", 1)[-1] if "@" in source.subject else None


def _follower_count(source: Source) -> int | None:
    profile = source.object("profile")
    return to_int(profile.get("follower_count")) if profile else None


def _stats(source: Source) -> dict[str, t.Any] | None:
    stats = source.object("stats")
    return None if stats is None else {name: to_int(stats.get(name)) for name in _STATS}


PROFILE_TASK_FIELDS: tuple[TaskField, ...] = (
    *task_head(
        TaskField(
            PROFILES.subject_field, th.StringType, lambda s: s.subject, "Canonical profile URL."
        )
    ),
    TaskField("uploader", th.StringType, _uploader, "Profile handle, without @."),
    TaskField(
        "profile",
        th.ObjectType(additional_properties=True),
        lambda s: s.object("profile"),
        "Profile metadata as scraped (uploader, follower_count, ...).",
    ),
    TaskField("follower_count", th.IntegerType, _follower_count),
    TaskField(
        "filters",
        _FILTERS_TYPE,
        lambda s: _echoed_filters(s.data.get("filters")),
        "Filters the task ran with, as the API echoes them (the dates under "
        "after_datetime/before_datetime, whether echoed under those names or the older "
        "after_date/before_date).",
    ),
    TaskField(
        "stats", th.ObjectType(*(th.Property(name, th.IntegerType) for name in _STATS)), _stats
    ),
    *TASK_TAIL,
)
PROFILE_TASK_SCHEMA = schema_of(PROFILE_TASK_FIELDS)


def profile_task_record(
    data: t.Mapping[str, t.Any],
    profile_url: str,
    usage: t.Mapping[str, t.Any] | None = None,
) -> dict[str, t.Any]:
    """One profile task record from a terminal task body and its usage block.

    ``download_url`` (a bearer link) and ``pagination`` (the state of one request)
    are not kept.
    """
    return task_record_from(PROFILE_TASK_FIELDS, Source(data, profile_url, usage or {}))


def _describe_stats(stats: t.Mapping[str, t.Any]) -> str:
    matched, scanned = stats.get("videos_matched", "?"), stats.get("videos_scanned", "?")
    return f"{matched} videos matched of {scanned} scanned"


PROFILE_KIND = TaskKind.of(
    PROFILES,
    task_record=profile_task_record,
    task_schema=PROFILE_TASK_SCHEMA,
    result_typer=video_typer,
    result_schema=VIDEO_SCHEMA,
    describe_stats=_describe_stats,
)
