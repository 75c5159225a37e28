"""Many creators in one run: wall time against the ideal waves, and what the run writes.

One run of the tap per profile count, against the emulator in its own process (tasks of
``--task-seconds``, its active-task limit at ``--cap``), each profile ``--videos`` videos
(handles ``@size<videos>_<i>``: distinct videos, the same count). Printed per run:

* wall seconds, and the ideal: ``ceil(profiles / cap)`` waves of ``task-seconds`` each
  (what a run that waits for nothing but the tasks takes), and their ratio;
* polls per task that found it still processing (the emulator's counters; each task
  also has its terminal poll, which carries the first page), videos emitted (checked:
  profiles x videos);
* STATE messages, their bytes in all, the last one's bytes; SCHEMA messages;
* the tap process's peak RSS, and the CPU seconds of the tap and of the emulator (on a
  shared machine, less disturbed than wall time; the emulator's say whether it kept up).

Goal (issue 31): 1,000 profiles x 20 videos at cap 50, tasks of 1 s, within 1.5 x the
ideal waves + 5 s.

A run longer than ``--timeout`` is stopped (SIGKILL) and reported as capped: what it did
until then, and an extrapolation to all the profiles (wall: the tasks left at the pace
so far, a floor since the pace falls as STATE grows; STATE bytes: what was written so
far times (profiles / tasks done) squared, since each of a fixed number of messages per
task grows with the tasks done).

``--before DIR`` runs the tap from another checkout's source folder (for example
``git worktree add /tmp/before 12e8d56``) with this environment's packages, in the same
invocation, so that before and after share the machine's load.

    .venv/bin/python benchmarks/scale.py --profiles 100 --profiles 1000 [--cap 50]
        [--task-seconds 1] [--videos 20] [--poll-interval 1] [--no-ledger]
        [--timeout 600] [--before DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import requests
from _common import KEY, ROOT, emulator_process, machine

_TYPE = re.compile(rb'^\{\s*"type"\s*:\s*"([A-Z_]+)"')
_STREAM = re.compile(rb'"stream"\s*:\s*"([^"]+)"')


@dataclasses.dataclass
class Output:
    """What the tap wrote to stdout, counted as it arrives."""

    states: int = 0
    state_bytes: int = 0
    last_state: int = 0
    schemas: int = 0
    records: dict[str, int] = dataclasses.field(default_factory=dict)
    other: int = 0

    def read(self, stream: t.IO[bytes]) -> None:
        records = self.records
        for line in stream:
            if line.startswith(b'{"type":"RECORD","stream":"'):
                name = line[27 : line.index(b'"', 27)].decode()
                records[name] = records.get(name, 0) + 1
                continue
            match = _TYPE.match(line)
            kind = match.group(1) if match else b""
            if kind == b"STATE":
                self.states += 1
                self.state_bytes += len(line)
                self.last_state = len(line)
            elif kind == b"SCHEMA":
                self.schemas += 1
            elif kind == b"RECORD":
                found = _STREAM.search(line)
                name = found.group(1).decode() if found else "?"
                records[name] = records.get(name, 0) + 1
            else:
                self.other += 1


@dataclasses.dataclass
class Result:
    label: str
    profiles: int
    seconds: float
    ideal: float
    polls_per_task: float
    output: Output
    peak_mb: int
    cpu_seconds: float
    emulator_cpu_seconds: float
    exit_code: int
    capped: bool


def _tap_command(config_path: str, before: str | None) -> list[str]:
    if before is None:
        return [sys.executable, "-I", "-m", "tap_vidnavigator.tap", "--config", config_path]
    # The other checkout's package first on the path; -I keeps this checkout out of it.
    code = (
        f"import sys; sys.path.insert(0, {str(Path(before).resolve())!r}); "
        "import tap_vidnavigator.tap as m; "
        f"assert m.__file__.startswith({str(Path(before).resolve())!r}), m.__file__; "
        "m.TapVidNavigator.cli()"
    )
    return [sys.executable, "-I", "-c", code, "--config", config_path]


def _counters(url: str) -> dict[str, t.Any]:
    admin = url.split("/v1", 1)[0] + "/_emulator/counters"
    return requests.post(admin, json={"key": KEY}, timeout=30).json()["data"]


def _listening_pid(url: str) -> int | None:
    """The emulator's process (a child of this one), found by its command line."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) != os.getpid():
                continue
            if b"tap_vidnavigator.emulator" in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def _cpu_seconds(pid: int | None) -> float:
    """User and system CPU seconds of a running process (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(args: argparse.Namespace, profiles: int, before: str | None) -> Result:
    """One tap run against a fresh emulator."""
    with (
        emulator_process(
            "--processing", str(args.task_seconds), "--max-active", str(args.cap)
        ) as url,
        tempfile.TemporaryDirectory() as scratch,
    ):
        config: dict[str, t.Any] = {
            "api_key": KEY,
            "api_url": url,
            "profiles": [f"@size{args.videos}_{i}" for i in range(profiles)],
            "max_active_tasks": args.cap,
            "poll_interval": args.poll_interval,
        }
        if args.ledger:
            config["ledger_dir"] = str(Path(scratch) / "ledger")
        else:
            config["use_ledger"] = False
        config_path = Path(scratch) / "config.json"
        config_path.write_text(json.dumps(config))
        output = Output()
        start = time.perf_counter()
        process = subprocess.Popen(
            _tap_command(str(config_path), before),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=scratch,
        )
        assert process.stdout is not None
        reader = threading.Thread(target=output.read, args=(process.stdout,))
        reader.start()
        capped = False
        timer = threading.Timer(args.timeout, lambda: process.send_signal(signal.SIGKILL))
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        capped = not timer.is_alive() or os.WIFSIGNALED(status)
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        reader.join()
        counters = _counters(url)
        emulator_cpu = _cpu_seconds(_listening_pid(url))
    polls = counters["polls"] / max(1, counters["submits"])
    return Result(
        label="before" if before else "after",
        profiles=profiles,
        seconds=seconds,
        ideal=math.ceil(profiles / args.cap) * args.task_seconds,
        polls_per_task=polls,
        output=output,
        peak_mb=usage.ru_maxrss // 1024,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        emulator_cpu_seconds=emulator_cpu,
        exit_code=process.returncode,
        capped=capped,
    )


def report(result: Result, args: argparse.Namespace) -> str:
    out = result.output
    tasks = out.records.get("profile_tasks", 0)
    videos = out.records.get("videos", 0)
    expected = result.profiles * args.videos
    lines = [
        f"{result.label}: {result.profiles:,} profiles x {args.videos} videos, cap {args.cap}, "
        f"tasks of {args.task_seconds:g} s, poll_interval {args.poll_interval:g}, "
        f"ledger {'on' if args.ledger else 'off'}"
        + (f" [CAPPED at {args.timeout:g} s, SIGKILL]" if result.capped else ""),
        f"  wall {result.seconds:.1f} s; ideal waves {result.ideal:g} s "
        f"({result.seconds / result.ideal:.2f}x; goal <= {1.5 * result.ideal + 5:.1f} s: "
        f"{'MET' if result.seconds <= 1.5 * result.ideal + 5 else 'MISSED'}); "
        f"exit {result.exit_code}",
        f"  tasks {tasks:,}; videos {videos:,} of {expected:,}"
        f"{'' if videos == expected else ' (INCOMPLETE)'}; polls per task while "
        f"processing {result.polls_per_task:.2f} (+ the terminal poll, with the first page)",
        f"  STATE {out.states:,} messages, {out.state_bytes / 1e6:,.1f} MB in all, last "
        f"{out.last_state / 1e3:,.1f} KB; SCHEMA {out.schemas:,}; peak RSS {result.peak_mb} MB",
        f"  CPU seconds: tap {result.cpu_seconds:.1f}, emulator {result.emulator_cpu_seconds:.1f}",
    ]
    if result.capped and tasks:
        share = result.profiles / tasks
        lines.append(
            f"  extrapolated to {result.profiles:,} profiles: wall >= "
            f"{result.seconds * share:,.0f} s; STATE ~{out.states * share:,.0f} messages, "
            f"~{out.state_bytes * share * share / 1e9:,.1f} GB"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, action="append")
    parser.add_argument("--cap", type=int, default=50)
    parser.add_argument("--task-seconds", type=float, default=1.0)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--no-ledger", dest="ledger", action="store_false")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--before", metavar="DIR", help="another checkout's source folder")
    parser.add_argument("--before-only", action="store_true", help="with --before: only it")
    args = parser.parse_args()
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"tap from {ROOT}" + (f", before from {args.before}" if args.before else ""))
    for profiles in args.profiles or [100, 1000]:
        candidates: list[str | None] = [args.before] if args.before else []
        if not (args.before and args.before_only):
            candidates.append(None)
        for before in candidates:
            result = run_once(args, profiles, before)
            print(report(result, args), flush=True)
    print(f"load after {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
