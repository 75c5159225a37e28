"""What the tap keeps in Singer STATE, and the one place it touches SDK state internals.

Two things live there:

* ``bookmarks.profile_tasks.in_flight``: every task submitted and not yet fully
  extracted, by profile request, so that a rerun polls it instead of paying again.
* ``bookmarks.videos.partitions``: per profile (``profile_url``), the newest
  ``published_at`` emitted, advanced only after all of a task's videos were emitted.
"""

from __future__ import annotations

import datetime as dt
import typing as t

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_vidnavigator.settings import ProfileRequest

IN_FLIGHT = "in_flight"
REPLICATION_KEY = "published_at"


def emit_state(stream: Stream) -> None:
    """Write a STATE message now.

    The SDK writes STATE only after records change it (``state_manager.is_flushed``);
    the tap changes state without a record (a submitted task, a finished task), so it
    marks the state dirty and writes it through the SDK's own writer, which drops
    repeats. ``tests/test_sdk_internals.py`` fails if these SDK names change.
    """
    stream.state_manager.is_flushed = False
    stream._write_state_message()


def parse_time(value: t.Any) -> dt.datetime | None:
    """An ISO-8601 timestamp from state, as an aware datetime, or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class InFlightTasks:
    """Submitted tasks not yet fully extracted, kept in the parent stream's state."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    @property
    def _entries(self) -> dict[str, dict[str, t.Any]]:
        state = self._stream.stream_state
        entries = state.get(IN_FLIGHT)
        if not isinstance(entries, dict):
            entries = {}
            state[IN_FLIGHT] = entries
        return entries

    def get(self, request: ProfileRequest) -> dict[str, t.Any] | None:
        """The saved task of a request, if any and well-formed."""
        entry = self._entries.get(request.key)
        if isinstance(entry, dict) and isinstance(entry.get("task_id"), str):
            return entry
        return None

    def saved_keys(self) -> list[str]:
        """Request keys with a saved task."""
        return list(self._entries)

    def remember(
        self,
        request: ProfileRequest,
        task_id: str,
        sent: dict[str, t.Any],
        expires_at: str | None,
    ) -> None:
        """Save a task the moment its submit is answered, and write STATE."""
        self._entries[request.key] = {
            "task_id": task_id,
            "profile_url": request.profile_url,
            "filters": sent,
            "submitted_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "expires_at": expires_at,
        }
        emit_state(self._stream)

    def update_expiry(self, request: ProfileRequest, expires_at: t.Any) -> None:
        """Record the exact expiry a poll reported, and write STATE if it changed."""
        entry = self.get(request)
        if (
            entry is not None
            and isinstance(expires_at, str)
            and entry.get("expires_at") != expires_at
        ):
            entry["expires_at"] = expires_at
            emit_state(self._stream)

    def forget(self, key: str) -> None:
        """Drop a request's task (extracted, or gone) and write STATE."""
        if self._entries.pop(key, None) is not None:
            emit_state(self._stream)


def _partition(state: t.Mapping[str, t.Any], stream_name: str, profile_url: str) -> dict | None:
    bookmarks = state.get("bookmarks", {}).get(stream_name, {})
    for partition in bookmarks.get("partitions", []):
        if partition.get("context") == {"profile_url": profile_url}:
            return t.cast("dict", partition)
    return None


def video_bookmark(videos: Stream, profile_url: str) -> dt.datetime | None:
    """The newest ``published_at`` already emitted for a profile, or None."""
    partition = _partition(videos.tap_state, videos.name, profile_url)
    if partition is None or partition.get("replication_key") != REPLICATION_KEY:
        return None
    return parse_time(partition.get("replication_key_value"))


def advance_video_bookmark(videos: Stream, profile_url: str, newest: str | None) -> None:
    """Move a profile's bookmark forward to ``newest`` (never back), and write STATE."""
    newest_time = parse_time(newest)
    if newest_time is None:
        return
    current = video_bookmark(videos, profile_url)
    if current is not None and current >= newest_time:
        return
    partition = videos.get_context_state({"profile_url": profile_url})
    partition["replication_key"] = REPLICATION_KEY
    partition["replication_key_value"] = newest_time.isoformat()
    emit_state(videos)
