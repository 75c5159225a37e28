"""A Singer message writer on orjson that batches RECORD lines into large writes.

The SDK's default writer (simplejson) and its msgspec writer encode a message object
and flush stdout for every record; at tens of thousands of records a second the
encoder, the flushes and (under ``PYTHONUNBUFFERED=1``, common in containers) one
``write`` system call per record are most of a tap's cost. Here RECORD lines collect
in memory and go out in writes of 128 lines (about 64 KiB); any other message (STATE, SCHEMA)
first writes out the records before it and is flushed at once, so a target never
sees a STATE before the records it covers, and a killed tap loses only records whose
STATE it never emitted either.

Each stream's SCHEMA goes out once per run, and again only when it changes: the SDK
writes it again at every partition's sync (once per task of a child stream), and a
repeat says nothing a target does not know. When STATE goes out is decided in
state.py (:class:`~tap_vidnavigator.state.StateGate`), which writes it here.
"""

from __future__ import annotations

import atexit
import copy
import datetime as dt
import decimal
import json
import sys
import typing as t
import weakref

import orjson
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.messages import Message, RecordMessage, SchemaMessage
from typing_extensions import override

_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
_RECORD_OPTIONS = orjson.OPT_NON_STR_KEYS
#: Records per write: about 64 KiB at the API's typical half a kilobyte per video.
_WRITE_LINES = 128


def _default(value: t.Any) -> t.Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _dumps(value: t.Any, option: int) -> bytes:
    try:
        return orjson.dumps(value, default=_default, option=option)
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits (free-form API objects may hold one);
        # the standard library writes them as the JSON numbers they are.
        text = json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
        return (text + "\n" if option & orjson.OPT_APPEND_NEWLINE else text).encode()


def encode_record(record: dict[str, t.Any] | list[dict[str, t.Any]]) -> bytes:
    """One record (or a list of them) as compact JSON (no newline): the RECORD and BATCH
    paths' encoder."""
    try:
        return orjson.dumps(record, default=_default, option=_RECORD_OPTIONS)
    except orjson.JSONEncodeError:
        return _dumps(record, _RECORD_OPTIONS)


class OrjsonWriter(GenericSingerWriter[bytes, Message]):
    """Writes Singer messages as JSON lines to stdout."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._sink: t.BinaryIO | None = None
        # The envelope around each record's JSON: a prefix per stream (records of two
        # streams may alternate: videos and video_stats), a suffix per second.
        self._prefixes: dict[str, bytes] = {}
        self._suffixes: dict[dt.datetime | None, bytes] = {}
        self._moment: dt.datetime | None = None
        self._suffix = b"}\n"
        #: Per stream, the last SCHEMA written (a repeat is dropped before it is encoded).
        self._schemas: dict[str, SchemaMessage] = {}
        _LIVE_WRITERS.add(self)

    def write_record(
        self, stream: str, record: dict[str, t.Any], time_extracted: dt.datetime | None
    ) -> None:
        """Queue one RECORD line (no version): the hot path, once per record.

        The envelope is assembled around the record's JSON instead of building and
        encoding a message object and a second dict per record.
        """
        if time_extracted is not self._moment:
            self._set_moment(time_extracted)
        prefix = self._prefixes.get(stream)
        if prefix is None:
            prefix = self._prefixes[stream] = _record_prefix(stream)
        pending = self._pending
        pending.append(b"".join((prefix, encode_record(record), self._suffix)))
        if len(pending) >= _WRITE_LINES:
            self.write_pending()

    def envelope(self, stream: str, time_extracted: dt.datetime | None) -> tuple[bytes, bytes]:
        """What goes before and after a record's JSON in a RECORD line of ``stream``."""
        prefix = self._prefixes.get(stream)
        if prefix is None:
            prefix = self._prefixes[stream] = _record_prefix(stream)
        return prefix, self._suffix_of(time_extracted)

    def write_lines(self, lines: bytes) -> None:
        """Write RECORD lines already made (with :meth:`envelope`), after those queued."""
        if lines:
            if self._sink is None:
                self._sink = sys.stdout.buffer
            self._pending.append(lines)
            self.write_pending()

    def _suffix_of(self, time_extracted: dt.datetime | None) -> bytes:
        # Records of two streams alternate, each with its own second: a suffix per
        # second, kept for the few seconds in use.
        suffix = self._suffixes.get(time_extracted)
        if suffix is None:
            if len(self._suffixes) >= 8:
                self._suffixes.clear()
            suffix = self._suffixes[time_extracted] = _time_suffix(time_extracted)
        return suffix

    def _set_moment(self, time_extracted: dt.datetime | None) -> None:
        if self._sink is None:
            self._sink = sys.stdout.buffer
        self._suffix = self._suffix_of(time_extracted)
        self._moment = time_extracted

    def write_pending(self) -> None:
        """Write out the queued RECORD lines (without flushing the stream)."""
        if not self._pending:
            return
        chunk = b"".join(self._pending)
        self._pending.clear()
        (self._sink or sys.stdout.buffer).write(chunk)

    @override
    def serialize_message(self, message: Message) -> bytes:
        if isinstance(message, RecordMessage) and message.version is None:
            return b"".join(
                (
                    _record_prefix(message.stream),
                    _dumps(message.record, _RECORD_OPTIONS),
                    _time_suffix(message.time_extracted),
                )
            )
        return _dumps(message.to_dict(), _OPTIONS)

    @override
    def write_message(self, message: Message) -> None:
        # The sink is fixed at the first message, so that lines queued while a
        # caller had redirected stdout go where the rest of the run's lines went.
        if self._sink is None:
            self._sink = sys.stdout.buffer
        if isinstance(message, SchemaMessage):
            if self._schemas.get(message.stream) == message:
                return
            self._schemas[message.stream] = copy.deepcopy(message)
        line = self.format_message(message)
        if isinstance(message, RecordMessage):
            self._pending.append(line)
            if len(self._pending) >= _WRITE_LINES:
                self.write_pending()
            return
        self.write_line(line)

    def write_line(self, line: bytes) -> None:
        """Write one message line made elsewhere (STATE: state.py), after the records
        queued before it, and flush."""
        if self._sink is None:
            self._sink = sys.stdout.buffer
        self.write_pending()
        self._sink.write(line)
        self._sink.flush()


def encode_state(value: t.Mapping[str, t.Any]) -> bytes:
    """A STATE message line holding ``value``."""
    return _dumps({"type": "STATE", "value": value}, _OPTIONS)


def _record_prefix(stream: str) -> bytes:
    return b'{"type":"RECORD","stream":' + orjson.dumps(stream) + b',"record":'


def _time_suffix(moment: dt.datetime | None) -> bytes:
    if moment is None:
        return b"}\n"
    return b',"time_extracted":' + orjson.dumps(moment) + b"}\n"


_LIVE_WRITERS: weakref.WeakSet[OrjsonWriter] = weakref.WeakSet()


@atexit.register
def _write_all_pending() -> None:
    # A run that fails between two STATE messages still hands its last records to
    # the target, as an unbuffered writer would (they are re-read on the rerun too).
    for writer in list(_LIVE_WRITERS):
        try:
            writer.write_pending()
            if writer._sink is not None:
                writer._sink.flush()
        except (OSError, ValueError):  # stdout already closed: nothing can be sent
            pass
