"""Nox sessions: the test suite on every Python the package promises.

As the Meltano SDK's own noxfile does: virtual environments made by uv, and the
versions read from the ``Programming Language :: Python :: 3.X`` classifiers of
pyproject.toml, so that the promise and the matrix are written once.

Every session installs from a lock (locks/*.txt, refreshed by ``./scripts/lock``), so that
a new release of a dependency cannot change a run.

``nox`` runs ``tests`` on each version, and ``tests_sdk_next`` the same suite on the next
singer-sdk line (the exact version locks/sdk-next.in pins) on the Python running nox;
``nox -p 3.12`` runs ``tests`` on one version. No interpreter
can be downloaded on these machines: a version that is not installed is skipped with
a line saying so (``Skipping tests-3.X: Python interpreter 3.X not found``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

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


# What builds the tap's editable install.
BUILD_LOCK = "locks/build.txt"
# The next singer-sdk line's exact version, in place of pyproject.toml's pin.
SDK_NEXT = "locks/sdk-next.in"
# That session runs on the Python running nox: the one interpreter sure to be installed,
# so that it can never be skipped.
CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _pytest(session: nox.Session) -> None:
    session.run(
        "python", "-m", "pytest", "-m", "not e2e", "-n", "4", "-p", "no:cacheprovider",
        *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON_VERSIONS)
def tests(session: nox.Session) -> None:
    """The suite but the Meltano end-to-end runs (scripts/test runs those once)."""
    session.install("-c", "locks/dev.txt", "-b", BUILD_LOCK, "-e", ".[dev]")
    _pytest(session)


@nox.session(python=CURRENT_PYTHON)
def tests_sdk_next(session: nox.Session) -> None:
    """The same suite on the next singer-sdk line, before the tap's pin admits it."""
    session.install(
        "-c", "locks/sdk-next.txt", "--overrides", SDK_NEXT, "-b", BUILD_LOCK, "-e", ".[dev]"
    )  # fmt: skip
    _pytest(session)
