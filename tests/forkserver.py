"""Run the tap as its own process without paying its start-up every time.

Most tests run ``tap-vidnavigator`` as a separate process, as Meltano does, and about
half a second of CPU of each such run is Python importing singer-sdk. A fork server
pays that once per test worker: a single-threaded process that imports the tap and
then, per request, forks a child that takes the request's environment, working
folder, arguments, stdout and stderr, runs the tap's command line, runs the exit
handlers (the writer flushes queued lines there) and exits with the tap's code. The
child is a fresh process to the tap: the server never ran it, so no state is shared.

Tests that need a cold interpreter (buffering set by the environment at start-up, a
SIGKILL mid-run) start a plain subprocess. ``TAP_TESTS_NO_FORKSERVER=1`` makes every
run a plain subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import typing as t

SERVER = r"""
import atexit, json, os, sys
from tap_vidnavigator.tap import TapVidNavigator  # the start-up each run would pay

for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["cwd"])
            stdin = os.open(os.devnull, os.O_RDONLY)
            os.dup2(stdin, 0)
            for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(out, fd)
            sys.argv = ["tap-vidnavigator", *request["args"]]
            try:
                TapVidNavigator.cli.main(args=request["args"], prog_name="tap-vidnavigator")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class ForkServer:
    """One server process; ``run`` is safe to call from one thread at a time."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()

    def run(
        self,
        args: t.Sequence[str],
        *,
        env: dict[str, str],
        stdout: str,
        stderr: str,
        timeout: float,
    ) -> int:
        """Run the tap with ``args``; its output goes to the two files. Its exit code."""
        request = {
            "args": list(args),
            "env": env,
            "cwd": os.getcwd(),
            "stdout": stdout,
            "stderr": stderr,
        }
        with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            pid = json.loads(self._process.stdout.readline())["pid"]
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

            timer = threading.Timer(timeout, expire)
            timer.start()
            try:
                answer = json.loads(self._process.stdout.readline())
            finally:
                timer.cancel()
            if expired.is_set():
                raise subprocess.TimeoutExpired(["tap-vidnavigator", *args], timeout)
            return int(answer["code"])

    def close(self) -> None:
        """Stop the server."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)


_server: ForkServer | None = None


def server() -> ForkServer | None:
    """This worker's fork server, started on first use; None when turned off."""
    global _server  # noqa: PLW0603 - one per test worker process
    if os.environ.get("TAP_TESTS_NO_FORKSERVER") or not hasattr(os, "fork"):
        return None
    if _server is None:
        _server = ForkServer()
    return _server


def stop() -> None:
    """Stop this worker's fork server, if it started."""
    if _server is not None:
        _server.close()
