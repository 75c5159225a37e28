"""The purchase ledger: nothing bought twice when the STATE of a run that bought it was lost.

Reuse policy: a retried shard (or any rerun whose STATE was never committed) reuses
the tasks the lost run bought; a run whose STATE holds them buys fresh ones; expired,
foreign and vanished entries are never trusted; parallel shards share one folder
safely. Never-again policy: a video claimed is never bought again, by two runs at
once either; an uncertain purchase waits for the user; files of today's tap (both
formats) are read, so an upgrade buys nothing again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import multiprocessing
import subprocess
import sys
import typing as t
from pathlib import Path

from tap_vidnavigator.ledger import (
    DEFAULT_FOLDER,
    PROJECT_ROOT_VARIABLE,
    PURCHASES_FILE,
    Ledger,
    Purchase,
    default_folder,
)
from tap_vidnavigator.settings import parse_settings
from tap_vidnavigator.transcript_settings import DEFAULT_LEDGER_PATH
from tests.conftest import assert_videos_match, base_config, minimal_env, run_tap

PROFILES = ["@size40", "@size75", "@empty", "@notfound_ledger"]
URLS = [f"https://www.tiktok.com/{p}" for p in PROFILES]
LOGGER = logging.getLogger("tap-vidnavigator.test")
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc)


def _ledger(folder: Path, *, url: str = "http://127.0.0.1:9/v1", key: str = "k") -> Ledger:
    return Ledger(folder, api_url=url, api_key=key, logger=LOGGER, now=lambda: NOW)


def _in(hours: float) -> str:
    return (NOW + dt.timedelta(hours=hours)).isoformat()


def test_expired_and_foreign_entries_are_never_reused(tmp_path):
    mine = _ledger(tmp_path)
    filters = {"after_date": "2026-05-01"}
    mine.bought("profile", URLS[0], filters, "t_expired", _in(-1))
    mine.bought("profile", URLS[0], filters, "t_too_soon", _in(0.05))  # 3 minutes left
    _ledger(tmp_path, key="another-key").bought("profile", URLS[0], filters, "t_key", _in(1))
    _ledger(tmp_path, url="https://other/v1").bought("profile", URLS[0], filters, "t_url", _in(1))
    mine.bought("search", URLS[0], filters, "t_kind", _in(1))
    mine.bought("profile", URLS[0], {"after_date": "2026-05-02"}, "t_filters", _in(1))
    assert mine.reuse("profile", URLS[0], filters) is None
    # The expired entry met on the way was removed; the others stay for their owners.
    names = sorted(path.name.split("--")[1] for path in tmp_path.glob("*.json"))
    assert names == [f"{t}.json" for t in sorted(
        ["t_too_soon", "t_key", "t_url", "t_kind", "t_filters"])]  # fmt: skip
    mine.bought("profile", URLS[0], filters, "t_good", _in(1))
    entry = mine.reuse("profile", URLS[0], filters)
    assert entry is not None and entry.task_id == "t_good"
    # The key is never written, only a hash of it.
    assert all('"k"' not in path.read_text() for path in tmp_path.glob("*.json"))
    assert json.loads(entry.path.read_text())["filters"] == filters
    # A sweep removes every expired entry, of any account.
    _ledger(tmp_path, key="another-key").bought("profile", URLS[1], {}, "t_old", _in(-2))
    assert mine.sweep() == 1


def test_the_default_folder_is_inside_the_meltano_project(tmp_path):
    assert default_folder({"MELTANO_PROJECT_ROOT": str(tmp_path)}) == tmp_path / DEFAULT_FOLDER
    assert str(DEFAULT_FOLDER) == ".meltano/tap-vidnavigator/ledger"
    assert default_folder({}) is None


def _write_many(folder: str, writer: int) -> None:
    ledger = _ledger(Path(folder))
    for index in range(200):
        # Both writers record the same requests: each entry is its own file.
        ledger.bought("profile", URLS[index % 4], {"n": index}, f"t{writer}_{index}", _in(1))


def test_two_writers_at_once_lose_and_corrupt_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(str(tmp_path), w)) for w in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".json")) == []
    assert len(list(tmp_path.glob("*.json"))) == 400
    ledger = _ledger(tmp_path)
    for index in range(200):
        entry = ledger.reuse("profile", URLS[index % 4], {"n": index})
        assert entry is not None and entry.task_id in {f"t1_{index}", f"t2_{index}"}


def _shard(emulator, ledger: Path, index: int, **settings):
    return base_config(
        emulator,
        profiles=PROFILES,
        shard_count=2,
        shard_index=index,
        ledger_dir=str(ledger),
        **settings,
    )


def test_a_retried_shard_buys_nothing_again_and_reads_the_same_records(emulator, tmp_path):
    ledger = tmp_path / "ledger"
    config = base_config(emulator, profiles=PROFILES, ledger_dir=str(ledger))
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    assert emulator.counters().submits == len(PROFILES)
    # The retry starts from the STATE the failed attempt never committed: none.
    retry = run_tap(tmp_path, config)
    assert retry.returncode == 0, retry.stderr
    assert emulator.counters().submits == len(PROFILES)
    assert retry.stderr.count("from the ledger (bought") == len(PROFILES)
    assert sorted(r["task_id"] for r in retry.records("profile_tasks")) == sorted(
        r["task_id"] for r in first.records("profile_tasks")
    )
    assert retry.records("videos") == first.records("videos")
    for url in URLS:
        assert_videos_match(retry.records("videos"), emulator, url)
    tasks = {r["profile_url"]: r for r in retry.records("profile_tasks")}
    assert tasks[URLS[3]]["task_status"] == "failed"

    # A run whose STATE holds the tasks buys anew: @empty's and the failing profile's
    # requests are the same again (no bookmark), yet their counts must be fresh.
    after = run_tap(tmp_path, config, state=retry.last_state)
    assert after.returncode == 0, after.stderr
    assert "from the ledger" not in after.stderr
    assert emulator.counters().submits == 2 * len(PROFILES)

    forced = run_tap(tmp_path, {**config, "force_new_tasks": True})
    assert forced.returncode == 0, forced.stderr
    assert "from the ledger" not in forced.stderr
    assert emulator.counters().submits == 3 * len(PROFILES)


def test_two_shards_at_once_share_one_ledger(emulator, tmp_path):
    ledger = tmp_path / "ledger"
    processes = []
    for index in (0, 1):
        path = tmp_path / f"shard-{index}.json"
        path.write_text(json.dumps(_shard(emulator, ledger, index)))
        command = [sys.executable, "-m", "tap_vidnavigator.tap", "--config", str(path)]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True,
                                          env=minimal_env()))  # fmt: skip
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    assert emulator.counters().submits == len(PROFILES)
    assert len(list(ledger.glob("*.json"))) == len(PROFILES)
    for index in (0, 1):
        retry = run_tap(tmp_path, _shard(emulator, ledger, index))
        assert retry.returncode == 0, retry.stderr
    assert emulator.counters().submits == len(PROFILES)


def test_a_ledger_task_that_is_gone_is_bought_once_more(emulator, tmp_path):
    ledger = tmp_path / "ledger"
    config = base_config(emulator, profiles=PROFILES[:1], ledger_dir=str(ledger))
    # As if an earlier emulator on this port (or a task removed early) had sold it.
    late = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    Ledger(ledger, api_url=emulator.url, api_key=config["api_key"], logger=LOGGER).bought(
        "profile", URLS[0], {}, "tt_profile_vanished", late
    )
    result = run_tap(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "Ledger task tt_profile_vanished for" in result.stderr
    assert emulator.counters().submits == 1
    assert_videos_match(result.records("videos"), emulator, URLS[0])
    assert [p.name.split("--")[1] for p in ledger.glob("*.json")] == [
        f"{result.records('profile_tasks')[0]['task_id']}.json"
    ]


# ------------------------------------------------------------------ upgrades
def test_an_entry_written_by_todays_tap_is_reused(tmp_path):
    # Today's format, written out here as the tap of today writes it (not through Ledger).
    url, key, filters = "http://127.0.0.1:9/v1", "k", {"after_date": "2026-05-01"}
    fingerprint = {
        "kind": "profile", "subject": URLS[0], "filters": filters, "api_url": url,
        "key": hashlib.sha256(key.encode()).hexdigest()[:16],
    }  # fmt: skip
    prefix = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:32]
    entry = {"version": 1, **fingerprint, "task_id": "t_old", "submitted_at": _in(-0.5),
             "expires_at": _in(1)}  # fmt: skip
    (tmp_path / f"{prefix}--t_old.json").write_text(json.dumps(entry, sort_keys=True))
    found = _ledger(tmp_path).reuse("profile", URLS[0], filters)
    assert found is not None and found.task_id == "t_old"


#: A speech-to-text ledger as today's tap writes it (transcription_ledger.py): a bought
#: video, a failed one, a run killed between a claim and its submit, a line cut short.
TODAYS_TRANSCRIPTIONS = (
    '{"video_id":"v1","status":"claimed","video_url":"https://t/v1","at":"2026-06-01T10:00:00+00:00"}\n'
    '{"video_id":"v1","status":"submitted","task_id":"tr_1","at":"2026-06-01T10:00:01+00:00"}\n'
    '{"video_id":"v2","status":"claimed","video_url":"https://t/v2","at":"2026-06-01T10:00:02+00:00"}\n'
    '{"video_id":"v2","status":"submitted","task_id":"tr_2","at":"2026-06-01T10:00:03+00:00"}\n'
    '{"video_id":"v1","status":"completed","task_id":"tr_1","credits":0.0167,"at":"2026-06-01T10:01:00+00:00"}\n'
    '{"video_id":"v2","status":"failed","task_id":"tr_2","credits":null,"at":"2026-06-01T10:01:01+00:00"}\n'
    '{"video_id":"v3","status":"claimed","video_url":"https://t/v3","at":"2026-06-01T10:02:00+00:00"}\n'
    '{"video_id":"v4","status":"cla'
)  # fmt: skip
STT = "speech-to-text"


def _settings(tmp_path: Path, **config: t.Any):
    return parse_settings({"api_key": "k", "profiles": ["@tiktok"], **config})


def _claims(ledger: Ledger) -> dict[str, tuple[bool, str | None, str | None]]:
    """Each video's claim: (granted, earlier status, earlier task)."""
    answers = {}
    for video in ("v1", "v2", "v3", "v4", "v5"):
        claim = ledger.claim(STT, video, f"https://t/{video}")
        earlier = claim.earlier
        answers[video] = (claim.granted, earlier and earlier.status, earlier and earlier.task_id)
    return answers


