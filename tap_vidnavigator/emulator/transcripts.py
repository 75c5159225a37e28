"""The emulated transcript API: captions now, or speech-to-text as a task.

* ``POST /transcript`` (synchronous): a TikTok video's metadata and captions
  (:mod:`.captions` decides which videos have captions, in which languages).
* ``POST /transcribe/async`` then ``GET /transcribe/{task_id}``: speech-to-text as a
  job with a profile scrape's lifecycle (processing, then completed or failed; polls
  free; the result kept ``expire_seconds`` after it ends, then 404): :mod:`.jobs` runs
  it, this desk declares it and decides what it serves and costs.

Shapes follow the provider's SDK (``vidnavigator`` 2.1.0: ``TranscriptResponse``,
``VideoInfo``, ``AsyncJobSubmitResponse``, ``TranscribeJobResponse``) and its API
reference; docs/emulator-transcripts.md says what is served when, and why.

A video is looked up by the URL the emulator serves in its ``url``: a profile's videos
by the handle in the URL, a search result once a search task that found it was read (a
profile's video that a search for ``@handle`` found is a profile video either way).
:class:`TranscriptDesk` also answers the ground truth and counts calls per key.
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import math
import re
import time
import typing as t

from typing_extensions import override

from tap_vidnavigator.emulator import captions, growth, jobs, pricing, search
from tap_vidnavigator.emulator.jobs import BadRequestError, Failure, json_body, video_ref
from tap_vidnavigator.emulator.kinds import PROFILE, SEARCH, Kind
from tap_vidnavigator.emulator.pricing import charge, total, usage_block
from tap_vidnavigator.emulator.state import (
    EmulatorState,
    Response,
    dumps,
    error_response,
    iso,
)

TRANSCRIPT_PATH = "/v1/transcript"
TRANSCRIBE = jobs.JobKind(
    job_type="transcribe",
    path="/v1/transcribe",
    started="Transcription started",
    docs_url="https://docs.vidnavigator.com/guides/async-jobs",
    usage_when_failed=False,
    counted=jobs.Counted(
        submitted="transcriptions_submitted",
        refused="transcriptions_refused",
        polls="transcription_polls",
        completed="transcriptions_completed",
        failed="transcriptions_failed",
    ),
)
_BOOLEANS = ("metadata_only", "fallback_to_metadata", "transcript_text", "include_usage")


# ------------------------------------------------------------------------ billing
def transcription_hours(duration: t.Any) -> float:
    """The ``transcription_hour`` quantity of a video: its audio in hours (6 decimals)."""
    return round(captions.length_of(duration) / 3600, 6)


# ---------------------------------------------------------------------- counters
@dataclasses.dataclass
class TranscriptCounters:
    """One key's transcript and transcription calls (after injected faults)."""

    #: Every ``POST /transcript`` the key sent, whatever it was answered.
    transcript_calls: int = 0
    #: Answers with a caption track.
    transcripts_served: int = 0
    #: Answers about a video without captions (404, or the metadata fallback).
    no_captions: int = 0
    metadata_only: int = 0
    rate_limited: int = 0
    #: ``POST /transcribe/async`` accepted (a task was created).
    transcriptions_submitted: int = 0
    #: Submits refused: 402, or 429 ``too_many_active_jobs``.
    transcriptions_refused: int = 0
    transcription_polls: int = 0
    #: Transcriptions that completed and were charged: speech-to-text bought.
    transcriptions_completed: int = 0
    transcriptions_failed: int = 0
    #: 400s, 402s and 404s of both routes.
    errors: int = 0
    credits_charged: decimal.Decimal = pricing.ZERO


# ------------------------------------------------------------------------- tasks
@dataclasses.dataclass(kw_only=True)
class Transcription(jobs.Job):
    """One speech-to-text task (its lifecycle: :class:`.jobs.Job`)."""

    video_url: str
    transcript_text: bool
    all_videos: bool
    result: dict[str, t.Any] | None = None


class _Found(t.NamedTuple):
    kind: Kind[t.Any]
    #: The video as the catalogue generated it (settled counts).
    video: dict[str, t.Any]
    channel: str


