"""How the emulated transcript routes behave: ``EmulatorConfig.transcripts``.

Its own module so that :mod:`.state` can hold it without importing the routes
(:mod:`.transcripts` imports :mod:`.state`). Every field has a CLI option.
"""

from __future__ import annotations

import argparse
import dataclasses


@dataclasses.dataclass
class TranscriptConfig:
    """Latency and rate limit of ``POST /transcript``; lifetime of transcriptions."""

    #: Every ``POST /transcript`` answer waits this long (``--transcript-latency``).
    latency_seconds: float = 0.0
    #: At most this many ``POST /transcript`` per key within ``rate_window_seconds``;
    #: more get 429 with ``Retry-After`` (``--transcript-rate-limit``). None: no limit.
    rate_limit: int | None = None
    rate_window_seconds: float = 1.0
    #: How long a transcription task stays processing; None: ``processing_seconds``
    #: (``--transcription-processing``).
    transcription_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.latency_seconds < 0:
            msg = f"transcript latency must be >= 0 seconds, got {self.latency_seconds:g}"
            raise ValueError(msg)
        if self.rate_limit is not None and self.rate_limit < 1:
            msg = f"transcript rate limit must be >= 1 request, got {self.rate_limit}"
            raise ValueError(msg)
        if self.rate_window_seconds <= 0:
            msg = f"transcript rate window must be > 0 seconds, got {self.rate_window_seconds:g}"
            raise ValueError(msg)
        if self.transcription_seconds is not None and self.transcription_seconds < 0:
            msg = "transcription processing time must be >= 0 seconds"
            raise ValueError(msg)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The CLI options of :class:`TranscriptConfig`."""
    parser.add_argument(
        "--transcript-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="every POST /transcript answer waits SECONDS (default 0)",
    )
    parser.add_argument(
        "--transcript-rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="at most N POST /transcript per key per --transcript-rate-window; more get "
        "429 with Retry-After (default no limit)",
    )
    parser.add_argument(
        "--transcript-rate-window",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="the window of --transcript-rate-limit (default 1)",
    )
    parser.add_argument(
        "--transcription-processing",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a speech-to-text task stays processing (default: --processing)",
    )


def from_arguments(args: argparse.Namespace) -> TranscriptConfig:
    """The configuration the parsed CLI options describe."""
    return TranscriptConfig(
        latency_seconds=args.transcript_latency,
        rate_limit=args.transcript_rate_limit,
        rate_window_seconds=args.transcript_rate_window,
        transcription_seconds=args.transcription_processing,
    )
