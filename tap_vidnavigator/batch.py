"""Singer BATCH files: the results streams' records as JSON Lines files, and their clean-up.

With the SDK's standard ``batch_config`` a results stream (``videos``,
``search_results``) writes each task's records to files and emits one BATCH message
per file instead of one RECORD message per record; loaders such as target-postgres and
target-snowflake then load whole files (target-snowflake PUTs them to its stage as
they are). The files hold exactly the records the RECORD path would send (typed once
in records/), encoded by the same orjson encoder, and compressed at a fast level.

Names: ``<prefix>tap-vidnavigator--<stream>--<run>--<n>.json.gz`` (``.json`` without
compression) under the configured storage root, where ``<run>`` is this run's UTC start
and a random suffix, so that runs and streams never overwrite each other's files.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import gzip
import itertools
import logging
import time
import typing as t
import uuid

import fsspec
from upath import UPath

from tap_vidnavigator.writer import encode_record

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig

#: The one batch file format the tap writes: the one target-postgres and
#: target-snowflake both read as it is (raw records, one JSON object per line).
BATCH_FORMAT = "jsonl"
COMPRESSIONS = ("gzip", "none")
#: gzip level 1 compresses these records about 6:1 at several times level 9's speed;
#: the files live minutes, until the loader has read them.
GZIP_LEVEL = 1
FILE_PREFIX = "tap-vidnavigator--"
#: Encoded records are written in slices of about a megabyte.
_WRITE_RECORDS = 2000

_LOGGER = logging.getLogger("tap-vidnavigator")


def batch_config_errors(raw: t.Any) -> list[str]:
    """What is wrong with a ``batch_config`` for this tap (empty when it is usable)."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [f"batch_config must be an object, got {raw!r}"]
    errors = []
    encoding = raw.get("encoding")
    if not isinstance(encoding, dict) or encoding.get("format") != BATCH_FORMAT:
        got = encoding.get("format") if isinstance(encoding, dict) else encoding
        errors.append(
            f"batch_config.encoding.format must be {BATCH_FORMAT!r} (JSON Lines, the format "
            f"target-postgres and target-snowflake load), got {got!r}"
        )
    elif encoding.get("compression", "none") not in (*COMPRESSIONS, None):
        errors.append(
            "batch_config.encoding.compression must be 'gzip' or 'none', got "
            f"{encoding.get('compression')!r}"
        )
    storage = raw.get("storage")
    if not isinstance(storage, dict) or not isinstance(storage.get("root"), str):
        errors.append(
            "batch_config.storage.root must name the folder for batch files, for example "
            "file:///var/lib/meltano/batch (a path the loader can read)"
        )
    size = raw.get("batch_size", 10000)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        errors.append(f"batch_config.batch_size must be a whole number of 1 or more, got {size!r}")
    return errors


def run_label(now: dt.datetime | None = None) -> str:
    """This run's part of batch file names: its UTC start and a random suffix."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{uuid.uuid4().hex[:8]}"


class BatchFiles:
    """Writes one stream's records of this run to numbered batch files."""

    def __init__(self, batch_config: BatchConfig, stream_name: str, run: str) -> None:
        self._config = batch_config
        self._gzip = batch_config.encoding.compression == "gzip"
        prefix = batch_config.storage.prefix or ""
        self._stem = f"{prefix}{FILE_PREFIX}{stream_name}--{run}--"
        self._numbers = itertools.count(1)

    def next_name(self) -> str:
        """The name of this stream's next file of this run."""
        return f"{self._stem}{next(self._numbers):05d}.json" + (".gz" if self._gzip else "")

    def write(self, records: t.Iterator[dict[str, t.Any]]) -> t.Iterator[str]:
        """Write ``records`` in files of at most ``batch_size``; yield each file's URL.

        A file is yielded (and its BATCH message can be sent) only once it is closed.
        """
        size = self._config.batch_size
        records = iter(records)
        while True:
            first = next(records, None)
            if first is None:
                return
            chunk = itertools.chain((first,), itertools.islice(records, size - 1))
            name = self.next_name()
            storage = self._config.storage
            with storage.open(name, "wb") as sink:
                if self._gzip:
                    with gzip.GzipFile(
                        fileobj=sink, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
                    ) as zipped:
                        _write_lines(zipped, chunk, in_background=True)
                else:
                    _write_lines(sink, chunk, in_background=False)
            yield storage.get_url(name)


