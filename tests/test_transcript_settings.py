"""The ``transcripts`` setting: defaults, every bad value refused before any request."""

from __future__ import annotations

import dataclasses

import pytest

from tap_vidnavigator.emulator.state import Counters
from tap_vidnavigator.families import PROFILES, SEARCHES, TASK_FAMILIES
from tap_vidnavigator.settings import SettingsError, parse_settings
from tap_vidnavigator.transcript_settings import DEFAULT_LEDGER_PATH, TranscriptSettings
from tests.conftest import KEY, base_config, run_tap

BASE = {"api_key": "k", "profiles": ["@ab"]}


def test_off_by_default_and_every_default():
    assert parse_settings(BASE).transcripts == TranscriptSettings()
    defaults = TranscriptSettings()
    assert defaults.enabled is False and defaults.speech_to_text is False
    assert defaults.concurrency == 8 and defaults.sources == TASK_FAMILIES
    assert defaults.max_per_run is None and defaults.ledger_path == DEFAULT_LEDGER_PATH


def test_every_key_parsed():
    raw = {
        "enabled": True, "sources": "searches", "min_views": 100, "languages": ["EN", "es"],
        "max_per_run": 50, "concurrency": 16, "speech_to_text": True,
        "max_transcription_hours_per_run": 2.5, "ledger_path": "/tmp/l.jsonl",
    }  # fmt: skip
    parsed = parse_settings({**BASE, "transcripts": raw}).transcripts
    assert parsed == TranscriptSettings(
        enabled=True, sources=(SEARCHES,), min_views=100, languages=("en", "es"),
        max_per_run=50, concurrency=16, speech_to_text=True,
        max_transcription_hours_per_run=2.5, ledger_path="/tmp/l.jsonl",
    )  # fmt: skip
    profiles = parse_settings({**BASE, "transcripts": {"sources": "profiles"}})
    assert profiles.transcripts.sources == (PROFILES,)


BAD = [
    ("not an object", True, "transcripts must be an object"),
    ("unknown key", {"enabld": True}, "unknown keys ['enabld'] (did you mean 'enabled'?)"),
    ("enabled", {"enabled": "yes"}, "transcripts.enabled must be true or false"),
    ("sources", {"sources": "all"}, "transcripts.sources must be one of profiles, searches, both"),
    ("min_views", {"min_views": -1}, "transcripts.min_views must be a whole number >= 0"),
    ("languages", {"languages": ["english"]}, "transcripts.languages must be a list of two"),
    ("max_per_run", {"max_per_run": 0}, "transcripts.max_per_run must be a whole number >= 1"),
    ("concurrency", {"concurrency": 0}, "transcripts.concurrency must be a whole number between"),
    ("too concurrent", {"concurrency": 500}, "transcripts.concurrency must be a whole number"),
    ("speech", {"speech_to_text": 1}, "transcripts.speech_to_text must be true or false"),
    ("hours", {"max_transcription_hours_per_run": -1}, "max_transcription_hours_per_run must"),
    ("ledger", {"ledger_path": ""}, "transcripts.ledger_path must be a file path"),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_values_are_refused(raw, expected):
    with pytest.raises(SettingsError) as caught:
        parse_settings({**BASE, "transcripts": raw})
    assert [e for e in caught.value.errors if expected in e], caught.value.errors


def test_the_unknown_key_gets_a_guess():
    with pytest.raises(SettingsError) as caught:
        parse_settings({**BASE, "transcripts": {"enabld": True, "concurency": 4}})
    assert caught.value.errors == [
        "transcripts has unknown keys ['concurency', 'enabld'] (did you mean 'concurrency' "
        "for 'concurency', 'enabled' for 'enabld'?); allowed: enabled, sources, min_views, "
        "languages, max_per_run, concurrency, speech_to_text, "
        "max_transcription_hours_per_run, ledger_path"
    ]


def test_the_cli_refuses_before_any_request(tmp_path, emulator):
    setting = {"enabled": True, "concurrency": 0, "sources": "profile"}
    config = base_config(emulator, profiles=["@size5"], transcripts=setting)
    run = run_tap(tmp_path, config)
    assert run.returncode == 1
    assert "Invalid setting: transcripts.concurrency must be a whole number" in run.stderr
    assert "Invalid setting: transcripts.sources must be one of" in run.stderr
    assert run.messages == []
    assert dataclasses.asdict(emulator.counters()) == dataclasses.asdict(Counters())
    assert emulator.transcripts.counters[KEY].transcript_calls == 0
