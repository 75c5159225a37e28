"""Shared fixtures: the emulator on a free loopback port, and running the real tap CLI."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import pytest

from tap_vidnavigator.emulator import Emulator, EmulatorConfig, FaultPlan
from tests import forkserver, postgres_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "demo-key"


#: Held: a task that stays processing until the test completes it (Emulator.complete).
HELD = 24 * 3600.0

#: What a process the tests start inherits of the test runner's environment: what finds
#: programs and a home, nothing that configures the tap, a target or Meltano, so that an
#: exported TAP_VIDNAVIGATOR_* or TARGET_* (or a TZ) cannot change what a test sees.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
#: And how this machine reaches the package registries (certificates, proxies, pip's and
#: uv's settings), which a new user's shell on it has too: Meltano installs plugins.
MACHINE = re.compile(
    r"^(PIP_\w+|UV_\w+|SSL_CERT_\w+|\w*_CA_BUNDLE|(HTTPS?|NO|ALL)_PROXY)$", re.IGNORECASE
)


def machine_env() -> dict[str, str]:
    """The MACHINE variables of this process's environment."""
    return {name: value for name, value in os.environ.items() if MACHINE.match(name)}


def minimal_env(**extra: str) -> dict[str, str]:
    """A listed environment for a process a test starts: INHERITED, MACHINE, ``extra``."""
    environment = {name: os.environ[name] for name in INHERITED if name in os.environ}
    return {**machine_env(), **environment, **extra}


class ManualClock:
    """A clock that moves only when the test moves it: ``Emulator(clock=...)``."""

    def __init__(self, start: float | None = None) -> None:
        # A whole second: the API's times are whole seconds, so a test can name them.
        self.now = float(int(time.time())) if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now


def wait_for(condition: t.Callable[[], t.Any], what: str, timeout: float = 120.0) -> t.Any:
    """Wait until ``condition()`` is true (its value), failing after ``timeout`` seconds.

    A wait on a state with a deadline, never a sleep that hopes a state was reached.
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            msg = f"waited {timeout:g} s for {what}"
            raise AssertionError(msg)
        time.sleep(0.01)
    return value


@pytest.fixture
def make_emulator() -> t.Iterator[t.Callable[..., Emulator]]:
    """Start emulators with the given config; all are stopped after the test.

    ``clock=`` (a ManualClock) runs the emulator's lifecycle instead of the real clock.
    """
    started: list[Emulator] = []

    def start(
        faults: FaultPlan | None = None,
        clock: t.Callable[[], float] = time.time,
        **config: t.Any,
    ) -> Emulator:
        # processing_polls=N: a task answers "processing" to N polls, then completes.
        config.setdefault("processing_seconds", HELD if "processing_polls" in config else 0.0)
        emulator = Emulator(EmulatorConfig(**config), faults, clock=clock).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: t.Callable[..., Emulator]) -> Emulator:
    """An emulator whose tasks complete at once; yields url, counters and ground truth."""
    return make_emulator()


@dataclasses.dataclass
class TapRun:
    """What one tap process did."""

    returncode: int
    messages: list[dict[str, t.Any]]
    stderr: str

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any] | None:
        return self.states[-1] if self.states else None

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def create_task(emulator: Emulator, handle: str, key: str = KEY) -> str:
    """Submit a profile to the emulator directly (as a dashboard user would); its task id."""
    import requests

    answer = requests.post(
        f"{emulator.url}/tiktok/profile",
        json={"profile_url": f"https://www.tiktok.com/@{handle}"},
        headers={"X-API-Key": key},
        timeout=10,
    )
    return str(answer.json()["data"]["task_id"])


def answer_usage(httpserver: t.Any) -> None:
    """Make a hand-written API (pytest-httpserver) answer ``GET /v1/usage`` as the emulator.

    With the emulator's answer for its demo account, whatever key the test sends. Every
    run reads that free balance first (the ``account_usage`` stream); a fake API
    without the route answers 500, and the tap retries it with backoff for about a
    minute before it goes on without the row, which is not what such tests are about.
    """
    from tap_vidnavigator.emulator.state import EmulatorState

    answer = EmulatorState().usage(KEY)
    httpserver.expect_request("/v1/usage", method="GET").respond_with_data(
        answer.body, status=answer.status, content_type=answer.content_type
    )


def base_config(emulator: Emulator, **settings: t.Any) -> dict[str, t.Any]:
    """A tap config pointed at ``emulator`` that polls fast."""
    return {"api_key": KEY, "api_url": emulator.url, "poll_interval": 0.05, **settings}


def run_tap(
    tmp_path: Path,
    config: dict[str, t.Any],
    *,
    state: dict[str, t.Any] | None = None,
    args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 300,
    cold: bool = False,
) -> TapRun:
    """Run ``tap-vidnavigator`` as its own process, as Meltano does, and parse its output.

    Through this worker's fork server (tests/forkserver.py) unless it is turned off or
    ``cold`` (a fresh interpreter: runs at once, which the fork server serialises).
    """
    run_id = os.urandom(4).hex()
    config_path = tmp_path / f"config-{run_id}.json"
    config_path.write_text(json.dumps(config))
    arguments = ["--config", str(config_path), *args]
    if state is not None:
        state_path = tmp_path / f"state-{run_id}.json"
        state_path.write_text(json.dumps(state))
        arguments += ["--state", str(state_path)]
    environment = minimal_env(**(env or {}))
    server = None if cold else forkserver.server()
    if server is not None:
        out, err = tmp_path / f"stdout-{run_id}", tmp_path / f"stderr-{run_id}"
        returncode = server.run(
            arguments, env=environment, stdout=str(out), stderr=str(err), timeout=timeout
        )
        stdout, stderr = out.read_bytes(), err.read_bytes()
    else:
        completed = subprocess.run(
            [sys.executable, "-m", "tap_vidnavigator.tap", *arguments],
            capture_output=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
        returncode, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    messages = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return TapRun(returncode, messages, stderr.decode("utf-8", "replace"))


def start_tap(
    tmp_path: Path, config: dict[str, t.Any], **options: t.Any
) -> concurrent.futures.Future[TapRun]:
    """Run the tap as :func:`run_tap` does, on a thread: the test acts on the emulator
    (completes tasks, waits for a state) while the tap runs. ``.result()`` is the run.
    """
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(run_tap, tmp_path, config, **options)
    pool.shutdown(wait=False)
    return future


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop this worker's fork server."""
    forkserver.stop()


