"""Wall time for 20 profiles whose tasks take T seconds each in the emulator.

Goal: at most 1.2 x T + 2 s (a design that waits for one task at a time takes 20 x T).

    .venv/bin/python benchmarks/concurrency.py [--profiles 20] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys

from _common import emulator_process, machine, tap_command, timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with emulator_process(
        "--processing", str(args.seconds), "--max-active", str(args.profiles)
    ) as url:
        config = {
            "api_key": "demo-key",
            "api_url": url,
            "profiles": [f"@parallel{i}" for i in range(args.profiles)],
            "max_active_tasks": args.profiles,
        }
        seconds = timed(tap_command(config)).seconds
    goal = 1.2 * args.seconds + 2
    print(f"machine: {machine()}")
    print(f"{args.profiles} profiles, T = {args.seconds:g} s each")
    print(
        f"wall time {seconds:.2f} s; goal <= {goal:.1f} s; sequential would be "
        f"{args.profiles * args.seconds:.0f} s; {'MET' if seconds <= goal else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
