"""``video_transcripts``: the words of every video the profiles and searches find, once.

An enrichment (enrichment.py owns candidates, pending STATE, the pool, paid jobs and
rows); this module is only its hooks. For each pending video, newest first, it asks
``POST /transcript`` for the captions (``concurrency`` at a time); a video without
captions goes, when ``speech_to_text`` is on and the run's audio hours allow, to
speech-to-text: a paid job per video (records/transcripts.py's ``SPEECH_TO_TEXT_KIND``)
on the shared lifecycle, never bought twice (the ledger).
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_vidnavigator.budget import UnitCap
from tap_vidnavigator.enrichment import EnrichmentStream, video_id_of
from tap_vidnavigator.errors import TaskNotFoundError
from tap_vidnavigator.families import TRANSCRIPTS
from tap_vidnavigator.records.transcripts import (
    CAPTIONS,
    NONE,
    SPEECH,
    SPEECH_TO_TEXT_KIND,
    TRANSCRIPT_SCHEMA,
    empty_row,
    has_words,
    transcript_row,
)
from tap_vidnavigator.records.values import to_number

if t.TYPE_CHECKING:
    from tap_vidnavigator.enrichment_state import Candidate
    from tap_vidnavigator.kinds import JobKind
    from tap_vidnavigator.ledger import Purchase
    from tap_vidnavigator.run import Run
    from tap_vidnavigator.tasks import FinishedTask
    from tap_vidnavigator.transcript_settings import TranscriptSettings

__all__ = ["CAPTIONS_ROUTE", "VideoTranscriptsStream", "video_id_of"]

#: ``POST`` asks for a video's captions (synchronous, 1 credit per 10,000).
CAPTIONS_ROUTE = "/transcript"
#: A video whose length is unknown counts this many hours against the budget (TikTok's
#: longest uploads).
UNKNOWN_HOURS = 1.0
_SECONDS_PER_HOUR = 3600.0


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


class VideoTranscriptsStream(EnrichmentStream):
    """One row per video found by the selected sources: its transcript, fetched once."""

    family = TRANSCRIPTS
    job_kinds = (SPEECH_TO_TEXT_KIND,)
    name = TRANSCRIPTS.stream
    path = CAPTIONS_ROUTE
    primary_keys = TRANSCRIPTS.key
    schema = TRANSCRIPT_SCHEMA

    def __init__(self, tap: t.Any, run: Run) -> None:
        super().__init__(tap, run)
        #: Per video sent to speech-to-text: what its captions call cost, and its answer
        #: (the metadata a failed transcription's row keeps).
        self._spent_before: dict[str, float | int | None] = {}
        self._stt_metadata: dict[str, dict[str, t.Any]] = {}

    @property
    @override
    def options(self) -> TranscriptSettings:
        return self.settings.transcripts

    @override
    def new_tally(self) -> _Tally:
        return _Tally()

    # ------------------------------------------------------------------ hooks
    @override
    def enrich(self, asked: list[Candidate], resumed: list[Candidate]) -> None:
        options = self.options
        to_transcribe = list(resumed)
        hours = UnitCap(options.max_transcription_hours_per_run, "audio hours")

        def answered(candidate: Candidate, answer: tuple[t.Any, ...]) -> None:
            if answer[0] == "row":
                self.write(answer[1])
                return
            data, usage = answer[1], answer[2]
            if not options.speech_to_text:
                self.write(transcript_row(candidate, data, source=CAPTIONS, usage=usage,
                                          reason="no_captions"))  # fmt: skip
                return
            info = data.get("video_info")
            seconds = to_number(info.get("duration")) if isinstance(info, dict) else None
            if not hours.take(UNKNOWN_HOURS if seconds is None else seconds / _SECONDS_PER_HOUR):
                return  # stays pending: a later run asks again
            to_transcribe.append(candidate)
            self._spent_before[candidate.url] = to_number((usage or {}).get("total_credits"))
            self._stt_metadata[candidate.url] = data

        self.ask_each(asked, self._ask, answered)
        if hours.refused:
            self.logger.info(
                "Transcripts: %d video(s) without captions wait for a later run: "
                "max_transcription_hours_per_run (%g) is reached",
                hours.refused,
                options.max_transcription_hours_per_run,
            )
        if to_transcribe:
            self.buy(
                SPEECH_TO_TEXT_KIND,
                to_transcribe,
                sent=lambda candidate: {},
                row=self._speech_row,
                refused=self._bought_before,
            )

    # -------------------------------------------------------------- captions
    def _ask(self, candidate: Candidate) -> tuple[t.Any, ...]:
        """One video's captions (in a worker thread): ``("row", row)`` or
        ``("captionless", data, usage)``."""
        languages = self.options.languages
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
        return self.call_api("POST", CAPTIONS_ROUTE, body=body)

    # -------------------------------------------------------- speech-to-text
    def _speech_row(
        self, candidate: Candidate, finished: FinishedTask[JobKind]
    ) -> dict[str, t.Any]:
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
            reason, source, usage = "speech_to_text_failed", NONE, None
            result = self._stt_metadata.get(candidate.url, {})
        else:
            reason, source, usage = "no_speech", SPEECH, finished.usage
        row = transcript_row(
            candidate, result, source=source, usage=usage, reason=reason, task_id=finished.task_id
        )
        before = self._spent_before.get(candidate.url)
        if before is not None:
            # What finding its words cost: the captions call that found none too.
            row["credits_used"] = round((row["credits_used"] or 0) + before, 6)
        return row

    def _bought_before(self, candidate: Candidate, earlier: Purchase) -> dict[str, t.Any]:
        return empty_row(candidate, "speech_to_text_bought_before", task_id=earlier.task_id)
