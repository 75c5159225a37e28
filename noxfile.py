"""Nox sessions: the test suite on every Python the package promises.

As the Meltano SDK's own noxfile does: virtual environments made by uv, and the
versions read from the ``Programming Language :: Python :: 3.X`` classifiers of
pyproject.toml, so that the promise and the matrix are written once.

Every session installs from a lock (locks/*.txt, refreshed by ``./scripts/lock``), so that
a new release of a dependency cannot change a run; but ``wheel`` (``nox -s wheel``), which
installs the built wheel as a user would, its dependencies fresh from the package index.

``nox`` runs ``tests`` on each version, and ``tests_sdk_next`` the same suite on the next
singer-sdk line (the exact version locks/sdk-next.in pins) on the Python running nox;
``nox -p 3.12`` runs ``tests`` on one version. Tests marked ``python_independent`` (they
run no code of the tap) run only in ``tests`` on the Python running nox. No interpreter
can be downloaded on these machines: a version that is not installed is skipped with
a line saying so (``Skipping tests-3.X: Python interpreter 3.X not found``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import typing as t
import zipfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "tests_sdk_next"]
# Skip (and say so) rather than fail where a version is not installed; nox would fail
# on CI by default.
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON_VERSIONS = nox.project.python_versions(PYPROJECT)


def _expose_pyenv_versions() -> None:
    """Let pyenv's shims answer ``python3.X`` for every installed version we test.

    Its shims answer only for versions named in PYENV_VERSION (or ``pyenv global``).
    """
    pyenv = shutil.which("pyenv")
    if os.environ.get("PYENV_VERSION") or not pyenv:
        return
    installed = subprocess.run(  # noqa: S603 - pyenv itself, fixed arguments
        [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    wanted = [v for v in installed if any(v.startswith(f"{p}.") for p in PYTHON_VERSIONS)]
    if wanted:
        os.environ["PYENV_VERSION"] = ":".join(wanted)


_expose_pyenv_versions()
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
# Installs compile their bytecode, as scripts/bootstrap's do: where PYTHONDONTWRITEBYTECODE
# is set (it is on these machines) every test worker, fork server and tap process would
# otherwise compile singer-sdk and the rest of its imports again (about a CPU second each).
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")


# What builds the tap's editable install.
BUILD_LOCK = "locks/build.txt"
# The next singer-sdk line's exact version, in place of pyproject.toml's pin.
SDK_NEXT = "locks/sdk-next.in"
# That session runs on the Python running nox: the one interpreter sure to be installed,
# so that it can never be skipped.
CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _pytest(session: nox.Session, *, python_independent: bool) -> None:
    # Tests marked python_independent run no code of the tap (the emulator, the provider's
    # client, the locks, the tests' PostgreSQL): once, with the default Python's session.
    marks = "not e2e" if python_independent else "not e2e and not python_independent"
    # The tap's own sources are installed editable, so the install compiles none of them:
    # once here, rather than in every tap process the tests start (PYTHONDONTWRITEBYTECODE).
    session.run("python", "-m", "compileall", "-q", "tap_vidnavigator", silent=True)
    session.run(
        "python", "-m", "pytest", "-m", marks, "-n", "4", "-p", "no:cacheprovider",
        *session.posargs,
    )  # fmt: skip


@contextlib.contextmanager
def _editable_build() -> t.Iterator[None]:
    """One editable install of the sources at a time across nox processes.

    setuptools writes its egg-info beside the sources while it builds one, and
    scripts/test runs two nox processes at once (the matrix; the wheel, then singer-sdk
    next): two builds writing the same files could read each other's half-written ones.
    """
    lock_path = Path(__file__).resolve().parent / ".nox" / "editable-build.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@nox.session(python=PYTHON_VERSIONS)
def tests(session: nox.Session) -> None:
    """The suite but the Meltano end-to-end runs (scripts/test runs those once)."""
    with _editable_build():
        session.install("-c", "locks/dev.txt", "-b", BUILD_LOCK, "-e", ".[dev]")
    _pytest(session, python_independent=session.python == CURRENT_PYTHON)


@nox.session(python=CURRENT_PYTHON)
def tests_sdk_next(session: nox.Session) -> None:
    """The same suite on the next singer-sdk line, before the tap's pin admits it."""
    with _editable_build():
        session.install(
            "-c", "locks/sdk-next.txt", "--overrides", SDK_NEXT, "-b", BUILD_LOCK, "-e", ".[dev]"
        )  # fmt: skip
    _pytest(session, python_independent=False)


DIST = Path(__file__).resolve().parent / "dist"
#: What a fresh clone holds that is not the project: never copied into a build.
_NOT_SOURCE = (
    ".git", ".venv", ".meltano-venv", ".meltano", ".nox", "output", "dist", "build",
    "*.egg-info", "__pycache__", ".*_cache",
)  # fmt: skip


