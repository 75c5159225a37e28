"""Deterministic synthetic TikTok profiles and the provider's filter semantics.

The same handle always yields the same videos, so tests can compare what the tap
emitted with :func:`ground_truth` exactly.

Handle scheme (the part after ``@`` in ``https://www.tiktok.com/@<handle>``):

==================  ==========================================================
``empty``           a profile with no videos (the task completes with 0 rows)
``big<N>``          exactly N videos, e.g. ``@big60000``
``size<N>``         exactly N videos (same as ``big<N>``, reads better for small N)
``size<N>_<tag>``   exactly N videos, other videos for every tag (many profiles of one size)
``notfound*``       the task fails with ``user_not_found``
``private*``        the task fails with ``private_account``
anything else       20 to 200 videos, chosen by a hash of the handle
==================  ==========================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
import re
import typing as t
import zlib

#: Newest synthetic video of every profile is published before this instant
#: (2026-01-01T00:00:00Z), so the catalogue never depends on the clock (videos added by
#: ``EmulatorState.publish`` are placed before the emulated clock's now instead).
BASE_EPOCH = 1_767_225_600

PROFILE_URL_RE = re.compile(
    r"^https?://(?:www\.|m\.)?tiktok\.com/@(?P<handle>[A-Za-z0-9_.]{2,24})/?(?:\?.*)?$"
)
_SIZED_RE = re.compile(r"^(?:big|size)(?P<n>\d{1,7})(?:_[a-z0-9_.]+)?$")

_WORDS = (
    "dance",
    "recipe",
    "tutorial",
    "vlog",
    "challenge",
    "duet",
    "morning",
    "routine",
    "café",
    "naïve",
    "über",
    "façade",
    "straße",
    "東京",
    "ラーメン",
    "서울",
    "Ελλάδα",
    "São Paulo",
    "Zürich",
    "fiesta",
    "ciné",
    "crème brûlée",
)
_EMOJI = ("🔥", "😂", "✨", "🎶", "💃", "🍜", "🇯🇵", "👨‍👩‍👧", "❤️", "🤯")
_SONGS = ("Espresso", "Flowers", "Paint The Town Red", "Cruel Summer", "Lovin On Me")


class ProfileFailure(t.NamedTuple):
    """Why a profile's scrape task fails."""

    code: str
    message: str
    http_status: int


#: The date filters under today's names (what the provider's SDK sends) and the
#: page's older ones; a task echoes its filters under the spelling it was sent.
DATE_FILTER_NAMES = {
    "after": ("after_datetime", "after_date"),
    "before": ("before_datetime", "before_date"),
}


@dataclasses.dataclass(frozen=True)
class Filters:
    """Parsed filters of a submit, with the bounds as unix seconds (inclusive)."""

    max_posts: int | None = None
    after_ts: int | None = None
    before_ts: int | None = None
    min_likes: int | None = None
    max_likes: int | None = None
    after_label: str | None = None
    before_label: str | None = None
    legacy_names: bool = False

    def echo(self) -> dict[str, t.Any]:
        """The ``filters`` object as the provider echoes it.

        Sent as ``after_datetime``/``before_datetime`` (the SDK), they are echoed under
        those names as sent; sent as ``after_date``/``before_date`` (the page's
        example), under those names as ``YYYYMMDD``.
        """
        after_name, before_name = (
            (DATE_FILTER_NAMES["after"][1], DATE_FILTER_NAMES["before"][1])
            if self.legacy_names
            else (DATE_FILTER_NAMES["after"][0], DATE_FILTER_NAMES["before"][0])
        )
        return {
            "max_posts": self.max_posts,
            after_name: self.after_label,
            before_name: self.before_label,
            "min_likes": self.min_likes,
            "max_likes": self.max_likes,
        }


class FilterError(ValueError):
    """A filter value the provider rejects with 400; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def handle_of(profile_url: str) -> str:
    """Return the handle of a TikTok profile URL, or raise FilterError."""
    match = PROFILE_URL_RE.match(profile_url or "")
    if not match:
        raise FilterError(
            "profile_url",
            "profile_url must be a TikTok profile URL such as https://www.tiktok.com/@tiktok",
        )
    return match.group("handle")


def profile_failure(handle: str) -> ProfileFailure | None:
    """The failure a handle's task ends with, or None when it completes."""
    lowered = handle.lower()
    if lowered.startswith("notfound"):
        return ProfileFailure("user_not_found", f"TikTok user @{handle} was not found", 404)
    if lowered.startswith("private"):
        return ProfileFailure("private_account", f"TikTok account @{handle} is private", 403)
    return None


def profile_size(handle: str) -> int:
    """How many videos a handle's profile has (see the module docstring)."""
    lowered = handle.lower()
    if lowered == "empty" or profile_failure(handle):
        return 0
    if match := _SIZED_RE.match(lowered):
        return int(match.group("n"))
    return 20 + zlib.crc32(lowered.encode()) % 181


def _seed(handle: str) -> int:
    return zlib.crc32(handle.lower().encode())


