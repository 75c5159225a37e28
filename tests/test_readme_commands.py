"""Every command the README shows runs as written, in order, on a copy of the project.

The README's fenced shell blocks are read and each command is run as written (through
bash), in a throwaway copy of the repository (``meltano config set`` rewrites
``meltano.yml``), against the emulator and the test PostgreSQL server. The only values
changed are those the README tells the user to set (``export`` lines: the key, the
PostgreSQL host and password, ...), plus ``TAP_VIDNAVIGATOR_API_URL``, which points the
``prod`` environment at the emulator because nothing else can be reached here.

A command that cannot run here is listed in ``NOT_RUN_HERE`` with the reason, and is
checked in a form that can (its dry run, or the test that runs it). A README command in
neither list fails the test, and so does a listed command the README no longer shows.
Inline ``meltano ...`` commands in the prose must resolve to real Meltano subcommands
with real options.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import shlex
import shutil
import subprocess
import typing as t
from pathlib import Path

import psycopg2
import pytest
import yaml

from tests.conftest import ROOT, expected_videos

pytestmark = pytest.mark.e2e

MELTANO_BIN = ROOT / ".meltano-venv" / "bin"
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
STATE_ID = "prod:tap-vidnavigator-to-target-postgres"
PROFILES = ("https://www.tiktok.com/@tiktok", "https://www.tiktok.com/@nasa")


@dataclasses.dataclass(frozen=True)
class Command:
    """One command of a fenced block, continuation lines joined, comment dropped."""

    text: str
    block: int


def readme_commands(text: str) -> list[Command]:
    """The commands of the README's fenced shell blocks, in order."""
    commands = []
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", text, re.S | re.M)
    for index, (language, body) in enumerate(blocks):
        if language not in SHELL_LANGUAGES:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                # The command as written, without its trailing comment.
                commands.append(Command(shlex.join(words), index))
    return commands


# Commands that cannot run here as written: why, and how each is checked instead (a dry
# run, or the file that runs it as written).
NOT_RUN_HERE: dict[str, tuple[str, str]] = {
    "./scripts/demo": (
        "the README's first command: tests/test_demo.py runs it as written, twice",
        "tests/test_demo.py",
    ),
    "./scripts/test": (
        "the command that runs this very test: CI's .ci/run is ./scripts/test",
        ".ci/run",
    ),
    "meltano --environment prod run tap-vidnavigator target-snowflake": (
        "needs a real Snowflake account; its dry run resolves both plugins and the block",
        "--dry-run",
    ),
    "meltano --environment prod run tap-vidnavigator--batch target-snowflake": (
        "needs a real Snowflake account; its dry run resolves both plugins and the block "
        "(tests/test_snowflake_e2e.py runs the same target on fakesnow)",
        "--dry-run",
    ),
    "./scripts/shards 4": (
        "bootstraps a whole project and runs Dagster: tests/test_demo.py runs it as written",
        "tests/test_demo.py",
    ),
    ".venv/bin/dagster dev -f orchestrate/definitions.py": (
        "a web server that runs until stopped; Dagster loads and validates the same "
        "definitions instead",
        "instead: .venv/bin/dagster definitions validate -f orchestrate/definitions.py",
    ),
}
#: Per command checked by a file that runs it: what in that file shows it runs as written.
RUNS_IT = {
    "./scripts/demo": '"scripts" / "demo"',
    "./scripts/test": "./scripts/test",
    "./scripts/shards 4": '[str(ROOT / "scripts" / "shards"), "4"]',
}


def _exported(command: str, substitutes: dict[str, str]) -> dict[str, str]:
    """The variables an ``export`` line sets, with the test's values where it has one."""
    assignments = shlex.split(command)[1:]
    values = dict(assignment.split("=", 1) for assignment in assignments)
    return {name: substitutes.get(name, value) for name, value in values.items()}


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The repository as a fresh clone has it: no virtual environments, no state."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns(
        ".git", ".venv", ".meltano-venv", ".meltano", ".nox", "output", "*.egg-info",
        "__pycache__", ".*_cache", "build", "dist",
    )  # fmt: skip
    shutil.copytree(ROOT, copy, ignore=ignore)
    return copy