def _flag(body: t.Mapping[str, t.Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequestError("invalid_parameter", f"{name} must be true or false", name)
    return value


def _language(body: t.Mapping[str, t.Any]) -> str | None:
    value = body.get("language")
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value):
        raise BadRequestError(
            "invalid_parameter", "language must be an ISO 639-1 code such as en", "language"
        )
    return value.lower()


class TranscriptDesk(jobs.JobDesk[Transcription, TranscriptCounters]):
    """The transcript routes of one emulator, their counters and their ground truth."""

    kind = TRANSCRIBE

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(state, TranscriptCounters)
        self.options = state.config.transcripts
        #: Every POST /transcript that reached a video, by video id (all keys).
        self.calls_by_video: collections.Counter[str] = collections.Counter()
        #: Videos transcribed before (the provider's cache: no metadata fetch again).
        self.transcribed: set[str] = set()
        self._index: dict[str, _Found] = {}
        self._indexed_tasks: set[str] = set()
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    # ------------------------------------------------------------ the routes
    @override
    def fault_route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == TRANSCRIPT_PATH:
            return "transcript"
        return super().fault_route(method, path)

    def answer(
        self, method: str, path: str, key: str, raw: bytes, query: dict[str, str]
    ) -> Response:
        """Answer a request of an authorised key (:meth:`fault_route` said it is ours)."""
        if method == "POST" and path == TRANSCRIPT_PATH:
            return self.transcript(key, raw)
        if method == "POST":
            return self.submit(key, raw)
        return self.poll(key, t.cast("str", self.kind.task_id(path)), query)

    def transcript(self, key: str, raw: bytes) -> Response:
        """``POST /transcript``: one ``standard_request``, answered or not."""
        counters = self.counters[key]
        counters.transcript_calls += 1
        limited = self._rate_limit(key)
        if limited is not None:
            counters.rate_limited += 1
            return limited
        if self.options.latency_seconds:
            time.sleep(self.options.latency_seconds)
        try:
            body = json_body(raw)
            ref = video_ref(body)
            language = _language(body)
            flags = {name: _flag(body, name) for name in _BOOLEANS}
        except BadRequestError as exc:
            counters.errors += 1
            return exc.response
        price = [charge("standard_request", 1)]
        refusal = self._refuse_unpaid(key, price)
        if refusal is not None:
            return refusal
        found = self._find(ref)
        remaining = self._bill(key, price)
        with self._lock:
            self.calls_by_video[ref.video_id] += 1
        if found is None:
            counters.errors += 1
            return _video_not_found(ref)
        answer = self._transcript_data(found, language, flags)
        if answer is None:
            counters.no_captions += 1
            return error_response(
                404,
                "transcript_not_available",
                "No transcript is available for this video: it has no captions "
                "(POST /transcribe/async runs speech-to-text)",
            )
        if flags["metadata_only"]:
            counters.metadata_only += 1
        elif answer.get("transcript"):
            counters.transcripts_served += 1
        else:
            counters.no_captions += 1
        envelope: dict[str, t.Any] = {"status": "success", "data": answer}
        if flags["include_usage"]:
            envelope["usage"] = usage_block(price, remaining)
        return Response(200, dumps(envelope), {})

    def _transcript_data(
        self, found: _Found, language: str | None, flags: dict[str, bool]
    ) -> dict[str, t.Any] | None:
        """The ``data`` of a 200 answer; None when the answer is the 404."""
        video_id = str(found.video["id"])
        seen = self._observed(found, self.state.calendar.moment())
        available = captions.caption_languages(found.channel, video_id)
        if flags["metadata_only"]:
            return {"video_info": _video_info(found, seen, available, None)}
        track = captions.captions(found.channel, video_id, found.video["duration"], language)
        if track is None:
            if not flags["fallback_to_metadata"]:
                return None
            empty: list[t.Any] | str = "" if flags["transcript_text"] else []
            return {"video_info": _video_info(found, seen, available, None), "transcript": empty}
        return {
            "video_info": _video_info(found, seen, available, track.language),
            "transcript": track.served(flags["transcript_text"]),
        }

    def submit(self, key: str, raw: bytes) -> Response:
        """``POST /transcribe/async``: a speech-to-text task, charged when it ends."""
        counters = self.counters[key]
        try:
            body = json_body(raw)
            ref = video_ref(body)
            transcript_text = _flag(body, "transcript_text")
            all_videos = _flag(body, "all_videos")
            webhook_url = jobs.webhook_url(body)
        except BadRequestError as exc:
            counters.errors += 1
            return exc.response
        refusal = self._refuse_unpaid(key, [charge("standard_request", 1)])
        if refusal is not None:
            counters.transcriptions_refused += 1
            return refusal
        found = self._find(ref)
        return self._start(
            key,
            lambda now: self._task(
                key,
                ref=ref,
                found=found,
                now=now,
                transcript_text=transcript_text,
                all_videos=all_videos,
                webhook_url=webhook_url,
            ),
        )

    def _task(
        self,
        key: str,
        *,
        ref: captions.VideoRef,
        found: _Found | None,
        now: float,
        transcript_text: bool,
        all_videos: bool,
        webhook_url: str | None,
    ) -> Transcription:
        failure = None
        if found is None:
            failure = Failure("video_not_found", f"Video {ref.video_id} was not found", 404)
        elif not captions.has_speech(found.channel):
            failure = Failure(
                "transcription_failed", "No speech could be transcribed from this video", 500
            )
        return Transcription(
            **self._lifecycle(key, now, self.options.transcription_seconds),
            video_url=f"https://www.tiktok.com/@{ref.handle}/video/{ref.video_id}",
            video_id=ref.video_id,
            transcript_text=transcript_text,
            all_videos=all_videos,
            webhook_url=webhook_url,
            failure=failure,
        )

    @override
    def _request(self, task: Transcription) -> dict[str, t.Any]:
        return {
            "video_url": task.video_url,
            "transcript_text": task.transcript_text,
            "all_videos": task.all_videos,
        }

    @override
    def _result(self, task: Transcription, completed: bool) -> dict[str, t.Any]:
        return {"result": task.result if completed else None}

    @override
    def _end(self, task: Transcription) -> list[dict[str, t.Any]] | None:
        """A completed task's result and charges (a failed one costs nothing)."""
        if task.failure is not None:
            return None
        found = self._find(captions.VideoRef("", task.video_id))
        assert found is not None  # a task of an unknown video fails
        moment = self.state.calendar.moment(task.completes_at, task.offset)
        task.result = _transcription_result(found, self._observed(found, moment), task)
        charges = transcription_charges(found.video, cached=task.video_id in self.transcribed)
        self.transcribed.add(task.video_id)
        return charges

    # ---------------------------------------------------------- admission
    def _rate_limit(self, key: str) -> Response | None:
        """The 429 of a key over ``rate_limit`` calls in the window, else None."""
        limit = self.options.rate_limit
        if limit is None:
            return None
        window = self.options.rate_window_seconds
        now = self.state.clock()
        with self._lock:
            calls = self._recent[key]
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= limit:
                wait = max(1, math.ceil(calls[0] + window - now))
                return error_response(
                    429,
                    "limit_exceeded",
                    f"Rate limit exceeded: at most {limit} transcript requests per {window:g} s",
                    {"Retry-After": str(wait)},
                    usage=len(calls),
                    limit=limit,
                )
            calls.append(now)
        return None

    def _refuse_unpaid(self, key: str, price: list[dict[str, t.Any]]) -> Response | None:
        balance = self.state.account(key).balance()
        if balance is None or balance >= total(price):
            return None
        self.counters[key].errors += 1
        return error_response(402, "limit_exceeded", "Insufficient credits: top up your plan")

    # -------------------------------------------------------------- lookup
    def _find(self, ref: captions.VideoRef) -> _Found | None:
        """The catalogue video a URL names, or None when the emulator knows none."""
        with self._lock:
            found = self._index.get(ref.video_id)
            if found is None and ref.handle:
                self._index_results(PROFILE, self.state.profile_videos(ref.handle))
                found = self._index.get(ref.video_id)
            if found is None:
                for task in list(self.state.tasks.values()):
                    fresh = task.task_id not in self._indexed_tasks
                    if task.kind == SEARCH.name and task.scraped and fresh:
                        self._indexed_tasks.add(task.task_id)
                        # The creators a query names found their profile's videos: known
                        # as profile videos first, so a url is the same video (captions,
                        # duration, video_info) whichever subject found it.
                        for handle in search.handles_of(task.request.query):
                            self._index_results(PROFILE, self.state.profile_videos(handle))
                        self._index_results(SEARCH, SEARCH.results(self.state, task.request))
                found = self._index.get(ref.video_id)
            return found

    def _index_results(self, kind: Kind[t.Any], results: t.Iterable[dict[str, t.Any]]) -> None:
        for result in results:
            video_id = str(result["id"])
            if video_id not in self._index:
                ref = captions.parse_video_url(result["url"])
                channel = ref.handle if ref is not None else ""
                self._index[video_id] = _Found(kind, result, channel)

    @staticmethod
    def _observed(found: _Found, moment: int) -> dict[str, t.Any]:
        seen = growth.observe([found.video], moment, found.kind.counts)
        return seen[0] if seen else found.video

    def _known(self, video_url: str) -> _Found:
        ref = captions.parse_video_url(video_url)
        found = None if ref is None else self._find(ref)
        if found is None:
            msg = f"the emulator knows no video {video_url!r}"
            raise LookupError(msg)
        return found

    # -------------------------------------------------------- ground truth
    def transcript_of(
        self, video_url: str, language: str | None = None
    ) -> captions.Transcript | None:
        """The caption track ``POST /transcript`` serves for a video (None: no captions).

        LookupError for a video the emulator does not know.
        """
        found = self._known(video_url)
        video_id = str(found.video["id"])
        return captions.captions(found.channel, video_id, found.video["duration"], language)

    def has_captions(self, video_url: str) -> bool:
        """Whether a video has captions."""
        return self.transcript_of(video_url) is not None

    def captionless(self, video_urls: t.Iterable[str]) -> list[str]:
        """The videos without captions among these, in the same order."""
        return [url for url in video_urls if not self.has_captions(url)]

    def speech_of(self, video_url: str) -> captions.Transcript | None:
        """What a transcription of the video serves (None: the transcription fails)."""
        found = self._known(video_url)
        return captions.speech(found.channel, str(found.video["id"]), found.video["duration"])

    def video_info_of(
        self, video_url: str, language: str | None = None, *, metadata_only: bool = False
    ) -> dict[str, t.Any]:
        """The ``video_info`` ``POST /transcript`` serves for a video now."""
        found = self._known(video_url)
        flags = dict.fromkeys(_BOOLEANS, False)
        flags.update(metadata_only=metadata_only, fallback_to_metadata=True)
        answer = self._transcript_data(found, language, flags)
        assert answer is not None  # the fallback always answers
        return t.cast("dict[str, t.Any]", answer["video_info"])

    def transcription_usage(self, video_url: str, *, cached: bool = False) -> dict[str, t.Any]:
        """The ``usage`` charges of a completed transcription of the video: with the
        metadata fetch the first time the provider transcribes it, without it after."""
        charges = transcription_charges(self._known(video_url).video, cached=cached)
        return usage_block(charges, None)

    def calls_for(self, video_url: str) -> int:
        """How many ``POST /transcript`` asked for this video (all keys)."""
        ref = captions.parse_video_url(video_url)
        return 0 if ref is None else self.calls_by_video[ref.video_id]

    def transcriptions_of(self, video_url: str) -> list[str]:
        """The transcription tasks submitted for this video (all keys), oldest first."""
        return self.jobs_of(video_url)


def transcription_charges(video: t.Mapping[str, t.Any], *, cached: bool) -> list[dict[str, t.Any]]:
    """A completed transcription's charges: the metadata fetch (a ``standard_request``)
    unless the provider transcribed the video before, and its audio in hours."""
    hours = charge("transcription_hour", transcription_hours(video["duration"]))
    return [hours] if cached else [charge("standard_request", 1), hours]


def _video_not_found(ref: captions.VideoRef) -> Response:
    return error_response(404, "video_not_found", f"Video {ref.video_id} was not found")


def _count(value: t.Any) -> int | None:
    return None if value is None else int(value)


def _video_info(
    found: _Found, seen: t.Mapping[str, t.Any], available: t.Sequence[str], selected: str | None
) -> dict[str, t.Any]:
    """The SDK's ``VideoInfo`` of a TikTok video as seen at some moment."""
    video = found.video
    counts = found.kind.counts.read(seen)
    if found.kind is SEARCH:
        title = video["description"]
        keywords = list(video.get("hashtags") or [])
        thumbnail = None
    else:
        title = video["title"]
        keywords = re.findall(r"#(\w+)", video["description"] or "")
        thumbnails = video.get("thumbnails") or []
        thumbnail = thumbnails[0]["url"] if thumbnails else None
    return {
        "title": title,
        "description": video["description"],
        "thumbnail": thumbnail,
        "url": video["url"],
        "channel": found.channel,
        "channel_url": f"https://www.tiktok.com/@{found.channel}",
        "duration": None if video["duration"] is None else float(video["duration"]),
        "views": _count(counts["views"]),
        "likes": _count(counts["likes"]),
        "published_date": iso(int(video["timestamp"])),
        "keywords": keywords,
        "category": None,
        "available_languages": list(available),
        "selected_language": selected,
    }


def _transcription_result(
    found: _Found, seen: t.Mapping[str, t.Any], task: Transcription
) -> dict[str, t.Any]:
    """A completed transcription's ``result``: the ``data`` of a sync ``/transcribe``."""
    video_id = str(found.video["id"])
    heard = captions.speech(found.channel, video_id, found.video["duration"])
    assert heard is not None  # a video without speech fails
    available = captions.caption_languages(found.channel, video_id)
    return {
        "video_info": _video_info(found, seen, available, heard.language),
        "transcript": heard.served(task.transcript_text),
    }
