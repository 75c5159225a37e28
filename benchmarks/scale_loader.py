"""Does the loader keep up with many profiles? `meltano run` into target-postgres of many
small profiles against one big profile of as many videos.

Two cases of the same number of videos, with tasks that finish at once (emulator
``--processing 0``, ``max_active_tasks`` above the profile count: no waves to wait for):
``--profiles`` profiles of ``--videos`` videos each (handles ``@size<videos>_<i>``), and
one profile of ``profiles x videos`` videos. For each, the tap alone (``meltano invoke``,
its output counted: STATE and SCHEMA messages and bytes) and ``meltano run tap-vidnavigator
target-postgres`` (meltano.yml's loader settings, RECORD messages, a fresh schema and a
fresh Meltano system database, so no state), its rows counted in PostgreSQL afterwards.
Printed: seconds, and the many-profile case as a multiple of the one-profile case
(goal, issue 31: at most 1.3 x for the pipeline). Meltano runs the tap installed in its
own environment (this checkout; it drops PYTHONPATH), so there is no ``--before``.

    .venv/bin/python benchmarks/scale_loader.py [--profiles 1000] [--videos 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from _common import ROOT, emulator_process, machine

sys.path.insert(0, str(ROOT))
from tests import postgres_server

MELTANO = ROOT / ".meltano-venv" / "bin" / "meltano"
_TYPE = re.compile(rb'^\{\s*"type"\s*:\s*"([A-Z_]+)"')


def _meltano(args: list[str], env: dict[str, str], output: Path | None) -> float:
    with open(output or os.devnull, "wb") as sink:
        started = time.perf_counter()
        result = subprocess.run(
            [str(MELTANO), "--environment", "dev", *args],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"meltano {' '.join(args)} failed:\n{result.stderr.decode()[-3000:]}")
    return elapsed


def _count(path: Path) -> dict[str, float]:
    counts = {"STATE": 0, "STATE bytes": 0, "SCHEMA": 0, "RECORD": 0}
    with open(path, "rb") as lines:
        for line in lines:
            match = _TYPE.match(line)
            kind = match.group(1).decode() if match else "?"
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "STATE":
                counts["STATE bytes"] += len(line)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=20)
    args = parser.parse_args()
    if not MELTANO.exists():
        sys.exit("Meltano is not installed: run ./scripts/bootstrap")
    total = args.profiles * args.videos
    cases = {
        f"{args.profiles:,} profiles x {args.videos}": [
            f"@size{args.videos}_{i}" for i in range(args.profiles)
        ],
        f"1 profile x {total:,}": [f"@size{total}_one"],
    }
    versions = {"after": None}
    rows: list[str] = []
    results: dict[tuple[str, str, str], float] = {}
    number = 0
    with (
        tempfile.TemporaryDirectory(prefix="tap-vidnavigator-scale-loader-") as scratch,
        emulator_process(
            "--processing", "0", "--max-active", str(args.profiles + 10), "--expire", "86400"
        ) as url,
        postgres_server.running() as server,
    ):
        work = Path(scratch)
        pg = server.connection
        base = {
            **os.environ,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_VIDNAVIGATOR_API_URL": url,
            "TAP_VIDNAVIGATOR_SEARCHES": "[]",
            "TAP_VIDNAVIGATOR_MAX_ACTIVE_TASKS": str(args.profiles + 10),
            "PG_HOST": pg["host"],
            "PG_PORT": str(pg["port"]),
            "PG_USER": pg["user"],
            "PG_PASSWORD": pg["password"],
            "PG_DATABASE": pg["database"],
        }
        for version in versions:
            for case, profiles in cases.items():
                for what in ("tap alone", "into target-postgres"):
                    number += 1
                    env = {
                        **base,
                        "TAP_VIDNAVIGATOR_PROFILES": json.dumps(profiles),
                        "TAP_VIDNAVIGATOR_LEDGER_DIR": str(work / f"ledger-{number}"),
                        "MELTANO_DATABASE_URI": f"sqlite:///{work}/meltano-{number}.db",
                        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"scale_{number}",
                    }
                    output = work / f"out-{number}.jsonl"
                    if what == "tap alone":
                        seconds = _meltano(["invoke", "tap-vidnavigator"], env, output)
                        counts = _count(output)
                        note = (
                            f"STATE {counts['STATE']:,.0f} ({counts['STATE bytes'] / 1e6:,.1f}"
                            f" MB), SCHEMA {counts['SCHEMA']:,.0f}, RECORD "
                            f"{counts['RECORD']:,.0f}"
                        )
                    else:
                        run = ["run", "tap-vidnavigator", "target-postgres"]
                        seconds = _meltano(run, env, None)
                        with psycopg2.connect(**pg) as db, db.cursor() as cursor:
                            cursor.execute(f"SELECT count(*) FROM scale_{number}.videos")
                            loaded = cursor.fetchone()[0]
                        note = f"{loaded:,} videos in PostgreSQL"
                        if loaded != total:
                            note += f" (EXPECTED {total:,})"
                    results[(version, case, what)] = seconds
                    rows.append(f"{version:<7} {case:<24} {what:<22} {seconds:>8.1f} s  {note}")
                    print(rows[-1], file=sys.stderr, flush=True)
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.1f}")
    print(f"tasks finish at once; {total:,} videos in each case; RECORD messages")
    for row in rows:
        print(row)
    many, one = cases
    for version in versions:
        for what in ("tap alone", "into target-postgres"):
            ratio = results[(version, many, what)] / results[(version, one, what)]
            goal = " (goal <= 1.3x)" if what != "tap alone" else ""
            print(f"{version:<7} {what:<22} many / one = {ratio:.2f}x{goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
