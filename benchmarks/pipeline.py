"""End to end: `meltano run` of one profile of 100,000 videos into each loader.

In one go, on one machine: the tap alone (`meltano invoke`, its output kept in a file),
then `meltano run` into target-jsonl, target-duckdb, target-postgres (RECORD and BATCH)
and target-snowflake on fakesnow (RECORD and BATCH), each with the loader settings of
meltano.yml and, labelled "before", with the settings it had before they were chosen
(#25). Every pipeline reads the same completed task (``task_ids``: no submit, no wait),
into a fresh table. Then the yardstick (yardstick.py): the same videos loaded by the
database's own bulk path, PostgreSQL ``COPY`` and DuckDB ``read_json``, from the tap's
output converted once. Prints seconds, videos/s, each pipeline's time as a multiple of
the tap alone's and of its database's own load. PostgreSQL is a throwaway server
(tests/postgres_server.py); everything else is the project's own meltano.yml.

    .venv/bin/python benchmarks/pipeline.py [--videos 100000] [--repeat 1]
        [--only TEXT ...]      # just the pipelines whose label contains TEXT
        [--batch-size N]       # records per BATCH file (meltano.yml: 25,000)
        [--set NAME=VALUE ...] # an environment variable for every pipeline, e.g.
                               # TARGET_POSTGRES_USE_COPY=false (settings meltano.yml declares)
        [--paired]             # the tap alone again before each pipeline, as its divisor
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
import types
import typing as t
from pathlib import Path

import yardstick
from _common import ROOT, completed_task, emulator_process, machine

sys.path.insert(0, str(ROOT))
from tests import postgres_server

MELTANO = ROOT / ".meltano-venv" / "bin" / "meltano"
DUCKDB_PYTHON = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "python"
TAP_ALONE = "tap alone (meltano invoke)"

#: The loader settings before #25 (the loaders' defaults), as environment variables
#: over meltano.yml's chosen ones: the "before" pipelines of the same run.
BEFORE_POSTGRES = {
    "TARGET_POSTGRES_USE_COPY": "false",
    "TARGET_POSTGRES_VALIDATE_RECORDS": "true",
    "TARGET_POSTGRES_ADD_RECORD_METADATA": "true",
    "TARGET_POSTGRES_ACTIVATE_VERSION": "true",
}
BEFORE_SNOWFLAKE = {
    "TARGET_SNOWFLAKE__FAKESNOW_VALIDATE_RECORDS": "true",
}


class Pipeline(t.NamedTuple):
    label: str
    extractor: str
    loader: str | None  # None: the tap alone
    env: t.Mapping[str, str] = types.MappingProxyType({})
    #: The database whose own bulk load is this pipeline's yardstick.
    database: str | None = None


PIPELINES = [
    Pipeline(TAP_ALONE, "tap-vidnavigator", None),
    Pipeline("tap alone, BATCH files", "tap-vidnavigator--batch", None),
    Pipeline("target-jsonl, RECORD", "tap-vidnavigator", "target-jsonl"),
    Pipeline("target-duckdb, RECORD", "tap-vidnavigator", "target-duckdb", {}, "duckdb"),
    Pipeline("target-postgres, RECORD, before", "tap-vidnavigator", "target-postgres",
             BEFORE_POSTGRES, "postgres"),
    Pipeline("target-postgres, RECORD", "tap-vidnavigator", "target-postgres", {}, "postgres"),
    Pipeline("target-postgres, BATCH, before", "tap-vidnavigator--batch", "target-postgres",
             BEFORE_POSTGRES, "postgres"),
    Pipeline("target-postgres, BATCH", "tap-vidnavigator--batch", "target-postgres", {},
             "postgres"),
    Pipeline("target-snowflake (fakesnow), RECORD, before", "tap-vidnavigator",
             "target-snowflake--fakesnow", BEFORE_SNOWFLAKE, "duckdb"),
    Pipeline("target-snowflake (fakesnow), RECORD", "tap-vidnavigator",
             "target-snowflake--fakesnow", {}, "duckdb"),
    Pipeline("target-snowflake (fakesnow), BATCH, before", "tap-vidnavigator--batch",
             "target-snowflake--fakesnow", BEFORE_SNOWFLAKE, "duckdb"),
    Pipeline("target-snowflake (fakesnow), BATCH", "tap-vidnavigator--batch",
             "target-snowflake--fakesnow", {}, "duckdb"),
]  # fmt: skip
YARDSTICKS = {"postgres": "PostgreSQL COPY (CSV)", "duckdb": "DuckDB read_json"}


def compile_bytecode() -> None:
    """Compile every environment's modules once, as a first run does on most machines.

    With PYTHONDONTWRITEBYTECODE=1 (set on this project's machines) no process writes
    ``.pyc`` files, so every start of Meltano, the tap and each loader compiled all its
    imports from source again (target-snowflake: seconds of CPU per start).
    """
    pythons = [ROOT / ".venv" / "bin" / "python", MELTANO.parent / "python"]
    pythons += sorted((ROOT / ".meltano").glob("*/*/venv/bin/python"))
    for python in pythons:
        for site in python.parent.parent.glob("lib/python*/site-packages"):
            subprocess.run(
                [str(python), "-m", "compileall", "-q", "-j", "0", str(site)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "tap_vidnavigator")],
        stdout=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def run_pipeline(
    pipeline: Pipeline, env: dict[str, str], run_number: int, output: Path | None
) -> float:
    """Seconds for one pipeline, into a table of its own (the tap alone: into ``output``)."""
    env = {
        **env,
        "MELTANO_DATABASE_URI": f"sqlite:///{env['WORK']}/meltano-{run_number}.db",
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"bench_{run_number}",
        "TARGET_SNOWFLAKE__FAKESNOW_DATABASE": f"BENCH_{run_number}",
        "TARGET_DUCKDB_FILEPATH": f"{env['WORK']}/warehouse-{run_number}.duckdb",
        "TARGET_JSONL_DESTINATION_PATH": f"{env['WORK']}/jsonl-{run_number}",
        **pipeline.env,
    }
    Path(env["TARGET_JSONL_DESTINATION_PATH"]).mkdir()
    if pipeline.loader is None:
        command = [str(MELTANO), "--environment", "dev", "invoke", pipeline.extractor]
    else:
        command = [str(MELTANO), "--environment", "dev", "run", pipeline.extractor, pipeline.loader]
    with open(output or os.devnull, "wb") as sink:
        started = time.perf_counter()
        result = subprocess.run(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.PIPE, check=False
        )
        elapsed = time.perf_counter() - started
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--paired",
        action="store_true",
        help="run the tap alone again just before each pipeline and divide by that run "
        "(on a machine whose load drifts during the run)",
    )
    args = parser.parse_args()
    # The tap alone always runs: it is the first yardstick, and its output the second's.
    pipelines = [
        p for p in PIPELINES if p.label == TAP_ALONE or not args.only
        or any(o in p.label for o in args.only)
    ]  # fmt: skip
    if not MELTANO.exists():
        sys.exit("Meltano is not installed: run ./scripts/bootstrap")
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-pipeline-"))
    runs: dict[str, list[float]] = {p.label: [] for p in pipelines}
    paired: dict[str, list[float]] = {p.label: [] for p in pipelines}
    batch_config: dict = {"storage": {"root": (work / "batches").as_uri()}}
    if args.batch_size:
        batch_config["batch_size"] = args.batch_size
    tap_output = work / "tap-output.jsonl"
    tables: dict[str, str] = {}  # a table each database's pipelines filled
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
            **dict(setting.split("=", 1) for setting in args.set),
        }
        number = 0
        # Round-robin, so that a noisy moment on a shared machine hits every pipeline.
        for _ in range(args.repeat):
            for pipeline in pipelines:
                if args.paired and pipeline.loader is not None:
                    number += 1
                    paired[pipeline.label].append(run_pipeline(PIPELINES[0], env, number, None))
                number += 1
                output = tap_output if pipeline.label == TAP_ALONE else None
                runs[pipeline.label].append(run_pipeline(pipeline, env, number, output))
                print(f"  {pipeline.label}: {runs[pipeline.label][-1]:.1f} s", file=sys.stderr)
                if pipeline.database == "postgres" and not pipeline.env:
                    tables.setdefault("postgres", f"bench_{number}.videos")
        columns, csv_path, jsonl_path, rows = yardstick.convert_once(tap_output, work)
        if rows != args.videos:
            raise RuntimeError(f"the tap alone wrote {rows:,} videos, not {args.videos:,}")
        bulk: dict[str, float] = {}
        notes = []
        if "postgres" in tables:
            bulk["postgres"], loaded, differing = yardstick.postgres_copy(
                pg, tables["postgres"], columns, csv_path
            )
            notes.append(
                f"PostgreSQL COPY: {loaded:,} rows into a table like target-postgres's "
                f"(same types and key), {differing} differing from the pipeline's rows"
            )
        bulk["duckdb"], loaded = yardstick.duckdb_read_json(
            DUCKDB_PYTHON, jsonl_path, work / "yardstick.duckdb"
        )
        notes.append(
            f"DuckDB read_json: {loaded:,} rows into a new table (types detected; DuckDB "
            "is also fakesnow's engine)"
        )
    shutil.rmtree(work, ignore_errors=True)
    seconds = {label: statistics.median(times) for label, times in runs.items()}
    tap_alone = seconds[TAP_ALONE]
    alone = {label: statistics.median(times) for label, times in paired.items() if times}
    print(f"machine: {machine()}")
    print(
        f"videos: {args.videos:,} (one task, read by task_ids); median of {args.repeat} "
        f"run(s); PostgreSQL {server.binaries.source} server"
        + (f"; set: {' '.join(args.set)}" if args.set else "")
        + ("; x tap alone: against the tap alone run just before it" if args.paired else "")
    )
    head = f"{'pipeline':<44} {'seconds':>8} {'videos/s':>10}"
    print(f"{head} {'x tap alone':>12} {'x bulk load':>12}")
    for pipeline in pipelines:
        value = seconds[pipeline.label]
        own = bulk.get(pipeline.database or "")
        print(
            f"{pipeline.label:<44} {value:>8.1f} {args.videos / value:>10,.0f} "
            f"{value / alone.get(pipeline.label, tap_alone):>11.2f}x "
            + (f"{value / own:>11.1f}x" if own else f"{'':>12}")
        )
    for database, value in bulk.items():
        label = f"yardstick: {YARDSTICKS[database]}"
        print(
            f"{label:<44} {value:>8.1f} {args.videos / value:>10,.0f} "
            f"{value / tap_alone:>11.2f}x {1:>11.1f}x"
        )
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
