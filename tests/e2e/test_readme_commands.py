"""Every command the README and docs/ show runs as written, in order, on a project copy.

The fenced shell blocks of the README, then of each page of ``docs/`` (in name order),
are read and each command is run as written, through bash, in a throwaway copy of the
repository (``meltano config set`` rewrites ``meltano.yml``), as one shell session: what
a command does to the environment (``source scripts/activate``, ``eval "$(...)"``,
``export``) carries to the next. The session starts as a new user's shell: a listed
environment (``NEW_USER_ENV``: a ``PATH`` holding none of the project's folders, a home,
a locale; the machine's ways to the package registries; ``UV_COMPILE_BYTECODE=0``),
nothing of the test runner's (an exported ``TAP_VIDNAVIGATOR_*`` or ``TARGET_*`` cannot
reach it); the README's own set-up step puts the tools there.

The "Try it locally" commands run exactly as written: the emulator and PostgreSQL are
the ones ``./scripts/emulator`` and ``./scripts/postgres`` start. The production sections
ask the user for their own values; only those are replaced: the API key
(``TAP_VIDNAVIGATOR_API_KEY``) and the hosts (the API the ``prod`` environment points at
becomes this test's emulator, through ``TAP_VIDNAVIGATOR_API_URL``; the ``PG_...``
values become those of the README's own ``./scripts/postgres start``). ``SUBSTITUTED``
lists every value the test puts in the session, and the test asserts it set no other.
The reshard command runs on real four-shard states (the README's own dev run's bookmarks,
split by item), and the eight states it writes are checked.

A command that cannot run here is listed in ``NOT_RUN_HERE`` with the reason, and is
checked in a form that can (its dry run, or the test that runs it). A command in
neither list fails the test, and so does a listed command no page shows any longer.
Inline ``meltano ...`` commands in the prose must resolve to real Meltano subcommands
with real options.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import typing as t
from pathlib import Path

import psycopg2
import pytest
import yaml

from tap_vidnavigator.families import canonical_profile_url
from tap_vidnavigator.shards import shard_of
from tests.conftest import ROOT, expected_videos, machine_env

# Many Meltano runs in one test: a deadline past the 600 s default.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
STATE_ID = "prod:tap-vidnavigator-to-target-postgres"
DEV_STATE_ID = "dev:tap-vidnavigator-to-target-postgres"
#: What a new user's shell has of this process's environment (PATH without the project).
NEW_USER_ENV = ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME", "SHELL", "TERM")
#: Every value the test puts in the session instead of the README's, by variable: the
#: README's value, or None where the README has none (the API host the prod environment
#: reaches, which here is this test's emulator).
SUBSTITUTED = {
    "TAP_VIDNAVIGATOR_API_KEY": "...",
    "TAP_VIDNAVIGATOR_API_URL": None,
    "PG_HOST": "db.internal",
    "PG_PORT": "5432",
    "PG_USER": "loader",
    "PG_PASSWORD": "...",
    "PG_DATABASE": "analytics",
}
PROFILES = ("https://www.tiktok.com/@tiktok", "https://www.tiktok.com/@nasa")


@dataclasses.dataclass(frozen=True)
class Command:
    """One command of a fenced block, continuation lines joined, comment dropped."""

    text: str
    block: int


def documented_text() -> str:
    """The README, then each page of docs/ in name order: the order the commands run in."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(page.read_text() for page in pages)


def readme_commands(text: str) -> list[Command]:
    """The commands of the fenced shell blocks of ``text``, in order."""
    commands = []
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", text, re.S | re.M)
    for index, (language, body) in enumerate(blocks):
        if language not in SHELL_LANGUAGES:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            command = _without_comment(line).strip()
            if command:
                commands.append(Command(command, index))
    return commands


def _without_comment(line: str) -> str:
    """The line as written up to its comment (a ``#`` after a blank, outside quotes)."""
    quote = ""
    for position, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1].isspace()):
            return line[:position]
    return line


