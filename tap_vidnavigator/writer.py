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

    @override
    def serialize_message(self, message: Message) -> bytes:
        return orjson.dumps(message.to_dict(), default=_default, option=_OPTIONS)

    @override
    def write_message(self, message: Message) -> None:
        stdout = sys.stdout.buffer
        stdout.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            stdout.flush()