UPGRADED = {
    "v1": (False, "completed", "tr_1"),
    "v2": (False, "failed", "tr_2"),
    "v3": (False, "claimed", None),  # uncertain: bought or not, unknown
    "v4": (True, None, None),
    "v5": (True, None, None),
}


def test_todays_transcriptions_jsonl_is_read_so_an_upgrade_buys_nothing_again(
    tmp_path, monkeypatch
):
    # Today's default place, in the working directory; no ledger_dir, no Meltano.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PROJECT_ROOT_VARIABLE, raising=False)
    old = tmp_path / DEFAULT_LEDGER_PATH
    old.parent.mkdir()
    old.write_text(TODAYS_TRANSCRIPTIONS)
    ledger = Ledger.for_settings(_settings(tmp_path), logger=LOGGER)
    assert ledger.folder is None and ledger.reuse_mode == "off"  # as today outside Meltano
    assert ledger.purchases_file == Path(".tap-vidnavigator/purchases.jsonl")
    assert _claims(ledger) == UPGRADED
    assert old.read_text() == TODAYS_TRANSCRIPTIONS  # read, never written
    written = [json.loads(line) for line in (tmp_path / ledger.purchases_file).open()]
    assert [(e["kind"], e["video_id"], e["status"]) for e in written] == [
        (STT, "v4", "claimed"), (STT, "v5", "claimed")
    ]  # fmt: skip
    # Claimed and never sent (say, a budget stopped them), withdrawn at the end: what
    # is left uncertain is the claim today's tap left when it was killed.
    assert ledger.release_unsent() == 2
    again = Ledger.for_settings(_settings(tmp_path), logger=LOGGER)
    assert [p.video_id for p in again.uncertain()] == ["v3"]


