"""The ``video_stats`` table: a video's counts as one task observed them.

Each row is made from a results record the tap already typed (a profile's video or a
search result), so it costs no request and no second typing: the counts are copied
under the names their source uses, null where a source has no such count.
"""

from __future__ import annotations

import operator
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.families import PROFILES, RESULT_ID, SEARCHES, VIDEO_STATS
from tap_vidnavigator.records.fields import schema_of
from tap_vidnavigator.records.values import to_datetime

if t.TYPE_CHECKING:
    pass


class ObservedColumn(t.NamedTuple):
    """One column of the table; ``copied_from`` names the results record's field."""

    name: str
    type: type[th.JSONTypeHelper]
    description: str
    copied_from: str | None = None

    @property
    def required(self) -> bool:
        """Key properties are never null."""
        return self.name in VIDEO_STATS.key


VIDEO_STATS_FIELDS: tuple[ObservedColumn, ...] = (
    ObservedColumn("video_id", th.StringType, "TikTok video ID.", RESULT_ID),
    ObservedColumn("task_id", th.StringType, "The task that observed the counts.", "task_id"),
    ObservedColumn("observed_at", th.DateTimeType, "When the task saw them: its completed_at."),
    ObservedColumn("source", th.StringType, "The kind of task that saw them: profile or search."),
    ObservedColumn(PROFILES.subject_field, th.StringType, "The profile, for a profile's video.",
                   PROFILES.subject_field),
    ObservedColumn(SEARCHES.subject_field, th.StringType, "The query, for a search result.",
                   SEARCHES.subject_field),
    ObservedColumn("views", th.IntegerType, "Views when observed.", "views"),
    ObservedColumn("likes", th.IntegerType, "Likes when observed.", "likes"),
    ObservedColumn("comments", th.IntegerType, "Comments when observed.", "comments"),
    ObservedColumn("reposts", th.IntegerType, "Reposts when observed (profile videos).", "reposts"),
    ObservedColumn("shares", th.IntegerType, "Shares when observed (search results).", "shares"),
    ObservedColumn("collects", th.IntegerType, "Collects when observed (search results).",
                   "collects"),
)  # fmt: skip
VIDEO_STATS_SCHEMA = schema_of(VIDEO_STATS_FIELDS)
_COPIED = tuple((c.name, c.copied_from) for c in VIDEO_STATS_FIELDS if c.copied_from)


def observation_maker(
    source: str, result_fields: t.Collection[str], completed_at: t.Any
) -> t.Callable[[dict[str, t.Any]], dict[str, t.Any]]:
    """For one task: the function that makes a row from one of its results records.

    ``result_fields``: the fields every results record of the task has (its family's
    table); the other columns are null for the whole task. Once per result, so the row
    is assembled by C code (itemgetter, zip) rather than a loop of lookups.
    """
    present = [(name, field) for name, field in _COPIED if field in result_fields]
    names = tuple(name for name, _ in present)
    read = operator.itemgetter(*(field for _, field in present))
    fixed: dict[str, t.Any] = {name: None for name, field in _COPIED if field not in result_fields}
    fixed["observed_at"] = to_datetime(completed_at)
    fixed["source"] = source

    def row(record: dict[str, t.Any]) -> dict[str, t.Any]:
        made = dict(zip(names, read(record), strict=True))
        made.update(fixed)
        return made

    return row
