"""The core of every per-video enrichment: candidates, one decision per video, the pool,
paid jobs guarded against a second purchase, rows and checkpoints.

An enrichment (``video_transcripts``, ...) is a product bought per video the task
families find. What is common to all of them lives here; an enrichment is a
declaration (families.py), its record table (records/) and a stream class that
subclasses :class:`EnrichmentStream` and writes only its hooks: which settings object is
its own, and what it asks of the pending videos (:meth:`EnrichmentStream.enrich`),
through the services below:

- **Candidates** (:class:`Candidates`): while the results streams sync, each finished
  task's videos are seen (an observer, tasks.Observer); those not yet decided join the
  pending list in STATE (enrichment_state.py) before the STATE that moves the task's
  bookmark, so a run killed later still knows them.
- **Synchronous calls** (:meth:`EnrichmentStream.ask_each`): a bounded pool of
  ``concurrency`` workers, a few answers ahead of the writer, each answer handled as it
  arrives (memory stays flat).
- **Paid jobs** (:meth:`EnrichmentStream.buy`): a job kind (kinds.JobKind) on the run's
  shared lifecycle, under ``max_active_tasks``; each video is claimed in the purchase
  ledger's never-again policy before its submit (ledger.py), an ambiguous submit is
  never sent again (its claim uncertain, reported), and a saved job (STATE) is polled
  again, never re-bought.
- **Rows** (:meth:`EnrichmentStream.write`): RECORD messages or batch files; every
  :data:`CHECKPOINT_ROWS` rows and at the end, the BATCH messages, then the STATE that
  takes their videos off the pending list.
"""

from __future__ import annotations

import concurrent.futures
import decimal
import typing as t
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_vidnavigator.batch import BatchSink
from tap_vidnavigator.client import VidNavigatorStream
from tap_vidnavigator.enrichment_state import Candidate, EnrichmentState, subject_key
from tap_vidnavigator.errors import CreditsExhaustedError, KeyRefusedError, VidNavigatorError
from tap_vidnavigator.families import RESULT_ID
from tap_vidnavigator.records.values import to_int
from tap_vidnavigator.settings import TaskRequest
from tap_vidnavigator.state import InFlightTasks, emit_state
from tap_vidnavigator.tasks import KindWork

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context

    from tap_vidnavigator.families import EnrichmentFamily, TaskFamily
    from tap_vidnavigator.kinds import JobKind, TaskKind
    from tap_vidnavigator.ledger import Claim, Purchase
    from tap_vidnavigator.run import Run
    from tap_vidnavigator.settings import Settings
    from tap_vidnavigator.tasks import FinishedTask, Observe

#: Rows written between two STATE messages that take their videos off the pending list.
CHECKPOINT_ROWS = 1000

Answer = t.TypeVar("Answer")


class Tally(t.Protocol):
    """An enrichment's count of its rows; ``str()`` is the run summary's words."""

    def add(self, row: dict[str, t.Any]) -> None: ...


class EnrichmentOptions(t.Protocol):
    """What the core reads of an enrichment's setting (each has its own dataclass)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def sources(self) -> tuple[TaskFamily, ...]: ...
    @property
    def min_views(self) -> int: ...
    @property
    def max_per_run(self) -> int | None: ...
    @property
    def concurrency(self) -> int: ...


def video_id_of(url: str) -> str:
    """The last path segment of a video URL (``.../video/<id>``)."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


class Candidates:
    """Collects the videos of each finished task, and files them when the task is done
    (the enrichment's tasks.Observer)."""

    def __init__(self, stream: EnrichmentStream) -> None:
        self._stream = stream
        self._seen: dict[str, list[tuple[str | None, Candidate | None]]] = {}

    def recorder(self, finished: FinishedTask[TaskKind]) -> Observe | None:
        """What collects one task's videos (None when the enrichment is not wanted)."""
        stream = self._stream
        options = stream.options
        if not (stream.selected and options.enabled):
            return None
        if finished.kind.family not in options.sources:
            return None
        seen = self._seen.setdefault(finished.task_id, [])
        found_by, subject, min_views = finished.kind.name, finished.subject, options.min_views
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

    def task_done(self, finished: FinishedTask[TaskKind], *, complete: bool) -> None:
        """A task's results are all emitted: its new videos join the pending list (in
        STATE, before the STATE that moves its bookmark)."""
        seen = self._seen.pop(finished.task_id, None)
        if seen is None:
            return
        key = subject_key(finished.kind.name, finished.subject)
        added = self._stream.store.add_seen(key, seen, complete=complete)
        self._stream.logger.debug(
            "%d video(s) of %s wait for %s", added, finished.subject, self._stream.name
        )


