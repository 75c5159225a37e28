"""Run one shard of a tap-vidnavigator pipeline: the engine-neutral part of scaling out.

A shard is ``meltano run`` of one pipeline (extractor -> loader) with
``shard_index``/``shard_count`` set (the tap extracts only the items whose key hashes to
its index: tap_vidnavigator/shards.py) and its own state ID,
``<environment>:<extractor>-to-<loader>:shard-<i>-of-<n>``, so that shards never read or
overwrite each other's bookmarks or in-flight tasks. Dagster (orchestrate/definitions.py)
calls it; so can Airflow, Kubernetes or cron, as it is:

    python orchestrate/shard.py prepare --shards 4 tap-vidnavigator target-postgres
    python orchestrate/shard.py run --shard 2 --shards 4 tap-vidnavigator target-postgres
    python orchestrate/shard.py reshard --from 4 --to 8 tap-vidnavigator target-postgres
    python orchestrate/shard.py summary --shards 4 tap-vidnavigator target-postgres

What it takes care of, each found when several ``meltano run`` share one project:

* Meltano keeps a plugin's catalog and state files in ``.meltano/run/<plugin>/``: two
  runs of one plugin at once overwrite each other's. Each shard gets its own Meltano
  system folder (``.meltano/shards/<pipeline>-shard-<i>-of-<n>``, through
  ``MELTANO_SYS_DIR_ROOT``) whose plugin folders link to the project's installed ones.
* The system database stays the project's (``MELTANO_DATABASE_URI``, or the project's
  ``.meltano/meltano.db``), so ``meltano state list`` shows every shard; PostgreSQL there
  lets shards on several machines share it. A brand-new SQLite database races when
  several runs create it at once: ``prepare`` creates it once, before the shards start.
* target-jsonl writes to ``output/jsonl/shard-<i>-of-<n>``; target-duckdb is refused with
  more than one shard (DuckDB allows one writer per file).
* The API caps active tasks per key: with ``--key-cap C`` and ``--concurrent K`` (shards
  of this key running at once), each shard keeps at most ``C // K`` tasks running.
* Changing the number of shards: ``reshard`` merges the old shards' states and gives
  each new shard the bookmarks and in-flight tasks of its own items, so nothing is
  scraped or paid for again. ``prepare`` refuses to start shards when states of another
  shard count exist for the pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tap_vidnavigator.enrichment_state import merge_entry, only_subjects  # noqa: E402
from tap_vidnavigator.families import (  # noqa: E402
    ENRICHMENT_FAMILIES,
    EXTRACTED,
    IN_FLIGHT,
    SKIPPED,
    state_layout,
)
from tap_vidnavigator.shards import shard_of  # noqa: E402

#: The project's Meltano (scripts/bootstrap installs it), else MELTANO_BIN or `meltano`.
MELTANO = (
    ROOT / ".meltano-venv" / "bin" / "meltano"
    if (ROOT / ".meltano-venv" / "bin" / "meltano").exists()
    else Path(os.environ.get("MELTANO_BIN") or shutil.which("meltano") or "meltano")
)
#: The Meltano system folders that hold installed plugins: shared by every shard.
PLUGIN_FOLDERS = ("extractors", "loaders", "mappers", "utilities", "transformers", "files")
#: Per task family: its tasks stream (in-flight tasks) and results stream (bookmarks),
#: and the subject both are kept by, as the tap declares them.
STATE_STREAMS = state_layout()
#: The per-video enrichments' streams: their STATE (ranges, pending videos, paid jobs in
#: flight) is split and merged by subject (enrichment_state.py).
ENRICHMENT_STREAMS = frozenset(family.stream for family in ENRICHMENT_FAMILIES)
#: What a tasks stream keeps per request (tasks in flight, tasks extracted until they
#: expire, requests a budget skipped): united on merge, split by subject.
KEYED_BY_REQUEST = (IN_FLIGHT, EXTRACTED, SKIPPED)


class ShardError(RuntimeError):
    """A shard cannot run as asked; the message says why and what to do."""


def pipeline_id(environment: str, extractor: str, loader: str) -> str:
    """Meltano's state ID of a pipeline, before the shard's suffix."""
    return f"{environment}:{extractor}-to-{loader}"


def shard_suffix(index: int, count: int) -> str:
    """The state ID suffix (and folder name part) of one shard."""
    return f"shard-{index}-of-{count}"


def default_database_uri(project: Path = ROOT) -> str:
    """The system database every shard shares: MELTANO_DATABASE_URI, else the project's."""
    return (
        os.environ.get("MELTANO_DATABASE_URI") or f"sqlite:///{project / '.meltano' / 'meltano.db'}"
    )


