"""Videos per second, one completed task of 100,000 videos, into /dev/null.

Compares, in one run on one machine: the tap through cursor pages of 500, the tap
through download_url, the same with BATCH files (gzip, and the SDK's stock batch writer
for reference), a raw requests + json loop writing the same RECORD lines, and the same
loop with orjson (the practical limit). Ratios matter, not absolute figures.

    .venv/bin/python benchmarks/throughput.py [--videos 100000] [--repeat 3]
        [--before PYTHON]   # also an older tap, installed in PYTHON's environment
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import completed_task, emulator_process, machine, tap_command, timed

RAW_LOOP = r"""
import sys, requests, {json_module} as json
url, task_id = sys.argv[1], sys.argv[2]
out = sys.stdout.buffer
session = requests.Session()
cursor = None
while True:
    params = {{"limit": 500}}
    if cursor:
        params["cursor"] = cursor
    page = json.loads(session.get(f"{{url}}/tiktok/profile/{{task_id}}", params=params,
                                  headers={{"X-API-Key": "demo-key"}}, timeout=300).content)["data"]
    for video in page["videos"]:
        out.write({dump})
    if not page["pagination"]["has_next"]:
        break
    cursor = page["pagination"]["next_cursor"]
"""


# The same tap with the SDK's own get_batches (its JSON Lines batcher) instead of the
# tap's: what batch writing costs without the tap's record path.
STOCK_BATCHER = """
import sys
from singer_sdk import Stream
from tap_vidnavigator.streams import ResultsStream
from tap_vidnavigator.tap import TapVidNavigator
ResultsStream.get_batches = Stream.get_batches
TapVidNavigator.cli()
"""


def batch_config(folder: Path, compression: str) -> dict:
    return {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": folder.as_uri()},
        "batch_size": 50_000,
    }


def raw_loop(json_module: str) -> str:
    line = 'json.dumps({"type": "RECORD", "stream": "videos", "record": video})'
    dump = f'{line} + b"\\n"' if json_module == "orjson" else f'({line} + "\\n").encode()'

    return RAW_LOOP.format(json_module=json_module, dump=dump)


def catalog_without(command: list[str], stream: str, folder: Path) -> str:
    """A catalog file selecting every stream but ``stream`` (the tap's own discovery)."""
    catalog = json.loads(
        subprocess.run([*command, "--discover"], capture_output=True, check=True).stdout
    )
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] != stream
    path = folder / f"catalog-without-{stream}.json"
    path.write_text(json.dumps(catalog))
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before",
        metavar="PYTHON",
        help="an interpreter whose environment has another version of the tap: it runs "
        "in the same round-robin, for a before/after comparison",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-batches-"))
    with emulator_process("--processing", "0") as url:
        task_id = completed_task(url, f"big{args.videos}")
        base = {"api_key": "demo-key", "api_url": url, "task_ids": [task_id], "page_size": 500}
        # Without a catalog every stream is selected, video_stats included.
        no_stats = ["--catalog", catalog_without(tap_command(base), "video_stats", folder)]
        candidates = {
            "tap, cursor pages of 500": tap_command({**base, "use_download_url": False}),
            "tap, download_url": tap_command({**base, "use_download_url": True}),
            "tap, pages, no video_stats": [
                *tap_command({**base, "use_download_url": False}),
                *no_stats,
            ],
            "tap, download, no video_stats": [
                *tap_command({**base, "use_download_url": True}),
                *no_stats,
            ],
            "tap, download, BATCH gzip": tap_command(
                {**base, "batch_config": batch_config(folder, "gzip")}
            ),
            "tap, download, BATCH plain": tap_command(
                {**base, "batch_config": batch_config(folder, "none")}
            ),
            "SDK batcher, download, gzip": [
                sys.executable,
                "-I",
                "-c",
                STOCK_BATCHER,
                *tap_command({**base, "batch_config": batch_config(folder, "gzip")})[4:],
            ],
            "tap startup only (--discover)": [*tap_command(base), "--discover"],
            **(
                {
                    "before: tap, cursor pages": tap_command(
                        {**base, "use_download_url": False}, args.before
                    ),
                    "before: tap, download_url": tap_command(
                        {**base, "use_download_url": True}, args.before
                    ),
                }
                if args.before
                else {}
            ),
            "raw loop, requests + json": [sys.executable, "-c", raw_loop("json"), url, task_id],
            "raw loop, requests + orjson": [sys.executable, "-c", raw_loop("orjson"), url, task_id],
        }
        for command in candidates.values():  # warm the emulator's caches and the OS
            timed(command)
        # Round-robin, so that a noisy moment on a shared machine hits every candidate.
        runs: dict[str, list[float]] = {name: [] for name in candidates}
        cpu: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(args.repeat):
            for name, command in candidates.items():
                timing = timed(command)
                runs[name].append(timing.seconds)
                cpu[name].append(timing.cpu_seconds)
        results = {name: statistics.median(times) for name, times in runs.items()}
        cpu_results = {name: statistics.median(times) for name, times in cpu.items()}
    shutil.rmtree(folder, ignore_errors=True)
    startup = results.pop("tap startup only (--discover)")
    print(f"machine: {machine()}")
    print(f"videos: {args.videos:,}; median of {args.repeat} runs; tap startup {startup:.2f} s")
    baseline = results["raw loop, requests + json"]
    header = f"{'candidate':<30} {'seconds':>8} {'videos/s':>10} {'vs json loop':>13}"
    print(f"{header} {'excl. startup':>14} {'CPU s':>6}")
    for name, seconds in results.items():
        rate = args.videos / seconds
        # Runs too short to tell apart from start-up have no figure without it.
        net = (
            f"{args.videos / (seconds - startup):>13,.0f}/s"
            if "tap" in name and seconds > startup
            else f"{rate:>13,.0f}/s"
            if "tap" not in name
            else f"{'-':>15}"
        )
        ratio = baseline / seconds
        print(
            f"{name:<30} {seconds:>8.2f} {rate:>10,.0f} {ratio:>12.2f}x {net} "
            f"{cpu_results[name]:>6.2f}"
        )
    # The goal of video_stats: at most 15% more time when selected.
    print("video_stats selected adds (wall time; CPU time of the tap process):")
    for path, with_stats, without in (
        ("download_url", "tap, download_url", "tap, download, no video_stats"),
        ("cursor pages", "tap, cursor pages of 500", "tap, pages, no video_stats"),
    ):
        wall = results[with_stats] / results[without] - 1
        used = cpu_results[with_stats] / cpu_results[without] - 1
        print(f"  {path:<13} {wall:+7.1%} wall {used:+7.1%} CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