class _ClaimedInFlight(InFlightTasks):
    """Per-video jobs in flight, each told to its ledger claim when submitted."""

    def __init__(self, stream: VidNavigatorStream, kind: JobKind) -> None:
        super().__init__(stream, kind.subject_field)
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


class EnrichmentStream(VidNavigatorStream):
    """One row per video found by the selected sources, decided once.

    A subclass names its family, its schema and its hooks: :attr:`options`,
    :meth:`enrich` and :meth:`new_tally` (and :attr:`job_kinds`, the paid jobs it may
    buy, and :meth:`derived_columns`).
    """

    family: t.ClassVar[EnrichmentFamily]
    #: The per-video paid jobs this enrichment may buy (their saved tasks are resumed).
    job_kinds: t.ClassVar[tuple[JobKind, ...]] = ()
    replication_key = None

    def __init__(self, tap: t.Any, run: Run) -> None:
        super().__init__(tap, run)
        try:
            settings: Settings | None = self.settings
        except ConfigValidationError:
            # Discovery without a (valid) config: the stream's own columns only.
            settings = None
        derived = self.derived_columns(settings) if settings is not None else {}
        if derived:
            own = self.schema
            # The class attribute (the template's form) is the stream's own columns; the
            # instance's schema adds what its settings derive.
            self.__dict__["schema"] = {**own, "properties": {**own["properties"], **derived}}
        self.store = EnrichmentState(self, self.logger)
        self.tally = self.new_tally()
        run.observe(Candidates(self))
        self._sink: BatchSink | None = None
        self._done: set[str] = set()
        self._written = 0

    # ----------------------------------------------------------------- hooks
    @property
    def options(self) -> EnrichmentOptions:
        """This enrichment's setting, validated (settings.py)."""
        raise NotImplementedError

    def enrich(self, asked: list[Candidate], resumed: list[Candidate]) -> None:
        """Decide each video: ``asked`` are the pending videos this run takes (newest
        first, within ``max_per_run``), ``resumed`` those whose paid job was submitted
        by an earlier run (poll it: never buy it again). Write a row per video decided
        (:meth:`write`); a video without a row stays pending for a later run."""
        raise NotImplementedError

    def derived_columns(self, settings: Settings) -> dict[str, t.Any]:
        """Columns the settings add to the stream's own (JSON schema properties by
        name): discovery and SCHEMA show them when the config has the setting, the
        catalog without a config shows the stream's own columns only."""
        return {}

    def new_tally(self) -> Tally:
        """What counts this run's rows for the run summary (each row, as written)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ core
    @property
    def observes_results(self) -> bool:  # type: ignore[override]
        """Turned on, it needs the results streams' videos (off, its selection must not
        make anything scrape)."""
        return self.options.enabled

    @override
    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        # Its rows are written (and their files announced) by the stream itself, so
        # that STATE comes only after them (see checkpoint).
        return None

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        if self.options.enabled:
            self.store.report_dropped()
            self._sync()
        return ()

    def _sync(self) -> None:
        options = self.options
        pending = self.store.pending_candidates()
        saved = {key for kind in self.job_kinds for key in self.in_flight(kind).saved_keys()}
        resumed = [c for c in pending if c.url in saved]
        # A saved job whose video left the pending list still gets its answer read.
        known = {c.url for c in resumed}
        resumed += [Candidate(video_id_of(u), u, None, "", "") for u in sorted(saved - known)]
        asked = [c for c in pending if c.url not in saved]
        left = 0
        if options.max_per_run is not None and len(asked) > options.max_per_run:
            left = len(asked) - options.max_per_run
            asked = asked[: options.max_per_run]
        self.logger.info(
            "%s: %d video(s) to decide (newest first), %d paid job(s) to resume%s",
            self.family.title,
            len(asked),
            len(resumed),
            f", {left} left for later runs (max_per_run)" if left else "",
        )
        self.enrich(asked, resumed)
        self.checkpoint()
        self.logger.info("%s summary: %s", self.family.title, self.tally)

    def in_flight(self, kind: JobKind) -> InFlightTasks:
        """A job kind's tasks in flight, in this stream's state."""
        return InFlightTasks(self, kind.subject_field)

    # ------------------------------------------------------ synchronous calls
    def ask_each(
        self,
        candidates: t.Sequence[Candidate],
        ask: t.Callable[[Candidate], Answer],
        answered: t.Callable[[Candidate, Answer], None],
    ) -> None:
        """``ask`` about each video, ``options.concurrency`` at once (in worker threads,
        through this stream's request path); ``answered`` runs in this thread as each
        answer arrives. A failed request leaves its video pending (a problem of the
        run); a refused key stops everything, exhausted credits stop the asking."""
        if not candidates:
            return
        concurrency = self.options.concurrency
        parts = urlsplit(self.url_base)
        self.requests_session.mount(
            f"{parts.scheme}://{parts.netloc}/",
            HTTPAdapter(pool_connections=1, pool_maxsize=max(10, concurrency)),
        )
        queue = iter(candidates)
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            running: dict[concurrent.futures.Future[Answer], Candidate] = {}

            def fill() -> None:
                # Bounded: a few answers ahead of the writer, never the whole list.
                while len(running) < 2 * concurrency:
                    candidate = next(queue, None)
                    if candidate is None:
                        return
                    running[pool.submit(ask, candidate)] = candidate

            fill()
            stop: BaseException | None = None
            while running:
                finished, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in finished:
                    candidate = running.pop(future)
                    try:
                        answer = future.result()
                    except (KeyRefusedError, CreditsExhaustedError) as exc:
                        stop = stop or exc
                        continue
                    except VidNavigatorError as exc:
                        self.logger.error(
                            "%s: nothing for %s this run: %s; it stays pending",
                            self.name,
                            candidate.url,
                            exc,
                        )
                        self.run.problem(f"{self.name} of {candidate.url}: {exc}")
                        continue
                    answered(candidate, answer)
                if stop is None:
                    fill()
            if isinstance(stop, CreditsExhaustedError):
                self.logger.error("%s The other videos stay pending.", stop)
                self.run.problem(f"out of credits; {self.name} left: {stop}")
            elif stop is not None:
                raise stop

    # ------------------------------------------------------------- paid jobs
    def buy(
        self,
        kind: JobKind,
        candidates: t.Sequence[Candidate],
        *,
        sent: t.Callable[[Candidate], dict[str, t.Any]],
        row: t.Callable[[Candidate, FinishedTask[JobKind]], dict[str, t.Any]],
        refused: t.Callable[[Candidate, Purchase], dict[str, t.Any] | None],
        body: t.Callable[[TaskRequest, dict[str, t.Any]], dict[str, t.Any]] | None = None,
        estimate: t.Callable[[Candidate], decimal.Decimal] | None = None,
        details: t.Callable[[Candidate], dict[str, t.Any]] | None = None,
        supersedes: t.Callable[[Purchase], bool] | None = None,
    ) -> None:
        """Buy (or resume) one ``kind`` job per video on the run's shared lifecycle.

        Each video is claimed in the run's ledger (never-again policy, ledger.py) before
        its submit: a video the ledger has (bought by any earlier run, whatever became
        of it) is not bought again and gets ``refused``'s row (None: no row, the video
        decided all the same). One whose earlier submit is uncertain (its answer lost)
        gets nothing and stays pending until the user releases it. A job saved in STATE
        is polled, not bought. Each finished job becomes ``row``'s row, written (with a
        checkpoint) before the lifecycle forgets the task.

        ``sent``: the fields of a video's submit kept in STATE (and sent, unless ``body``
        builds the whole body from them); ``estimate``: its price for the run's budget
        before a job of the kind has ended; ``details`` and ``supersedes``: kept with the
        ledger's claim, and which earlier purchase a new one may replace (ledger.claim).
        """
        ledger = self.run.ledger
        by_url = {c.url: c for c in candidates}
        refusals: dict[str, Candidate] = {}
        earlier_of: dict[str, Purchase] = {}
        in_flight = _ClaimedInFlight(self, kind)

        def may_buy(request: TaskRequest) -> dict[str, t.Any] | None:
            candidate = by_url[request.subject]
            claim = ledger.claim(
                kind.name,
                candidate.video_id,
                candidate.url,
                details=details(candidate) if details is not None else None,
                supersedes=supersedes,
            )
            if claim.granted:
                in_flight.claims[candidate.url] = claim
                return sent(candidate)
            earlier = t.cast("Purchase", claim.earlier)
            if earlier.unsure:
                # Bought or not, unknown: no row; it stays pending until the user
                # releases it (release_uncertain_purchases), and the summary says so.
                self.logger.info(
                    "Not buying %s for %s: an earlier submit's answer was lost (uncertain "
                    "purchase in %s)",
                    kind.name,
                    candidate.url,
                    ledger.purchases_file,
                )
                return None
            self.logger.info(
                "Not buying %s for %s again: the ledger (%s) has it %s%s",
                kind.name,
                candidate.url,
                ledger.purchases_file,
                earlier.status,
                f" as task {earlier.task_id}" if earlier.task_id else "",
            )
            refusals[candidate.url] = candidate
            earlier_of[candidate.url] = earlier
            return None

        def uncertain(request: TaskRequest, cause: str) -> None:
            claim = in_flight.claims.pop(request.subject, None)
            if claim is not None:
                claim.uncertain(cause)

        def not_bought(request: TaskRequest, reason: str) -> None:
            claim = in_flight.claims.pop(request.subject, None)
            if claim is not None:
                claim.not_bought(reason)

        work = KindWork(
            kind=kind,
            requests=[TaskRequest(url, ()) for url in by_url],
            task_ids=(),
            in_flight=in_flight,
            submit_filters=may_buy,
            api=self.call_api,
            submit_uncertain=uncertain,
            submit_refused=not_bought,
            submit_body=body,
            estimate=(lambda request: estimate(by_url[request.subject])) if estimate else None,
        )
        lifecycle = self.run.lifecycle
        lifecycle.add_work(work)
        answered: set[str] = set()
        for finished in lifecycle.finished_tasks(kind):
            candidate = by_url.get(finished.subject) or Candidate(
                video_id_of(finished.subject), finished.subject, None, "", ""
            )
            written = row(candidate, finished)
            ledger.settled(
                kind.name,
                candidate.video_id,
                finished.task_id,
                str(finished.data.get("task_status")),
                written.get("credits_used"),
            )
            self.write(written)
            answered.add(candidate.url)
            # Before the lifecycle forgets the task (and writes STATE): its row is out.
            self.checkpoint()
        # Claims the budget kept from being sent: later runs may buy them.
        ledger.release_unsent()
        for url, candidate in refusals.items():
            if url in answered:
                continue
            refusal = refused(candidate, earlier_of[url])
            if refusal is None:
                self.decided(candidate.video_id)
            else:
                self.write(refusal)

    # ----------------------------------------------------------------- rows
    def write(self, row: dict[str, t.Any]) -> None:
        """One row out (its video decided): a RECORD message, or a line of a batch file."""
        batching = self.files_batch_config
        if batching is not None:
            if self._sink is None:
                self._sink = BatchSink(self.run.batch_files(self.name, batching), batching)
            self._sink.add(row)
        else:
            self.write_one(row)
        self.tally.add(row)
        self._done.add(row["video_id"])
        self._written += 1
        if self._written % CHECKPOINT_ROWS == 0:
            self.checkpoint()

    def decided(self, video_id: str) -> None:
        """A video decided without a row (its pending entry goes at the next checkpoint)."""
        self._done.add(video_id)

    def checkpoint(self) -> None:
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