def test_under_meltano_the_ledger_moves_into_the_project_and_still_reads_todays_file(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # Meltano runs the tap in its project
    monkeypatch.setenv(PROJECT_ROOT_VARIABLE, str(tmp_path))
    (tmp_path / ".tap-vidnavigator").mkdir()
    (tmp_path / DEFAULT_LEDGER_PATH).write_text(TODAYS_TRANSCRIPTIONS)
    ledger = Ledger.for_settings(_settings(tmp_path), logger=LOGGER)
    assert ledger.folder == tmp_path / DEFAULT_FOLDER and ledger.reuse_mode == "on"
    assert ledger.purchases_file == tmp_path / DEFAULT_FOLDER / PURCHASES_FILE
    assert _claims(ledger) == UPGRADED


def test_the_deprecated_ledger_path_still_works_and_the_warning_names_ledger_dir(tmp_path, caplog):
    old = tmp_path / "my-transcriptions.jsonl"
    old.write_text(TODAYS_TRANSCRIPTIONS)
    alone = {"transcripts": {"enabled": True, "ledger_path": str(old)}}
    with caplog.at_level(logging.WARNING, logger="tap-vidnavigator"):
        settings = _settings(tmp_path, **alone)
    assert settings.deprecated_ledger_path == str(old)
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "transcripts.ledger_path is deprecated: set ledger_dir instead" in warning
    assert str(old) in warning
    # Alone, it stays the file written (as today)...
    ledger = Ledger.for_settings(settings, logger=LOGGER)
    assert ledger.purchases_file == old
    assert _claims(ledger) == UPGRADED
    assert old.read_text().startswith(TODAYS_TRANSCRIPTIONS)  # the cut line stays cut
    # ...and beside ledger_dir, it is read and the new folder written.
    folder = tmp_path / "ledger"
    moved = Ledger.for_settings(_settings(tmp_path, ledger_dir=str(folder), **alone),
                                logger=LOGGER)  # fmt: skip
    assert moved.purchases_file == folder / PURCHASES_FILE
    assert _claims(moved) == {**UPGRADED, "v4": (False, "claimed", None),
                              "v5": (False, "claimed", None)}  # fmt: skip
    # No deprecated setting, no warning.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tap-vidnavigator"):
        assert _settings(tmp_path, ledger_dir=str(folder)).deprecated_ledger_path is None
    assert caplog.records == []


# -------------------------------------------------------------- the policies
def test_use_ledger_and_force_new_tasks_switch_reuse_and_never_touch_never_again(tmp_path):
    folder = tmp_path / "ledger"
    modes = {}
    for name, extra in {
        "default": {},
        "use_ledger false": {"use_ledger": False},
        "force_new_tasks": {"force_new_tasks": True},
    }.items():
        ledger = Ledger.for_settings(_settings(tmp_path, ledger_dir=str(folder), **extra),
                                     logger=LOGGER)  # fmt: skip
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        ledger.bought("profile", URLS[0], {}, f"t_{len(modes)}", later.isoformat())
        found = ledger.reuse("profile", URLS[0], {})
        claim = ledger.claim(STT, "v9", "https://t/v9")
        modes[name] = (ledger.reuse_mode, found is not None, claim.granted)
    assert modes == {
        "default": ("on", True, True),
        "use_ledger false": ("off", False, False),  # nothing written, nothing read
        "force_new_tasks": ("write-only", False, False),  # written for later runs
    }
    assert sorted(p.name.split("--")[1] for p in folder.glob("*.json")) == [
        "t_0.json", "t_2.json"
    ]  # fmt: skip


def test_an_uncertain_purchase_waits_for_the_user_to_release_it(tmp_path):
    first, second = _ledger(tmp_path), _ledger(tmp_path)
    claim = first.claim(STT, "v1", "https://t/v1")
    assert claim.granted and first.claim(STT, "v1", "https://t/v1").granted  # still ours
    claim.uncertain("no response within request_timeout")
    again = second.claim(STT, "v1", "https://t/v1")
    assert not again.granted and again.earlier is not None and again.earlier.unsure
    assert [(p.video_id, p.status, p.reason) for p in second.uncertain()] == [
        ("v1", "uncertain", "no response within request_timeout")
    ]
    (line,) = second.uncertain_summary()
    assert "1 uncertain purchase(s), not bought again: speech-to-text of https://t/v1" in line
    assert "release_uncertain_purchases" in line
    # The user checked the account: released, it may be bought once more (once).
    assert [p.video_id for p in second.release_uncertain()] == ["v1"]
    assert second.uncertain() == [] and second.uncertain_summary() == []
    assert first.claim(STT, "v1", "https://t/v1").granted
    assert not second.claim(STT, "v1", "https://t/v1").granted


def test_a_claim_never_sent_or_refused_for_sure_is_withdrawn(tmp_path):
    ledger = _ledger(tmp_path)
    ledger.claim(STT, "v1", "https://t/v1")  # a budget stopped its submit
    ledger.claim(STT, "v2", "https://t/v2").not_bought("HTTP 400 bad_request")
    sent = ledger.claim(STT, "v3", "https://t/v3")
    sent.submitted("tr_3")
    assert ledger.release_unsent() == 1
    other = _ledger(tmp_path)
    assert other.claim(STT, "v1", "https://t/v1").granted
    assert other.claim(STT, "v2", "https://t/v2").granted
    refused = other.claim(STT, "v3", "https://t/v3")
    assert refused.earlier is not None and refused.earlier.task_id == "tr_3"
    ledger.settled(STT, "v3", "tr_3", "completed", 0.5)
    assert other.entry(STT, "v3") == Purchase(STT, "v3", "completed", "tr_3", 0.5, "https://t/v3")


def _claim_many(folder: str, runner: int, results: str) -> None:
    ledger = _ledger(Path(folder))
    granted = [v for v in range(100) if ledger.claim(STT, f"v{v}", f"https://t/v{v}").granted]
    Path(results, f"granted-{runner}.json").write_text(json.dumps(granted))


def test_two_runs_claiming_at_once_buy_each_video_once(tmp_path):
    (tmp_path / "ledger").mkdir()
    context = multiprocessing.get_context("spawn")
    runners = [
        context.Process(target=_claim_many, args=(str(tmp_path / "ledger"), r, str(tmp_path)))
        for r in (1, 2)
    ]
    for process in runners:
        process.start()
    for process in runners:
        process.join(60)
        assert process.exitcode == 0
    granted = [json.loads((tmp_path / f"granted-{r}.json").read_text()) for r in (1, 2)]
    assert sorted(granted[0] + granted[1]) == list(range(100))


def test_an_upgraded_tap_buys_nothing_its_predecessor_bought(make_emulator, tmp_path):
    emulator = make_emulator()
    captionless = "https://www.tiktok.com/@nocaptions_a"
    (video,) = emulator.ground_truth(captionless, max_posts=1)
    old = tmp_path / "transcriptions.jsonl"
    old.write_text(
        json.dumps({"video_id": video["id"], "status": "claimed", "video_url": video["url"]})
        + "\n"
        + json.dumps({"video_id": video["id"], "status": "completed", "task_id": "tr_old"})
        + "\n"
    )
    transcripts = {"enabled": True, "speech_to_text": True, "ledger_path": str(old)}
    config = base_config(
        emulator,
        profiles=[{"profile_url": captionless, "max_posts": 1}],
        ledger_dir=str(tmp_path / "ledger"),
        transcripts=transcripts,
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "transcripts.ledger_path is deprecated: set ledger_dir instead" in run.stderr
    assert [
        (r["video_id"], r["no_transcript_reason"], r["task_id"])
        for r in run.records("video_transcripts")
    ] == [(video["id"], "speech_to_text_bought_before", "tr_old")]
    assert emulator.transcripts.transcriptions_of(video["url"]) == []
    assert (tmp_path / "ledger" / PURCHASES_FILE).read_text() == ""  # nothing claimed
