"""How many videos per second the emulator serves over loopback (it must never be
the bottleneck of a tap benchmark).

Pages of 500 through one keep-alive connection, bodies read but not parsed; and the
signed download of the whole result.

    .venv/bin/python benchmarks/emulator_speed.py [--videos 100000]
"""

from __future__ import annotations

import argparse
import sys
import time

import requests
from _common import HEADERS, completed_task, emulator_process, machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=100_000)
    args = parser.parse_args()
    with emulator_process("--processing", "0") as url:
        task_id = completed_task(url, f"big{args.videos}")
        session = requests.Session()
        for _ in range(2):  # the first pass warms the emulator's serialisation cache
            start, offset_cursor, pages, size = time.perf_counter(), None, 0, 0
            download_url = None
            while True:
                params = {"limit": 500, **({"cursor": offset_cursor} if offset_cursor else {})}
                response = session.get(
                    f"{url}/tiktok/profile/{task_id}", params=params, headers=HEADERS, timeout=60
                )
                pages += 1
                size += len(response.content)
                # Find the cursor without parsing the page (it sits at the end of the body).
                tail = response.content[-600:].decode()
                download_url = download_url or tail.split('"download_url":"')[1].split('"')[0]
                if '"next_cursor":null' in tail:
                    break
                offset_cursor = tail.split('"next_cursor":"')[1].split('"')[0]
            paged = time.perf_counter() - start
            start = time.perf_counter()
            downloaded = len(requests.get(download_url, timeout=60).content)
            download = time.perf_counter() - start
        print(f"machine: {machine()}")
        print(
            f"cursor pages: {args.videos:,} videos in {pages} pages, {size / 1e6:.0f} MB, "
            f"{paged:.2f} s: {args.videos / paged:,.0f} videos/s"
        )
        print(
            f"download_url: {downloaded / 1e6:.0f} MB in {download:.2f} s: "
            f"{args.videos / download:,.0f} videos/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
