"""What the streams of one run share: settings, finished tasks, problems, counts."""

from __future__ import annotations

import dataclasses
import functools
import typing as t

if t.TYPE_CHECKING:
    from tap_vidnavigator.settings import ProfileRequest, Settings


@dataclasses.dataclass
class FinishedTask:
    """A terminal task: its last poll (first page of videos included) and origin."""

    task_id: str
    profile_url: str
    data: dict[str, t.Any]
    request: ProfileRequest | None = None
    #: The ``usage`` block beside ``data`` (credits this task cost), when answered.
    usage: dict[str, t.Any] | None = None

    @property
    def download_url(self) -> str | None:
        """The signed link of the whole result, when offered."""
        url = self.data.get("download_url")
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None

    @property
    def total_items(self) -> int | None:
        """How many videos the API says the task has."""
        pagination = self.data.get("pagination")
        total = pagination.get("total_items") if isinstance(pagination, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None


class Run:
    """Shared state of one tap run.

    Settings are loaded on first use, so that ``--discover`` works without a config.
    """

    def __init__(self, load_settings: t.Callable[[], Settings]) -> None:
        self._load_settings = load_settings
        self.finished: dict[str, FinishedTask] = {}
        self.problems: list[str] = []
        self.videos_emitted = 0
        self.tasks_emitted = 0

    @functools.cached_property
    def settings(self) -> Settings:
        """The validated settings of this run."""
        return self._load_settings()

    def problem(self, message: str) -> None:
        """Record something that makes the run end non-zero (after finishing the rest)."""
        self.problems.append(message)
