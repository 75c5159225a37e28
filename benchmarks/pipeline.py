"""End to end: `meltano run` of one profile of 100,000 videos into each loader.

In one go, on one machine: the tap alone (`meltano invoke`, output to /dev/null), then
`meltano run` into target-jsonl, target-duckdb, target-postgres (RECORD and BATCH) and
target-snowflake on fakesnow (RECORD and BATCH). Every pipeline reads the same completed
task (``task_ids``: no submit, no wait), into a fresh table. Prints seconds, videos/s and
the tap's share of each pipeline's time. PostgreSQL is a throwaway server
(tests/postgres_server.py); everything else is the project's own meltano.yml.

    .venv/bin/python benchmarks/pipeline.py [--videos 100000] [--repeat 1]
        [--only TEXT ...]      # just the pipelines whose label contains TEXT
        [--batch-size N]       # records per BATCH file (meltano.yml: 25,000)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, completed_task, emulator_process, machine

sys.path.insert(0, str(ROOT))
from tests import postgres_server

MELTANO = ROOT / ".meltano-venv" / "bin" / "meltano"
#: (label, extractor, loader); None as the loader: the tap alone.
PIPELINES = [
    ("tap alone (meltano invoke)", "tap-vidnavigator", None),
    ("target-jsonl, RECORD", "tap-vidnavigator", "target-jsonl"),
    ("target-duckdb, RECORD", "tap-vidnavigator", "target-duckdb"),
    ("target-postgres, RECORD", "tap-vidnavigator", "target-postgres"),
    ("target-postgres, BATCH", "tap-vidnavigator--batch", "target-postgres"),
    ("target-snowflake (fakesnow), RECORD", "tap-vidnavigator", "target-snowflake--fakesnow"),
    ("target-snowflake (fakesnow), BATCH", "tap-vidnavigator--batch", "target-snowflake--fakesnow"),
]


def run_pipeline(extractor: str, loader: str | None, env: dict[str, str], run_number: int) -> float:
    """Seconds for one pipeline, into a table of its own."""
    env = {
        **env,
        "MELTANO_DATABASE_URI": f"sqlite:///{env['WORK']}/meltano-{run_number}.db",
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"bench_{run_number}",
        "TARGET_SNOWFLAKE__FAKESNOW_DATABASE": f"BENCH_{run_number}",
        "TARGET_DUCKDB_FILEPATH": f"{env['WORK']}/warehouse-{run_number}.duckdb",
        "TARGET_JSONL_DESTINATION_PATH": f"{env['WORK']}/jsonl-{run_number}",
    }
    Path(env["TARGET_JSONL_DESTINATION_PATH"]).mkdir()
    if loader is None:
        command = [str(MELTANO), "--environment", "dev", "invoke", extractor]
    else:
        command = [str(MELTANO), "--environment", "dev", "run", extractor, loader]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--batch-size", type=int)
    args = parser.parse_args()
    pipelines = [p for p in PIPELINES if not args.only or any(o in p[0] for o in args.only)]
    if not MELTANO.exists():
        sys.exit("Meltano is not installed: run ./scripts/bootstrap")
    work = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-pipeline-"))
    runs: dict[str, list[float]] = {label: [] for label, _, _ in pipelines}
    batch_config: dict = {"storage": {"root": (work / "batches").as_uri()}}
    if args.batch_size:
        batch_config["batch_size"] = args.batch_size
    with (
        emulator_process("--processing", "0", "--expire", "86400") as url,
        postgres_server.running() as server,
    ):
        task_id = completed_task(url, f"big{args.videos}")
        pg = server.connection
        env = {
            **os.environ,
            "WORK": str(work),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_VIDNAVIGATOR_API_URL": url,
            "TAP_VIDNAVIGATOR_PROFILES": "[]",
            "TAP_VIDNAVIGATOR_SEARCHES": "[]",
            "TAP_VIDNAVIGATOR_TASK_IDS": json.dumps([task_id]),
            "TAP_VIDNAVIGATOR__BATCH_BATCH_CONFIG": json.dumps(batch_config),
            "FAKESNOW_DB_PATH": str(work / "fakesnow"),
            "PG_HOST": pg["host"],
            "PG_PORT": str(pg["port"]),
            "PG_USER": pg["user"],
            "PG_PASSWORD": pg["password"],
            "PG_DATABASE": pg["database"],
        }
        number = 0
        # Round-robin, so that a noisy moment on a shared machine hits every pipeline.
        for _ in range(args.repeat):
            for label, extractor, loader in pipelines:
                number += 1
                runs[label].append(run_pipeline(extractor, loader, env, number))
                print(f"  {label}: {runs[label][-1]:.1f} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    seconds = {label: statistics.median(times) for label, times in runs.items()}
    tap_alone = seconds.get(PIPELINES[0][0])
    print(f"machine: {machine()}")
    print(
        f"videos: {args.videos:,} (one task, read by task_ids); median of {args.repeat} "
        f"run(s); PostgreSQL {server.binaries.source} server"
    )
    print(f"{'pipeline':<38} {'seconds':>8} {'videos/s':>10} {'tap share':>10}")
    for label, value in seconds.items():
        share = f"{tap_alone / value:>10.0%}" if tap_alone else f"{'':>10}"
        print(f"{label:<38} {value:>8.1f} {args.videos / value:>10,.0f} {share}")
    for loader in ("target-postgres", "target-snowflake (fakesnow)"):
        record, batch = seconds.get(f"{loader}, RECORD"), seconds.get(f"{loader}, BATCH")
        if record and batch:
            print(f"{loader}: BATCH takes {batch / record:.0%} of RECORD's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
