"""The locks (locks/) agree with what they lock, and with what was installed from them.

Offline: the locks are read as ``./scripts/lock`` wrote them (uv's universal format:
one ``name==version ; marker`` line per package and Python, then the ``# via`` lines
naming what requires it). A lock disagrees with its inputs when a requirement of
``pyproject.toml`` (or ``locks/*.in``, or a plugin's ``pip_url`` in meltano.yml) has no
pin that satisfies it on one of the promised Pythons, or when a pin is still there for a
requirement no longer asked for. Either way: run ``./scripts/lock``.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
import json
import platform
import subprocess
import sys
from pathlib import Path

import nox.project
import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from plugin_requirements import plugin_requirements

LOCKS = ROOT / "locks"
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)
#: How uv's annotations name pyproject.toml as the reason for a pin.
FROM_PYPROJECT = "tap-vidnavigator (pyproject.toml)"
REFRESH = "run ./scripts/lock and commit locks/"


@dataclasses.dataclass(frozen=True)
class Pin:
    requirement: Requirement
    via: frozenset[str]

    @property
    def version(self) -> Version:
        return Version(next(iter(self.requirement.specifier)).version)


def read_lock(path: Path) -> list[Pin]:
    pins: list[Pin] = []
    requirement: Requirement | None = None
    via: set[str] = set()
    for line in [*path.read_text().splitlines(), ""]:
        stripped = line.strip()
        if not line or not (line[0].isspace() or line.startswith("#")):
            if requirement is not None:
                pins.append(Pin(requirement, frozenset(via)))
                requirement, via = None, set()
            if line:
                requirement = Requirement(line)
                specifiers = list(requirement.specifier)
                assert len(specifiers) == 1 and specifiers[0].operator == "==", line
        elif requirement is not None and stripped.startswith("#"):
            name = stripped.removeprefix("#").strip().removeprefix("via").strip()
            if name:
                via.add(name)
    return pins


def environment(python: str) -> dict[str, str]:
    """This machine's marker environment, on another Python version."""
    return {
        **default_environment(),
        "python_version": python,
        "python_full_version": f"{python}.0",
        "extra": "",
    }


def pins_on(pins: list[Pin], python: str) -> dict[str, Pin]:
    """The pins that apply on one Python version; a package pinned twice there fails."""
    chosen: dict[str, Pin] = {}
    for pin in pins:
        marker = pin.requirement.marker
        if marker is None or marker.evaluate(environment(python)):
            name = canonicalize_name(pin.requirement.name)
            assert name not in chosen, f"{name} pinned twice on Python {python}"
            chosen[name] = pin
    return chosen


def pyproject_requirements(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    texts = [*project["dependencies"]]
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def input_requirements(name: str) -> list[Requirement]:
    lines = (LOCKS / name).read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def _check(
    lock: str,
    requirements: list[Requirement],
    via: str | None,
    overrides: dict[str, Requirement] | None = None,
    oldest_python: str = PYTHONS[0],
) -> None:
    """Each requirement pinned to a version it accepts, on every promised Python; each pin
    that names ``via`` as its reason is still one of the requirements."""
    pins = read_lock(LOCKS / lock)
    overrides = overrides or {}
    wanted = {canonicalize_name(r.name) for r in requirements}
    for python in PYTHONS[PYTHONS.index(oldest_python) :]:
        chosen = pins_on(pins, python)
        for asked in requirements:
            name = canonicalize_name(asked.name)
            requirement = overrides.get(name, asked)
            if requirement.marker and not requirement.marker.evaluate(environment(python)):
                continue
            assert name in chosen, (
                f"{lock} has no pin of {requirement} on Python {python}: {REFRESH}"
            )
            version = chosen[name].version
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} pins {name}=={version}, pyproject.toml asks {requirement}: {REFRESH}"
            )
    stale = {
        canonicalize_name(pin.requirement.name)
        for pin in pins
        if via and via in pin.via and canonicalize_name(pin.requirement.name) not in wanted
    }
    assert not stale, f"{lock} still pins {sorted(stale)} for {via}: {REFRESH}"


# The locks are files, each checked for every promised Python at once: these run once, on
# the default Python (noxfile.py). Not test_this_environment_was_installed_from_its_lock,
# which checks the very environment it runs in.
@pytest.mark.python_independent
def test_the_dev_lock_pins_every_requirement_of_pyproject_on_every_python():
    _check("dev.txt", pyproject_requirements("dev", "orchestrate"), FROM_PYPROJECT)


@pytest.mark.python_independent
def test_the_build_lock_pins_the_build_requirements_of_pyproject():
    requirements = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
    _check("build.txt", requirements, None)


