"""The path a Meltano Hub user takes: the README's "Use it in your own Meltano project".

A fresh ``meltano init`` project in a temporary folder, the tap added from the Hub
definition with Meltano 4's syntax and installed from a wheel built from these sources,
a loader from a local definition, settings through ``meltano config set`` and a
``meltano run`` against the emulator, with the exact records in the loader's files. The
README section's commands are run as written, but for what only a user can reach:

- the definition's raw GitHub URL is read from the file in this repository;
- ``tap-vidnavigator`` (the Hub definition's ``pip_url``) comes from a folder holding the
  built wheel, offered to Meltano's installer (uv) as ``UV_FIND_LINKS``, in place of the
  package index (the README's ``git+https`` ``pip_url`` needs GitHub);
- the Hub's target-jsonl is added from a definition written here (``--from-ref``).

Nothing is installed with ``-e .`` and this repository's ``meltano.yml`` is never read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import KEY, ROOT, assert_videos_match, expected_videos, minimal_env

sys.path.insert(0, str(ROOT / "scripts"))
import plugin_metadata

# Many Meltano runs in one test: a deadline past the 600 s default.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

MELTANO_BIN = ROOT / ".meltano-venv" / "bin"
HUB_FILE = plugin_metadata.HUB_FILE
SECTION = "## Use it in your own Meltano project"
RAW = "https://raw.githubusercontent.com/tap-vidnavigator/tap-vidnavigator/main/"
PROFILES = ["https://www.tiktok.com/@tiktok", "https://www.tiktok.com/@nasa"]
#: target-jsonl as the Hub defines it (the andyh1203 variant), for the Hub user's loader.
LOADER = {
    "name": "target-jsonl",
    "namespace": "target_jsonl",
    "variant": "andyh1203",
    "pip_url": "target-jsonl==0.1.4",
    "executable": "target-jsonl",
    "settings": [
        {"name": "destination_path", "kind": "string"},
        {"name": "do_timestamp_file", "kind": "boolean"},
    ],
}
#: What a user reaches and this test does not: nothing else of the section is changed.
NOT_SOURCE = (
    ".git", ".venv", ".meltano-venv", ".meltano", ".nox", "output", "dist", "build",
    "*.egg-info", "__pycache__", ".*_cache",
)  # fmt: skip


def section_blocks() -> list[list[str]]:
    """The lines of the README section's shell blocks, block by block, as written."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(SECTION)
    section = readme[start : readme.index("\n## ", start + len(SECTION))]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of these sources, built from a copy (as from a fresh clone); its folder."""
    source, wheels = tmp_path / "source", tmp_path / "wheels"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "uv"), "build", "--wheel", "--quiet",
         "--out-dir", str(wheels), str(source)],
        check=True, timeout=300,
    )  # fmt: skip
    return wheels


def user_environment(**extra: str) -> dict[str, str]:
    """A user's shell: Meltano on PATH, none of this repository's settings (a listed
    environment: tests.conftest.minimal_env), and no wheel folder of this test's."""
    env = {name: value for name, value in minimal_env().items() if name != "UV_FIND_LINKS"}
    return {
        **env,
        "PATH": f"{MELTANO_BIN}{os.pathsep}{env['PATH']}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        **extra,
    }


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


def as_run_here(command: str, loader_definition: Path) -> str:
    """The section's command with what only a user can reach replaced (module docstring)."""
    words = shlex.split(command)
    if "--from-ref" in words:
        url = words[words.index("--from-ref") + 1]
        assert url.startswith(RAW), url
        assert ROOT / url.removeprefix(RAW) == HUB_FILE, f"{url} is not the Hub definition"
        return command.replace(url, shlex.quote(str(HUB_FILE)))
    if words == ["meltano", "add", "target-jsonl"]:
        return f"{command} --from-ref {shlex.quote(str(loader_definition))}"
    return command


