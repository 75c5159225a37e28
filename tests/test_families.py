"""Each family is declared once (families.py), and everything else reads the declaration."""

from __future__ import annotations

import ast
from pathlib import Path

from orchestrate import shard
from tap_vidnavigator.families import (
    ACCOUNT_USAGE,
    TASK_FAMILIES,
    TRANSCRIPTS,
    VIDEO_STATS,
    state_layout,
)
from tap_vidnavigator.tap import TapVidNavigator

ROOT = Path(__file__).resolve().parent.parent


def _family_names() -> set[str]:
    names = {
        VIDEO_STATS.stream,
        VIDEO_STATS.window_setting,
        TRANSCRIPTS.stream,
        TRANSCRIPTS.setting,
        ACCOUNT_USAGE.stream,
    }
    for family in TASK_FAMILIES:
        names |= {
            family.tasks_stream,
            family.results_stream,
            family.requests_setting,
            family.task_ids_setting,
        }
    return names


def _string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_each_stream_and_list_setting_name_is_a_literal_in_one_module_only():
    modules = [
        path
        for path in [*ROOT.glob("tap_vidnavigator/**/*.py"), *ROOT.glob("orchestrate/*.py")]
        # The emulator stands for the provider: it speaks the API's own names.
        if "emulator" not in path.parts
    ]
    literals = {path: _string_literals(path) for path in modules}
    for name in sorted(_family_names()):
        holders = sorted(str(p.relative_to(ROOT)) for p, found in literals.items() if name in found)
        assert holders == ["tap_vidnavigator/families.py"], (name, holders)


def test_the_streams_settings_and_state_layout_follow_the_declarations():
    config = {"api_key": "k", "api_url": "http://127.0.0.1:9/v1", "profiles": ["@ab"]}
    tap = TapVidNavigator(config=config)
    schema = tap.config_jsonschema["properties"]
    for family in TASK_FAMILIES:
        tasks, results = tap.streams[family.tasks_stream], tap.streams[family.results_stream]
        assert results.parent_stream_type is type(tasks)
        assert tuple(results.primary_keys) == family.result_key
        assert results.replication_key == family.replication_key
        assert list(results.state_partitioning_keys) == [family.subject_field]
        assert tasks.path == family.route and results.path == f"{family.route}/{{task_id}}"
        assert {family.requests_setting, family.task_ids_setting} <= set(schema)
        for item in family.filters:
            assert item.name in schema or not item.top_level
    usage = tap.streams[ACCOUNT_USAGE.stream]
    assert tuple(usage.primary_keys) == ACCOUNT_USAGE.key and usage.path == ACCOUNT_USAGE.route
    assert state_layout() == shard.STATE_STREAMS
    assert [s for s, _, _ in state_layout()] == [f.tasks_stream for f in TASK_FAMILIES]
