"""Deterministic TikTok keyword-search results and the provider's search filters.

The same query always yields the same results, so tests can compare what a client
read with the ground truth exactly. Shapes follow the provider's SDK (``vidnavigator``
2.1.0: ``TikTokSearchResult``, ``TikTokSearchFilters``, ``TikTokSearchStatsSummary``).

Query scheme (words are the query's tokens, lower-cased, without ``#``; a token
``@<handle>`` names a creator and is not a word):

======================  =======================================================
an ``@<handle>`` token  every video of that creator's profile, besides what the
                        words find (``"@size40"``, ``"@chef dinner"``)
a ``size<N>`` token     exactly N results from the words before filters
                        (``"#airfryer size300"``)
``fail...``             the task fails with ``search_failed``
``empty``               no results from the words
anything else           20 to 200 results from the words, by a hash of them
======================  =======================================================

Results come from each word's own endless, deterministic stream of videos, taken in
turn, so queries that share a word share results (``"#airfryer"`` and
``"airfryer recipe"``). ``published_within`` windows end at the emulator's fixed
present, 2026-01-01T00:00:00Z, so the ground truth never depends on the clock.

A creator's videos (as TikTok's search for a handle finds them) are the very videos a
scrape of ``https://www.tiktok.com/@<handle>`` serves (:mod:`.data`, and those
published on the calendar): the same ids, urls, descriptions, publication times and
settled counts, in the search result's shape (:func:`creator_result`), so a video found
through a profile and a search is one video. They come first, newest first (the
profile's order), each creator in the query's order; a creator whose scrape fails
(``@notfound...``, ``@private...``) adds none, and the search still completes. The
handle is a handle, never a size: ``"@size40"`` finds the 40 videos of ``@size40`` and
nothing else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
import re
import typing as t
import zlib

from tap_vidnavigator.emulator import data
from tap_vidnavigator.emulator.data import (
    BASE_EPOCH,
    TIKTOK_PAGE_SIZE,
    FilterError,
    fresh_stamps,
    parse_date_bound,
)

SORT_BY = ("relevance", "most_liked", "newest")
PUBLISHED_WITHIN: dict[str, int | None] = {
    "all": None,
    "past_24_hours": 86_400,
    "this_week": 7 * 86_400,
    "this_month": 30 * 86_400,
    "last_3_months": 91 * 86_400,
    "last_6_months": 182 * 86_400,
}
MAX_SLICES = 8
_SIZE = re.compile(r"^size(?P<n>\d{1,6})$")
#: A token naming a creator: ``@`` and a handle as a profile URL spells it.
_HANDLE = re.compile(r"^@(?P<handle>[A-Za-z0-9_.]{2,24})$")
_AUTHORS = ("chef.maria", "airfryer.daily", "dance.crew", "tech.tom", "nasa", "cooking.daily")
_TAGS = ("fyp", "recipe", "viral", "tutorial", "food", "dance", "tech")


def words_of(query: str) -> list[str]:
    """The query's words: lower-cased tokens without ``#``, size and handle tokens
    excluded."""
    tokens = [token.lstrip("#").lower() for token in query.split() if not _HANDLE.match(token)]
    return [token for token in tokens if token and not _SIZE.match(token)]


def handles_of(query: str) -> list[str]:
    """The creators a query names (its ``@<handle>`` tokens), as spelled, each once."""
    handles: dict[str, str] = {}
    for token in query.split():
        if match := _HANDLE.match(token):
            handles.setdefault(match.group("handle").lower(), match.group("handle"))
    return list(handles.values())


def result_count(query: str) -> int:
    """How many results a query has before filters (see the module docstring)."""
    for token in query.lower().split():
        if match := _SIZE.match(token):
            return int(match.group("n"))
    words = words_of(query)
    if not words or words == ["empty"]:
        return 0
    return 20 + zlib.crc32(" ".join(words).encode()) % 181


def failure(query: str) -> tuple[str, str, int] | None:
    """(code, message, http status) of a query whose task fails, else None."""
    if query.strip().lower().startswith("fail"):
        return ("search_failed", f"TikTok search for {query!r} failed upstream", 502)
    return None


def _maybe_str(rng: random.Random, value: int) -> int | str | None:
    roll = rng.random()
    if roll < 0.02:
        return None
    if roll < 0.12:
        return str(value)
    return value


@functools.lru_cache(maxsize=65_536)
def word_video(word: str, index: int) -> dict[str, t.Any]:
    """Video ``index`` of a word's stream (newest first), as the search API serves it."""
    rng = random.Random(zlib.crc32(word.encode()) * 1_000_003 + index)
    return make_result(word, rng, BASE_EPOCH - index * 5_400 - rng.randint(0, 5_399))


