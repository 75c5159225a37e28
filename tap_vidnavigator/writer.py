"""A Singer message writer on orjson, flushing only when it matters.

The SDK's default writer (simplejson) and its msgspec writer flush stdout after every
message; at tens of thousands of records a second the flushes and the encoder are
most of the tap's cost. RECORD lines here stay in the stdout buffer until the next
STATE (or SCHEMA) message, which is flushed at once: a target never sees a STATE
before the records it covers, and a killed tap loses only records whose STATE it
never emitted either.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import typing as t

import orjson
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.messages import Message, RecordMessage
from typing_extensions import override

_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _default(value: t.Any) -> t.Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, int):  # integers beyond 64 bits
        return str(value)
    return str(value)


class OrjsonWriter(GenericSingerWriter[bytes, Message]):
    """Writes Singer messages as JSON lines to stdout."""

    def __init__(self) -> None:
        self._time_text: tuple[dt.datetime | None, bytes] = (None, b"")
        self._prefixes: dict[str, bytes] = {}

    def _record_prefix(self, stream: str) -> bytes:
        prefix = self._prefixes.get(stream)
        if prefix is None:
            prefix = b'{"type":"RECORD","stream":' + orjson.dumps(stream) + b',"record":'
            self._prefixes[stream] = prefix
        return prefix

    @override
    def serialize_message(self, message: Message) -> bytes:
        if isinstance(message, RecordMessage) and message.version is None:
            # The hot path, one line per record: the envelope is assembled around the
            # record's JSON instead of building and encoding a second dict per record.
            return b"".join(
                (
                    self._record_prefix(message.stream),
                    orjson.dumps(message.record, default=_default, option=orjson.OPT_NON_STR_KEYS),
                    self._time_extracted(message.time_extracted),
                )
            )
        return orjson.dumps(message.to_dict(), default=_default, option=_OPTIONS)

    def _time_extracted(self, moment: dt.datetime | None) -> bytes:
        if moment is None:
            return b"}\n"
        if self._time_text[0] != moment:
            self._time_text = (moment, b',"time_extracted":' + orjson.dumps(moment) + b"}\n")
        return self._time_text[1]

    @override
    def write_message(self, message: Message) -> None:
        stdout = sys.stdout.buffer
        stdout.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            stdout.flush()