# Commands that cannot run here as written: why, and how each is checked instead (a dry
# run, or the file that runs it as written).
NOT_RUN_HERE: dict[str, tuple[str, str]] = {
    "./scripts/demo": (
        "the README's first command: tests/e2e/test_demo.py runs it as written, twice",
        "tests/e2e/test_demo.py",
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
        "(tests/e2e/test_snowflake_e2e.py runs the same target on fakesnow)",
        "--dry-run",
    ),
    "./scripts/shards 4": (
        "bootstraps a whole project and runs Dagster: tests/e2e/test_demo.py runs it as written",
        "tests/e2e/test_demo.py",
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


def new_users_environment() -> dict[str, str]:
    """A new user's shell: NEW_USER_ENV of this process's, and a PATH without any of the
    project's folders."""
    path = [
        folder
        for folder in os.environ["PATH"].split(os.pathsep)
        if folder and not Path(folder).resolve().is_relative_to(ROOT)
    ]
    env = {name: os.environ[name] for name in NEW_USER_ENV if name in os.environ}
    env |= machine_env()  # how this machine reaches the package registries
    # This shell writes bytecode as it imports (no PYTHONDONTWRITEBYTECODE): the copy's
    # bootstrap need not compile all of every plugin's packages first (37 CPU seconds
    # of the 52 its plugin installs took), the plugins' starts compile what they import.
    env["UV_COMPILE_BYTECODE"] = "0"
    env["PATH"] = os.pathsep.join(path)
    return env


@pytest.fixture
def project_copy(tmp_path: Path) -> t.Iterator[Path]:
    """The repository as a fresh clone has it, no state, with this checkout's virtual
    environments linked in (bootstrapping new ones takes minutes; scripts/activate still
    runs ./scripts/bootstrap, which installs the copy's Meltano plugins)."""
    # Were the checkout's .venv older than pyproject.toml, the copy's bootstrap would
    # reinstall the tap into it from the copy, which is deleted afterwards.
    installed = ROOT / ".venv" / ".installed"
    assert installed.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime, (
        "the checkout's .venv predates pyproject.toml: run ./scripts/bootstrap first"
    )
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns(
        ".git", ".venv", ".meltano-venv", ".meltano", ".nox", "output", "*.egg-info",
        "__pycache__", ".*_cache", "build", "dist", ".postgres", ".emulator",
    )  # fmt: skip
    shutil.copytree(ROOT, copy, ignore=ignore)
    for venv in (".venv", ".meltano-venv"):
        (copy / venv).symlink_to(ROOT / venv, target_is_directory=True)
    yield copy
    # Whatever a failed step left running.
    env = new_users_environment()
    for script in ("./scripts/postgres stop", "./scripts/emulator stop"):
        _run(script, copy, env)
    folder = _postgres_folder(copy)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_folder(copy: Path) -> Path | None:
    # As root the cluster lives in the temporary folder (tests/postgres_server.py).
    code = "import tests.postgres_server as p; print(p.local_folder())"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", code],
        cwd=copy, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def _run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


#: Variables bash sets for itself: not carried from one command to the next.
_SHELL_OWN = {"_", "SHLVL", "PWD", "OLDPWD"}


def _run_in_session(
    command: str, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run ``command`` as typed into a shell with ``env``; also the environment after it."""
    with tempfile.NamedTemporaryFile(suffix=".env") as after:
        script = f'{command}\n__status=$?\nenv -0 > "{after.name}"\nexit $__status\n'
        result = _run(script, cwd, env)
        pairs = Path(after.name).read_bytes().decode().split("\0")
    changed = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    return result, {k: v for k, v in changed.items() if k not in _SHELL_OWN}


def _warehouse(postgres: dict[str, t.Any], sql: str) -> list[tuple[t.Any, ...]]:
    with (
        contextlib.closing(psycopg2.connect(**postgres, connect_timeout=5)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
        return cursor.fetchall()


def _postgres_of(env: dict[str, str]) -> dict[str, t.Any]:
    names = ("host", "port", "user", "password", "database")
    return {name: env[f"PG_{name.upper()}"] for name in names}


def _loaded(postgres: dict[str, t.Any], profiles: t.Collection[str]) -> list[str]:
    rows = _warehouse(postgres, "select id, profile_url from tap_vidnavigator.videos")
    return [video_id for video_id, profile in rows if profile in profiles]


def _check_loaded(postgres: dict[str, t.Any], emulator) -> None:
    ids = _loaded(postgres, PROFILES)
    assert len(ids) == len(set(ids))
    truth = {}
    for profile in PROFILES:
        truth.update(expected_videos(emulator, profile))
    assert set(ids) == set(truth)


def _dev_profiles() -> dict[str, dict[str, t.Any]]:
    """The dev environment's profiles (meltano.yml) and the filters of each."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [dev] = [e for e in project["environments"] if e["name"] == "dev"]
    [tap] = dev["config"]["plugins"]["extractors"]
    profiles = {}
    for item in tap["config"]["profiles"]:
        fields = {"profile_url": item} if isinstance(item, str) else dict(item)
        url = canonical_profile_url(fields.pop("profile_url"))
        profiles[url] = fields
    return profiles


def _check_local_load(postgres: dict[str, t.Any], truth_source) -> None:
    """The local run's videos are exactly the dev profiles' ground truth, once each."""
    profiles = _dev_profiles()
    ids = _loaded(postgres, profiles)
    assert len(ids) == len(set(ids))
    truth = {}
    for profile, filters in profiles.items():
        truth.update(expected_videos(truth_source, profile, **filters))
    assert set(ids) == set(truth) and len(truth) > 5000


def _tap_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " tap-vidnavigator " in line]


def test_every_readme_command_runs_as_written(make_emulator, project_copy):
    emulator = make_emulator(processing_polls=1)
    truth_source = make_emulator()  # the same deterministic data as ./scripts/emulator's
    # That section's commands are for another Meltano project: tests/e2e/test_hub_user.py runs
    # them, from a freshly built wheel.
    text = documented_text()
    start = text.index("## Use it in your own Meltano project")
    commands = readme_commands(text[:start] + text[text.index("\n## ", start + 1) :])
    shown = {command.text for command in commands}
    assert set(NOT_RUN_HERE) <= shown, (
        f"listed but no longer in the README: {set(NOT_RUN_HERE) - shown}"
    )
    repo_meltano_yml = (ROOT / "meltano.yml").read_bytes()
    env = new_users_environment()
    assert shutil.which("meltano", path=env["PATH"]) is None
    assert shutil.which("tap-vidnavigator", path=env["PATH"]) is None
    ran: list[str] = []
    substituted: dict[str, str | None] = {}
    shard_states: set[tuple[str, str, str]] = set()
    for command in commands:
        text = command.text
        if text.startswith("export ") and ("..." in text or "db.internal" in text):
            # A production value the user supplies: the test's own.
            substitutes = {"TAP_VIDNAVIGATOR_API_KEY": "demo-key"}
            if "TAP_VIDNAVIGATOR_API_KEY" in text:
                # The API host prod reaches, which the README does not set: the emulator.
                substituted["TAP_VIDNAVIGATOR_API_URL"] = None
                env["TAP_VIDNAVIGATOR_API_URL"] = emulator.url
            if "PG_HOST" in text:
                started = _run("./scripts/postgres start", project_copy, env)
                assert started.returncode == 0, started.stderr
                substitutes |= _exported(started.stdout.strip(), {})
            written = _exported(text, {})
            values = _exported(text, substitutes)
            substituted |= {name: written[name] for name in values if values[name] != written[name]}
            env.update(values)
            continue
        if text.startswith("python orchestrate/shard.py reshard --from 4 --to 8"):
            shard_states = _four_shard_states(project_copy, env)
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
        before = dict(env)
        result, env = _run_in_session(text, project_copy, env)
        # The lines that say why (a loader's error comes long before Meltano's traceback).
        errors = "\n".join(
            line
            for line in result.stderr.splitlines()
            if "error" in line.lower() and "│" not in line
        )
        assert result.returncode == 0, (
            f"README command failed: {text}\n{errors[-6000:]}\n{result.stderr[-4000:]}"
        )
        ran.append(text)
        _check_effect(text, result, emulator, truth_source, project_copy, before, env)
        if text.startswith("python orchestrate/shard.py reshard --from 4 --to 8"):
            _check_resharded(project_copy, env, shard_states)
    assert (ROOT / "meltano.yml").read_bytes() == repo_meltano_yml
    # Only the production sections' values were replaced, never a local command's, and
    # and the API host prod reaches (no README value).
    assert substituted == SUBSTITUTED
    # Every command was either run or listed with its reason: nothing slipped through.
    exports = {c for c in shown if c.startswith("export ")}
    assert shown == exports | set(ran) | set(NOT_RUN_HERE)


def _bookmarks(state: dict[str, t.Any]) -> set[tuple[str, str, str]]:
    """(stream, subject, bookmark) of every partition of a Singer state."""
    return {
        (stream, *[str(v) for v in partition["context"].values()],
         str(partition.get("replication_key_value")))
        for stream, value in state.get("bookmarks", {}).items()
        for partition in value.get("partitions", [])
    }  # fmt: skip


def _state(copy: Path, env: dict[str, str], state_id: str) -> dict[str, t.Any]:
    got = _run(f"meltano --environment dev state get {state_id}", copy, env)
    assert got.returncode == 0, got.stderr[-2000:]
    return json.loads(got.stdout)["singer_state"]


def _four_shard_states(copy: Path, env: dict[str, str]) -> set[tuple[str, str, str]]:
    """Real states for four shards before the reshard: the bookmarks the README's dev
    run wrote, each given to the shard of its item (written here, not by the code under
    test); every bookmark they hold."""
    state = _state(copy, env, DEV_STATE_ID)
    held = _bookmarks(state)
    for index in range(4):
        own = {
            stream: {"partitions": [
                p for p in value["partitions"]
                if shard_of(str(next(iter(p["context"].values()))), 4) == index
            ]}
            for stream, value in state["bookmarks"].items()
            if value.get("partitions")
        }  # fmt: skip
        payload = shlex.quote(json.dumps({"singer_state": {"bookmarks": own}}))
        state_id = f"{DEV_STATE_ID}:shard-{index}-of-4"
        done = _run(f"meltano --environment dev state set --force {state_id} {payload}", copy, env)
        assert done.returncode == 0, done.stderr[-2000:]
    assert len({subject for _, subject, _ in held}) >= 4, held  # items for several shards
    return held


def _check_resharded(copy: Path, env: dict[str, str], held: set[tuple[str, str, str]]) -> None:
    """Every bookmark of the four shards moved to the one of eight its item hashes to."""
    listed = _run("meltano --environment dev state list", copy, env).stdout
    assert not [line for line in listed.splitlines() if line.endswith("-of-4")], listed
    moved: set[tuple[str, str, str]] = set()
    for index in range(8):
        own = _bookmarks(_state(copy, env, f"{DEV_STATE_ID}:shard-{index}-of-8"))
        assert {shard_of(subject, 8) for _, subject, _ in own} <= {index}
        assert not own & moved
        moved |= own
    assert moved == held


def _check_effect(text, result, emulator, truth_source, copy, before, env) -> None:
    """What each command the README shows must have done, beyond exiting 0."""
    output = result.stdout + result.stderr
    assert "METRIC: " not in "\n".join(_tap_lines(output)), text
    if text == "source scripts/activate":
        for tool, venv in (("meltano", ".meltano-venv"), ("tap-vidnavigator", ".venv")):
            found = shutil.which(tool, path=env["PATH"])
            assert found and Path(found).parent == copy / venv / "bin", (tool, found)
    elif text == 'eval "$(./scripts/emulator start)"':
        url = env["TAP_VIDNAVIGATOR_API_URL"]
        assert url.startswith("http://127.0.0.1:") and url != before.get("TAP_VIDNAVIGATOR_API_URL")
    elif text == 'eval "$(./scripts/postgres start)"':
        assert _warehouse(_postgres_of(env), "select 1") == [(1,)]
    elif text == "./scripts/postgres stop":
        with pytest.raises(psycopg2.OperationalError):
            _warehouse(_postgres_of(env), "select 1")
    elif text == "./scripts/emulator stop":
        assert "the emulator stopped" in output
        assert _run("./scripts/emulator status", copy, env).returncode == 3
    elif text.startswith("meltano invoke tap-vidnavigator:check"):
        # The verdict, without the env-parsing lines; against ./scripts/emulator's API.
        assert "Connection test passed: " + env["TAP_VIDNAVIGATOR_API_URL"] in output
        assert "Parsing" not in output and "METRIC" not in output
    elif text.startswith("meltano --environment prod invoke tap-vidnavigator:check"):
        assert f"Connection test passed: {emulator.url}" in output
        assert emulator.counters().submits == 0
    elif text == "meltano run tap-vidnavigator target-postgres":
        _check_local_load(_postgres_of(env), truth_source)
        lines = [line.split(" tap-vidnavigator ", 1)[1] for line in _tap_lines(output)]
        assert sum(line.startswith("Run summary: ") for line in lines) == 2
    elif text == "meltano run tap-vidnavigator--batch target-postgres":
        _check_local_load(_postgres_of(env), truth_source)  # the same rows, upserted
        batches = list((copy / "output" / "batch").iterdir())
        assert any("--videos--" in path.name for path in batches)
    elif " config set tap-vidnavigator profiles " in text:
        project = yaml.safe_load((copy / "meltano.yml").read_text())
        [prod] = [e for e in project["environments"] if e["name"] == "prod"]
        [tap] = prod["config"]["plugins"]["extractors"]
        assert tap["config"]["profiles"] == ["@tiktok", "@nasa"]
    elif text.endswith("prod run tap-vidnavigator--batch target-postgres"):
        _check_loaded(_postgres_of(env), emulator)  # the same rows, upserted from BATCH files
        # Its own state, empty: the same requests as within the hour, which the ledger
        # (.meltano/tap-vidnavigator/ledger) reads again instead of buying.
        assert emulator.counters().submits == 2
    elif text.endswith("prod run tap-vidnavigator target-postgres"):
        _check_loaded(_postgres_of(env), emulator)
        assert emulator.counters().submits == 2
    elif text.endswith("prod invoke dbt-postgres:build"):
        assert emulator.counters().submits == 2  # dbt reads the warehouse only
        # The analytics models (transform/), built and tested: a row per scraped creator
        # (this PostgreSQL also keeps what the local commands above loaded).
        assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0 SKIP=0", output), output[-3000:]
        creators = _warehouse(
            _postgres_of(env), "select profile_url from analytics.creator_summary"
        )
        assert set(PROFILES) <= {url for (url,) in creators}
    elif text.startswith("meltano install --plugin-type loader target-snowflake"):
        assert (copy / ".meltano" / "loaders" / "target-snowflake").is_dir()
    elif "--full-refresh" in text:
        _check_loaded(_postgres_of(env), emulator)  # upserted: the same rows, no duplicate
        # Within the hour the ledger's tasks are read again, not bought (force_new_tasks).
        assert emulator.counters().submits == 2
    elif text.startswith("python orchestrate/shard.py reshard --from 4 --to 8"):
        assert "resharded into: " in output
        listed = _run("meltano --environment dev state list", copy, env)
        new = [line for line in listed.stdout.splitlines() if line.endswith("-of-8")]
        assert len(new) == 8, listed.stdout
    elif text.endswith("state list"):
        assert STATE_ID in output
    elif " state clear " in text:
        listed = _run("meltano --environment prod state list", copy, env)
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
        [str(ROOT / ".meltano-venv" / "bin" / "meltano"), *path, "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**new_users_environment(), "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
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
        documented_text(),
        (
            ROOT / "hub" / "_data/meltano/extractors/tap-vidnavigator/tap-vidnavigator.yml"
        ).read_text(),
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
