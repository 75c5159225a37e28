"""CPU instructions per video (valgrind's callgrind): exact, unlike times on a shared machine.

For each candidate, the instructions of a run over a task of N videos minus those of
a run over an empty task, divided by N; and the start-up (the empty run). Same
candidates as throughput.py. Slow (about 50x under valgrind): keep N small.

    .venv/bin/python benchmarks/instructions.py [--videos 10000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

from _common import completed_task, emulator_process, machine, tap_command
from throughput import catalog_without, raw_loop


def instructions(command: list[str]) -> int:
    """Instructions the command executed, counted by callgrind."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count from callgrind: {out.stderr[-500:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return 1
    with emulator_process("--processing", "0") as url:
        big, empty = completed_task(url, f"big{args.videos}"), completed_task(url, "empty")

        base = {"api_key": "demo-key", "api_url": url, "page_size": 500}
        folder = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-instructions-"))
        no_stats = ["--catalog", catalog_without(tap_command(base), "video_stats", folder)]

        def tap(use_download: bool, *extra: str) -> t.Callable[[str], list[str]]:
            config = {**base, "use_download_url": use_download}
            return lambda task: [*tap_command({**config, "task_ids": [task]}), *extra]

        def loop(json_module: str) -> t.Callable[[str], list[str]]:
            return lambda task: [sys.executable, "-c", raw_loop(json_module), url, task]

        candidates = {
            "tap, cursor pages of 500": tap(False),
            "tap, download_url": tap(True),
            "tap, pages, no video_stats": tap(False, *no_stats),
            "tap, download, no video_stats": tap(True, *no_stats),
            "raw loop, requests + json": loop("json"),
            "raw loop, requests + orjson": loop("orjson"),
        }
        print(f"machine: {machine()}")
        print(f"videos: {args.videos:,}")
        print(f"{'candidate':<30} {'start-up':>14} {'per video':>14}")
        for name, command in candidates.items():
            startup = instructions(command(empty))
            total = instructions(command(big))
            per_video = (total - startup) / args.videos
            print(f"{name:<30} {startup / 1e6:>12,.0f} M {per_video:>14,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
