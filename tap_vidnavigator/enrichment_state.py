"""What a per-video enrichment keeps in STATE: bounded, whatever the number of videos.

Per subject (a profile or a query), one range of publication times ``[low, high]``:
every video of that subject published in the range has been decided (enriched, found
not to need it, below ``min_views``) or is in the pending list. Plus one list of pending
videos (found, not yet handled: left over by ``max_per_run``, by a budget, by a failed
request or by a killed run), at most :data:`PENDING_LIMIT`, newest kept first. So STATE
holds two timestamps per subject and at most ``PENDING_LIMIT`` videos, whether 100 or
100,000 were enriched. Every enrichment (``video_transcripts``, ...) keeps the same
layout in its own stream's state.

Why ranges: a subject's scrapes come back newest first and incrementally (from the
bookmark less ``lookback_days``), so what a run has seen of a subject is one span of
time that overlaps the last; a video seen again inside the range is known to be done
without keeping its id. A span that does not overlap (a changed ``start_date``, a
truncated scrape) replaces the range: older videos found again later are decided again.
Paid per-video jobs are guarded by the purchase ledger (ledger.py), not by STATE, so
they are never bought twice either way.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from typing import TypeGuard

from tap_vidnavigator.families import IN_FLIGHT
from tap_vidnavigator.state import parse_time

if t.TYPE_CHECKING:
    from singer_sdk import Stream


class Candidate(t.NamedTuple):
    """A video to enrich, as a results record named it."""

    video_id: str
    url: str
    published_at: str | None
    #: The family that found it ("profile", "search") and its subject there.
    found_by: str
    subject: str


#: The most videos the pending list keeps (about 150 bytes each in STATE).
PENDING_LIMIT = 5000
RANGES = "ranges"
PENDING = "pending"
_NEVER = ""  # sorts before every ISO time: videos without a time are oldest


def subject_key(found_by: str, subject: str) -> str:
    """A subject's key in the ranges: its family and its canonical form."""
    return f"{found_by} {subject}"


class EnrichmentState:
    """The ranges and the pending list, in an enrichment stream's state."""

    def __init__(self, stream: Stream, logger: t.Any) -> None:
        self._stream = stream
        self._logger = logger
        #: Videos this run's pending list could not keep (report_dropped).
        self.dropped = 0

    @property
    def _state(self) -> dict[str, t.Any]:
        return self._stream.stream_state

    @property
    def ranges(self) -> dict[str, list[str]]:
        """Per subject key, ``[low, high]`` (ISO times)."""
        ranges = self._state.get(RANGES)
        if not isinstance(ranges, dict):
            ranges = self._state[RANGES] = {}
        return ranges

    @property
    def pending(self) -> list[list[t.Any]]:
        """``[video_id, url, published_at, found_by, subject]`` each, newest first."""
        pending = self._state.get(PENDING)
        if not isinstance(pending, list):
            pending = self._state[PENDING] = []
        return pending

    def pending_candidates(self) -> list[Candidate]:
        """The pending videos, newest first."""
        return [Candidate(*entry) for entry in self.pending if _well_formed(entry)]

    def covered(self, key: str, published_at: str | None) -> bool:
        """Whether a video of this subject published then was already judged."""
        span = self.ranges.get(key)
        moment = parse_time(published_at)
        if not _is_range(span) or moment is None:
            return False
        low, high = parse_time(span[0]), parse_time(span[1])
        return low is not None and high is not None and low <= moment <= high

    def add_seen(
        self, key: str, seen: t.Sequence[tuple[str | None, Candidate | None]], *, complete: bool
    ) -> int:
        """One finished task's results of a subject: ``(published_at, candidate)`` each,
        the candidate None when it is not to be enriched (``min_views``). New
        candidates join the pending list; a complete task's span joins the range.
        Returns how many joined."""
        waiting = {entry[0] for entry in self.pending if _well_formed(entry)}
        added = [
            candidate
            for published, candidate in seen
            if candidate is not None
            and candidate.video_id not in waiting
            and not self.covered(key, published)
        ]
        for candidate in added:
            waiting.add(candidate.video_id)
        times = sorted(m for m in (parse_time(p) for p, _ in seen) if m is not None)
        if complete and times:
            self._extend(key, times[0], times[-1])
        if added:
            self.pending.extend(list(t.cast("tuple[t.Any, ...]", c)) for c in added)
            self._sort_and_bound()
        return len(added)

    def done(self, video_ids: t.Collection[str]) -> None:
        """Videos handled: out of the pending list."""
        if video_ids:
            self._state[PENDING] = [e for e in self.pending if e[0] not in video_ids]

    # ------------------------------------------------------------------ inside
    def _extend(self, key: str, low: dt.datetime, high: dt.datetime) -> None:
        span = self.ranges.get(key)
        old = (parse_time(span[0]), parse_time(span[1])) if _is_range(span) else (None, None)
        if old[0] is not None and old[1] is not None and low <= old[1] and high >= old[0]:
            low, high = min(low, old[0]), max(high, old[1])
        self.ranges[key] = [low.isoformat(), high.isoformat()]

    def _sort_and_bound(self) -> None:
        pending = self.pending
        pending.sort(key=lambda entry: entry[2] or _NEVER, reverse=True)
        if len(pending) <= PENDING_LIMIT:
            return
        dropped = pending[PENDING_LIMIT:]
        del pending[PENDING_LIMIT:]
        # The ranges must not claim the dropped videos: each subject's range now starts
        # after the newest video it lost (they were its oldest), so that a later scrape
        # reaching back (a full refresh) finds them again.
        for _, _, published, found_by, subject in dropped:
            key = subject_key(found_by, subject)
            span = self.ranges.get(key)
            moment = parse_time(published)
            if not _is_range(span) or moment is None:
                continue
            after = moment + dt.timedelta(microseconds=1)
            high = parse_time(span[1])
            if high is None or after > high:
                del self.ranges[key]
            elif parse_time(span[0]) is None or after > t.cast("dt.datetime", parse_time(span[0])):
                span[0] = after.isoformat()
        # Said once, when the enrichment's own stream syncs (report_dropped): one line
        # per task would repeat it for every task of a large profile.
        self.dropped += len(dropped)

    def report_dropped(self) -> None:
        """One line for the videos the bounded pending list could not keep this run."""
        if self.dropped:
            self._logger.warning(
                "%s: %d video(s) found this run do not fit in the state's pending list "
                "(%d, newest kept); a run that finds them again (a full refresh) takes them",
                self._stream.name,
                self.dropped,
                PENDING_LIMIT,
            )
            self.dropped = 0


