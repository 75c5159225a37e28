"""Requests per 10,000 videos, and polls per task, read from the emulator's counters.

Goals: at most 20 page requests per 10,000 videos at page_size 500, one download with
download_url; polls per task no more than its duration / poll_interval plus the
fast-start polls (one a second during the first 10 s).

    .venv/bin/python benchmarks/request_counts.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_vidnavigator.emulator import Emulator, EmulatorConfig


def run(config: dict) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(config, file)
    subprocess.run(
        [sys.executable, "-m", "tap_vidnavigator.tap", "--config", file.name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )


def main() -> int:
    for use_download in (False, True):
        with Emulator(EmulatorConfig(processing_seconds=0)) as emulator:
            run(
                {
                    "api_key": "demo-key",
                    "api_url": emulator.url,
                    "profiles": ["@big10000"],
                    "use_download_url": use_download,
                    "page_size": 500,
                }
            )
            counters = emulator.counters()
            path = "download_url" if use_download else "cursor pages"
            print(
                f"{path:<13} 10,000 videos: {counters.page_requests} page requests "
                f"(the terminal poll included), {counters.downloads} download(s), "
                f"{counters.submits} submit(s)"
            )
    duration, interval = 20.0, 3.0
    with Emulator(EmulatorConfig(processing_seconds=duration)) as emulator:
        run(
            {
                "api_key": "demo-key",
                "api_url": emulator.url,
                "profiles": ["@size100"],
                "poll_interval": interval,
            }
        )
        polls = emulator.counters().polls
        fast = 10
        bound = (duration - fast) / interval + fast + 1
        print(
            f"a task of {duration:g} s at poll_interval {interval:g} s: {polls} polls while "
            f"processing; bound {bound:.0f} (fast start {fast} + the rest / interval + 1)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
