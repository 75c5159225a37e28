"""``video_transcripts``: the words of every video the profiles and searches find, once.

While the results streams sync, each finished task's videos become candidates
(:class:`TranscriptCandidates`): those not yet judged join the pending list in STATE
(transcript_state.py) before the STATE that moves the task's bookmark, so a run killed
later still knows them. Then this stream, last of all, asks ``POST /transcript`` for
the pending videos, newest first, ``concurrency`` at a time through the stream's own
request path (auth to the API host only, retries on 429 and 5xx honouring
Retry-After), and writes each row as its answer arrives. Videos without captions go,
when ``speech_to_text`` is on and the hour budget allows, to speech-to-text: a task
kind on the shared lifecycle, guarded by the purchase ledger's never-again policy
(ledger.py): claimed before the submit, never submitted twice.
"""

from __future__ import annotations

import concurrent.futures
import typing as t
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from typing_extensions import override

from tap_vidnavigator.batch import BatchSink
from tap_vidnavigator.client import VidNavigatorStream
from tap_vidnavigator.errors import (
    CreditsExhaustedError,
    KeyRefusedError,
    TaskNotFoundError,
    VidNavigatorError,
)
from tap_vidnavigator.families import RESULT_ID, TRANSCRIPTS
from tap_vidnavigator.lifecycle import KindWork, TaskLifecycle
from tap_vidnavigator.records.transcripts import (
    CAPTIONS,
    NONE,
    SPEECH,
    SPEECH_TO_TEXT_KIND,
    TRANSCRIPT_SCHEMA,
    Candidate,
    empty_row,
    has_words,
    transcript_row,
)
from tap_vidnavigator.records.values import to_int, to_number
from tap_vidnavigator.settings import TaskRequest
from tap_vidnavigator.state import InFlightTasks, emit_state
from tap_vidnavigator.transcript_state import TranscriptState, subject_key

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context

    from tap_vidnavigator.ledger import Claim, Ledger, Purchase
    from tap_vidnavigator.results import Observe
    from tap_vidnavigator.run import FinishedTask, Run

#: Rows written between two STATE messages that take their videos off the pending list.
CHECKPOINT_ROWS = 1000
#: A video whose length is unknown counts this many hours against the budget (TikTok's
#: longest uploads).
UNKNOWN_HOURS = 1.0
_SECONDS_PER_HOUR = 3600.0


def video_id_of(url: str) -> str:
    """The last path segment of a video URL (``.../video/<id>``)."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


class TranscriptCandidates:
    """Collects the videos of each finished task, and files them when the task is done."""

    def __init__(self, stream: VideoTranscriptsStream) -> None:
        self._stream = stream
        self._seen: dict[str, list[tuple[str | None, Candidate | None]]] = {}

    def recorder(self, finished: FinishedTask) -> Observe | None:
        """What collects one task's videos (None when transcripts are not wanted)."""
        stream = self._stream
        settings = stream.settings.transcripts
        if not (stream.selected and settings.enabled):
            return None
        if finished.kind.family not in settings.sources:
            return None
        seen = self._seen.setdefault(finished.task_id, [])
        found_by, subject, min_views = finished.kind.name, finished.subject, settings.min_views
        published_field = finished.kind.family.replication_key

        def collect(run: list[dict[str, t.Any]]) -> None:
            for record in run:
                published, url = record.get(published_field), record.get("url")
                views = to_int(record.get("views")) or 0
                candidate = None
                if isinstance(url, str) and url and views >= min_views:
                    candidate = Candidate(str(record[RESULT_ID]), url, published, found_by, subject)
                seen.append((published, candidate))

        return collect

    def task_done(self, finished: FinishedTask, *, complete: bool) -> None:
        """A task's results are all emitted: its new videos join the pending list (in
        STATE, before the STATE that moves its bookmark)."""
        seen = self._seen.pop(finished.task_id, None)
        if seen is None:
            return
        key = subject_key(finished.kind.name, finished.subject)
        added = self._stream.store.add_seen(key, seen, complete=complete)
        self._stream.logger.debug(
            "%d video(s) of %s wait for a transcript", added, finished.subject
        )


class _LedgeredInFlight(InFlightTasks):
    """Speech-to-text tasks in flight, each also told to its ledger claim when submitted."""

    def __init__(self, stream: VidNavigatorStream) -> None:
        super().__init__(stream, SPEECH_TO_TEXT_KIND.subject_field)
        #: This run's granted claims not yet answered, by video URL.
        self.claims: dict[str, Claim] = {}

    @override
    def remember(
        self,
        request: TaskRequest,
        task_id: str,
        sent: dict[str, t.Any],
        expires_at: str | None,
    ) -> None:
        # The ledger first: it is what outlives a lost STATE.
        claim = self.claims.pop(request.subject, None)
        if claim is not None:
            claim.submitted(task_id)
        super().remember(request, task_id, sent, expires_at)


