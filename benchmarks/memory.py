"""Peak RSS of the tap for tasks of 1,000, 10,000 and 100,000 videos, both paths.

Goal: flat, at most 150 MB and within 20% across sizes. The download is parsed as a
stream, never loaded whole.

    .venv/bin/python benchmarks/memory.py
"""

from __future__ import annotations

import sys

from _common import completed_task, emulator_process, machine, tap_command, timed

SIZES = (1_000, 10_000, 100_000)


def main() -> int:
    print(f"machine: {machine()}")
    with emulator_process("--processing", "0") as url:
        tasks = {size: completed_task(url, f"big{size}") for size in SIZES}
        for use_download in (False, True):
            peaks = []
            for size in SIZES:
                config = {
                    "api_key": "demo-key",
                    "api_url": url,
                    "task_ids": [tasks[size]],
                    "use_download_url": use_download,
                }
                _, peak = timed(tap_command(config))
                peaks.append(peak)
            spread = max(peaks) / min(peaks) - 1
            path = "download_url" if use_download else "cursor pages"
            cells = ", ".join(
                f"{size:,}: {peak} MB" for size, peak in zip(SIZES, peaks, strict=True)
            )
            verdict = "MET" if max(peaks) <= 150 and spread <= 0.2 else "MISSED"
            print(f"{path:<13} peak RSS {cells}; spread {spread:.0%}; {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