def _run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _warehouse(postgres: dict[str, t.Any], sql: str) -> list[tuple[t.Any, ...]]:
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
        return cursor.fetchall()


def _check_loaded(postgres: dict[str, t.Any], emulator) -> None:
    rows = _warehouse(postgres, "select id, profile_url from tap_vidnavigator.videos")
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids))
    truth = {}
    for profile in PROFILES:
        truth.update(expected_videos(emulator, profile))
    assert set(ids) == set(truth)


def test_every_readme_command_runs_as_written(make_emulator, postgres, project_copy):
    emulator = make_emulator(processing_seconds=0.3)
    readme = (ROOT / "README.md").read_text()
    commands = readme_commands(readme)
    shown = {command.text for command in commands}
    assert set(NOT_RUN_HERE) <= shown, (
        f"listed but no longer in the README: {set(NOT_RUN_HERE) - shown}"
    )
    repo_meltano_yml = (ROOT / "meltano.yml").read_bytes()
    substitutes = {
        "TAP_VIDNAVIGATOR_API_KEY": "demo-key",
        "PG_HOST": postgres["host"],
        "PG_PORT": str(postgres["port"]),
        "PG_USER": postgres["user"],
        "PG_PASSWORD": postgres["password"],
        "PG_DATABASE": postgres["database"],
    }
    env = {
        **os.environ,
        "PATH": f"{MELTANO_BIN}{os.pathsep}{os.environ['PATH']}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_VIDNAVIGATOR_API_URL": emulator.url,
    }
    ran: list[str] = []
    for command in commands:
        text = command.text
        if text.startswith("export "):
            env.update(_exported(text, substitutes))
            continue
        if text in NOT_RUN_HERE:
            _why, checked_by = NOT_RUN_HERE[text]
            if checked_by == "--dry-run":
                dry = text.replace(" run ", " run --dry-run ", 1)
                result = _run(dry, project_copy, env)
                assert result.returncode == 0, f"{dry}\n{result.stderr[-3000:]}"
                assert "would have run block 1/1" in result.stderr, result.stderr[-2000:]
            elif checked_by.startswith("instead: "):
                instead = _run(checked_by.removeprefix("instead: "), ROOT, env)
                assert instead.returncode == 0, f"{checked_by}\n{instead.stderr[-3000:]}"
            else:
                assert RUNS_IT[text] in (ROOT / checked_by).read_text()
            continue
        result = _run(text, project_copy, env)
        assert result.returncode == 0, f"README command failed: {text}\n{result.stderr[-4000:]}"
        ran.append(text)
        _check_effect(text, result, emulator, postgres, project_copy, env)
    assert (ROOT / "meltano.yml").read_bytes() == repo_meltano_yml
    # Every command was either run or listed with its reason: nothing slipped through.
    assert shown == {c for c in shown if c.startswith("export ")} | set(ran) | set(NOT_RUN_HERE)