@nox.session(python=False)
def dist(session: nox.Session) -> None:
    """The sdist and the wheel into dist/, their metadata checked, the licence in both.

    Built from a copy of the project (uv builds the wheel from the sdist, as a package
    index user's installer would): setuptools writes its egg-info beside the sources, and
    the matrix's editable installs run at the same time.
    """
    shutil.rmtree(DIST, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "tap-vidnavigator"
        shutil.copytree(DIST.parent, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        session.run(sys.executable, "-m", "uv", "build", "--quiet", "--build-constraint",
                    BUILD_LOCK, "--out-dir", str(DIST), str(source))  # fmt: skip
    [sdist], [wheel] = sorted(DIST.glob("*.tar.gz")), sorted(DIST.glob("*.whl"))
    session.run(sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel))
    licence = (DIST.parent / "LICENSE").read_bytes()
    with tarfile.open(sdist) as archive:
        [member] = [m for m in archive.getmembers() if m.name.endswith("/LICENSE")]
        in_sdist = t.cast("t.IO[bytes]", archive.extractfile(member)).read()
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        in_wheel = archive.read(name)
        metadata = archive.read(name.replace("licenses/LICENSE", "METADATA")).decode()
    if not in_sdist == in_wheel == licence:
        session.error("the sdist's or the wheel's LICENSE is not the repository's")
    if "License-Expression: Apache-2.0" not in metadata or "License-File: LICENSE" not in metadata:
        session.error("the wheel's METADATA declares no Apache-2.0 licence file")
    session.log(f"built and checked {sdist.name} and {wheel.name}, the licence in both")


@nox.session(python=PYTHON_VERSIONS, requires=["dist"])
def wheel(session: nox.Session) -> None:
    """The wheel as a user installs it, dependencies from the package index: the CLIs work.

    From a folder outside the repository, so that nothing is imported from the sources:
    ``--about``, ``--discover``, the emulator, and one sync against it with exactly the
    emulator's ground truth as records.
    """
    [built] = DIST.glob("*.whl")
    session.install(str(built))
    venv = Path(t.cast("str", session.virtualenv.location))
    session.chdir(session.create_tmp())

    def run(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - the session's own executables
            [str(venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            session.error(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done.stdout

    where = run("python", "-c", "import tap_vidnavigator; print(tap_vidnavigator.__file__)")
    if not where.startswith(str(venv)):
        session.error(f"tap_vidnavigator imported from {where.strip()}, not the installed wheel")
    about = json.loads(run("tap-vidnavigator", "--about", "--format", "json"))
    if about["name"] != "tap-vidnavigator" or "api_key" not in about["settings"]["properties"]:
        session.error(f"--about: unexpected {about['name']!r}")
    # catalog.json is the sources' --discover (scripts/plugin_metadata.py keeps it so).
    if json.loads(run("tap-vidnavigator", "--discover")) != json.loads(
        (DIST.parent / "catalog.json").read_text()
    ):
        session.error("--discover of the wheel is not the repository's catalog.json")
    _sync_against_the_emulator(session, venv, run)


def _sync_against_the_emulator(session: nox.Session, venv: Path, run: t.Callable[..., str]) -> None:
    """The wheel's emulator serves one profile; the wheel's tap emits exactly its videos.

    Exactly the set of videos, each once, tied to its task and profile. Every field of every
    record is compared on each Python by the matrix's tests and, from this wheel, by
    tests/e2e/test_hub_user.py: here the counts would need the task's moment, which only the
    emulator process that ran the task knows.
    """
    # The videos the emulator serves, from the repository's sources in nox's environment;
    # imported here so that listing the sessions needs no tap installed.
    sys.path.insert(0, str(DIST.parent))
    from tap_vidnavigator.emulator.state import EmulatorState  # noqa: PLC0415

    profile = "https://www.tiktok.com/@size120"
    emulator = subprocess.Popen(  # noqa: S603 - the session's own executable
        [str(venv / "bin" / "vidnavigator-emulator"), "--processing", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        url = t.cast("t.IO[str]", emulator.stdout).readline().strip()
        config = Path("config.json")
        config.write_text(
            json.dumps({"api_key": "demo-key", "api_url": url, "profiles": [profile],
                        "poll_interval": 0.05})
        )  # fmt: skip
        output = run("tap-vidnavigator", "--config", str(config))
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    messages = [json.loads(line) for line in output.splitlines() if line.strip()]
    records = {
        stream: [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
        for stream in ("profile_tasks", "videos")
    }
    [task] = records["profile_tasks"]
    served = [video["id"] for video in EmulatorState().ground_truth(profile)]
    emitted = [video["id"] for video in records["videos"]]
    if task["task_status"] != "completed" or sorted(emitted) != sorted(served):
        session.error(f"the sync emitted {len(emitted)} videos, not the {len(served)} served")
    if any(
        (v["task_id"], v["profile_url"]) != (task["task_id"], profile) for v in records["videos"]
    ):
        session.error("a video is not tied to its task and profile")
    session.log(f"--about, --discover, the emulator and a sync of {len(emitted)} videos: exact")