def _is_range(span: t.Any) -> TypeGuard[list[str]]:
    return isinstance(span, list) and len(span) == 2 and all(isinstance(v, str) for v in span)


def _well_formed(entry: t.Any) -> bool:
    return isinstance(entry, list) and len(entry) == 5 and isinstance(entry[0], str)


# ------------------------------------------------------------- resharding
def merge_entry(target: dict[str, t.Any], key: str, entry: t.Any) -> bool:
    """Merge one shard's ``ranges`` or ``pending`` of an enrichment stream into
    ``target``; False for other keys (the in-flight tasks merge like any kind's).

    Ranges of one subject live in one shard; pending videos are united by id.
    """
    if key == RANGES and isinstance(entry, dict):
        target.setdefault(RANGES, {}).update(entry)
        return True
    if key == PENDING and isinstance(entry, list):
        pending = target.setdefault(PENDING, [])
        ids = {item[0] for item in pending if _well_formed(item)}
        pending.extend(item for item in entry if _well_formed(item) and item[0] not in ids)
        pending.sort(key=lambda item: item[2] or _NEVER, reverse=True)
        return True
    return False


def only_subjects(value: dict[str, t.Any], mine: t.Callable[[str], bool], *, first: bool) -> None:
    """Keep the ranges, pending videos and paid jobs in flight of the subjects ``mine``
    accepts (a task goes with its pending video; one without goes to the ``first`` shard).
    """
    ranges = value.get(RANGES)
    if isinstance(ranges, dict):
        value[RANGES] = {k: v for k, v in ranges.items() if mine(k.split(" ", 1)[-1])}
    pending = value.get(PENDING)
    if not isinstance(pending, list):
        pending = []
    every = {e[1] for e in pending if _well_formed(e)}
    value[PENDING] = [e for e in pending if _well_formed(e) and mine(str(e[4]))]
    kept = {e[1] for e in value[PENDING]}
    in_flight = value.get(IN_FLIGHT)
    if isinstance(in_flight, dict):
        value[IN_FLIGHT] = {
            url: task
            for url, task in in_flight.items()
            if url in kept or (first and url not in every)
        }