@pytest.mark.python_independent
def test_the_next_sdk_lock_is_the_dev_lock_with_the_next_singer_sdk():
    (sdk,) = input_requirements("sdk-next.in")
    assert canonicalize_name(sdk.name) == "singer-sdk"
    _check("sdk-next.txt", pyproject_requirements("dev"), FROM_PYPROJECT, {"singer-sdk": sdk})
    pinned = pins_on(read_lock(LOCKS / "sdk-next.txt"), PYTHONS[0])["singer-sdk"]
    assert sdk.specifier == pinned.requirement.specifier, f"{pinned}, not {sdk}: {REFRESH}"
    assert "--override locks/sdk-next.in" in pinned.via


@pytest.mark.python_independent
def test_the_meltano_lock_pins_the_meltano_of_its_input():
    _check("meltano.txt", input_requirements("meltano.in"), "-r locks/meltano.in")


@pytest.mark.python_independent
@pytest.mark.parametrize("plugin", sorted(plugin_requirements()))
def test_each_meltano_plugin_has_a_lock_that_pins_its_pip_url(plugin):
    """locks/plugins/NAME.txt, for a pip_url's ``-c`` (the README says which still float)."""
    python, source = plugin_requirements()[plugin]
    if source.endswith("pyproject.toml"):
        requirements = [
            Requirement(text)
            for text in nox.project.load_toml(ROOT / source)["project"]["dependencies"]
        ]
    else:
        requirements = [Requirement(text) for text in source.split()]
    _check(f"plugins/{plugin}.txt", requirements, None, oldest_python=python)


@pytest.mark.python_independent
def test_every_pip_url_takes_its_own_lock():
    """Meltano installs each plugin with the versions CI ran: nothing floats."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    checked = []
    for plugins in project["plugins"].values():
        for plugin in plugins:
            if "pip_url" not in plugin:
                continue
            words = plugin["pip_url"].split()
            constraints = [
                value
                for option, value in itertools.pairwise(words)
                if option in {"-c", "--constraint", "--constraints"}
            ]
            expected = f"${{MELTANO_PROJECT_ROOT}}/locks/plugins/{plugin['name']}.txt"
            assert constraints == [expected], plugin["name"]
            checked.append(plugin["name"])
    assert sorted(checked) == sorted(plugin_requirements())


@pytest.mark.python_independent
def test_a_pyproject_requirement_missing_from_the_lock_is_caught(tmp_path):
    """The check above can fail: a requirement the lock does not satisfy is reported."""
    with pytest.raises(AssertionError, match="asks pytest>=99"):
        _check("dev.txt", [Requirement("pytest>=99")], FROM_PYPROJECT)
    with pytest.raises(AssertionError, match="no pin of left-pad"):
        _check("dev.txt", [Requirement("left-pad")], FROM_PYPROJECT)
    with pytest.raises(AssertionError, match="still pins"):
        _check("dev.txt", pyproject_requirements("dev"), FROM_PYPROJECT)


def _mismatches(installed: dict[str, str], lock: str, python: str) -> dict[str, str]:
    pins = pins_on(read_lock(LOCKS / lock), python)
    return {
        name: f"{version} installed, {pins[name].version} locked"
        for name, version in installed.items()
        if name in pins and Version(version) != pins[name].version
    }


def test_this_environment_was_installed_from_its_lock():
    """.venv (./scripts/bootstrap) or a nox session's environment: each locked package
    installed here has its locked version."""
    python = ".".join(platform.python_version_tuple()[:2])
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    (sdk,) = input_requirements("sdk-next.in")
    lock = "sdk-next.txt" if sdk.specifier.contains(installed["singer-sdk"], True) else "dev.txt"
    assert not _mismatches(installed, lock, python), f"not as {lock} says: {sys.prefix}"


@pytest.mark.python_independent
def test_meltano_environment_was_installed_from_its_lock():
    meltano_python = ROOT / ".meltano-venv" / "bin" / "python"
    if not meltano_python.exists():
        pytest.skip(".meltano-venv not made yet: ./scripts/bootstrap makes it")
    listing = subprocess.run(
        [
            meltano_python,
            "-c",
            "import importlib.metadata as m, json, platform; print(json.dumps(["
            "'.'.join(platform.python_version_tuple()[:2]),"
            "{d.metadata['Name']: d.version for d in m.distributions()}]))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    python, versions = json.loads(listing)
    installed = {canonicalize_name(name): version for name, version in versions.items()}
    assert "meltano" in installed
    assert not _mismatches(installed, "meltano.txt", python)
