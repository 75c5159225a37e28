"""The streaming download parser: exact videos in any chunking, shape or spacing."""

from __future__ import annotations

import json
import random
import re
import sys
import typing as t

import pytest

from tap_vidnavigator import download
from tap_vidnavigator.download import DownloadError, iter_results

# Strings that defeat naive splitting: brackets, quotes, escapes and separators inside.
TRICKY_TEXTS = [
    "plain",
    "},{",
    '}, {"id": "x"}',
    "{{{[[[",
    "]]]}}}",
    'a "quoted" word',
    "back\\slash\\",
    'ends with \\"',
    "emoji 🎉 and ünïcode",
    "line\nbreak\ttab",
    "",
]


def make_video(rng: random.Random, number: int) -> dict[str, t.Any]:
    return {
        "id": str(7_300_000_000_000_000_000 + number),
        "title": rng.choice(TRICKY_TEXTS) + rng.choice(TRICKY_TEXTS),
        "description": None if rng.random() < 0.1 else rng.choice(TRICKY_TEXTS),
        "artists": [rng.choice(TRICKY_TEXTS) for _ in range(rng.randint(0, 3))],
        "duration": rng.choice([rng.randint(1, 100), rng.random() * 100, None]),
        "likes": rng.choice([rng.randint(0, 10**12), str(rng.randint(0, 99)), None]),
        "thumbnails": [
            {"id": str(n), "url": f"https://cdn.example/{number}/{n}", "nested": {"a": [n, {}]}}
            for n in range(rng.randint(0, 3))
        ],
        "flags": {"a": {"b": []}} if rng.random() < 0.2 else {},
    }


def document(videos: list[dict[str, t.Any]], shape: str, *, indent: int | None) -> bytes:
    body: t.Any
    if shape == "list":
        body = videos
    else:
        task = {
            "task_id": "tt_1",
            "profile": {"uploader": "{ab}", "stats": [1, {"x": "]"}]},
            "videos": videos,
            "pagination": {"has_next": False, "next_cursor": None},
        }
        body = task if shape == "task" else {"status": "success", "data": task}
    return json.dumps(body, indent=indent, ensure_ascii=False).encode()


def chunked(blob: bytes, sizes: t.Iterable[int]) -> t.Iterator[bytes]:
    position = 0
    for size in sizes:
        if position >= len(blob):
            return
        yield blob[position : position + size]
        position += size
    if position < len(blob):
        yield blob[position:]


def parse(chunks: t.Iterable[bytes]) -> list[t.Any]:
    return [video for run in iter_results(iter(chunks), "videos") for video in run]


@pytest.fixture
def small_chunks(monkeypatch):
    """Small buffer limits, so that every code path runs on small documents."""
    monkeypatch.setattr(download, "_CHUNK", 256)
    monkeypatch.setattr(download, "_MAX_PENDING", 64 * 1024)


@pytest.mark.parametrize("shape", ["list", "task", "envelope"])
@pytest.mark.parametrize("indent", [None, 2])
def test_every_chunking_gives_exactly_the_videos(shape, indent, small_chunks):
    rng = random.Random(f"{shape}{indent}")
    videos = [make_video(rng, n) for n in range(60)]
    blob = document(videos, shape, indent=indent)
    for size in (1, 2, 3, 7, 64, 255, 256, 1000, len(blob)):
        assert parse(chunked(blob, iter(lambda size=size: size, None))) == videos, size
    for seed in range(20):
        sizes = random.Random(seed)
        assert parse(chunked(blob, (sizes.randint(1, 900) for _ in range(10**6)))) == videos


def test_full_size_chunks_with_braces_in_every_string():
    # Real buffer sizes, and every candidate cut defeated by braces inside strings.
    videos = [{"id": str(n), "title": "{" * (n % 7), "t": [{"x": "}"}]} for n in range(20_000)]
    blob = document(videos, "task", indent=None)
    assert parse(chunked(blob, iter(lambda: 100_000, None))) == videos


@pytest.mark.parametrize("shape", ["list", "task", "envelope"])
def test_a_truncated_file_yields_whole_videos_then_fails(shape, small_chunks):
    rng = random.Random(shape)
    videos = [make_video(rng, n) for n in range(8)]
    blob = document(videos, shape, indent=None)
    array_end = blob.index(b"]", blob.rindex(b'"flags"')) + 1  # past the videos list
    for length in range(len(blob)):
        got: list[t.Any] = []
        try:
            for run in iter_results(chunked(blob[:length], iter(lambda: 97, None)), "videos"):
                got.extend(run)
        except DownloadError:
            assert length < array_end, length
        else:
            assert length >= array_end, length
        assert got == videos[: len(got)], length


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (b"[]", []),
        (b" [ ] ", []),
        (b'{"videos": []}', []),
        (b'{"status": "success", "data": {"videos": [{"id": "1"}]}}', [{"id": "1"}]),
        (b'{"videos": [{"id": "1"}], "trailing": "ignored after the list"', [{"id": "1"}]),
    ],
)
def test_small_documents(blob, expected):
    assert parse([blob]) == expected


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b'{"unexpected": true}', "no videos list in a known shape"),
        (b'{"videos": {"id": "1"}}', "no videos list in a known shape"),
        (b'{"data": {"task_id": "x"}}', "no videos list in a known shape"),
        (b'"a string"', "no videos list in a known shape"),
        (b"", "not valid JSON"),
        (b"<html>Access denied</html>", "no videos list in a known shape"),
        (b'{"videos": [{"id": "1"} {"id": "2"}]}', "malformed"),
        (b'{"videos": [{"id": "1"}, 7]}', "not an object"),
        (b'{"videos": [{"id": "1"}, {"id": tru}]}', "truncated or malformed"),
        (b'{"videos": [{"id": "1"},', "truncated"),
        (b'{"task_id": "x", "videos"', "not valid JSON"),
    ],
)
def test_unusable_documents_are_refused_clearly(blob, message):
    with pytest.raises(DownloadError, match=message):
        parse([blob])


def test_an_endless_element_is_refused_within_the_memory_bound(small_chunks):
    blob = b'{"videos": [{"id": "' + b"7" * 200_000 + b'"}]}'
    with pytest.raises(DownloadError, match="no complete result"):
        parse(chunked(blob, iter(lambda: 1000, None)))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="possessive quantifiers arrived in 3.11")
def test_token_pattern_finds_what_the_possessive_form_finds():
    # The pattern avoids possessive quantifiers so that the package imports on 3.10;
    # on 3.11+ it must find exactly the tokens the possessive form finds.
    from tap_vidnavigator.download import _TOKEN

    possessive = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
    rng = random.Random(7)
    alphabet = b'"\\[]{}ab ,:\n'
    for _ in range(3000):
        text = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        ours = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
        theirs = [(m.start(), m.end()) for m in possessive.finditer(text)]
        assert ours == theirs, text
