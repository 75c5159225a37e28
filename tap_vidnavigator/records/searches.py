"""The search family's record tables: ``search_tasks`` and ``search_results``."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.families import SEARCHES
from tap_vidnavigator.kinds import TaskKind
from tap_vidnavigator.records.fields import (
    TASK_TAIL,
    ResultField,
    Source,
    TaskField,
    object_type,
    schema_of,
    task_head,
    task_record_from,
    typed_object,
)
from tap_vidnavigator.records.result_typing import ResultShape, ResultTyper
from tap_vidnavigator.records.values import to_int, to_text

# ------------------------------------------------------------ search tasks
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

SEARCH_TASK_FIELDS: tuple[TaskField, ...] = (
    *task_head(
        TaskField(
            SEARCHES.subject_field,
            th.StringType,
            lambda s: s.subject,
            "The search query, as submitted.",
        )
    ),
    TaskField(
        "parallel_search_slices",
        th.IntegerType,
        lambda s: to_int(s.data.get("parallel_search_slices")),
    ),
    TaskField(
        "filters",
        object_type(_SEARCH_FILTERS),
        lambda s: typed_object(s.data.get("filters"), _SEARCH_FILTERS),
        "Filters the search ran with, as the API echoes them.",
    ),
    TaskField(
        "stats",
        object_type(_SEARCH_STATS),
        lambda s: typed_object(s.data.get("stats"), _SEARCH_STATS),
    ),
    *TASK_TAIL,
)
SEARCH_TASK_SCHEMA = schema_of(SEARCH_TASK_FIELDS)


def search_task_record(
    data: t.Mapping[str, t.Any], query: str, usage: t.Mapping[str, t.Any] | None = None
) -> dict[str, t.Any]:
    """One search task record from a terminal search task body and its usage."""
    return task_record_from(SEARCH_TASK_FIELDS, Source(data, query, usage or {}))


# ---------------------------------------------------------- search results
class SearchTaskInfo(t.NamedTuple):
    """What every result record of a search task carries."""

    task_id: str
    query: str


#: Each search result column: its type, how it is typed, and where it is read from
#: (``a.b`` reads field ``b`` of object ``a``): the author, stats and music objects
#: become columns a dashboard can use directly.
SEARCH_RESULT_FIELDS: tuple[ResultField, ...] = (
    ResultField("query", th.StringType, "task", "The query it matched.", "never", True),
    ResultField("id", th.StringType, "id", "TikTok video ID.", required=True),
    ResultField("task_id", th.StringType, "task", "Search task that served it.", "never", True),
    ResultField("published_at", th.DateTimeType, "published", "Published (UTC)."),
    ResultField("timestamp", th.IntegerType, "timestamp", "Published, unix seconds."),
    ResultField("item_type", th.IntegerType, "count"),
    ResultField("description", th.StringType, "text"),
    ResultField("author_id", th.StringType, "text", source="author.id"),
    ResultField("author_unique_id", th.StringType, "text", "Author handle.",
                source="author.unique_id"),
    ResultField("author_nickname", th.StringType, "text", source="author.nickname"),
    ResultField("author_sec_uid", th.StringType, "text", source="author.sec_uid"),
    ResultField("views", th.IntegerType, "count", source="stats.views"),
    ResultField("likes", th.IntegerType, "count", source="stats.likes"),
    ResultField("comments", th.IntegerType, "count", source="stats.comments"),
    ResultField("shares", th.IntegerType, "count", source="stats.shares"),
    ResultField("collects", th.IntegerType, "count", source="stats.collects"),
    ResultField("music_id", th.StringType, "text", source="music.id"),
    ResultField("music_title", th.StringType, "text", source="music.title"),
    ResultField("music_author_name", th.StringType, "text", source="music.author_name"),
    ResultField("music_duration", th.IntegerType, "count", "Seconds.", source="music.duration"),
    ResultField("duration", th.NumberType, "number", "Length in seconds."),
    ResultField("hashtags", th.ArrayType(th.StringType), "strings"),
    ResultField("url", th.StringType, "text", "Video page URL."),
)  # fmt: skip
SEARCH_RESULT_SCHEMA = schema_of(SEARCH_RESULT_FIELDS)
SEARCH_RESULTS = ResultShape(SEARCH_RESULT_FIELDS, "a result of search task")


def search_result_typer(task_id: str, query: str) -> ResultTyper:
    """Types the results of one search task."""
    return SEARCH_RESULTS.typer(SearchTaskInfo(task_id, query))


def _describe_stats(stats: t.Mapping[str, t.Any]) -> str:
    results, pages = stats.get("results_count", "?"), stats.get("pages_fetched", "?")
    return f"{results} results from {pages} pages"


SEARCH_KIND = TaskKind.of(
    SEARCHES,
    task_record=search_task_record,
    task_schema=SEARCH_TASK_SCHEMA,
    result_typer=search_result_typer,
    result_schema=SEARCH_RESULT_SCHEMA,
    describe_stats=_describe_stats,
)
