"""Streaming read of a task's signed ``download_url``.

The URL is a bearer link on another host (cloud storage): it is fetched through a
session of its own that never carries the API key, and parsed as a stream so a
100,000-result file never sits in memory whole. Its shape is not documented, so the
three plausible ones are recognised (a bare list of results, the task body, the task
body in the API's ``{"status", "data"}`` envelope); anything else raises
:class:`DownloadError` and the caller pages through the API instead.

The results array is cut into runs of whole results that orjson parses in one call,
several times faster than an event-driven streaming parser. A cut is only ever taken
where ``"[" + run + "]"`` parses: in a JSON text that is exactly where a run of whole
elements ends (a cut inside a string or a nested value leaves a string or a container
open), so a wrong guess costs time, never a wrong record.
"""

from __future__ import annotations

import json
import re
import typing as t

import orjson
import requests

from tap_vidnavigator.redaction import redact

_CHUNK = 256 * 1024
#: No single result comes near this; a run that does is a malformed file.
_MAX_PENDING = 32 * 1024 * 1024
_WHITESPACE = b" \t\r\n"
_CUT_ATTEMPTS = 4
#: Strings (with escapes) and brackets: enough to find where one element ends. The
#: string is the "unrolled loop" form: linear without possessive quantifiers, which
#: Python gained only in 3.11 (the package supports 3.10).
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_SKIP_VALUE = json.JSONDecoder(strict=False).raw_decode


class DownloadError(Exception):
    """The download could not be used; the message says why (no URL in it)."""


class _NeedMoreBytesError(Exception):
    """More bytes are needed before the next step can be decided."""


