"""Where a loader spends its time: cProfile of one loader process on the tap's output.

The tap's output for one task of N videos (RECORD messages, or BATCH messages and their
files) is written once; the loader named (from its Meltano virtual environment, with
meltano.yml's chosen settings for it) reads it from a file under cProfile. Prints the
functions with the most time of their own and the largest cumulative ones.

    .venv/bin/python benchmarks/loader_profile.py postgres|snowflake [--batch]
        [--videos 50000] [--top 25]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import KEY, ROOT, completed_task, emulator_process, tap_command
from loader_settings import POSTGRES, SNOWFLAKE, loader_config

sys.path.insert(0, str(ROOT))
from tests import postgres_server

#: meltano.yml's chosen settings (docs/loaders.md).
CHOSEN = {
    "postgres": (
        POSTGRES,
        {
            "use_copy": True,
            "validate_records": False,
            "add_record_metadata": False,
            "activate_version": False,
        },
    ),
    "snowflake": (SNOWFLAKE, {"validate_records": False}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("loader", choices=sorted(CHOSEN))
    parser.add_argument("--batch", action="store_true")
    parser.add_argument("--videos", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    loader, settings = CHOSEN[args.loader]
    work = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-profile-"))
    messages, profile = work / "messages.jsonl", work / "loader.prof"
    with (
        emulator_process("--processing", "0", "--expire", "86400") as url,
        postgres_server.running() as server,
    ):
        tap = {
            "api_key": KEY,
            "api_url": url,
            "task_ids": [completed_task(url, f"big{args.videos}")],
        }
        if args.batch:
            tap["batch_config"] = {
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "storage": {"root": (work / "batches").as_uri()},
                "batch_size": 25000,
            }
        with messages.open("wb") as sink:
            subprocess.run(tap_command(tap), stdout=sink, stderr=subprocess.DEVNULL, check=True)
        config = work / "config.json"
        config.write_text(
            json.dumps({**loader_config(loader, 1, work, server.connection), **settings})
        )
        python = loader.parent / "python"
        env = {**os.environ, "FAKESNOW_DB_PATH": str(work / "fakesnow")}
        command = [str(python), "-m", "cProfile", "-o", str(profile), str(loader)]
        with messages.open("rb") as source:
            subprocess.run(
                [*command, "--config", str(config)],
                stdin=source, stdout=subprocess.DEVNULL, env=env, check=True,
            )  # fmt: skip
        stats = pstats.Stats(str(profile))
    kind = "BATCH" if args.batch else "RECORD"
    print(f"{args.loader}, {kind}, {args.videos:,} videos, settings {settings}")
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
