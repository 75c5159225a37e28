"""Changing the number of shards: every bookmark and in-flight task moves to its new shard."""

from __future__ import annotations

import json
import subprocess

import pytest

from orchestrate import shard
from tap_vidnavigator.shards import shard_of

pytestmark = pytest.mark.e2e

PIPELINE = ("dev", "tap-vidnavigator", "target-postgres")
URLS = [f"https://www.tiktok.com/@creator{n:02d}" for n in range(12)]
QUERIES = ["cats", "dogs", "#fyp", "dance challenge"]


def _day(number: int) -> str:
    return f"2025-01-{number + 1:02d}T00:00:00+00:00"


def _sorted(state: dict) -> dict:
    for stream in state["bookmarks"].values():
        if "partitions" in stream:
            stream["partitions"].sort(key=lambda p: json.dumps(p["context"]))
    return state


def _state_of(items_of_shard) -> dict:
    """A Singer state as the tap writes it, for the given profiles and queries."""
    urls, queries = items_of_shard
    flying_url = URLS[0] if URLS[0] in urls else None
    return {
        "bookmarks": {
            "profile_tasks": {
                "in_flight": {
                    flying_url: {"task_id": "tt_profile_flying", "profile_url": flying_url}
                }
                if flying_url
                else {}
            },
            "videos": {
                "partitions": [
                    {
                        "context": {"profile_url": url},
                        "replication_key": "published_at",
                        "replication_key_value": _day(URLS.index(url)),
                    }
                    for url in urls
                    if url != flying_url
                ]
            },
            "search_tasks": {
                "in_flight": {
                    f"{q}?sort_by=newest": {"task_id": "tt_search_dogs", "query": q}
                    for q in queries
                    if q == "dogs"
                }
            },
            "search_results": {
                "partitions": [
                    {
                        "context": {"query": q},
                        "replication_key": "published_at",
                        "replication_key_value": "2025-06-01T00:00:00+00:00",
                    }
                    for q in queries
                    if q != "dogs"
                ]
            },
        }
    }


def _items(index: int, count: int) -> tuple[list[str], list[str]]:
    return (
        [u for u in URLS if shard_of(u, count) == index],
        [q for q in QUERIES if shard_of(q, count) == index],
    )


def _import(states: dict[str, dict]) -> None:
    done = subprocess.run(
        [str(shard.MELTANO), "--environment", "dev", "state", "import"],
        input=json.dumps(
            {i: {"completed": {"singer_state": s}, "partial": {}} for i, s in states.items()}
        ),
        env=shard._base_env(None), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def _export() -> dict[str, dict]:
    got = subprocess.run(
        [str(shard.MELTANO), "state", "export"],
        env=shard._base_env(None), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr[-2000:]
    return {i: s["completed"]["singer_state"] for i, s in json.loads(got.stdout).items()}


def test_resharding_moves_every_bookmark_and_in_flight_task(tmp_path, monkeypatch):
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    base = shard.pipeline_id(*PIPELINE)
    _import({f"{base}:shard-{index}-of-2": _state_of(_items(index, 2)) for index in range(2)})
    # Starting 3 shards over 2 shards' states would lose them: refused, with the fix.
    with pytest.raises(shard.ShardError, match="reshard --from 2 --to 3"):
        shard.prepare(*PIPELINE, 3)

    written = shard.reshard(*PIPELINE, 2, 3)

    assert written == [f"{base}:shard-{i}-of-3" for i in range(3)]
    assert sorted(shard.prepare(*PIPELINE, 3)) == written  # the old states are gone
    states = _export()
    assert sorted(states) == written
    for index in range(3):
        assert _sorted(states[f"{base}:shard-{index}-of-3"]) == _sorted(_state_of(_items(index, 3)))
