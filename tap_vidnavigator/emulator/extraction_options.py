"""How the emulated extraction routes behave: ``EmulatorConfig.extraction``.

Its own module so that :mod:`.state` can hold it without importing the routes
(:mod:`.extraction` imports :mod:`.state`). Every field has a CLI option.
"""

from __future__ import annotations

import argparse
import dataclasses


@dataclasses.dataclass
class ExtractionConfig:
    """How long an extraction job stays processing, and which videos fail."""

    #: How long an extraction job stays processing; None: ``processing_seconds``
    #: (``--extraction-processing``). 0: a job is terminal at its first poll.
    processing_seconds: float | None = None
    #: One video in this many fails its extraction (``extraction_failed``, charges
    #: waived), chosen by a hash of its id (``--extraction-failure-one-in``); 0: none.
    failure_one_in: int = 20

    def __post_init__(self) -> None:
        if self.processing_seconds is not None and self.processing_seconds < 0:
            msg = "extraction processing time must be >= 0 seconds"
            raise ValueError(msg)
        if self.failure_one_in < 0:
            msg = f"extraction failure rate must be 1 in N >= 0, got {self.failure_one_in}"
            raise ValueError(msg)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The CLI options of :class:`ExtractionConfig`."""
    parser.add_argument(
        "--extraction-processing",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a structured-extraction job stays processing (default: --processing)",
    )
    parser.add_argument(
        "--extraction-failure-one-in",
        type=int,
        default=ExtractionConfig.failure_one_in,
        metavar="N",
        help="one video in N (by a hash of its id) fails its extraction, charges waived; "
        f"0: none (default {ExtractionConfig.failure_one_in})",
    )


def from_arguments(args: argparse.Namespace) -> ExtractionConfig:
    """The configuration the parsed CLI options describe."""
    return ExtractionConfig(
        processing_seconds=args.extraction_processing,
        failure_one_in=args.extraction_failure_one_in,
    )
