"""Helpers shared by the benchmarks: an emulator process, tap runs, peak memory."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
KEY = "demo-key"
HEADERS = {"X-API-Key": KEY}


def machine() -> str:
    """One line describing the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    python = platform.python_version()
    return (
        f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores, Python {python}"
    )


@contextlib.contextmanager
def emulator_process(*args: str) -> t.Iterator[str]:
    """The emulator in its own process (so it never shares the GIL with what is measured)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_vidnavigator.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def completed_task(api_url: str, handle: str) -> str:
    """Submit a profile and wait until its task is completed; return the task id."""
    answer = requests.post(
        f"{api_url}/tiktok/profile",
        json={"profile_url": f"https://www.tiktok.com/@{handle}"},
        headers=HEADERS,
        timeout=60,
    )
    task_id = answer.json()["data"]["task_id"]
    while True:
        data = requests.get(
            f"{api_url}/tiktok/profile/{task_id}", params={"limit": 1}, headers=HEADERS, timeout=300
        ).json()["data"]
        if data["task_status"] != "processing":
            return str(task_id)
        time.sleep(0.2)


def tap_command(config: dict[str, t.Any], python: str = sys.executable) -> list[str]:
    """The tap's command line for a config (written to a temporary file).

    ``python`` may be another environment's interpreter with another version of the
    tap installed (``--before``), to compare two versions in one run.
    """
    handle, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(handle, "w") as file:
        json.dump(config, file)
    # -I: without it ``-m`` puts the working directory first on sys.path, and run from the
    # repository an older environment would import this checkout's tap, not its own.
    return [python, "-I", "-m", "tap_vidnavigator.tap", "--config", path]


class Timing(t.NamedTuple):
    """One run of a command: wall seconds, peak RSS, and the CPU seconds it used (user
    and system: less disturbed than wall time by the other work of a shared machine)."""

    seconds: float
    peak_mb: int
    cpu_seconds: float


def timed(command: list[str]) -> Timing:
    """Run a command with stdout to /dev/null; its wall time, peak RSS and CPU time."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "code = subprocess.run(\n"
        "    sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL\n"
        ").returncode\n"
        "elapsed = time.perf_counter() - start\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(elapsed, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime, code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True
    )
    elapsed, peak_mb, cpu, code = out.stdout.split()
    if code != "0":
        raise RuntimeError(f"{command} exited {code}")
    return Timing(float(elapsed), int(peak_mb), float(cpu))