def test_a_hub_user_adds_the_tap_from_the_wheel_and_loads_exact_records(emulator, tmp_path):
    if not (MELTANO_BIN / "meltano").exists():
        pytest.fail("Meltano is not installed: run ./scripts/bootstrap")
    hub_form, add_from_ref, install_and_run = section_blocks()
    assert hub_form == ["meltano add tap-vidnavigator"]  # needs the Hub: not run here
    definition = yaml.safe_load(HUB_FILE.read_text())
    readme = (ROOT / "README.md").read_text()
    assert f"`pip_url: {definition['pip_url']}`" in readme  # what the user changes...
    assert f"`pip_url: git+{definition['repo']}.git`" in readme  # ...into the repository

    wheels = build_wheel(tmp_path)
    loader_definition = tmp_path / "target-jsonl.yml"
    loader_definition.write_text(yaml.safe_dump(LOADER))
    env = user_environment(UV_FIND_LINKS=str(wheels), VIDNAVIGATOR_API_KEY=KEY)
    # Only for this test, in the run's environment: the emulator instead of the API, and
    # the loader's files named without a timestamp.
    test_only = {
        "TAP_VIDNAVIGATOR_API_URL": emulator.url,
        "TAP_VIDNAVIGATOR_POLL_INTERVAL": "0.05",
        "TARGET_JSONL_DESTINATION_PATH": "output",
        "TARGET_JSONL_DO_TIMESTAMP_FILE": "false",
    }
    ran, cwd = [], tmp_path / "user"
    cwd.mkdir()
    for command in [*add_from_ref, *install_and_run]:
        if command.startswith("cd "):
            cwd = cwd / command.removeprefix("cd ")
            ran.append(command)
            continue
        text = as_run_here(command, loader_definition)
        if command.startswith("meltano run "):
            run(text, cwd, {**env, **test_only})
            ran.append(" ".join([*(f"{k}={v}" for k, v in test_only.items()), text]))
        else:
            run(text, cwd, env)
            ran.append(text)
    print("\n".join(ran))  # the commands, for the record (pytest -s shows them)

    # The user's project: the Hub definition as written, no utility, the key in .env only.
    project = yaml.safe_load((cwd / "meltano.yml").read_text())
    [extractor] = project["plugins"]["extractors"]
    assert extractor["pip_url"] == definition["pip_url"] == "tap-vidnavigator"
    assert set(project["plugins"]) == {"extractors", "loaders"}
    assert KEY not in (cwd / "meltano.yml").read_text()
    assert f"TAP_VIDNAVIGATOR_API_KEY='{KEY}'" in (cwd / ".env").read_text()
    # Installed from the wheel: every file of the package is the wheel's, not an editable
    # link to these sources.
    [site] = (cwd / ".meltano" / "extractors" / "tap-vidnavigator" / "venv").glob(
        "lib/python*/site-packages"
    )
    [built] = wheels.glob("*.whl")
    with zipfile.ZipFile(built) as wheel:
        package = [n for n in wheel.namelist() if n.startswith("tap_vidnavigator/")]
        assert package and all((site / n).read_bytes() == wheel.read(n) for n in package)
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.pth"))
    assert (site / "tap_vidnavigator-0.1.0.dist-info" / "licenses" / "LICENSE").exists()

    # Exactly the emulator's videos of both profiles, and one task record each.
    output = cwd / "output"
    videos = [json.loads(line) for line in (output / "videos.jsonl").read_text().splitlines()]
    for profile in PROFILES:
        assert_videos_match(videos, emulator, profile)
    assert len(videos) == sum(len(expected_videos(emulator, p)) for p in PROFILES)
    tasks = [json.loads(line) for line in (output / "profile_tasks.jsonl").read_text().splitlines()]
    assert sorted((t["profile_url"], t["task_status"]) for t in tasks) == [
        (profile, "completed") for profile in sorted(PROFILES)
    ]
    assert emulator.counters().submits == 2


def test_the_meltano_3_form_the_readme_warns_against_adds_a_utility_too(tmp_path):
    # The README's warning holds for the Meltano the project installs.
    env = user_environment()
    run("meltano init project", tmp_path, env)
    run(
        f"meltano add extractor tap-vidnavigator --no-install --from-ref {HUB_FILE}",
        tmp_path / "project",
        env,
    )
    plugins = yaml.safe_load((tmp_path / "project" / "meltano.yml").read_text())["plugins"]
    assert {kind: [p["name"] for p in listed] for kind, listed in plugins.items()} == {
        "extractors": ["tap-vidnavigator"],
        "utilities": ["tap-vidnavigator"],
    }