class BatchSink:
    """Batch files of one stream, written one record at a time (push, where
    :meth:`BatchFiles.write` pulls): for rows made beside another stream's records.

    A file is closed when it holds ``batch_size`` records or when :meth:`close` is
    called; :meth:`close` returns the URLs of the files closed since it was last called.
    """

    def __init__(self, files: BatchFiles, batch_config: BatchConfig) -> None:
        self._files = files
        self._config = batch_config
        # Encoded records waiting to be written, newline-terminated, in blocks.
        self._blocks: list[bytes] = []
        self._waiting = 0
        self._count = 0
        self._open: tuple[contextlib.ExitStack, t.IO[bytes] | gzip.GzipFile, str] | None = None
        self._closed: list[str] = []

    @property
    def room(self) -> int:
        """How many more records the current file takes."""
        return self._config.batch_size - self._count

    def add(self, record: dict[str, t.Any]) -> None:
        """Add one record to the current file."""
        self.add_lines(encode_record(record) + b"\n", 1)

    def add_lines(self, lines: bytes, count: int) -> None:
        """Add ``count`` records already encoded as JSON lines, at most :attr:`room`."""
        if count > self.room:
            msg = f"{count} records do not fit in a batch file with room for {self.room}"
            raise ValueError(msg)
        self._blocks.append(lines)
        self._waiting += count
        self._count += count
        if self._waiting >= _WRITE_RECORDS:
            self._write_lines()
        if self._count == self._config.batch_size:
            self._close_file()

    def close(self) -> list[str]:
        """Close the current file; the URLs of every file closed since the last call."""
        self._close_file()
        closed, self._closed = self._closed, []
        return closed

    def _write_lines(self) -> None:
        if not self._blocks:
            return
        if self._open is None:
            stack = contextlib.ExitStack()
            name = self._files.next_name()
            # Not through StorageTarget.open, nor any file system instance fsspec
            # caches: a transaction is an instance's, and the results stream's file is
            # written inside one at this moment. Through that instance this file would
            # reach its place only when the other file's transaction ends, after its
            # BATCH message went out. An instance of its own writes it in place.
            storage = self._config.storage
            fs, root = fsspec.core.url_to_fs(
                storage.root, skip_instance_cache=True, **storage.params
            )
            fs.makedirs(root, exist_ok=True)
            sink: t.IO[bytes] | gzip.GzipFile = stack.enter_context(
                fs.open(f"{root.rstrip('/')}/{name}", "wb")
            )
            if self._config.encoding.compression == "gzip":
                sink = stack.enter_context(
                    gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
                )
            self._open = (stack, sink, self._config.storage.get_url(name))
        self._open[1].write(b"".join(self._blocks))
        self._blocks.clear()
        self._waiting = 0

    def _close_file(self) -> None:
        self._write_lines()
        if self._open is not None:
            stack, _, url = self._open
            stack.close()
            self._open = None
            self._closed.append(url)
        self._count = 0


def _write_lines(
    sink: t.IO[bytes] | gzip.GzipFile,
    records: t.Iterable[dict[str, t.Any]],
    *,
    in_background: bool,
) -> None:
    """Encode records a megabyte at a time; write each slice, in a second thread when
    ``in_background`` (zlib releases the GIL: compression overlaps encoding)."""
    writer = concurrent.futures.ThreadPoolExecutor(1) if in_background else None
    pending: list[concurrent.futures.Future[int]] = []

    def write(data: bytes) -> None:
        if writer is None:
            sink.write(data)
            return
        pending.append(writer.submit(sink.write, data))
        while len(pending) > 2:  # at most a few megabytes wait to be compressed
            pending.pop(0).result()

    try:
        lines: list[bytes] = []
        for record in records:
            lines.append(encode_record(record))
            if len(lines) == _WRITE_RECORDS:
                write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            write(b"\n".join(lines) + b"\n")
        for future in pending:
            future.result()
    finally:
        if writer is not None:
            writer.shutdown(wait=True)


def remove_old_batch_files(batch_config: BatchConfig, older_than_hours: float) -> int:
    """Delete this tap's batch files under the storage root older than the given age.

    Only names this tap writes (``<prefix>tap-vidnavigator--*``) are touched. Their
    BATCH messages went out in an earlier run: a loader that had not read them then
    never will (a rerun extracts again). Returns how many files were deleted.
    """
    storage = batch_config.storage
    root = UPath(storage.root, **storage.params)
    if not root.exists():
        return 0
    cutoff = time.time() - older_than_hours * 3600
    removed = 0
    for path in root.glob(f"{storage.prefix or ''}{FILE_PREFIX}*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError as exc:  # another run may remove the same file first
            _LOGGER.warning("Could not remove old batch file %s: %s", path, exc)
    if removed:
        _LOGGER.info(
            "Removed %d batch file(s) of earlier runs older than %g hour(s) from %s",
            removed,
            older_than_hours,
            storage.root,
        )
    return removed