def expected_videos(
    emulator: Emulator, profile_url: str, *, seen_by: str | None = None, **filters: t.Any
) -> dict[str, dict]:
    """The ground truth of a profile, by video id.

    As a task completing now would serve it or, with ``seen_by`` (a task id), as that
    task served it: its videos and their counts at its moment (docs/emulator-model.md).
    """
    truth = emulator.ground_truth(profile_url, seen_by=seen_by, **filters)
    return {video["id"]: video for video in truth}


def assert_videos_match(
    records: list[dict], emulator: Emulator, profile_url: str, **filters: t.Any
) -> None:
    """The records of one profile are exactly its ground truth, field by field.

    Each record is checked against the task that served it (its ``task_id``): a task
    with these filters serves exactly these videos, with the counts of its moment.
    Records from several tasks of the profile must cover every task's videos.
    """
    from tap_vidnavigator.records.profiles import video_typer

    mine = [r for r in records if r["profile_url"] == profile_url]
    ids = [r["id"] for r in mine]
    assert len(ids) == len(set(ids)), "a video was emitted twice"
    by_task = {
        task_id: expected_videos(emulator, profile_url, seen_by=task_id, **filters)
        for task_id in {r["task_id"] for r in mine}
    }
    truth = expected_videos(emulator, profile_url, **filters) if not by_task else {}
    for served in by_task.values():
        truth.update(served)
    assert set(ids) == set(truth)
    for record in mine:
        raw = dict(by_task[record["task_id"]][record["id"]])
        assert record == video_typer(record["task_id"], profile_url)(raw)


@pytest.fixture(scope="session")
def postgres() -> t.Iterator[dict[str, t.Any]]:
    """A throwaway PostgreSQL cluster on loopback (tests/postgres_server.py)."""
    with postgres_server.running() as server:
        yield server.connection