def newer_results(
    word: str, after_ts: int, until_ts: int, count: int, batch: int
) -> list[dict[str, t.Any]]:
    """``count`` results for ``word`` published after ``after_ts`` and before ``until_ts``,
    newest first (:func:`data.fresh_stamps`), seeded with the word and ``batch``."""
    rng = random.Random(zlib.crc32(word.encode()) * 1000 + batch)
    stamps = fresh_stamps(rng, after_ts, until_ts, count, repr(word))
    return [make_result(word, rng, stamp) for stamp in reversed(stamps)]


def make_result(word: str, rng: random.Random, ts: int) -> dict[str, t.Any]:
    """One search result for ``word`` published at ``ts``, drawn from ``rng``."""
    video_id = str((ts << 32) | rng.getrandbits(32))
    author = rng.choice(_AUTHORS)
    likes = int(rng.paretovariate(1.2) * 200)
    views = likes * rng.randint(5, 80)
    tags = sorted({word, *rng.sample(_TAGS, rng.randint(0, 3))})
    return {
        "id": video_id,
        "item_type": rng.choice((0, 0, 0, 1)),
        "description": f"{word} " + " ".join(f"#{tag}" for tag in tags),
        "timestamp": ts,
        "published_at": _iso(ts),
        "author": {
            "id": str(zlib.crc32(author.encode())),
            "unique_id": author,
            "nickname": author.replace(".", " ").title(),
            "sec_uid": f"MS4wLjABAAAA{zlib.crc32(author.encode()):08x}",
        },
        "stats": {
            "views": _maybe_str(rng, views),
            "likes": _maybe_str(rng, likes),
            "comments": _maybe_str(rng, rng.randint(0, max(1, likes // 10))),
            "shares": _maybe_str(rng, rng.randint(0, max(1, likes // 30))),
            "collects": _maybe_str(rng, rng.randint(0, max(1, likes // 15))),
        },
        "music": {
            "id": str(rng.getrandbits(48)),
            "title": f"original sound - {author}",
            "author_name": author,
            "duration": rng.randint(5, 60),
        },
        "duration": rng.randint(5, 180),
        "hashtags": tags,
        "url": f"https://www.tiktok.com/@{author}/video/{video_id}",
    }


def creator_result(handle: str, video: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A video of ``handle``'s profile (:func:`data.make_video`'s shape) as a search
    result: the same id, url, description, publication time and counts.

    ``stats.shares`` is the profile's ``reposts`` (TikTok's share count under the
    scraper's name) and ``collects`` is null (a profile scrape does not read it);
    ``music`` is the video's ``track`` and first artist (null fields when unknown), the
    ``duration`` whole seconds, the ``hashtags`` those of the description, as the
    search listing serves them; the ``author`` is the profile's (its ``uploader_id``
    and ``nickname``).
    """
    ts = int(video["timestamp"])
    duration = None if video["duration"] is None else int(video["duration"])
    artists, track = video["artists"] or [None], video["track"]
    description = video["description"]
    return {
        "id": video["id"],
        "item_type": 0,
        "description": description,
        "timestamp": ts,
        "published_at": _iso(ts),
        "author": dict(_creator(handle)),
        "stats": {
            "views": video["views"],
            "likes": video["likes"],
            "comments": video["comments"],
            "shares": video["reposts"],
            "collects": None,
        },
        "music": {
            "id": None if track is None else str(zlib.crc32(f"{handle.lower()}:{track}".encode())),
            "title": track,
            "author_name": artists[0],
            "duration": duration,
        },
        "duration": duration,
        "hashtags": re.findall(r"#(\w+)", description or ""),
        "url": video["url"],
    }


@functools.lru_cache(maxsize=256)
def _creator(handle: str) -> dict[str, str]:
    """A creator as a search result's ``author``, from the profile's own object."""
    profile = data.profile_object(handle)
    return {
        "id": profile["uploader_id"],
        "unique_id": handle,
        "nickname": profile["nickname"],
        "sec_uid": f"MS4wLjABAAAA{zlib.crc32(handle.lower().encode()):08x}",
    }


@functools.lru_cache(maxsize=64)
def creator_results(handle: str) -> tuple[dict[str, t.Any], ...]:
    """The generated videos of a creator's profile as search results, newest first
    (none when its scrape fails). Cached: read-only."""
    if data.profile_failure(handle):
        return ()
    return tuple(creator_result(handle, video) for video in data.profile_videos(handle))


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=256)
def search_results(query: str) -> tuple[dict[str, t.Any], ...]:
    """A query's results in relevance order, each video once. Cached: read-only."""
    count = result_count(query)
    words = words_of(query) or ["size"]
    results: list[dict[str, t.Any]] = []
    seen: set[str] = set()
    index = 0
    while len(results) < count:
        for word in words:
            video = word_video(word, index)
            if video["id"] not in seen and len(results) < count:
                seen.add(video["id"])
                results.append(video)
        index += 1
    return tuple(results)


@dataclasses.dataclass(frozen=True)
class SearchFilters:
    """A search submit's filters, parsed; the bounds as unix seconds (inclusive)."""

    max_results: int | None = None
    parallel_search_slices: int | None = None
    sort_by: str | None = None
    published_within: str | None = None
    after_ts: int | None = None
    before_ts: int | None = None
    after_label: str | None = None
    before_label: str | None = None
    min_likes: int | None = None
    max_likes: int | None = None
    min_views: int | None = None
    max_views: int | None = None

    def echo(self) -> dict[str, t.Any]:
        """The ``filters`` object as the provider echoes it (``TikTokSearchFilters``)."""
        return {
            "sort_by": self.sort_by,
            "published_within": self.published_within,
            "after_datetime": self.after_label,
            "before_datetime": self.before_label,
            "min_likes": self.min_likes,
            "max_likes": self.max_likes,
            "min_views": self.min_views,
            "max_views": self.max_views,
        }


def _bound(body: t.Mapping[str, t.Any], field: str, minimum: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FilterError(field, f"{field} must be an integer >= {minimum}")
    return value


def parse_search(body: t.Mapping[str, t.Any]) -> tuple[str, SearchFilters]:
    """Validate a ``POST /tiktok/search`` body as the emulated provider does."""
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise FilterError("query", "query must be a non-empty string")
    sort_by = body.get("sort_by")
    if sort_by is not None and sort_by not in SORT_BY:
        raise FilterError("sort_by", f"sort_by must be one of {', '.join(SORT_BY)}")
    within = body.get("published_within")
    if within is not None and within not in PUBLISHED_WITHIN:
        allowed = ", ".join(PUBLISHED_WITHIN)
        raise FilterError("published_within", f"published_within must be one of {allowed}")
    slices = _bound(body, "parallel_search_slices", 1)
    if slices is not None and slices > MAX_SLICES:
        raise FilterError(
            "parallel_search_slices", f"parallel_search_slices must be 1 to {MAX_SLICES}"
        )
    after_ts = before_ts = None
    after_label = before_label = None
    if body.get("after_datetime") is not None:
        after_ts, _ = parse_date_bound("after_datetime", body["after_datetime"], end_of_day=False)
        after_label = str(body["after_datetime"])
    if body.get("before_datetime") is not None:
        before_ts, _ = parse_date_bound("before_datetime", body["before_datetime"], end_of_day=True)
        before_label = str(body["before_datetime"])
    if after_ts is not None and before_ts is not None and after_ts > before_ts:
        raise FilterError("after_datetime", "after_datetime must not be later than before")
    bounds = {
        name: _bound(body, name, 0) for name in ("min_likes", "max_likes", "min_views", "max_views")
    }
    for low, high in (("min_likes", "max_likes"), ("min_views", "max_views")):
        least, most = bounds[low], bounds[high]
        if least is not None and most is not None and least > most:
            raise FilterError(low, f"{low} must not be greater than {high}")
    filters = SearchFilters(
        max_results=_bound(body, "max_results", 1),
        parallel_search_slices=slices,
        sort_by=sort_by,
        published_within=within,
        after_ts=after_ts,
        before_ts=before_ts,
        after_label=after_label,
        before_label=before_label,
        **bounds,
    )
    return query, filters


def _int(value: t.Any) -> int | None:
    return None if value is None else int(value)


def apply_search(
    results: t.Sequence[dict[str, t.Any]], filters: SearchFilters
) -> tuple[list[dict[str, t.Any]], dict[str, t.Any]]:
    """The matched results, in the order asked for, and the task's ``stats``."""
    window = PUBLISHED_WITHIN.get(filters.published_within or "all")
    floor = BASE_EPOCH - window if window else None
    matched = []
    for result in results:
        ts = int(result["timestamp"])
        likes, views = _int(result["stats"]["likes"]), _int(result["stats"]["views"])
        if (
            (floor is not None and ts < floor)
            or (filters.after_ts is not None and ts < filters.after_ts)
            or (filters.before_ts is not None and ts > filters.before_ts)
            or (filters.min_likes is not None and (likes is None or likes < filters.min_likes))
            or (filters.max_likes is not None and (likes is None or likes > filters.max_likes))
            or (filters.min_views is not None and (views is None or views < filters.min_views))
            or (filters.max_views is not None and (views is None or views > filters.max_views))
        ):
            continue
        matched.append(result)
    sort_by = filters.sort_by or "newest"
    if sort_by == "newest":
        matched.sort(key=lambda r: (-int(r["timestamp"]), r["id"]))
    elif sort_by == "most_liked":
        matched.sort(key=lambda r: (-(_int(r["stats"]["likes"]) or 0), r["id"]))
    if filters.max_results is not None:
        matched = matched[: filters.max_results]
    scanned = len(results)
    stats = {
        "pages_fetched": -(-scanned // TIKTOK_PAGE_SIZE) if scanned else 1,
        "results_count": len(matched),
        "next_search_cursor": scanned,
        "sort_by": sort_by,
        "published_within": filters.published_within or "all",
    }
    return matched, stats
