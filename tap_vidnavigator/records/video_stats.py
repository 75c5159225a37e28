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
from tap_vidnavigator.writer import encode_record

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


class TaskObservations:
    """The rows of one task's observations: as dicts, or as encoded JSON lines.

    Per video only ``video_id`` and the counts change; the task's values (its id,
    subject, completion time, source, and the null columns of its family) are the same
    for every row, so the encoded form encodes them once and each row encodes only its
    own part: the row is the tap's hottest per-video cost after the video itself.
    """

    def __init__(
        self,
        source: str,
        result_fields: t.Collection[str],
        task_values: t.Mapping[str, t.Any],
        completed_at: t.Any,
    ) -> None:
        own = [(name, field) for name, field in _COPIED
               if field in result_fields and name not in task_values]  # fmt: skip
        self._names = tuple(name for name, _ in own)
        self._read = operator.itemgetter(*(field for _, field in own))
        constant: dict[str, t.Any] = {
            name: task_values.get(name) for name, _ in _COPIED if name not in self._names
        }
        constant["observed_at"] = to_datetime(completed_at)
        constant["source"] = source
        self._constant = constant
        # '"task_id":"...",...}': the constant part, closing the object.
        self._tail = b"," + encode_record(constant)[1:]

    def row(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """The row of one results record."""
        made = dict(zip(self._names, self._read(record), strict=True))
        made.update(self._constant)
        return made

    def encoded(self, record: dict[str, t.Any]) -> bytes:
        """The row of one results record, as the JSON the writer would make of it."""
        own = encode_record(dict(zip(self._names, self._read(record), strict=True)))
        return own[:-1] + self._tail
