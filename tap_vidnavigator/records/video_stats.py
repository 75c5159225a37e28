"""The ``video_stats`` table: a video's counts as one task observed them.

Each row is made from a results record the tap already typed (a profile's video or a
search result), so it costs no request and no second typing: the counts are copied
under the names their source uses, null where a source has no such count.
"""

from __future__ import annotations

import functools
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.families import PROFILES, RESULT_ID, SEARCHES, VIDEO_STATS
from tap_vidnavigator.records.fields import schema_of
from tap_vidnavigator.records.values import to_datetime
from tap_vidnavigator.writer import encode_record


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

RowsOf = t.Callable[[t.Iterable[dict[str, t.Any]]], list[dict[str, t.Any]]]


@functools.cache
def _rows_of(copied: tuple[tuple[str, str], ...]) -> RowsOf:
    """A function making each record's own part of its row, compiled from the table:
    a dict display builds a row in a third of the time ``dict(zip(...))`` takes."""
    display = ", ".join(f"{name!r}: record[{field!r}]" for name, field in copied)
    source = f"def rows_of(records):\n    return [{{{display}}} for record in records]\n"
    namespace: dict[str, t.Any] = {}
    exec(compile(source, "<records: video_stats rows>", "exec"), namespace)  # noqa: S102 - source built from the table above only
    return t.cast("RowsOf", namespace["rows_of"])


class TaskObservations:
    """The rows of one task's observations: as dicts, or as runs of encoded JSON lines.

    Per video only ``video_id`` and the counts change; the task's values (its id,
    subject, completion time, source, and the null columns of its family) are the same
    for every row, so they are encoded once. A run of rows is encoded by one call of
    the encoder and spliced into lines by one byte replacement: a row is the tap's
    hottest per-video cost after the video itself, and per-row Python calls were most
    of it.
    """

    def __init__(
        self,
        source: str,
        result_fields: t.Collection[str],
        task_values: t.Mapping[str, t.Any],
        completed_at: t.Any,
    ) -> None:
        own = tuple((name, field) for name, field in _COPIED
                    if field in result_fields and name not in task_values)  # fmt: skip
        self._names = tuple(name for name, _ in own)
        self._rows_of = _rows_of(own)
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
        [made] = self._rows_of((record,))
        made.update(self._constant)
        return made

    def lines(self, records: t.Sequence[dict[str, t.Any]], before: bytes, after: bytes) -> bytes:
        """The rows of ``records`` as the JSON the writer would make of each row, each
        between ``before`` and ``after`` (a RECORD envelope, or nothing and a newline)."""
        if not records:
            return b""
        # '[{"video_id":..,"views":..},{"video_id":..},...]': each row's own part.
        encoded = encode_record(self._rows_of(records))
        # Between two rows the array holds '},{"' and nowhere else: a row's values are
        # an id string and integers, and a quote inside a JSON string is escaped.
        tail = self._tail + after
        body = encoded[1:-2].replace(b'},{"', tail + before + b'{"')
        return b"".join((before, body, tail))
