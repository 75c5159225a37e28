"""Each loader's settings, measured on the loader alone: what meltano.yml's choices rest on.

The tap's output for one task of N videos is written once (RECORD messages, and BATCH
messages with their files), then each loader (from its Meltano virtual environment,
no Meltano in between) reads it from a file, once per settings variant, round-robin,
into a fresh table. Prints per variant the wall seconds and the loader process's CPU
seconds (user + system, its children included): on a machine shared with other work,
CPU seconds move far less than wall seconds. The database server's own CPU is not in
them (PostgreSQL's backend is another process): compare wall seconds within one run.

    .venv/bin/python benchmarks/loader_settings.py [--videos 100000] [--repeat 1]
        [--only TEXT ...]      # just the variants whose label contains TEXT
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
import typing as t
from pathlib import Path

from _common import KEY, ROOT, completed_task, emulator_process, machine, tap_command

sys.path.insert(0, str(ROOT))
from tests import postgres_server

LOADERS = ROOT / ".meltano" / "loaders"
POSTGRES = LOADERS / "target-postgres" / "venv" / "bin" / "target-postgres"
SNOWFLAKE = LOADERS / "target-snowflake--fakesnow" / "venv" / "bin" / "target-snowflake-fakesnow"
DUCKDB = LOADERS / "target-duckdb" / "venv" / "bin" / "target-duckdb"

#: target-postgres refuses activate_version (on by default) without the metadata columns;
#: the tap sends no ACTIVATE_VERSION message.
NO_METADATA = {"add_record_metadata": False, "activate_version": False}
#: (label, loader, input, settings over the loader's defaults).
VARIANTS: list[tuple[str, Path, str, dict[str, t.Any]]] = [
    ("postgres RECORD defaults", POSTGRES, "record", {}),
    ("postgres RECORD use_copy", POSTGRES, "record", {"use_copy": True}),
    ("postgres RECORD use_copy, no validation", POSTGRES, "record",
     {"use_copy": True, "validate_records": False}),
    ("postgres RECORD use_copy, no validation, no metadata", POSTGRES, "record",
     {"use_copy": True, "validate_records": False, **NO_METADATA}),
    ("postgres RECORD use_copy, no validation, batch 50,000", POSTGRES, "record",
     {"use_copy": True, "validate_records": False, "batch_size_rows": 50000}),
    ("postgres BATCH defaults", POSTGRES, "batch", {}),
    ("postgres BATCH use_copy", POSTGRES, "batch", {"use_copy": True}),
    ("postgres BATCH use_copy, no metadata", POSTGRES, "batch", {"use_copy": True, **NO_METADATA}),
    ("postgres BATCH use_copy, files not compressed", POSTGRES, "batch-plain", {"use_copy": True}),
    ("snowflake RECORD defaults", SNOWFLAKE, "record", {}),
    ("snowflake RECORD no validation", SNOWFLAKE, "record", {"validate_records": False}),
    ("snowflake RECORD no validation, batch 50,000", SNOWFLAKE, "record",
     {"validate_records": False, "batch_size_rows": 50000}),
    ("snowflake BATCH defaults", SNOWFLAKE, "batch", {}),
    ("snowflake BATCH, files not compressed", SNOWFLAKE, "batch-plain", {}),
    ("duckdb RECORD defaults (batch 100,000)", DUCKDB, "record", {}),
    ("duckdb RECORD batch 20,000", DUCKDB, "record", {"batch_size_rows": 20000}),
]  # fmt: skip


def loader_config(loader: Path, number: int, work: Path, pg: dict) -> dict[str, t.Any]:
    if loader == POSTGRES:
        return {**pg, "default_target_schema": f"run_{number}", "load_method": "upsert"}
    if loader == SNOWFLAKE:
        return {
            "account": "fakesnow", "user": "fakesnow", "password": "fakesnow",
            "role": "fakesnow", "warehouse": "fakesnow", "database": f"RUN_{number}",
            "default_target_schema": "TAP_VIDNAVIGATOR", "load_method": "upsert",
            "timestamp_type": "TIMESTAMP_TZ",
            # The tap's files are read again by the next variant.
            "clean_up_batch_files": False,
        }  # fmt: skip
    return {"filepath": str(work / f"run_{number}.duckdb"), "default_target_schema": "v"}


def timed_loader(command: list[str], stdin: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the loader and its children)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "with open(sys.argv[1], 'rb') as source:\n"
        "    code = subprocess.run(sys.argv[2:], stdin=source, stdout=subprocess.DEVNULL,\n"
        "                          stderr=subprocess.PIPE)\n"
        "sys.stderr.write(code.stderr.decode(errors='replace')[-3000:])\n"
        "elapsed = time.perf_counter() - start\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(elapsed, usage.ru_utime + usage.ru_stime, code.returncode)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(stdin), *command],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    elapsed, cpu, code = out.stdout.split()
    if code != "0":
        raise RuntimeError(f"{command} exited {code}: {out.stderr[-2000:]}")
    return float(elapsed), float(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    variants = [v for v in VARIANTS if not args.only or any(o in v[0] for o in args.only)]
    work = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-loaders-"))
    inputs = {kind: work / f"{kind}.jsonl" for kind in ("record", "batch", "batch-plain")}
    wall: dict[str, list[float]] = {v[0]: [] for v in variants}
    cpu: dict[str, list[float]] = {v[0]: [] for v in variants}
    with (
        emulator_process("--processing", "0", "--expire", "86400") as url,
        postgres_server.running() as server,
    ):
        task_id = completed_task(url, f"big{args.videos}")
        tap = {"api_key": KEY, "api_url": url, "task_ids": [task_id]}
        for kind, path in inputs.items():
            config: dict[str, t.Any] = dict(tap)
            if kind != "record":
                compression = "gzip" if kind == "batch" else "none"
                config["batch_config"] = {
                    "encoding": {"format": "jsonl", "compression": compression},
                    "storage": {"root": (work / kind).as_uri()},
                    "batch_size": 25000,
                }
            with path.open("wb") as sink:
                command = tap_command(config)
                subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=True)
        env = {**os.environ, "FAKESNOW_DB_PATH": str(work / "fakesnow")}
        number = 0
        for _ in range(args.repeat):
            for label, loader, kind, settings in variants:
                number += 1
                config_path = work / f"config-{number}.json"
                config = {**loader_config(loader, number, work, server.connection), **settings}
                config_path.write_text(json.dumps(config))
                seconds, cpu_seconds = timed_loader(
                    [str(loader), "--config", str(config_path)], inputs[kind], env
                )
                wall[label].append(seconds)
                cpu[label].append(cpu_seconds)
                print(f"  {label}: {seconds:.1f} s, CPU {cpu_seconds:.1f} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {machine()}")
    print(
        f"videos: {args.videos:,}; median of {args.repeat} run(s); each loader alone, from a file"
    )
    print(f"{'loader and settings':<56} {'wall s':>7} {'CPU s':>7} {'videos/s':>9}")
    for label, _, _, _ in variants:
        seconds, cpu_seconds = statistics.median(wall[label]), statistics.median(cpu[label])
        print(f"{label:<56} {seconds:>7.1f} {cpu_seconds:>7.1f} {args.videos / seconds:>9,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
