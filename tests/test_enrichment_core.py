"""The per-video enrichment core: the lifecycle is built before any stream syncs, and a
STATE written by the tap before the core existed is read as it was.

The first test runs a tap with one more stream whose name sorts before every other and
which has tasks of its own on the shared lifecycle: before the core, the first stream
to ask built the lifecycle with its own work only, and the profiles were never scraped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

from tap_vidnavigator.client import VidNavigatorStream
from tap_vidnavigator.families import TRANSCRIPTS
from tap_vidnavigator.records.transcripts import SPEECH_TO_TEXT_KIND
from tap_vidnavigator.settings import TaskRequest
from tap_vidnavigator.state import InFlightTasks
from tap_vidnavigator.tap import TapVidNavigator
from tap_vidnavigator.tasks import KindWork
from tap_vidnavigator.transcript_stream import VideoTranscriptsStream
from tests.conftest import assert_videos_match, base_config, expected_videos, run_tap

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "https://www.tiktok.com/@size40"
SECOND = "https://www.tiktok.com/@tiktok"
#: The setting of the probe stream below: the video URLs it transcribes.
PROBE_URLS = "TAP_PROBE_URLS"


class FirstProbeStream(VidNavigatorStream):
    """Sorts before every stream of the tap; buys speech-to-text for given videos on the
    run's shared lifecycle and writes one row per finished task."""

    name = "aaa_first_probe"
    path = SPEECH_TO_TEXT_KIND.route
    primary_keys = ("task_id",)
    replication_key = None
    schema: t.ClassVar[dict[str, t.Any]] = {
        "type": "object",
        "properties": {
            "task_id": {"type": "string"},
            "video_url": {"type": "string"},
            "task_status": {"type": ["string", "null"]},
        },
    }

    def get_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:
        urls = json.loads(__import__("os").environ[PROBE_URLS])
        loop = self.run.lifecycle
        loop.add_work(
            KindWork(
                kind=SPEECH_TO_TEXT_KIND,
                requests=[TaskRequest(url, ()) for url in urls],
                task_ids=(),
                in_flight=InFlightTasks(self, SPEECH_TO_TEXT_KIND.subject_field),
                submit_filters=lambda request: {},
                api=self.call_api,
            )
        )
        for finished in loop.finished_tasks(SPEECH_TO_TEXT_KIND):
            yield {
                "task_id": finished.task_id,
                "video_url": finished.subject,
                "task_status": finished.data.get("task_status"),
            }


class TapWithAFirstStream(TapVidNavigator):
    """The tap, with the probe stream first in its list (and in the SDK's sync order)."""

    def discover_streams(self) -> list[VidNavigatorStream]:
        return [FirstProbeStream(self, self.run), *super().discover_streams()]


def test_a_stream_that_sorts_first_with_tasks_of_its_own_leaves_the_scrapes_whole(
    emulator, tmp_path
):
    videos = sorted(expected_videos(emulator, SECOND).values(), key=lambda v: v["id"])
    urls = [videos[0]["url"], videos[1]["url"]]
    config = base_config(emulator, profiles=[PROFILE, SECOND])
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_enrichment_core", "--config", str(config_path)],
        capture_output=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", PROBE_URLS: json.dumps(urls)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    records = [m for m in messages if m["type"] == "RECORD"]
    probe = [r["record"] for r in records if r["stream"] == FirstProbeStream.name]
    assert sorted((r["video_url"], r["task_status"]) for r in probe) == sorted(
        (url, "completed" if emulator.transcripts.speech_of(url) else "failed") for url in urls
    )
    tasks = [r["record"] for r in records if r["stream"] == "profile_tasks"]
    assert sorted(t["profile_url"] for t in tasks) == sorted([PROFILE, SECOND])
    found = [r["record"] for r in records if r["stream"] == "videos"]
    assert_videos_match(found, emulator, PROFILE)
    assert_videos_match(found, emulator, SECOND)
    # The probe's stream synced first, and the scrapes were submitted in the same loop.
    streams = [m["stream"] for m in messages if m["type"] == "SCHEMA"]
    assert streams[0] == FirstProbeStream.name
    assert emulator.counters().submits == 2


def test_a_state_written_before_the_core_is_read(emulator, tmp_path):
    """video_transcripts' STATE as the tap wrote it before the enrichment core (its
    ranges and pending list): the pending videos get their rows, the range stands."""
    videos = sorted(expected_videos(emulator, PROFILE).values(), key=lambda v: v["id"])
    waiting = videos[:3]
    pending = [
        [v["id"], v["url"], v["published_at"], "profile", PROFILE]
        for v in sorted(waiting, key=lambda v: v["published_at"], reverse=True)
    ]
    span = ["2020-01-01T00:00:00+00:00", "2020-01-02T00:00:00+00:00"]
    state = {
        "bookmarks": {
            TRANSCRIPTS.stream: {"ranges": {f"profile {PROFILE}": span}, "pending": pending}
        }
    }
    config = base_config(
        emulator,
        task_ids=[],
        search_task_ids=["absent"],  # something to extract that finds no video
        **{
            TRANSCRIPTS.setting: {
                "enabled": True,
                "ledger_path": str(tmp_path / "ledger.jsonl"),
            }
        },
    )
    result = run_tap(tmp_path, config, state=state)
    rows = result.records(TRANSCRIPTS.stream)
    assert sorted(r["video_id"] for r in rows) == sorted(v["id"] for v in waiting)
    last = result.last_state
    assert last is not None
    kept = last["bookmarks"][TRANSCRIPTS.stream]
    # Nothing pending any more: a lean STATE leaves the empty list out.
    assert kept.get("pending", []) == [] and kept["ranges"] == {f"profile {PROFILE}": span}


class _LanguageColumns(VideoTranscriptsStream):
    """An enrichment whose settings derive columns: one per preferred language."""

    def derived_columns(self, settings: t.Any) -> dict[str, t.Any]:
        return {
            f"words_{code}": {"type": ["string", "null"]} for code in settings.transcripts.languages
        }


class _TapWithDerivedColumns(TapVidNavigator):
    def discover_streams(self) -> list[VidNavigatorStream]:
        streams = super().discover_streams()
        return [
            _LanguageColumns(self, self.run) if s.name == TRANSCRIPTS.stream else s for s in streams
        ]


def test_an_enrichment_derives_columns_from_its_settings_and_discovery_shows_them():
    without = _TapWithDerivedColumns(config=None, validate_config=False)
    own = set(without.streams[TRANSCRIPTS.stream].schema["properties"])
    assert not [name for name in own if name.startswith("words_")]
    config = {
        "api_key": "k",
        "profiles": ["@creator"],
        TRANSCRIPTS.setting: {"enabled": True, "languages": ["en", "es"]},
    }
    tap = _TapWithDerivedColumns(config=config)
    derived = set(tap.streams[TRANSCRIPTS.stream].schema["properties"])
    assert derived - own == {"words_en", "words_es"}
    catalog = tap.catalog_dict["streams"]
    entry = next(e for e in catalog if e["tap_stream_id"] == TRANSCRIPTS.stream)
    assert {"words_en", "words_es"} <= set(entry["schema"]["properties"])
    # The class keeps the stream's own columns: another tap's streams are unaffected.
    assert set(_LanguageColumns.schema["properties"]) == own


if __name__ == "__main__":
    TapWithAFirstStream.cli()
