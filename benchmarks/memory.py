"""Peak RSS of the tap for tasks of 1,000, 10,000 and 100,000 videos, both paths.

Goal: flat, at most 150 MB and within 20% across sizes. The download is parsed as a
stream, never loaded whole.

    .venv/bin/python benchmarks/memory.py [--before PYTHON]
"""

from __future__ import annotations

import argparse
import sys

from _common import completed_task, emulator_process, machine, tap_command, timed

SIZES = (1_000, 10_000, 100_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--before", metavar="PYTHON", help="also measure the tap installed for PYTHON"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    versions = {"": sys.executable, **({"before: ": args.before} if args.before else {})}
    with emulator_process("--processing", "0") as url:
        tasks = {size: completed_task(url, f"big{size}") for size in SIZES}
        for (label, python), use_download in (
            (version, use) for use in (False, True) for version in versions.items()
        ):
            peaks = []
            for size in SIZES:
                config = {
                    "api_key": "demo-key",
                    "api_url": url,
                    "task_ids": [tasks[size]],
                    "use_download_url": use_download,
                }
                peak = timed(tap_command(config, python)).peak_mb
                peaks.append(peak)
            spread = max(peaks) / min(peaks) - 1
            path = label + ("download_url" if use_download else "cursor pages")
            cells = ", ".join(
                f"{size:,}: {peak} MB" for size, peak in zip(SIZES, peaks, strict=True)
            )
            verdict = "MET" if max(peaks) <= 150 and spread <= 0.2 else "MISSED"
            print(f"{path:<21} peak RSS {cells}; spread {spread:.0%}; {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