class _HourBudget:
    """Audio hours speech-to-text may buy this run."""

    def __init__(self, hours: float) -> None:
        self.left = hours
        self.refused = 0

    def take(self, seconds: float | int | None) -> bool:
        """Whether a video of this length fits; counted when it does."""
        needed = UNKNOWN_HOURS if seconds is None else seconds / _SECONDS_PER_HOUR
        if needed > self.left:
            self.refused += 1
            return False
        self.left -= needed
        return True


class _Tally:
    def __init__(self) -> None:
        self.by_source: dict[str, int] = {}
        self.credits = 0.0

    def add(self, row: dict[str, t.Any]) -> None:
        self.by_source[row["text_source"]] = self.by_source.get(row["text_source"], 0) + 1
        self.credits += row["credits_used"] or 0.0

    def __str__(self) -> str:
        rows = sum(self.by_source.values())
        parts = ", ".join(f"{n} {source}" for source, n in sorted(self.by_source.items()))
        return f"{rows} row(s) ({parts or 'none'}), {self.credits:g} credits"


class VideoTranscriptsStream(VidNavigatorStream):
    """One row per video found by the selected sources: its transcript, fetched once."""

    name = TRANSCRIPTS.stream
    path = TRANSCRIPTS.route
    primary_keys = TRANSCRIPTS.key
    replication_key = None
    schema = TRANSCRIPT_SCHEMA

    def __init__(self, tap: t.Any, run: Run) -> None:
        super().__init__(tap, run)
        self.store = TranscriptState(self, self.logger)
        run.transcript_candidates = TranscriptCandidates(self)
        self._sink: BatchSink | None = None
        self._done: set[str] = set()
        self._written = 0
        self._tally = _Tally()
        self._spent_before: dict[str, float | int | None] = {}
        #: The captions answers of the videos sent to speech-to-text (their metadata).
        self._stt_metadata: dict[str, dict[str, t.Any]] = {}

    @override
    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        # Its rows are written (and their files announced) by the stream itself, so
        # that STATE comes only after them (see _checkpoint).
        return None

    # ------------------------------------------------------------------ sync
    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        settings = self.settings.transcripts
        if settings.enabled:
            self._transcribe()
        return ()

    def _transcribe(self) -> None:
        settings = self.settings.transcripts
        ledger = self.run.ledger
        in_flight = _LedgeredInFlight(self)
        pending = self.store.pending_candidates()
        saved = set(in_flight.saved_keys())
        resumed = [c for c in pending if c.url in saved]
        # A saved task whose video left the pending list still gets its answer read.
        known = {c.url for c in resumed}
        resumed += [Candidate(video_id_of(u), u, None, "", "") for u in saved - known]
        asked = [c for c in pending if c.url not in saved]
        left = 0
        if settings.max_per_run is not None and len(asked) > settings.max_per_run:
            left = len(asked) - settings.max_per_run
            asked = asked[: settings.max_per_run]
        self.logger.info(
            "Transcripts: %d video(s) to ask for captions (newest first), %d "
            "speech-to-text task(s) to resume%s",
            len(asked),
            len(resumed),
            f", {left} left for later runs (max_per_run)" if left else "",
        )
        to_transcribe = list(resumed)
        budget = _HourBudget(settings.max_transcription_hours_per_run)

        def captionless(candidate: Candidate, data: dict[str, t.Any], usage: t.Any) -> None:
            # Called as each answer arrives: only what speech-to-text will buy is kept.
            if not settings.speech_to_text:
                self._write(transcript_row(candidate, data, source=CAPTIONS, usage=usage,
                                           reason="no_captions"))  # fmt: skip
                return
            info = data.get("video_info")
            if not budget.take(to_number(info.get("duration")) if isinstance(info, dict) else None):
                return  # stays pending: a later run asks again
            to_transcribe.append(candidate)
            self._spent_before[candidate.url] = to_number((usage or {}).get("total_credits"))
            self._stt_metadata[candidate.url] = data

        self._captions(asked, captionless)
        over_budget = budget.refused
        if over_budget:
            self.logger.info(
                "Transcripts: %d video(s) without captions wait for a later run: "
                "max_transcription_hours_per_run (%g) is reached",
                over_budget,
                settings.max_transcription_hours_per_run,
            )
        if to_transcribe:
            self._speech_to_text(to_transcribe, in_flight, ledger)
        self._checkpoint()
        self.logger.info("Transcripts summary: %s", self._tally)

    # -------------------------------------------------------------- captions
    def _captions(
        self,
        asked: list[Candidate],
        captionless: t.Callable[[Candidate, dict[str, t.Any], t.Any], None],
    ) -> None:
        """Ask for each video's captions, ``concurrency`` at once; write each row as its
        answer arrives, and hand each video without captions to ``captionless``."""
        if not asked:
            return
        concurrency = self.settings.transcripts.concurrency
        session = self.requests_session
        parts = urlsplit(self.url_base)
        session.mount(
            f"{parts.scheme}://{parts.netloc}/",
            HTTPAdapter(pool_connections=1, pool_maxsize=max(10, concurrency)),
        )
        queue = iter(asked)
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            running: dict[concurrent.futures.Future[t.Any], Candidate] = {}

            def fill() -> None:
                # Bounded: a few answers ahead of the writer, never the whole list.
                while len(running) < 2 * concurrency:
                    candidate = next(queue, None)
                    if candidate is None:
                        return
                    running[pool.submit(self._ask, candidate)] = candidate

            fill()
            stop: BaseException | None = None
            while running:
                finished, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in finished:
                    candidate = running.pop(future)
                    try:
                        outcome = future.result()
                    except (KeyRefusedError, CreditsExhaustedError) as exc:
                        stop = stop or exc
                        continue
                    except VidNavigatorError as exc:
                        self.logger.error(
                            "No transcript for %s this run: %s; it stays pending", candidate.url,
                            exc,
                        )  # fmt: skip
                        self.run.problem(f"transcript of {candidate.url}: {exc}")
                        continue
                    if outcome[0] == "row":
                        self._write(outcome[1])
                    else:
                        captionless(candidate, outcome[1], outcome[2])
                if stop is None:
                    fill()
            if isinstance(stop, CreditsExhaustedError):
                self.logger.error("%s The other videos stay pending.", stop)
                self.run.problem(f"out of credits; transcripts left: {stop}")
            elif stop is not None:
                raise stop

    def _ask(self, candidate: Candidate) -> tuple[t.Any, ...]:
        """One video's captions (in a worker thread): ``("row", row)`` or
        ``("captionless", data, usage)``."""
        languages = self.settings.transcripts.languages
        requested = languages[0] if languages else None
        try:
            answer = self._post(candidate.url, requested)
        except TaskNotFoundError as exc:
            # 404 without a task: video_not_found or video_unavailable (with
            # fallback_to_metadata a video without captions answers 200).
            return ("row", empty_row(candidate, exc.code or "video_not_found"))
        data, usage = answer["data"], answer.get("usage")
        if not has_words(data.get("transcript")):
            return ("captionless", data, usage)
        info = data.get("video_info") if isinstance(data.get("video_info"), dict) else {}
        selected = str(info.get("selected_language"))
        rank = {code: index for index, code in enumerate(languages)}
        better = [
            code
            for code in info.get("available_languages") or []
            if code in rank and rank[code] < rank.get(selected, len(languages))
        ]
        if better and better[0] != requested:
            # A preferred track the first answer did not serve (its first choice had
            # none): one more request for it.
            preferred = min(better, key=rank.__getitem__)
            second = self._post(candidate.url, preferred)
            if has_words(second["data"].get("transcript")):
                spent = [(usage or {}).get("total_credits"), (second.get("usage") or {}).get(
                    "total_credits")]  # fmt: skip
                total = sum(to_number(v) or 0 for v in spent)
                data, usage, requested = second["data"], {"total_credits": total}, preferred
        row = transcript_row(candidate, data, source=CAPTIONS, usage=usage,
                             requested_language=requested)  # fmt: skip
        return ("row", row)

    def _post(self, url: str, language: str | None) -> dict[str, t.Any]:
        # The provider's SDK's get_transcript body; captionless videos answer 200 with
        # their metadata (the duration speech-to-text would bill) instead of a 404.
        body: dict[str, t.Any] = {
            "video_url": url,
            "metadata_only": False,
            "fallback_to_metadata": True,
            "transcript_text": False,
            "include_usage": True,
        }
        if language:
            body["language"] = language
        return self.call_api("POST", TRANSCRIPTS.route, body=body)

    # -------------------------------------------------------- speech-to-text
    def _speech_to_text(
        self,
        candidates: list[Candidate],
        in_flight: _LedgeredInFlight,
        ledger: Ledger,
    ) -> None:
        by_url = {c.url: c for c in candidates}
        refused: dict[str, dict[str, t.Any]] = {}
        kind = SPEECH_TO_TEXT_KIND.name

        def may_buy(request: TaskRequest) -> dict[str, t.Any] | None:
            candidate = by_url[request.subject]
            claim = ledger.claim(kind, candidate.video_id, candidate.url)
            if claim.granted:
                in_flight.claims[candidate.url] = claim
                return {}
            earlier = t.cast("Purchase", claim.earlier)
            if earlier.unsure:
                # Bought or not, unknown: no row; it stays pending until the user
                # releases it (release_uncertain_purchases), and the summary says so.
                self.logger.info(
                    "Not buying speech-to-text for %s: an earlier submit's answer was lost "
                    "(uncertain purchase in %s)",
                    candidate.url,
                    ledger.purchases_file,
                )
                return None
            self.logger.info(
                "Not buying speech-to-text for %s again: the ledger (%s) has it %s%s",
                candidate.url,
                ledger.purchases_file,
                earlier.status,
                f" as task {earlier.task_id}" if earlier.task_id else "",
            )
            refused[candidate.url] = empty_row(
                candidate, "speech_to_text_bought_before", task_id=earlier.task_id
            )
            return None

        def uncertain(request: TaskRequest, cause: str) -> None:
            claim = in_flight.claims.pop(request.subject, None)
            if claim is not None:
                claim.uncertain(cause)

        work = KindWork(
            kind=SPEECH_TO_TEXT_KIND,
            requests=[TaskRequest(url, ()) for url in by_url],
            task_ids=(),
            in_flight=in_flight,
            submit_filters=may_buy,
            submit_uncertain=uncertain,
        )
        lifecycle = self.run.lifecycle(
            lambda: TaskLifecycle(api=self.call_api, run=self.run, work=[], logger=self.logger)
        )
        lifecycle.add_work(work)
        answered: set[str] = set()
        for finished in lifecycle.finished_tasks(SPEECH_TO_TEXT_KIND):
            candidate = by_url.get(finished.subject) or Candidate(
                video_id_of(finished.subject), finished.subject, None, "", ""
            )
            row = self._speech_row(candidate, finished)
            before = self._spent_before.get(candidate.url)
            if before is not None:
                # What finding its words cost: the captions call that found none too.
                row["credits_used"] = round((row["credits_used"] or 0) + before, 6)
            ledger.settled(kind, candidate.video_id, finished.task_id,
                           str(finished.data.get("task_status")), row["credits_used"])  # fmt: skip
            self._write(row)
            answered.add(candidate.url)
            # Before the lifecycle forgets the task (and writes STATE): its row is out.
            self._checkpoint()
        # Claims the budget kept from being sent: later runs may buy them.
        ledger.release_unsent()
        for url, row in refused.items():
            if url not in answered:
                self._write(row)

    def _speech_row(self, candidate: Candidate, finished: FinishedTask) -> dict[str, t.Any]:
        data = finished.data
        result = data.get("result") if data.get("task_status") == "completed" else None
        if not isinstance(result, dict):
            error = data.get("error")
            error = error if isinstance(error, dict) else {}
            self.logger.warning(
                "Speech-to-text task %s for %s failed: %s (no charge)",
                finished.task_id,
                candidate.url,
                error.get("message") or error.get("error") or "no reason given",
            )
            metadata = self._stt_metadata.get(candidate.url, {})
            reason = "speech_to_text_failed"
            return transcript_row(candidate, metadata, source=NONE, usage=None, reason=reason,
                                  task_id=finished.task_id)  # fmt: skip
        return transcript_row(candidate, result, source=SPEECH, usage=finished.usage,
                              reason="no_speech", task_id=finished.task_id)  # fmt: skip

    # ----------------------------------------------------------------- rows
    def _write(self, row: dict[str, t.Any]) -> None:
        batching = self.files_batch_config
        if batching is not None:
            if self._sink is None:
                self._sink = BatchSink(self.run.batch_files(self.name, batching), batching)
            self._sink.add(row)
        else:
            self.write_one(row)
        self._tally.add(row)
        self._done.add(row["video_id"])
        self._written += 1
        if self._written % CHECKPOINT_ROWS == 0:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """The rows so far are out (BATCH messages for their files): take their videos
        off the pending list, and write STATE."""
        if self._sink is not None:
            config = self.files_batch_config
            assert config is not None
            for url in self._sink.close():
                self.write_batch(config.encoding, [url])
        if self._done:
            self.store.done(self._done)
            self._done = set()
            emit_state(self)


def transcript_observers(
    streams: t.Sequence[VidNavigatorStream], config: t.Mapping[str, t.Any]
) -> list[VidNavigatorStream]:
    """video_transcripts, as a stream the results streams sync for (as video_stats is),
    when the ``transcripts`` setting turns it on: selected alone, it still needs them;
    off, its selection must not make anything scrape."""
    raw = config.get(TRANSCRIPTS.setting)
    if not (isinstance(raw, dict) and raw.get("enabled") is True):
        return []
    return [stream for stream in streams if isinstance(stream, VideoTranscriptsStream)]