def profile_object(handle: str, moment: int = BASE_EPOCH) -> dict[str, t.Any]:
    """The ``profile`` object of a task that observed the profile at ``moment``.

    Followers grow by a steady share a day after BASE_EPOCH (0.1% to 1%, fixed per
    profile), so a profile scraped on two days shows growth (docs/emulator-model.md).
    """
    rng = random.Random(_seed(handle) ^ 0x5EED)
    followers = rng.randint(0, 50_000_000)
    daily = rng.uniform(0.001, 0.01)
    days = max(0, moment - BASE_EPOCH) // 86_400
    return {
        "uploader": handle,
        "uploader_id": str(rng.getrandbits(63)),
        "nickname": f"{handle.title()} ✨",
        "follower_count": followers + int(followers * daily * days),
        "verified": rng.random() < 0.2,
    }


def _maybe_str(rng: random.Random, value: int) -> int | str | None:
    """Counts as scrapers send them: mostly ints, some strings, a few nulls."""
    roll = rng.random()
    if roll < 0.025:
        return None
    if roll < 0.14:
        return str(value)
    return value


def _text(rng: random.Random, words: int) -> str:
    parts = [rng.choice(_WORDS) for _ in range(words)]
    parts.insert(rng.randrange(len(parts) + 1), rng.choice(_EMOJI))
    return " ".join(parts)