def _meltano(
    args: list[str], *, env: dict[str, str], project: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the project's own Meltano
        [str(MELTANO), *args], cwd=project, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def _base_env(database_uri: str | None) -> dict[str, str]:
    return {
        **os.environ,
        "MELTANO_DATABASE_URI": database_uri or default_database_uri(),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def state_ids(environment: str, *, database_uri: str | None = None) -> list[str]:
    """Every state ID in the system database."""
    result = _meltano(["--environment", environment, "state", "list"], env=_base_env(database_uri))
    if result.returncode != 0:
        raise ShardError(f"meltano state list failed: {result.stderr[-2000:]}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def prepare(
    environment: str, extractor: str, loader: str, count: int, *, database_uri: str | None = None
) -> list[str]:
    """Before shards start: create the system database once, and refuse a changed count.

    Returns the pipeline's existing shard state IDs.
    """
    existing = state_ids(environment, database_uri=database_uri)  # creates and migrates it
    prefix = pipeline_id(environment, extractor, loader) + ":shard-"
    pattern = re.compile(re.escape(prefix) + r"\d+-of-(\d+)$")
    counts = {int(m[1]) for state_id in existing if (m := pattern.match(state_id))}
    if counts - {count}:
        raise ShardError(
            f"{pipeline_id(environment, extractor, loader)} has states for "
            f"{sorted(counts)} shard(s), not {count}: run `python orchestrate/shard.py "
            f"reshard --from {max(counts)} --to {count} {extractor} {loader}` first, so that "
            "no bookmark or running task is lost"
        )
    return [s for s in existing if s.startswith(prefix)]


def shard_environment(
    index: int,
    count: int,
    loader: str,
    *,
    system_folder: Path,
    database_uri: str | None = None,
    max_active_tasks: int | None = None,
) -> dict[str, str]:
    """The environment of one shard's ``meltano run``."""
    env = _base_env(database_uri)
    env.update(
        {
            "MELTANO_SYS_DIR_ROOT": str(system_folder),
            "TAP_VIDNAVIGATOR_SHARD_INDEX": str(index),
            "TAP_VIDNAVIGATOR_SHARD_COUNT": str(count),
        }
    )
    if max_active_tasks is not None:
        env["TAP_VIDNAVIGATOR_MAX_ACTIVE_TASKS"] = str(max_active_tasks)
    if loader == "target-jsonl":
        env["TARGET_JSONL_DESTINATION_PATH"] = f"output/jsonl/{shard_suffix(index, count)}"
    return env


def system_folder(
    extractor: str, loader: str, index: int, count: int, project: Path = ROOT
) -> Path:
    """A shard's own Meltano system folder, its plugin folders linked to the project's."""
    name = f"{extractor}-to-{loader}-{shard_suffix(index, count)}"
    return linked_system_folder(project / ".meltano" / "shards" / name, project)


def linked_system_folder(folder: Path, project: Path = ROOT) -> Path:
    """A Meltano system folder (``MELTANO_SYS_DIR_ROOT``) of one run's own: the project's
    installed plugins (linked), its own run files."""
    shared = project / ".meltano"
    folder.mkdir(parents=True, exist_ok=True)
    for name in PLUGIN_FOLDERS:
        (shared / name).mkdir(parents=True, exist_ok=True)
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(shared / name, target_is_directory=True)
    return folder


def run_shard(
    environment: str,
    extractor: str,
    loader: str,
    index: int,
    count: int,
    *,
    database_uri: str | None = None,
    max_active_tasks: int | None = None,
    extra_args: t.Sequence[str] = (),
    on_line: t.Callable[[str], None] = print,
    project: Path = ROOT,
) -> int:
    """Run one shard; each line of Meltano's log goes to ``on_line``. Its exit code."""
    if not 0 <= index < count:
        raise ShardError(f"--shard must be between 0 and {count - 1}, got {index}")
    if loader == "target-duckdb" and count > 1:
        raise ShardError(
            "target-duckdb cannot take shards: DuckDB allows one writer per file. Load "
            "shards into target-postgres or target-snowflake, or run one shard"
        )
    env = shard_environment(
        index,
        count,
        loader,
        system_folder=system_folder(extractor, loader, index, count, project),
        database_uri=database_uri,
        max_active_tasks=max_active_tasks,
    )
    command = [
        str(MELTANO), "--environment", environment, "run",
        "--state-id-suffix", shard_suffix(index, count), *extra_args, extractor, loader,
    ]  # fmt: skip
    on_line(f"shard {index} of {count}: {' '.join(command[1:])}")
    process = subprocess.Popen(  # noqa: S603 - the project's own Meltano
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, bufsize=1,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        on_line(line.rstrip("\n"))
    return process.wait()


def _merge_states(states: t.Iterable[dict[str, t.Any]]) -> dict[str, t.Any]:
    """One Singer state of several shards': in-flight tasks united, newest bookmarks."""
    merged: dict[str, t.Any] = {"bookmarks": {}}
    bookmarks = merged["bookmarks"]
    for state in states:
        for stream, value in (state.get("bookmarks") or {}).items():
            target = bookmarks.setdefault(stream, {})
            for key, entry in value.items():
                if stream in ENRICHMENT_STREAMS and merge_entry(target, key, entry):
                    continue
                if key in KEYED_BY_REQUEST:
                    target.setdefault(key, {}).update(entry)
                elif key == "partitions":
                    partitions = target.setdefault("partitions", [])
                    for partition in entry:
                        same = [
                            p for p in partitions if p.get("context") == partition.get("context")
                        ]
                        if not same:
                            partitions.append(partition)
                        elif str(partition.get("replication_key_value", "")) > str(
                            same[0].get("replication_key_value", "")
                        ):
                            same[0].update(partition)
                else:
                    target.setdefault(key, entry)
    return merged


def _only_shard(state: dict[str, t.Any], index: int, count: int) -> dict[str, t.Any]:
    """The part of a merged state whose items belong to one shard."""
    bookmarks = json.loads(json.dumps(state.get("bookmarks", {})))
    for tasks_stream, results_stream, subject in STATE_STREAMS:
        for name in KEYED_BY_REQUEST:
            entries = bookmarks.get(tasks_stream, {}).get(name)
            if isinstance(entries, dict):
                # A request's key starts with its subject (settings.TaskRequest.key).
                bookmarks[tasks_stream][name] = {
                    key: entry
                    for key, entry in entries.items()
                    if shard_of(str(entry.get(subject) or key.split("?", 1)[0]), count) == index
                }
        partitions = bookmarks.get(results_stream, {}).get("partitions")
        if isinstance(partitions, list):
            bookmarks[results_stream]["partitions"] = [
                p for p in partitions if shard_of(str(p["context"][subject]), count) == index
            ]
    for stream in ENRICHMENT_STREAMS:
        enrichment = bookmarks.get(stream)
        if isinstance(enrichment, dict):
            only_subjects(
                enrichment, lambda subject: shard_of(subject, count) == index, first=index == 0
            )
    return {"bookmarks": bookmarks}


def reshard(
    environment: str,
    extractor: str,
    loader: str,
    old_count: int,
    new_count: int,
    *,
    database_uri: str | None = None,
) -> list[str]:
    """Give ``new_count`` shards the bookmarks and in-flight tasks of ``old_count``.

    The old shards' states are merged, each new shard's state receives exactly its own
    items' entries, and the old states are cleared. Run it while no shard runs.
    Returns the new state IDs.
    """
    env = _base_env(database_uri)
    base = pipeline_id(environment, extractor, loader)
    states = []
    for index in range(old_count):
        state_id = f"{base}:{shard_suffix(index, old_count)}"
        got = _meltano(["--environment", environment, "state", "get", state_id], env=env)
        if got.returncode == 0 and got.stdout.strip():
            states.append(json.loads(got.stdout).get("singer_state") or {})
    merged = _merge_states(states)
    new_states = {
        f"{base}:{shard_suffix(index, new_count)}": {
            "completed": {"singer_state": _only_shard(merged, index, new_count)},
            "partial": {},
        }
        for index in range(new_count)
    }
    # One import for every new state (the format of `meltano state export`).
    done = subprocess.run(  # noqa: S603 - the project's own Meltano
        [str(MELTANO), "--environment", environment, "state", "import"],
        input=json.dumps(new_states), cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ShardError(f"meltano state import failed: {done.stderr[-2000:]}")
    written = list(new_states)
    if old_count != new_count:
        for index in range(old_count):
            state_id = f"{base}:{shard_suffix(index, old_count)}"
            _meltano(["--environment", environment, "state", "clear", "--force", state_id], env=env)
    return written


def summary(
    environment: str, extractor: str, loader: str, count: int, *, database_uri: str | None = None
) -> list[str]:
    """One line per shard: its state ID, bookmarks and in-flight tasks (and rows, for
    target-jsonl)."""
    env = _base_env(database_uri)
    lines = []
    for index in range(count):
        state_id = f"{pipeline_id(environment, extractor, loader)}:{shard_suffix(index, count)}"
        got = _meltano(["--environment", environment, "state", "get", state_id], env=env)
        state = json.loads(got.stdout).get("singer_state", {}) if got.returncode == 0 else {}
        bookmarks = state.get("bookmarks", {})
        marks = sum(len(bookmarks.get(r, {}).get("partitions", [])) for _, r, _ in STATE_STREAMS)
        flying = sum(len(bookmarks.get(t_, {}).get(IN_FLIGHT, {})) for t_, _, _ in STATE_STREAMS)
        line = f"{state_id}: {marks} bookmark(s), {flying} task(s) in flight"
        folder = ROOT / "output" / "jsonl" / shard_suffix(index, count)
        if loader == "target-jsonl" and folder.is_dir():
            # target-jsonl writes <stream>-<timestamp>.jsonl per run: the newest of each.
            newest = {p.stem.split("-")[0]: p for p in sorted(folder.glob("*.jsonl"))}
            rows = {name: sum(1 for _ in path.open()) for name, path in newest.items()}
            line += "; rows: " + ", ".join(f"{name} {n:,}" for name, n in rows.items())
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", default=os.environ.get("MELTANO_ENVIRONMENT", "dev"))
    parser.add_argument("--database-uri", help="Meltano system database (default: the project's)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("prepare", "run", "reshard", "summary"):
        command = commands.add_parser(name)
        command.add_argument("extractor")
        command.add_argument("loader")
        if name == "reshard":
            command.add_argument("--from", dest="old", type=int, required=True)
            command.add_argument("--to", dest="new", type=int, required=True)
            continue
        command.add_argument("--shards", type=int, required=True, help="how many shards")
        if name == "run":
            command.add_argument("--shard", type=int, required=True, help="this shard, from 0")
            command.add_argument("--key-cap", type=int, help="the API key's active task cap")
            command.add_argument("--concurrent", type=int, default=1,
                                 help="shards of this API key running at once")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            found = prepare(args.environment, args.extractor, args.loader, args.shards,
                            database_uri=args.database_uri)  # fmt: skip
            print(f"ready: {args.shards} shard(s); existing states: {', '.join(found) or 'none'}")
            return 0
        if args.command == "summary":
            for line in summary(args.environment, args.extractor, args.loader, args.shards,
                                database_uri=args.database_uri):  # fmt: skip
                print(line)
            return 0
        if args.command == "reshard":
            written = reshard(args.environment, args.extractor, args.loader, args.old, args.new,
                              database_uri=args.database_uri)  # fmt: skip
            print("resharded into: " + ", ".join(written))
            return 0
        per_shard = max(1, args.key_cap // args.concurrent) if args.key_cap else None
        return run_shard(args.environment, args.extractor, args.loader, args.shard, args.shards,
                         database_uri=args.database_uri, max_active_tasks=per_shard)  # fmt: skip
    except ShardError as exc:
        print(f"shard.py: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