class _Buffer:
    """The unread bytes of a download; ``pos`` is where reading stands."""

    def __init__(self, chunks: t.Iterator[bytes]) -> None:
        self._chunks = chunks
        self.data = bytearray()
        self.pos = 0
        self.at_end = False

    def read_more(self) -> None:
        """Append the next non-empty chunk, or set ``at_end``."""
        if self.pos > _CHUNK:
            del self.data[: self.pos]
            self.pos = 0
        for chunk in self._chunks:
            if chunk:
                self.data += chunk
                return
        self.at_end = True

    def next_byte(self) -> int:
        """The next byte that is not whitespace (reading on as needed); pos moves to it."""
        while True:
            data, pos = self.data, self.pos
            while pos < len(data) and data[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(data):
                return data[pos]
            if self.at_end:
                raise DownloadError("the downloaded file is truncated (it ends too early)")
            self.read_more()


def iter_results(chunks: t.Iterator[bytes], field: str) -> t.Iterator[list[t.Any]]:
    """The results of a downloaded document, in runs, from its bytes in any chunking.

    ``field`` names the results list in a task body (the kind's ``results_field``).
    Raises DownloadError when the document is truncated, not JSON, or of no known
    shape; the results yielded before that are whole and in order.
    """
    buffer = _Buffer(chunks)
    buffer.read_more()
    _seek_results_array(buffer, field)
    if buffer.next_byte() == ord("]"):
        return
    while True:
        try:
            run = _parse_run(buffer)
        except _NeedMoreBytesError:
            if len(buffer.data) - buffer.pos > _MAX_PENDING:
                raise DownloadError(
                    "the downloaded file is malformed: no complete result within 32 MB"
                ) from None
            if not buffer.at_end:
                buffer.read_more()
                continue
            # Fewer bytes than a run is cut from: one element at a time, to the end.
            run = [_parse_one(buffer)]
        yield run
        separator = buffer.next_byte()
        buffer.pos += 1
        if separator == ord("]"):
            return
        if separator != ord(","):
            raise DownloadError("the downloaded file is malformed (no comma between results)")
        buffer.next_byte()


def _parse_run(buffer: _Buffer) -> list[t.Any]:
    """Parse the longest run of whole elements the buffer holds; _NeedMoreBytesError if none."""
    data, start = buffer.data, buffer.pos
    candidates = _cut_candidates(data, start)
    # Brackets balance at a real boundary unless a string holds one: a cheap filter
    # first (counted once over the buffer, then only over the short tail after each
    # cut); then, in case a string does hold one, the latest cuts unfiltered.
    depth = _depth(data, start, len(data))
    balanced = [cut for cut in candidates if _depth(data, cut + 1, len(data)) == depth]
    for cut in balanced + [cut for cut in candidates[:2] if cut not in balanced]:
        try:
            run = orjson.loads(b"[" + data[start : cut + 1] + b"]")
        except orjson.JSONDecodeError:
            continue
        buffer.pos = cut + 1
        return t.cast("list[t.Any]", run)
    if len(data) - start > 2 * _CHUNK:
        return [_parse_one(buffer)]  # a very long element, or braces in strings
    raise _NeedMoreBytesError


def _cut_candidates(data: bytearray, start: int) -> list[int]:
    """The last few ``}`` from the end that a comma or ``]`` follows."""
    candidates: list[int] = []
    end = len(data)
    while len(candidates) < _CUT_ATTEMPTS:
        cut = data.rfind(b"}", start, end)
        if cut < 0:
            break
        end = cut
        after = cut + 1
        while after < len(data) and data[after] in _WHITESPACE:
            after += 1
        if after < len(data) and data[after] in b",]":
            candidates.append(cut)
    return candidates


def _depth(data: bytearray, start: int, end: int) -> tuple[int, int]:
    """Objects and arrays opened minus closed in ``data[start:end]``."""
    return (
        data.count(b"{", start, end) - data.count(b"}", start, end),
        data.count(b"[", start, end) - data.count(b"]", start, end),
    )


def _parse_one(buffer: _Buffer) -> t.Any:
    """Parse exactly one element at ``pos`` (an object or array), or DownloadError."""
    data, start = buffer.data, buffer.pos
    if data[start] not in b"{[":
        raise DownloadError("the downloaded results list holds something that is not an object")
    depth = 0
    for token in _TOKEN.finditer(data, start):
        kind = token.group()
        if kind in (b"{", b"["):
            depth += 1
        elif kind in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                try:
                    element = orjson.loads(data[start : token.end()])
                except orjson.JSONDecodeError:
                    break
                buffer.pos = token.end()
                return element
    if buffer.at_end:
        raise DownloadError("the downloaded file is truncated or malformed")
    raise _NeedMoreBytesError


def _seek_results_array(buffer: _Buffer, field: str) -> None:
    """Move ``pos`` just past the ``[`` that opens the results list, or DownloadError."""
    while True:
        # Latin-1 keeps one character per byte, so text positions are byte positions;
        # only keys (ASCII) are read, other values are skipped whole.
        text = buffer.data.decode("latin-1")
        try:
            buffer.pos = _results_array_start(text, buffer.pos, field) + 1
            return
        except (_NeedMoreBytesError, json.JSONDecodeError, IndexError) as exc:
            if buffer.at_end or len(buffer.data) > _MAX_PENDING:
                if isinstance(exc, _NeedMoreBytesError):
                    raise DownloadError(
                        f"the downloaded file has no {field} list in a known shape"
                    ) from None
                raise DownloadError("the downloaded file is not valid JSON") from None
        buffer.read_more()


def _results_array_start(text: str, pos: int, field: str) -> int:
    """Where ``[`` opens the results list: the document itself, ``field`` or ``data.field``."""
    pos = _skip_whitespace(text, pos)
    if text[pos] == "[":
        return pos
    if text[pos] != "{":
        raise _NeedMoreBytesError
    return _results_in_object(text, pos + 1, field, envelope=True)


def _results_in_object(text: str, pos: int, field: str, *, envelope: bool) -> int:
    while True:
        pos = _skip_whitespace(text, pos)
        if text[pos] == "}":
            raise _NeedMoreBytesError  # the object ended without a results list
        if text[pos] == ",":
            pos = _skip_whitespace(text, pos + 1)
        key, pos = _SKIP_VALUE(text, pos)
        pos = _skip_whitespace(text, pos)
        if text[pos] != ":":
            raise json.JSONDecodeError("expected ':'", text, pos)
        pos = _skip_whitespace(text, pos + 1)
        if key == field and text[pos] == "[":
            return pos
        if key == "data" and envelope and text[pos] == "{":
            return _results_in_object(text, pos + 1, field, envelope=False)
        _, pos = _SKIP_VALUE(text, pos)


def _skip_whitespace(text: str, pos: int) -> int:
    while text[pos] in " \t\r\n":
        pos += 1
    return pos


def iter_download(
    session: requests.Session, url: str, *, timeout: float, results_field: str
) -> t.Iterator[list]:
    """Yield the result objects of the file at ``url`` in runs, streaming.

    Raises DownloadError for any failure: HTTP error, expiry, truncation, bad JSON or
    an unknown shape. The caller must be ready for it after some results were yielded.
    """
    try:
        response = session.get(url, stream=True, timeout=timeout, allow_redirects=True)
    except requests.RequestException as exc:
        raise DownloadError(redact(f"the download request failed ({type(exc).__name__})")) from None
    with response:
        if response.status_code != 200:
            raise DownloadError(
                f"the storage host answered HTTP {response.status_code} "
                "(the signed link expired or was refused)"
            )
        try:
            yield from iter_results(response.iter_content(chunk_size=_CHUNK), results_field)
        except requests.RequestException as exc:
            raise DownloadError(
                f"the download broke off ({type(exc).__name__}); the file is incomplete"
            ) from None


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def download_session() -> requests.Session:
    """A session for storage hosts: no API key, and no credentials from ~/.netrc.

    An explicit no-op auth keeps requests from adding netrc credentials, while proxy
    settings from the environment still apply.
    """
    session = requests.Session()
    session.auth = _no_auth
    session.headers.update({"Accept": "application/json"})
    return session
