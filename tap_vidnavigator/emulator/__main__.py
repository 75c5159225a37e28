"""``python -m tap_vidnavigator.emulator``: serve the emulated API until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tap_vidnavigator.emulator import extraction_options, transcript_options
from tap_vidnavigator.emulator.faults import ANSWER_LOST, FAULT_KINDS, FaultPlan
from tap_vidnavigator.emulator.pricing import PLANS
from tap_vidnavigator.emulator.server import Emulator
from tap_vidnavigator.emulator.state import DEMO_KEYS, DOWNLOAD_SHAPES, EmulatorConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidnavigator-emulator",
        description="Serve an emulated VidNavigator TikTok profile API on loopback. "
        "The first line printed is the API base URL.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="API port; 0 picks a free one")
    parser.add_argument("--storage-port", type=int, default=0, help="download host port; 0 = free")
    parser.add_argument(
        "--processing",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long a task stays processing (default 2)",
    )
    parser.add_argument(
        "--slow-profile",
        action="append",
        default=[],
        metavar="HANDLE=SECONDS",
        help="this profile's tasks stay processing SECONDS instead (repeatable)",
    )
    parser.add_argument(
        "--processing-polls",
        type=int,
        default=None,
        metavar="N",
        help="tasks answer processing to exactly N polls, then complete, whatever the clock",
    )
    parser.add_argument(
        "--expire",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long after completion a task answers 404 (default 3600)",
    )
    parser.add_argument(
        "--download-ttl",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="lifetime of a signed download URL (default 300)",
    )
    parser.add_argument(
        "--no-download-url",
        action="store_true",
        help="never offer download_url (clients must page)",
    )
    parser.add_argument(
        "--download-shape",
        choices=DOWNLOAD_SHAPES,
        default="task",
        help="shape of the downloaded JSON file (default task)",
    )
    parser.add_argument(
        "--legacy-fields",
        action="store_true",
        help="serve videos in the documentation page's older shape, without published_at "
        "(default: today's shape, as the provider's SDK reads it)",
    )
    parser.add_argument(
        "--clock-offset-days",
        type=float,
        default=0.0,
        metavar="DAYS",
        help="start the emulated calendar DAYS ahead of real time: tasks are dated and "
        'observe video counts that much later (POST /_emulator/clock {"days": D} moves '
        "it further while serving; see docs/emulator-model.md)",
    )
    parser.add_argument(
        "--calendar-tick",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="video counts are read on the emulated calendar in whole ticks of SECONDS "
        "counted from the start (default 3600)",
    )
    parser.add_argument(
        "--max-active",
        type=int,
        default=10,
        metavar="N",
        help="processing tasks a key may have before 429 too_many_active_jobs",
    )
    parser.add_argument(
        "--plan",
        choices=tuple(PLANS),
        default="odyssey",
        help="each key's plan: its monthly credits (trial 5, navigator 15, voyager 80, "
        "odyssey unlimited, the default); tasks are charged by the published price table "
        "(docs/emulator-model.md), monthly credits first, then purchased ones; 402 once "
        "both are spent",
    )
    parser.add_argument(
        "--monthly-credits",
        type=float,
        default=None,
        metavar="N",
        help="the monthly pool instead of the plan's",
    )
    parser.add_argument(
        "--monthly-remaining",
        type=float,
        default=None,
        metavar="N",
        help="what is left of the monthly pool at the start (default all of it)",
    )
    parser.add_argument(
        "--purchased-credits",
        type=float,
        default=0.0,
        metavar="N",
        help="purchased credits, spent once the monthly pool is (default 0)",
    )
    parser.add_argument(
        "--credits",
        type=float,
        default=None,
        metavar="N",
        help="shorthand for --monthly-credits 0 --purchased-credits N: a balance of N "
        "credits that no new month refills",
    )
    parser.add_argument(
        "--key",
        action="append",
        dest="keys",
        metavar="KEY",
        help=f"an API key (repeatable, one user each); default {', '.join(DEMO_KEYS)}",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a request gets a fault (default 0)",
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULT_KINDS),
        help=f"fault kinds to draw from (default {','.join(FAULT_KINDS)}; also {ANSWER_LOST}: "
        "the request is done, a submit creates its task, and the answer is lost)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    parser.add_argument(
        "--retry-after",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="Retry-After / retry_after_seconds of injected 429 and 503",
    )
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="delay of an injected slow answer (default 3)",
    )
    transcript_options.add_arguments(parser)
    extraction_options.add_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def _slow_profiles(values: list[str]) -> dict[str, float]:
    slow = {}
    for value in values:
        handle, _, seconds = value.partition("=")
        try:
            slow[handle.lstrip("@").lower()] = float(seconds)
        except ValueError:
            msg = f"--slow-profile takes HANDLE=SECONDS, for example @slowpoke=30; got {value!r}"
            raise ValueError(msg) from None
    return slow


def main(argv: list[str] | None = None) -> int:
    """Run the emulator in the foreground until SIGINT or SIGTERM."""
    args = _parser().parse_args(argv)
    try:
        config = EmulatorConfig(
            processing_seconds=args.processing,
            expire_seconds=args.expire,
            download_ttl_seconds=args.download_ttl,
            max_active_tasks=args.max_active,
            plan=args.plan,
            monthly_credits=args.monthly_credits,
            monthly_remaining=args.monthly_remaining,
            purchased_credits=args.purchased_credits,
            credits=args.credits,
            keys=tuple(args.keys or DEMO_KEYS),
            offer_download_url=not args.no_download_url,
            download_shape=args.download_shape,
            modern_fields=not args.legacy_fields,
            processing_by_handle=_slow_profiles(args.slow_profile),
            processing_polls=args.processing_polls,
            clock_offset_seconds=args.clock_offset_days * 86_400,
            calendar_tick_seconds=args.calendar_tick,
            transcripts=transcript_options.from_arguments(args),
            extraction=extraction_options.from_arguments(args),
        )
        plan = FaultPlan(
            rate=args.fault_rate,
            kinds=tuple(kind for kind in args.faults.split(",") if kind),
            seed=args.seed,
            retry_after=args.retry_after,
            slow_seconds=args.slow_seconds,
        )
        emulator = Emulator(
            config,
            plan,
            host=args.host,
            port=args.port,
            storage_port=args.storage_port,
            verbose=args.verbose,
        )
    except (ValueError, OSError) as exc:
        print(f"vidnavigator-emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with emulator:
        print(emulator.url, flush=True)
        print(
            f"storage host {emulator.storage_url}; {len(config.keys)} API key(s)",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
