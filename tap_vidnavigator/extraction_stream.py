"""``video_extractions``: the fields each user asks of a video, as typed columns, once.

An enrichment (enrichment.py owns candidates, pending STATE, paid jobs on the shared
lifecycle, the never-again ledger and rows); this module is only its hooks. Each pending
video, newest first (within ``max_per_run``), becomes one extraction job
(``EXTRACTION_KIND``) whose submit carries the user's schema, ``what_to_extract`` and
``transcribe`` (always said: the API's default is on, the tap's off). A video extracted
under any schema is not extracted again; with ``reextract`` the videos extracted under
an older schema are bought again under the new one, newest first, after the new videos
and within the same ``max_per_run``. The row (keyed ``video_id``) holds the newest.
"""

from __future__ import annotations

import decimal
import typing as t

from typing_extensions import override

from tap_vidnavigator.enrichment import EnrichmentStream
from tap_vidnavigator.enrichment_state import Candidate
from tap_vidnavigator.extraction_schema import columns_schema
from tap_vidnavigator.families import EXTRACTION
from tap_vidnavigator.ledger import COMPLETED, FAILED
from tap_vidnavigator.records.extractions import (
    EXTRACTION_KIND,
    EXTRACTION_SCHEMA,
    extraction_row,
)

if t.TYPE_CHECKING:
    from tap_vidnavigator.extraction_settings import ExtractionSettings
    from tap_vidnavigator.kinds import JobKind, TaskRequest
    from tap_vidnavigator.ledger import Purchase
    from tap_vidnavigator.settings import Settings
    from tap_vidnavigator.tasks import FinishedTask

#: What a job is expected to cost before one of the run has ended (the provider's
#: minimum), and with speech-to-text for a video whose length is unknown (at most an
#: hour of audio, 1 credit an hour).
MINIMUM_CREDITS = decimal.Decimal(1)
TRANSCRIBE_CREDITS = decimal.Decimal(1)
#: What the ledger's claim keeps of a video (Purchase.details).
FINGERPRINT, FOUND_BY, SUBJECT, PUBLISHED_AT = "fingerprint", "found_by", "subject", "published_at"


class _Tally:
    def __init__(self) -> None:
        self.rows = 0
        self.failed = 0
        self.credits = decimal.Decimal(0)
        self.unreported = 0

    def add(self, row: dict[str, t.Any]) -> None:
        self.rows += 1
        self.failed += row["error_code"] is not None
        if row["credits_used"] is None:
            self.unreported += 1
        else:
            self.credits += decimal.Decimal(str(row["credits_used"]))

    def __str__(self) -> str:
        credits = f"{self.credits.normalize():f}"
        text = f"{self.rows} extraction(s) ({self.failed} failed), {credits} credits"
        return text + (f" ({self.unreported} without a usage report)" if self.unreported else "")


class VideoExtractionsStream(EnrichmentStream):
    """One row per video found by the selected sources: the user's fields, extracted once."""

    family = EXTRACTION
    job_kinds = (EXTRACTION_KIND,)
    name = EXTRACTION.stream
    path = EXTRACTION_KIND.route
    primary_keys = EXTRACTION.key
    schema = EXTRACTION_SCHEMA

    @property
    @override
    def options(self) -> ExtractionSettings:
        return self.settings.extraction

    @override
    def derived_columns(self, settings: Settings) -> dict[str, t.Any]:
        fields = settings.extraction.fields
        return columns_schema(fields) if fields else {}

    @override
    def new_tally(self) -> _Tally:
        return _Tally()

    # ------------------------------------------------------------------ hooks
    @override
    def enrich(self, asked: list[Candidate], resumed: list[Candidate]) -> None:
        options = self.options
        wanted = list(asked)
        if options.reextract:
            wanted += self._older(options, exclude={c.video_id for c in [*asked, *resumed]})
        if options.max_per_run is not None:
            wanted = wanted[: options.max_per_run]
        fingerprint = options.fingerprint

        def supersedes(earlier: Purchase) -> bool:
            answered = earlier.status in (COMPLETED, FAILED)
            return (
                options.reextract and answered and earlier.details.get(FINGERPRINT) != fingerprint
            )

        self.buy(
            EXTRACTION_KIND,
            [*resumed, *wanted],
            sent=lambda candidate: {
                "schema_fingerprint": fingerprint,
                "transcribe": options.transcribe,
            },
            body=self._body,
            row=self._row,
            # Extracted before (under any schema): decided, and its row stands.
            refused=lambda candidate, earlier: None,
            estimate=lambda candidate: (
                MINIMUM_CREDITS + (TRANSCRIBE_CREDITS if options.transcribe else 0)
            ),
            details=lambda candidate: {
                FINGERPRINT: fingerprint,
                FOUND_BY: candidate.found_by,
                SUBJECT: candidate.subject,
                PUBLISHED_AT: candidate.published_at,
            },
            supersedes=supersedes,
        )

    def _older(self, options: ExtractionSettings, exclude: set[str]) -> list[Candidate]:
        """The videos extracted under another schema (the ledger's purchases), newest
        first: what ``reextract`` buys again."""
        older = [
            Candidate(
                p.video_id,
                p.video_url or "",
                p.details.get(PUBLISHED_AT),
                str(p.details.get(FOUND_BY) or ""),
                str(p.details.get(SUBJECT) or ""),
            )
            for p in self.run.ledger.purchases(EXTRACTION_KIND.name)
            if p.status in (COMPLETED, FAILED)
            and p.details.get(FINGERPRINT) != options.fingerprint
            and p.video_url
            and p.video_id not in exclude
        ]
        return sorted(older, key=lambda c: (c.published_at or "", c.video_id), reverse=True)

    def _body(self, request: TaskRequest, sent: dict[str, t.Any]) -> dict[str, t.Any]:
        # The provider's SDK's JSON body (submit_extract_video_data): the video, then
        # transcribe (always: the API's default is on), what_to_extract when set, then
        # the schema as parsed (a schema_file's content is sent inline).
        options = self.options
        body: dict[str, t.Any] = {
            "video_url": request.subject,
            "transcribe": bool(sent.get("transcribe")),
        }
        if options.what_to_extract:
            body["what_to_extract"] = options.what_to_extract
        body["schema"] = options.fields
        return body

    def _row(self, candidate: Candidate, finished: FinishedTask[JobKind]) -> dict[str, t.Any]:
        fields = self.options.fields or {}
        row = extraction_row(
            video_id=candidate.video_id,
            video_url=candidate.url,
            found_by=candidate.found_by,
            subject=candidate.subject,
            fingerprint=str((finished.sent or {}).get("schema_fingerprint") or ""),
            schema=fields,
            job=finished.data,
            usage=finished.usage,
        )
        if row["error_code"] is not None:
            self.logger.warning(
                "Extraction task %s for %s failed: %s: %s (no charge)",
                finished.task_id,
                candidate.url,
                row["error_code"],
                row["error_message"] or "no reason given",
            )
        return row
