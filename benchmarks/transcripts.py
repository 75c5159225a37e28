"""video_transcripts: wall time of N videos' captions at an emulated latency, and memory.

Goal (issue 23): 2,000 videos at 300 ms per call within 1.5 x the ideal
``2,000 x 0.3 s / concurrency``, with flat memory. The transcript phase is measured as
the run with transcripts less the same run without them (the scrape, start-up and
exit); memory as the tap's peak RSS for a quarter of the videos and for all of them.

    .venv/bin/python benchmarks/transcripts.py [--videos 2000] [--latency 0.3]
        [--concurrency 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from _common import emulator_process, machine, tap_command, timed


def _config(url: str, videos: int, ledger: str, concurrency: int | None) -> dict:
    config = {
        "api_key": "demo-key",
        "api_url": url,
        "profiles": [f"@size{videos}"],
        "poll_interval": 0.2,
    }
    if concurrency is not None:
        config["transcripts"] = {"enabled": True, "concurrency": concurrency}
        # The purchase ledger's folder, without the reuse of scrapes: each run scrapes.
        config.update(ledger_dir=ledger, use_ledger=False)
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    ledger = tempfile.mkdtemp()
    small = max(1, args.videos // 4)
    with emulator_process("--processing", "0", "--transcript-latency", str(args.latency)) as url:
        scrape, scrape_mb, _ = timed(tap_command(_config(url, args.videos, ledger, None)))
        whole, whole_mb, _ = timed(tap_command(_config(url, args.videos, ledger, args.concurrency)))
        # Another profile (not transcribed yet) of a quarter of the size, for memory.
        small_mb = timed(tap_command(_config(url, small, ledger, args.concurrency))).peak_mb
    phase = whole - scrape
    ideal = args.videos * args.latency / args.concurrency
    goal = 1.5 * ideal
    print(f"machine: {machine()}")
    print(
        f"{args.videos} videos, {args.latency * 1000:g} ms per POST /transcript, "
        f"concurrency {args.concurrency}"
    )
    print(f"scrape alone {scrape:.2f} s; with transcripts {whole:.2f} s")
    print(
        f"transcript phase {phase:.2f} s ({args.videos / phase:.1f} videos/s); ideal "
        f"{ideal:.1f} s, goal <= {goal:.1f} s (1.5 x ideal), ratio {phase / ideal:.2f}; "
        f"{'MET' if phase <= goal else 'MISSED'}"
    )
    print(
        f"peak RSS: scrape alone {scrape_mb} MB; with transcripts {small} videos "
        f"{small_mb} MB, {args.videos} videos {whole_mb} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