def make_video(handle: str, rng: random.Random, ts: int) -> dict[str, t.Any]:
    """One video as the provider serves it (legacy field set)."""
    video_id = str((ts << 32) | rng.getrandbits(32))
    likes = int(rng.paretovariate(1.2) * 300)
    views = likes * rng.randint(5, 60)
    description: str | None = _text(rng, rng.randint(3, 12))
    roll = rng.random()
    if roll < 0.05:
        description = None
    elif roll < 0.15:
        description = f'She said "wow"\nthen #{rng.choice(_WORDS)} \\ {description}'
    artists: list[str] | None = [handle] if rng.random() < 0.6 else [rng.choice(_SONGS)]
    if rng.random() < 0.05:
        artists = None
    thumbnails = [
        {
            "id": str(index),
            "url": f"https://p16-sign.tiktokcdn.example/{video_id}~{index}.jpeg",
            "width": 720 // (index + 1),
            "height": 1280 // (index + 1),
        }
        for index in range(rng.randint(0, 2))
    ]
    return {
        "id": video_id,
        "track": None if rng.random() < 0.05 else f"original sound - {handle}",
        "artists": artists,
        "duration": rng.choice((rng.randint(5, 180), round(rng.uniform(5, 180), 3))),
        "title": None if rng.random() < 0.03 else _text(rng, rng.randint(1, 6)),
        "description": description,
        "timestamp": str(ts) if rng.random() < 0.02 else ts,
        "views": _maybe_str(rng, views),
        "likes": _maybe_str(rng, likes),
        "reposts": _maybe_str(rng, rng.randint(0, max(1, likes // 20))),
        "comments": _maybe_str(rng, rng.randint(0, max(1, likes // 10))),
        "thumbnails": thumbnails,
        "url": f"https://www.tiktok.com/@{handle}/video/{video_id}",
    }


@functools.lru_cache(maxsize=64)
def profile_videos(handle: str) -> tuple[dict[str, t.Any], ...]:
    """Every video of a profile, newest first. Cached: treat as read-only."""
    size = profile_size(handle)
    rng = random.Random(_seed(handle))
    # Spread a big profile over at most about three years of history.
    mean_gap = max(120, min(86_400, 3 * 365 * 86_400 // max(size, 1)))
    ts = BASE_EPOCH - rng.randint(0, 86_400)
    videos = []
    for _ in range(size):
        videos.append(make_video(handle, rng, ts))
        ts -= rng.randint(60, 2 * mean_gap)
    return tuple(videos)


def fresh_stamps(
    rng: random.Random, after_ts: int, until_ts: int, count: int, where: str
) -> list[int]:
    """``count`` publication times after ``after_ts`` and before ``until_ts``, oldest first.

    They spread over at most the day before ``until_ts``, one per equal slot, leaving
    room after the newest for the next batch. ValueError when there is no room (the
    calendar must move on first); ``where`` names the profile or word in the message.
    """
    lower = max(after_ts + 1, until_ts - 86_400)
    span = until_ts - lower
    if count < 1 or span < 4 * count:
        msg = (
            f"no room to publish {count} video(s) on {where} before the emulated clock's "
            "now: advance the clock first (Emulator.advance_clock)"
        )
        raise ValueError(msg)
    slot = span / count
    return [
        lower + int(slot * index + slot / 4 + rng.random() * slot / 2) for index in range(count)
    ]


def newer_videos(
    handle: str, after_ts: int, until_ts: int, count: int, batch: int
) -> list[dict[str, t.Any]]:
    """``count`` videos published after ``after_ts`` and before ``until_ts``, newest first
    (:func:`fresh_stamps`), from a generator seeded with the handle and ``batch``."""
    rng = random.Random(_seed(handle) * 1000 + batch)
    stamps = fresh_stamps(rng, after_ts, until_ts, count, f"@{handle}")
    return [make_video(handle, rng, stamp) for stamp in reversed(stamps)]


def _as_int(value: t.Any) -> int | None:
    if value is None:
        return None
    return int(value)


def parse_date_bound(field: str, value: t.Any, *, end_of_day: bool) -> tuple[int, str]:
    """Parse ``YYYYMMDD``, ``YYYY-MM-DD`` or an ISO-8601 datetime (with a zone).

    Returns the bound in unix seconds (inclusive, for whole-second timestamps) and the
    ``YYYYMMDD`` echo. A datetime with a fraction of a second is rounded inwards: up for
    an ``after`` bound (a post at 10:00:00 is not after 10:00:00.5), down for ``before``.
    """
    if not isinstance(value, str):
        raise FilterError(field, f"{field} must be a date string such as 2024-01-31")
    text = value.strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            day = dt.datetime.strptime(text, "%Y%m%d").replace(tzinfo=dt.timezone.utc)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError("naive datetime")
            moment = moment.astimezone(dt.timezone.utc)
            whole = moment.replace(microsecond=0)
            seconds = int(whole.timestamp()) + (1 if moment > whole and not end_of_day else 0)
            return seconds, moment.strftime("%Y%m%d")
    except ValueError as exc:
        raise FilterError(
            field,
            f"{field} {value!r} is not a date: use YYYYMMDD, YYYY-MM-DD "
            "or an ISO-8601 datetime with a time zone",
        ) from exc
    start = int(day.timestamp())
    return (start + 86_399 if end_of_day else start), day.strftime("%Y%m%d")


def _date_bound(
    body: t.Mapping[str, t.Any], which: str, *, end_of_day: bool
) -> tuple[int | None, str | None, bool]:
    """A date bound under either spelling: seconds, its echo, and whether legacy."""
    current, legacy = DATE_FILTER_NAMES[which]
    if body.get(current) is not None:
        seconds, _ = parse_date_bound(current, body[current], end_of_day=end_of_day)
        return seconds, str(body[current]), False
    if body.get(legacy) is not None:
        seconds, label = parse_date_bound(legacy, body[legacy], end_of_day=end_of_day)
        return seconds, label, True
    return None, None, False


def parse_filters(body: t.Mapping[str, t.Any]) -> Filters:
    """Validate a submit body's filters exactly as the emulated provider does.

    Dates come as ``after_datetime``/``before_datetime`` (what the provider's SDK
    sends) or as the page's older ``after_date``/``before_date``; today's name wins
    when both are given.
    """
    ints: dict[str, int | None] = {}
    for field, minimum in (("max_posts", 1), ("min_likes", 0), ("max_likes", 0)):
        value = body.get(field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < minimum
        ):
            raise FilterError(field, f"{field} must be an integer >= {minimum}")
        ints[field] = value
    after_ts, after_label, after_legacy = _date_bound(body, "after", end_of_day=False)
    before_ts, before_label, before_legacy = _date_bound(body, "before", end_of_day=True)
    if after_ts is not None and before_ts is not None and after_ts > before_ts:
        name = DATE_FILTER_NAMES["after"][1 if after_legacy else 0]
        raise FilterError(name, f"{name} must not be later than the before bound")
    if (
        ints["min_likes"] is not None
        and ints["max_likes"] is not None
        and ints["min_likes"] > ints["max_likes"]
    ):
        raise FilterError("min_likes", "min_likes must not be greater than max_likes")
    return Filters(
        max_posts=ints["max_posts"],
        after_ts=after_ts,
        before_ts=before_ts,
        min_likes=ints["min_likes"],
        max_likes=ints["max_likes"],
        after_label=after_label,
        before_label=before_label,
        legacy_names=after_legacy or before_legacy,
    )


#: How many videos one TikTok listing page holds, for ``stats.pages_consumed``.
TIKTOK_PAGE_SIZE = 30


def apply_filters(
    videos: t.Sequence[dict[str, t.Any]], filters: Filters
) -> tuple[list[dict[str, t.Any]], dict[str, int]]:
    """The matched videos (newest first) and the ``stats`` of the scrape.

    The scraper walks the profile newest first and stops at ``max_posts`` matches
    or at the first video older than ``after_date``.
    """
    matched: list[dict[str, t.Any]] = []
    scanned = 0
    for video in videos:
        if filters.max_posts is not None and len(matched) >= filters.max_posts:
            break
        scanned += 1
        ts = int(video["timestamp"])
        if filters.after_ts is not None and ts < filters.after_ts:
            break
        if filters.before_ts is not None and ts > filters.before_ts:
            continue
        likes = _as_int(video["likes"])
        if filters.min_likes is not None and (likes is None or likes < filters.min_likes):
            continue
        if filters.max_likes is not None and (likes is None or likes > filters.max_likes):
            continue
        matched.append(video)
    pages = -(-scanned // TIKTOK_PAGE_SIZE) if scanned else (1 if videos else 0)
    stats = {
        "videos_scanned": scanned,
        "videos_matched": len(matched),
        "pages_consumed": pages,
    }
    return matched, stats