def _check_effect(text, result, emulator, postgres, project_copy, env) -> None:
    """What each command the README shows must have done, beyond exiting 0."""
    output = result.stdout + result.stderr
    if text.startswith("meltano invoke tap-vidnavigator:check"):
        assert "Connection test passed" in output and emulator.counters().submits == 0
    elif " config set tap-vidnavigator profiles " in text:
        project = yaml.safe_load((project_copy / "meltano.yml").read_text())
        [prod] = [e for e in project["environments"] if e["name"] == "prod"]
        [tap] = prod["config"]["plugins"]["extractors"]
        assert tap["config"]["profiles"] == ["@tiktok", "@nasa"]
    elif text.endswith("run tap-vidnavigator--batch target-postgres"):
        _check_loaded(postgres, emulator)  # the same rows, upserted from BATCH files
        # Its own state, empty: the same requests as an hour ago, which the ledger
        # (.meltano/tap-vidnavigator/ledger) reads again instead of buying.
        assert emulator.counters().submits == 2
        batches = list((project_copy / "output" / "batch").iterdir())
        assert any("--videos--" in path.name for path in batches)  # target-postgres keeps them
    elif text.endswith("run tap-vidnavigator target-postgres"):
        _check_loaded(postgres, emulator)
        assert emulator.counters().submits == 2
    elif text.startswith("meltano install --plugin-type loader target-snowflake"):
        assert (project_copy / ".meltano" / "loaders" / "target-snowflake").is_dir()
    elif "--full-refresh" in text:
        _check_loaded(postgres, emulator)  # upserted: the same rows, no duplicate
        # Within the hour the ledger's tasks are read again, not bought (force_new_tasks).
        assert emulator.counters().submits == 2
    elif text.startswith("python orchestrate/shard.py reshard --from 4 --to 8"):
        assert "resharded into: " in output
        listed = _run("meltano --environment dev state list", project_copy, env)
        new = [line for line in listed.stdout.splitlines() if line.endswith("-of-8")]
        assert len(new) == 8, listed.stdout
    elif text.endswith("state list"):
        assert STATE_ID in output
    elif " state clear " in text:
        listed = _run("meltano --environment prod state list", project_copy, env)
        assert STATE_ID not in listed.stdout + listed.stderr
    else:
        pytest.fail(f"no check of what this README command does: {text}")


# --------------------------------------------------------------- inline commands
def _help(path: list[str]) -> str:
    return _help_of(tuple(path))


@functools.cache
def _help_of(path: tuple[str, ...]) -> str:
    # Several spans share a subcommand: each `meltano ... --help` is asked once.
    result = subprocess.run(
        [str(MELTANO_BIN / "meltano"), *path, "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )  # fmt: skip
    assert result.returncode == 0, f"meltano {' '.join(path)} --help: {result.stderr[-1000:]}"
    return result.stdout


def _subcommands(help_text: str) -> set[str]:
    if "\nCommands:\n" not in help_text:
        return set()
    listing = help_text.split("\nCommands:\n", 1)[1]
    return {
        line.split()[0] for line in listing.splitlines() if line.startswith("  ") and line.split()
    }


def assert_meltano_command_parses(command: str) -> None:
    """Each word names a real subcommand where Meltano expects one; options exist."""
    words = shlex.split(command)[1:]
    path: list[str] = []
    help_text = _help(path)
    positionals = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--environment":  # the one top-level option with a value
            index += 2
            continue
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            assert option in help_text, f"{command!r}: {option} is not an option here"
        else:
            commands = _subcommands(help_text)
            if commands and not positionals:
                assert word in commands, f"{command!r}: {word!r} is not a command ({commands})"
                path.append(word)
                help_text = _help(path)
            else:
                positionals.append(word)
        index += 1


def inline_meltano_commands() -> list[str]:
    """``meltano ...`` spans in the README's prose, the Hub file and meltano.yml comments."""
    texts = [
        (ROOT / "README.md").read_text(),
        (ROOT / "hub" / "tap-vidnavigator.yml").read_text(),
        "\n".join(line for line in (ROOT / "meltano.yml").read_text().splitlines() if "#" in line),
    ]
    spans = set()
    for text in texts:
        for span in re.findall(r"`(meltano [^`]+)`", text):
            if "<" not in span and "..." not in span:  # placeholders are prose, not commands
                spans.add(span)
    return sorted(spans)


def test_inline_meltano_commands_name_real_subcommands():
    spans = inline_meltano_commands()
    assert "meltano config test tap-vidnavigator" in spans
    for span in spans:
        assert_meltano_command_parses(span)


@pytest.mark.parametrize(
    "wrong",
    [
        "meltano --environment prod config tap-vidnavigator set profiles '[]'",
        "meltano config tap-vidnavigator test",
        "meltano run --no-such-option tap-vidnavigator target-postgres",
    ],
)
def test_the_parse_check_refuses_what_meltano_refuses(wrong):
    with pytest.raises(AssertionError):
        assert_meltano_command_parses(wrong)
