"""Nox sessions: the test suite on every Python the package promises.

As the Meltano SDK's own noxfile does: virtual environments made by uv, and the
versions read from the ``Programming Language :: Python :: 3.X`` classifiers of
pyproject.toml, so that the promise and the matrix are written once.

``nox`` runs ``tests`` on each version; ``nox -p 3.12`` one of them. No interpreter
can be downloaded on these machines: a version that is not installed is skipped with
a line saying so (``Skipping tests-3.X: Python interpreter 3.X not found``).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
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


@nox.session(python=PYTHON_VERSIONS)
def tests(session: nox.Session) -> None:
    """The suite but the Meltano end-to-end runs (scripts/test runs those once)."""
    session.install("-e", ".[dev]")
    session.run(
        "python", "-m", "pytest", "-m", "not e2e", "-n", "4", "-p", "no:cacheprovider",
        *session.posargs,
    )  # fmt: skip
