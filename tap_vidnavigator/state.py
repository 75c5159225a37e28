"""What the tap keeps in Singer STATE, and the one place it touches SDK state internals.

For each kind of task, two things live there:

* ``bookmarks.<tasks stream>.in_flight``: every task submitted and not yet fully
  extracted, by request, so that a rerun polls it instead of paying again.
* ``bookmarks.<results stream>.partitions``: per subject (the family's subject field),
  the newest value of its replication key emitted, advanced only after all of a task's
  results were emitted.

Where each lives is declared with the family (families.py, ``state_layout``).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from tap_vidnavigator.families import EXTRACTED, IN_FLIGHT, SKIPPED

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_vidnavigator.settings import TaskRequest


def emit_state(stream: Stream) -> None:
    """Write a STATE message now.

    The SDK writes STATE only after records change it (``state_manager.is_flushed``);
    the tap changes state without a record (a submitted task, a finished task), so it
    marks the state dirty and writes it through the SDK's own writer, which drops
    repeats. ``tests/test_singer_sdk_internals.py`` fails if these SDK names change.
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
    """Submitted tasks not yet fully extracted, kept in the tasks stream's state.

    Each entry names its subject under the kind's ``subject_field``.
    """

    def __init__(self, stream: Stream, subject_field: str) -> None:
        self._stream = stream
        self._subject_field = subject_field

    @property
    def _entries(self) -> dict[str, dict[str, t.Any]]:
        state = self._stream.stream_state
        entries = state.get(IN_FLIGHT)
        if not isinstance(entries, dict):
            entries = {}
            state[IN_FLIGHT] = entries
        return entries

    def get(self, request: TaskRequest) -> dict[str, t.Any] | None:
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
        request: TaskRequest,
        task_id: str,
        sent: dict[str, t.Any],
        expires_at: str | None,
    ) -> None:
        """Save a task the moment its submit is answered, and write STATE."""
        self._entries[request.key] = {
            "task_id": task_id,
            self._subject_field: request.subject,
            "filters": sent,
            "submitted_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "expires_at": expires_at,
        }
        emit_state(self._stream)

    def update_expiry(self, request: TaskRequest, expires_at: t.Any) -> None:
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

    # Tasks fully extracted, until they expire: what a successful run's STATE holds, so
    # that the ledger never reuses them (only what a failed load never committed).
    def extracted(self, request: TaskRequest, task_id: str, expires_at: t.Any) -> None:
        """A request's task had all its results emitted (STATE is written with the
        bookmarks that follow)."""
        entries = self._stream.stream_state.setdefault(EXTRACTED, {})
        entries[request.key] = {"task_id": task_id, "expires_at": expires_at}

    def extracted_ids(self) -> set[str]:
        """The tasks the STATE says were extracted."""
        entries = self._stream.stream_state.get(EXTRACTED)
        if not isinstance(entries, dict):
            return set()
        return {e["task_id"] for e in entries.values() if isinstance(e, dict) and "task_id" in e}

    def drop_expired_extracted(self, now: dt.datetime) -> None:
        """Forget extracted tasks past their expiry (no ledger entry outlives them)."""
        entries = self._stream.stream_state.get(EXTRACTED)
        if not isinstance(entries, dict):
            return
        for key, entry in list(entries.items()):
            expires = parse_time(entry.get("expires_at")) if isinstance(entry, dict) else None
            if expires is None or expires <= now:
                del entries[key]
        if not entries:
            del self._stream.stream_state[EXTRACTED]

    # Requests the budget skipped live beside the tasks in flight, by request key; the
    # entry exists only while one does (most STATE never has it).
    def _skipped(self, *, create: bool = False) -> dict[str, dict[str, t.Any]]:
        state = self._stream.stream_state
        entries = state.get(SKIPPED)
        if not isinstance(entries, dict):
            entries = {}
            if create:
                state[SKIPPED] = entries
        return entries

    def skipped_keys(self) -> list[str]:
        """Requests a budget skipped in an earlier run, oldest first."""
        return list(self._skipped())

    def skip(self, request: TaskRequest) -> None:
        """Keep a request the budget did not submit, and write STATE."""
        entries = self._skipped(create=True)
        if request.key not in entries:
            entries[request.key] = {
                self._subject_field: request.subject,
                "skipped_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            }
            emit_state(self._stream)

    def unskip(self, key: str) -> None:
        """A skipped request was submitted (or is no longer configured): drop it."""
        entries = self._skipped()
        if entries.pop(key, None) is None:
            return
        if not entries:
            self._stream.stream_state.pop(SKIPPED, None)
        emit_state(self._stream)


class Bookmarks:
    """Per subject, the newest replication key value emitted, in the results stream's
    state.

    Read through the stream's own state and advanced through its context state (the
    SDK's public accessors), never by walking the tap's whole state.
    """

    def __init__(self, stream: Stream, partition_key: str, replication_key: str) -> None:
        self._stream = stream
        self._key = partition_key
        self._replication_key = replication_key

    def get(self, subject: str) -> dt.datetime | None:
        """The newest replication key value already emitted for a subject, or None."""
        context = {self._key: subject}
        for partition in self._stream.stream_state.get("partitions", []):
            if partition.get("context") == context:
                if partition.get("replication_key") != self._replication_key:
                    return None
                return parse_time(partition.get("replication_key_value"))
        return None

    def advance(self, subject: str, newest: str | None, *, write_state: bool = True) -> None:
        """Move a subject's bookmark forward to ``newest`` (never back), and write STATE
        (or only mark it changed, for the SDK's next STATE, when ``write_state`` is
        false)."""
        newest_time = parse_time(newest)
        if newest_time is None:
            return
        current = self.get(subject)
        if current is not None and current >= newest_time:
            return
        partition = self._stream.get_context_state({self._key: subject})
        partition["replication_key"] = self._replication_key
        partition["replication_key_value"] = newest_time.isoformat()
        if write_state:
            emit_state(self._stream)
        else:
            self._stream.state_manager.is_flushed = False
