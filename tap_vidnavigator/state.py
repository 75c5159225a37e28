"""What the tap keeps in Singer STATE, when it writes it, and the one place it touches
SDK state internals.

For each kind of task, two things live there:

* ``bookmarks.<tasks stream>.in_flight``: every task submitted and not yet fully
  extracted, by request, so that a rerun polls it instead of paying again.
* ``bookmarks.<results stream>.partitions``: per subject (the family's subject field),
  the newest value of its replication key emitted, advanced only after all of a task's
  results were emitted.

Where each lives is declared with the family (families.py, ``state_layout``).

When STATE goes out (:class:`StateGate`, the tap's one STATE writer). A Singer STATE
message holds the whole state, every subject's bookmark included, so a tap that writes
it after every change writes bytes in the square of its subjects. "Out" means written
to the tap's stdout, which is all Meltano and a target ever see. The rule:

1. **At once**, what a rerun needs in order not to buy again and nothing else holds: a
   task just bought (the submit's answer), and the exact expiry of a finished task (the
   submit's is an estimate, earlier). Not when the ledger (ledger.py) already wrote
   it to disk: a rerun reuses a task from either.
2. **At the end of every stream** (and of the run), and **before the tap waits** for
   its tasks a second or more.
3. **Everything else waits**, coalesced: at most one STATE a second (``STATE_INTERVAL``)
   whatever the number of tasks. A STATE held back is lost if the tap dies; that only
   ever makes a rerun redo work that the last STATE out does not show as done (resume a
   task from ``in_flight``, reuse it from the ledger, read its results again): nothing
   is lost, and nothing bought twice.

This keeps the invariants, because a STATE is the state of the moment it is written,
and it is only ever written at the points where the tap or the SDK would have written
it anyway (after the records, BATCH messages, ``video_stats`` rows and enrichment
candidates of everything the state says is done; ``extracted`` and the removal from
``in_flight`` are one change of the state between two such points), through the same
writer that wrote those messages first.

Each message is lean (:func:`lean`): no stream entry, list or mapping that is empty, no
partition without a bookmark, none of the SDK's markers for a sync under way
(signpost, starting value: every sync sets them afresh), no extracted task that has
expired. A STATE that holds them (today's tap's, or an older one) is read as before.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import typing as t

from tap_vidnavigator.families import EXTRACTED, IN_FLIGHT, SKIPPED
from tap_vidnavigator.writer import encode_state

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_vidnavigator.settings import TaskRequest

#: The most often a STATE that may wait goes out, in seconds (rule 3 above).
STATE_INTERVAL = 1.0
#: What the SDK keeps in a partition only while it syncs it.
_SYNC_MARKERS = ("replication_key_signpost", "starting_replication_value")


class StateGate:
    """The tap's STATE writer: decides when a STATE goes out (the module's rule).

    It takes the SDK's ``StateWriter`` place (record_loop.py): every STATE the SDK or
    the tap writes arrives at :meth:`write_state` and may wait; :meth:`flush` writes at
    once. A STATE equal to the last one written is not written again.
    """

    def __init__(
        self,
        write_line: t.Callable[[bytes], None],
        *,
        interval: float | None = None,
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self._write_line = write_line
        #: Seconds between two STATE messages that may wait (``STATE_INTERVAL``; 0 writes
        #: every one, as the SDK does).
        self.interval = STATE_INTERVAL if interval is None else interval
        self._clock = clock
        self._state: t.Mapping[str, t.Any] | None = None
        self._waiting = False
        self._last_line = b""
        self._last_time = -math.inf
        #: STATE messages written, and their bytes.
        self.messages = 0
        self.bytes = 0

    def write_state(self, state: t.Mapping[str, t.Any]) -> None:
        """The state (the tap's whole state, live) changed: write it if a second has
        passed since the last STATE, else hold it (the SDK's ``StateWriter`` call)."""
        self._state = state
        self._waiting = True
        if self._clock() - self._last_time >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Write the state held back, now."""
        if not self._waiting or self._state is None:
            return
        self._waiting = False
        self._last_time = self._clock()
        line = encode_state(lean(self._state))
        if line == self._last_line:
            return
        self._write_line(line)
        self._last_line = line
        self.messages += 1
        self.bytes += len(line)

    def before_wait(self, seconds: float) -> None:
        """The tap is about to wait ``seconds`` for its tasks: a state held back goes out
        first if the wait is long or the last STATE old (rule 2)."""
        if seconds >= self.interval or self._clock() - self._last_time >= self.interval:
            self.flush()


def emit_state(stream: Stream, *, now: bool = False) -> None:
    """The state changed: write a STATE, at once when ``now`` (the module's rule 1),
    else when the rule says (at most one a second, at the end of the stream).

    The SDK writes STATE only after records change it (``state_manager.is_flushed``);
    the tap changes state without a record (a submitted task, a finished task), so it
    marks the state dirty and writes it through the SDK's own writer, the tap's
    :class:`StateGate`. ``tests/test_singer_sdk_internals.py`` fails if these SDK names
    change.
    """
    stream.state_manager.is_flushed = False
    stream._write_state_message()
    if now:
        gate = getattr(stream, "state_gate", None)
        if isinstance(gate, StateGate):
            gate.flush()


def lean(state: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    """The state as a STATE message carries it: without what says nothing (see the
    module). Builds new mappings only where something is left out; never changes
    ``state``."""
    bookmarks = state.get("bookmarks")
    if not isinstance(bookmarks, dict):
        return state
    now = dt.datetime.now(dt.timezone.utc)
    kept: dict[str, t.Any] = {}
    for name, entry in bookmarks.items():
        lean_entry = _lean_entry(entry, now) if isinstance(entry, dict) else entry
        if isinstance(entry, dict) and not lean_entry:
            continue
        kept[name] = lean_entry
    return {**state, "bookmarks": kept}


def _lean_entry(entry: dict[str, t.Any], now: dt.datetime) -> dict[str, t.Any]:
    kept: dict[str, t.Any] = {}
    for key, value in entry.items():
        if key in _SYNC_MARKERS:
            continue
        lean_value = value
        if key == "partitions" and isinstance(value, list):
            lean_value = [p for p in map(_lean_partition, value) if p is not None]
        elif key == EXTRACTED and isinstance(value, dict):
            lean_value = {k: v for k, v in value.items() if not _expired(v, now)}
        if isinstance(lean_value, (dict, list)) and not lean_value:
            continue
        kept[key] = lean_value
    return kept


def _lean_partition(partition: t.Any) -> t.Any:
    if not isinstance(partition, dict):
        return partition
    if any(marker in partition for marker in _SYNC_MARKERS):
        partition = {k: v for k, v in partition.items() if k not in _SYNC_MARKERS}
    # A partition that holds only its context has no bookmark: it says nothing.
    return partition if any(key != "context" for key in partition) else None


_EXPIRY_CACHE: dict[str, dt.datetime | None] = {}


def _expired(entry: t.Any, now: dt.datetime) -> bool:
    if not isinstance(entry, dict):
        return False
    value = entry.get("expires_at")
    if not isinstance(value, str):
        return False
    moment = _EXPIRY_CACHE.get(value)
    if moment is None and value not in _EXPIRY_CACHE:
        if len(_EXPIRY_CACHE) > 100_000:
            _EXPIRY_CACHE.clear()
        moment = _EXPIRY_CACHE[value] = parse_time(value)
    return moment is not None and moment <= now


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

    def __init__(
        self,
        stream: Stream,
        subject_field: str,
        *,
        held: t.Callable[[str], bool] | None = None,
    ) -> None:
        self._stream = stream
        self._subject_field = subject_field
        #: Whether a task is already on disk elsewhere (the ledger) the moment it is
        #: remembered, so that its STATE may wait (the module's rule 1).
        self._held = held

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
        """Save a task the moment its submit is answered, and write STATE: at once,
        unless the ledger already holds the task."""
        self._entries[request.key] = {
            "task_id": task_id,
            self._subject_field: request.subject,
            "filters": sent,
            "submitted_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "expires_at": expires_at,
        }
        emit_state(self._stream, now=not (self._held is not None and self._held(task_id)))

    def update_expiry(self, request: TaskRequest, expires_at: t.Any) -> None:
        """Record the exact expiry a poll reported, and write STATE if it changed: at
        once unless the ledger holds the task (a rerun needs it not to give up on a task
        still alive, its submit's estimate being earlier)."""
        entry = self.get(request)
        if (
            entry is not None
            and isinstance(expires_at, str)
            and entry.get("expires_at") != expires_at
        ):
            entry["expires_at"] = expires_at
            held = self._held is not None and self._held(entry["task_id"])
            emit_state(self._stream, now=not held)

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
    state (the SDK's layout: ``partitions``, each with its ``context``).

    Read through the stream's own state, by subject through an index (a run asks for
    each of thousands of subjects: a search of the list each time would cost the square
    of the subjects).
    """

    def __init__(self, stream: Stream, partition_key: str, replication_key: str) -> None:
        self._stream = stream
        self._key = partition_key
        self._replication_key = replication_key
        self._indexed: list[t.Any] | None = None
        self._indexed_length = 0
        self._index: dict[str, dict[str, t.Any]] = {}

    def _partitions(self, *, create: bool = False) -> list[t.Any]:
        partitions = self._stream.stream_state.get("partitions")
        if not isinstance(partitions, list):
            partitions = []
            if create:
                self._stream.stream_state["partitions"] = partitions
        if partitions is not self._indexed or len(partitions) != self._indexed_length:
            # Partitions this class did not add (a new state, the SDK's own loop).
            self._index = {}
            for partition in partitions:
                context = partition.get("context") if isinstance(partition, dict) else None
                if isinstance(context, dict) and len(context) == 1 and self._key in context:
                    self._index.setdefault(str(context[self._key]), partition)
            self._indexed, self._indexed_length = partitions, len(partitions)
        return partitions

    def _partition(self, subject: str) -> dict[str, t.Any] | None:
        self._partitions()
        return self._index.get(subject)

    def get(self, subject: str) -> dt.datetime | None:
        """The newest replication key value already emitted for a subject, or None."""
        partition = self._partition(subject)
        if partition is None or partition.get("replication_key") != self._replication_key:
            return None
        return parse_time(partition.get("replication_key_value"))

    def advance(self, subject: str, newest: str | None, *, write_state: bool = True) -> None:
        """Move a subject's bookmark forward to ``newest`` (never back), and write STATE
        when the rule says (or only mark it changed, for the SDK's next STATE, when
        ``write_state`` is false)."""
        newest_time = parse_time(newest)
        if newest_time is None:
            return
        current = self.get(subject)
        if current is not None and current >= newest_time:
            return
        partition = self._partition(subject)
        if partition is None:
            partitions = self._partitions(create=True)
            partition = {"context": {self._key: subject}}
            partitions.append(partition)
            self._index[subject] = partition
            self._indexed_length = len(partitions)
        partition["replication_key"] = self._replication_key
        partition["replication_key_value"] = newest_time.isoformat()
        if write_state:
            emit_state(self._stream)
        else:
            self._stream.state_manager.is_flushed = False
