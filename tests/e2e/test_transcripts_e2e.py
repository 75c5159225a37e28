"""video_transcripts through `meltano run` into PostgreSQL, and the README's search on it."""

from __future__ import annotations

import contextlib
import json
import re

import psycopg2
import pytest

from tests.conftest import ROOT
from tests.e2e.test_meltano_e2e import _pg_env, meltano_run, pg_column_types, readme_sql

pytestmark = pytest.mark.e2e

PROFILE = "https://www.tiktok.com/@size40"
SEARCH = "sourdough size20"
README_WORDS = "'sourdough starter'"


def test_transcripts_land_in_postgres_and_the_readme_search_finds_them(
    make_emulator, postgres, tmp_path
):
    emulator = make_emulator(processing_polls=1)
    schema = "vidnavigator_transcripts_e2e"
    env = {
        **_pg_env(postgres, schema),
        "TAP_VIDNAVIGATOR_SEARCHES": json.dumps([SEARCH]),
        "TAP_VIDNAVIGATOR_TRANSCRIPTS": json.dumps(
            {"enabled": True, "ledger_path": str(tmp_path / "ledger.jsonl")}
        ),
    }
    run = meltano_run("target-postgres", emulator, tmp_path, extra_env=env, profiles=[PROFILE])
    assert run.returncode == 0, run.stderr[-5000:]
    with (
        contextlib.closing(psycopg2.connect(**postgres)) as connection,
        connection.cursor() as cursor,
    ):
        kinds = pg_column_types(cursor, schema, "video_transcripts")
        assert (kinds["text"], kinds["segments"], kinds["available_languages"]) == (
            "text",
            "ARRAY",
            "ARRAY",
        )
        assert kinds["published_at"] == "timestamp without time zone"
        cursor.execute(
            f"select video_url, text, language, segments from {schema}.video_transcripts"
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"select url from {schema}.videos union select url from {schema}.search_results"
        )
        urls = {url for (url,) in cursor.fetchall()}
        assert len(rows) == len(urls) == 60
        desk = emulator.transcripts
        for url, text, language, segments in rows:
            track = desk.transcript_of(url)
            assert text == (track.text if track else None)
            assert language == (track.language if track else None)
            assert segments == ([dict(s) for s in track.segments] if track else None)
        # The README's search, for a word one of the transcripts says.
        texts = {url: text for url, text, _, _ in rows if text}
        word = next(w for text in texts.values() for w in re.findall(r"\b[a-z]{6,}\b", text))
        query = readme_sql("websearch_to_tsquery").replace("tap_vidnavigator.", f"{schema}.")
        assert query.count(README_WORDS) == 2
        cursor.execute(query.replace(README_WORDS, f"'{word}'"))
        found = cursor.fetchall()
        # docs/transcripts.md: where in each video the word is said.
        docs = (ROOT / "docs" / "transcripts.md").read_text().split("```sql\n")[1:]
        [where] = [block.split("```")[0] for block in docs if "unnest" in block]
        where = where.replace("tap_vidnavigator.", f"{schema}.")
        cursor.execute(where.replace("'%starter%'", f"'%{word}%'"))
        moments = cursor.fetchall()
    said = {url for url, text in texts.items() if re.search(rf"\b{word}\b", text, re.I)}
    assert said
    assert {url.rsplit("/", 1)[-1] for url in said} == {row[0] for row in found}
    assert all(word in row[4].lower() for row in found)  # the excerpt shows it
    # Exactly the segments that say it (ilike: a substring, any case), from the truth.
    expected = sorted(
        (url.rsplit("/", 1)[-1], str(segment["start"]), segment["text"])
        for url, _, _, _ in rows
        if (track := desk.transcript_of(url))
        for segment in track.segments
        if word in (segment["text"] or "").lower()
    )
    assert sorted((v, str(at), said) for v, at, said in moments) == expected
    assert {video_id for video_id, _, _ in moments} >= {row[0] for row in found}
