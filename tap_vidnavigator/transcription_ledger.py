"""The local record that keeps paid speech-to-text from being bought twice for a video.

STATE can be lost or reset (``--full-refresh``, a new state ID, another shard), and a
video can be found again through a second query: what was bought must be known
outside STATE. This module is the one interface the tap uses for that
(:class:`TranscriptionLedger`): a claim before each submit, the task id once
answered, the outcome once settled. Its store here is an append-only JSON Lines file
(``transcripts.ledger_path``), locked while a claim is decided, so that two runs
sharing it (shards) never both buy one video. A claim is written before the submit
is sent: a run killed between the two leaves a claim without a task id, and the video
is not bought again (remove its lines from the file to allow it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import typing as t
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock between processes
    fcntl = None  # type: ignore[assignment]

#: A ledger entry's outcomes after the claim.
CLAIMED = "claimed"
SUBMITTED = "submitted"
COMPLETED = "completed"
FAILED = "failed"


@dataclasses.dataclass
class Purchase:
    """What the ledger knows of one video's speech-to-text."""

    video_id: str
    status: str
    task_id: str | None = None
    credits: float | None = None


class TranscriptionLedger(t.Protocol):
    """What the tap asks of a ledger of speech-to-text purchases."""

    def claim(self, video_id: str, video_url: str) -> Purchase | None:
        """Claim a video for one purchase: None (claimed now; go ahead) or what an
        earlier claim says (do not buy)."""

    def submitted(self, video_id: str, task_id: str) -> None:
        """The submit of a claimed video was answered with this task."""

    def settled(self, video_id: str, task_id: str, status: str, credits: float | None) -> None:
        """The task ended (completed or failed) and cost this much."""


class FileLedger:
    """A :class:`TranscriptionLedger` in one JSON Lines file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._known: dict[str, Purchase] = {}
        self._read_to = 0

    def claim(self, video_id: str, video_url: str) -> Purchase | None:
        with self._locked():
            self._catch_up()
            known = self._known.get(video_id)
            if known is not None:
                return known
            self._append({"video_id": video_id, "status": CLAIMED, "video_url": video_url})
            return None

    def submitted(self, video_id: str, task_id: str) -> None:
        with self._locked():
            self._append({"video_id": video_id, "status": SUBMITTED, "task_id": task_id})

    def settled(self, video_id: str, task_id: str, status: str, credits: float | None) -> None:
        with self._locked():
            self._append(
                {"video_id": video_id, "status": status, "task_id": task_id, "credits": credits}
            )

    def entry(self, video_id: str) -> Purchase | None:
        """What the ledger knows of a video now."""
        with self._locked():
            self._catch_up()
        return self._known.get(video_id)

    # ------------------------------------------------------------------ inside
    @contextlib.contextmanager
    def _locked(self) -> t.Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        with open(self.path, "rb") as handle:
            handle.seek(self._read_to)
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # a line being written by a run that was killed: not yet one
                self._read_to += len(line)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and isinstance(event.get("video_id"), str):
                    self._apply(event)

    def _apply(self, event: dict[str, t.Any]) -> None:
        known = self._known.get(event["video_id"])
        if known is None:
            known = self._known[event["video_id"]] = Purchase(event["video_id"], CLAIMED)
        known.status = str(event.get("status") or known.status)
        known.task_id = event.get("task_id") or known.task_id
        if isinstance(event.get("credits"), (int, float)):
            known.credits = event["credits"]

    def _append(self, event: dict[str, t.Any]) -> None:
        event["at"] = dt.datetime.now(dt.timezone.utc).isoformat()
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        # One write of a whole line with O_APPEND, then to disk: the claim must survive
        # the run being killed right after the submit it allows.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._catch_up()
