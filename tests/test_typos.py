"""A misspelled setting is refused before any request, at each level, with a guess.

Each case runs the real CLI against the emulator and checks that it exits 1 with one
line naming the key and the closest known name, and that the emulator saw no request
of any kind (no credit spent, no poll, no key check).
"""

from __future__ import annotations

import dataclasses

import pytest

from tap_vidnavigator.config_keys import closest, did_you_mean, known_settings
from tap_vidnavigator.emulator.state import Counters
from tap_vidnavigator.tap import TapVidNavigator
from tests.conftest import base_config, run_tap

CASES = [
    (
        "top level",
        {"profiles": ["@tiktok"], "max_post": 5},
        "Invalid setting: 'max_post' is not a setting of tap-vidnavigator "
        "(did you mean 'max_posts'?)",
    ),
    (
        "inside a profile object",
        {"profiles": [{"profile_url": "@tiktok", "min_like": 3}]},
        "Invalid setting: profiles[0] has unknown keys ['min_like'] "
        "(did you mean 'min_likes'?); allowed: profile_url, max_posts",
    ),
    (
        "inside a search object",
        {"searches": [{"query": "#airfryer", "sortby": "newest"}]},
        "Invalid setting: searches[0] has unknown keys ['sortby'] "
        "(did you mean 'sort_by'?); allowed: query, max_results",
    ),
]


@pytest.mark.parametrize(("config", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_typo_is_refused_before_any_request(tmp_path, emulator, config, expected):
    run = run_tap(tmp_path, base_config(emulator, **config))
    assert run.returncode == 1
    assert expected in run.stderr
    assert run.last_line.endswith(
        "tap-vidnavigator failed: invalid configuration (1 problem(s)); fix the settings above"
    )
    assert run.messages == []
    assert dataclasses.asdict(emulator.counters()) == dataclasses.asdict(Counters())


def test_the_key_check_refuses_a_typo_too(tmp_path, emulator):
    run = run_tap(
        tmp_path, base_config(emulator, profiles=["@tiktok"], max_post=5), args=["--test"]
    )
    assert run.returncode == 1
    assert "did you mean 'max_posts'?" in run.stderr
    assert dataclasses.asdict(emulator.counters()) == dataclasses.asdict(Counters())


def test_known_settings_are_the_merged_schema_with_the_sdk_builtins():
    known = known_settings(TapVidNavigator)
    assert {"max_posts", "profiles", "searches", "api_key"} <= known
    # Appended by the SDK for the declared capabilities, not written in tap.py.
    assert {"stream_maps", "stream_map_config", "flattening_enabled", "batch_config"} <= known
    assert "faker_config" in known
    # Reading them leaves the tap's own schema as it was.
    assert known_settings(TapVidNavigator) == known


def test_every_builtin_setting_is_accepted(tmp_path, emulator):
    """The SDK's own keys pass the check (a run with stream maps and flattening set)."""
    config = base_config(
        emulator,
        profiles=["@empty"],
        stream_maps={},
        stream_map_config={},
        flattening_enabled=False,
        flattening_max_depth=1,
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.counters().submits == 1


@pytest.mark.parametrize(
    ("name", "guess"),
    [
        ("max_post", "max_posts"),
        ("profile", "profiles"),
        ("apikey", "api_key"),
        ("search", "searches"),
        ("poll_intervall", "poll_interval"),
        ("colour", None),
    ],
)
def test_closest_name(name, guess):
    assert closest(name, known_settings(TapVidNavigator)) == guess


def test_did_you_mean_names_a_guess_per_key():
    known = ("min_likes", "max_likes", "profile_url")
    assert did_you_mean(["min_like"], known) == " (did you mean 'min_likes'?)"
    assert did_you_mean(["min_like", "max_like"], known) == (
        " (did you mean 'min_likes' for 'min_like', 'max_likes' for 'max_like'?)"
    )
    assert did_you_mean(["colour"], known) == ""
