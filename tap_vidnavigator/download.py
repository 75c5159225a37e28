"""Streaming read of a task's signed ``download_url``.

The URL is a bearer link on another host (cloud storage): it is fetched through a
session of its own that never carries the API key, and parsed as a stream so a
100,000-video file never sits in memory whole. Its shape is not documented, so the
three plausible ones are recognised; anything else raises :class:`DownloadError` and
the caller pages through the API instead.
"""

from __future__ import annotations

import io
import typing as t

import ijson
import requests

from tap_vidnavigator.redaction import redact

#: Where the videos array sits in each accepted shape: a bare list, the task body,
#: or the task body inside the API's ``{"status", "data"}`` envelope.
_ARRAY_PREFIXES = {"": "item", "videos": "videos.item", "data.videos": "data.videos.item"}
_CHUNK = 256 * 1024


class DownloadError(Exception):
    """The download could not be used; the message says why (no URL in it)."""


class _Replay(io.RawIOBase):
    """A readable stream of bytes already read (``head``) followed by ``rest``."""

    def __init__(self, head: bytes, rest: t.Iterator[bytes]) -> None:
        self._buffer = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, target: t.Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._rest)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _sniff_prefix(chunks: t.Iterator[bytes]) -> tuple[str, bytes]:
    """Find which shape the document has; return its video prefix and the bytes read."""
    head = bytearray()
    parser = ijson.parse(_Replay(b"", _recording(chunks, head)))
    try:
        for prefix, event, _ in parser:
            if event == "start_array" and prefix in _ARRAY_PREFIXES:
                return _ARRAY_PREFIXES[prefix], bytes(head)
    except ijson.JSONError as exc:
        raise DownloadError(f"the downloaded file is not valid JSON ({exc})") from None
    raise DownloadError("the downloaded file has no videos list in a known shape")


def _recording(chunks: t.Iterator[bytes], into: bytearray) -> t.Iterator[bytes]:
    for chunk in chunks:
        into.extend(chunk)
        yield chunk


def iter_download(session: requests.Session, url: str, *, timeout: float) -> t.Iterator[t.Any]:
    """Yield each video object of the file at ``url``, streaming.

    Raises DownloadError for any failure: HTTP error, expiry, truncation, bad JSON or
    an unknown shape. The caller must be ready for it after some videos were yielded.
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
        chunks = response.iter_content(chunk_size=_CHUNK)
        try:
            prefix, head = _sniff_prefix(chunks)
            yield from ijson.items(_Replay(head, chunks), prefix, use_float=True)
        except ijson.JSONError as exc:
            raise DownloadError(f"the downloaded file is truncated or malformed ({exc})") from None
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
