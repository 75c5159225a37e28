"""Deterministic captions and speech of the emulator's TikTok videos.

Pure data, no state: the same video id always has the same captions, in the same
languages, with the same segments, so tests compare what a client read with the
ground truth exactly (docs/emulator-transcripts.md tells the whole model).

* A video **has captions** unless its creator's handle starts with ``nocaptions`` or
  ``silent`` (none of their videos has any), or a hash of its id says it has none
  (about one video in six).
* Captions come in the video's **spoken language** (about half are English) plus
  zero to two translated tracks; ``available_languages`` lists the spoken one first,
  then the translations in alphabetical order. Every track has the same timings.
* **Speech-to-text** hears the spoken language, with its own segmentation and words,
  for every video but those of ``silent*`` handles (no speech: the transcription fails).
"""

from __future__ import annotations

import dataclasses
import random
import re
import typing as t
import zlib

VIDEO_URL_RE = re.compile(
    r"^https?://(?:www\.|m\.)?tiktok\.com/@(?P<handle>[A-Za-z0-9_.]{2,24})"
    r"/video/(?P<video_id>\d{1,20})/?(?:\?.*)?$"
)
#: Spoken languages, with how many videos in 100 speak each.
SPOKEN = (("en", 45), ("es", 15), ("pt", 10), ("fr", 8), ("de", 7), ("ja", 6), ("ko", 5), ("it", 4))
LANGUAGES = tuple(language for language, _ in SPOKEN)
#: One video in this many has no captions (besides the no-caption handles).
NO_CAPTIONS_ONE_IN = 6
NO_CAPTIONS_PREFIXES = ("nocaptions", "silent")
SILENT_PREFIX = "silent"
#: A video's length when the catalogue does not know it, in seconds.
UNKNOWN_DURATION = 15.0

_VOCABULARY: dict[str, tuple[str, ...]] = {
    "en": (
        "today", "we", "are", "making", "the", "best", "ramen", "in", "town", "don't",
        "forget", "to", "follow", "this", "is", "so", "good", "look", "at", "that", '"wow"',
    ),
    "es": (
        "hoy", "vamos", "a", "cocinar", "la", "mejor", "receta", "del", "año", "mira",
        "qué", "rico", "sígueme", "para", "más",
    ),
    "pt": (
        "hoje", "vamos", "fazer", "a", "melhor", "receita", "do", "verão", "olha", "que",
        "delícia", "segue", "para", "mais", "São", "Paulo",
    ),
    "fr": (
        "aujourd'hui", "on", "prépare", "la", "meilleure", "recette", "de", "l'été",
        "regardez", "ça", "c'est", "trop", "bon", "abonnez-vous", "crème", "brûlée",
    ),
    "de": (
        "heute", "machen", "wir", "das", "beste", "Rezept", "für", "den", "Sommer",
        "schau", "mal", "so", "lecker", "folgt", "mir", "Straße", "über",
    ),
    "ja": (
        "今日は", "東京で", "ラーメンを", "食べます", "すごく", "おいしい", "見てね",
        "フォローしてね",
    ),
    "ko": ("오늘은", "서울에서", "라면을", "먹어요", "정말", "맛있어요", "팔로우", "해주세요"),
    "it": (
        "oggi", "facciamo", "la", "migliore", "ricetta", "dell'estate", "guarda", "che",
        "buono", "seguimi", "per", "altro",
    ),
}  # fmt: skip
_EMOJI = ("🔥", "😂", "✨", "🍜", "❤️")


class VideoRef(t.NamedTuple):
    """What a TikTok video URL names."""

    handle: str
    video_id: str


def parse_video_url(url: t.Any) -> VideoRef | None:
    """The handle and id of a TikTok video URL as the emulator serves it, else None."""
    match = VIDEO_URL_RE.match(url) if isinstance(url, str) else None
    return VideoRef(match.group("handle"), match.group("video_id")) if match else None


@dataclasses.dataclass(frozen=True)
class Transcript:
    """One transcript of a video: its language, the video's caption languages, segments."""

    language: str
    #: The video's caption tracks (empty for a video without captions).
    available_languages: tuple[str, ...]
    #: ``{"text", "start", "end"}`` each, in time order (the SDK's TranscriptSegment).
    segments: tuple[dict[str, t.Any], ...]

    @property
    def text(self) -> str:
        """The whole text, as ``transcript_text=true`` serves it."""
        return " ".join(segment["text"] for segment in self.segments)

    def served(self, as_text: bool) -> list[dict[str, t.Any]] | str:
        """The ``transcript`` value of an answer (copies: callers may change them)."""
        return self.text if as_text else [dict(segment) for segment in self.segments]


def _hash(video_id: str, salt: str) -> int:
    return zlib.crc32(f"{video_id}:{salt}".encode())


def spoken_language(video_id: str) -> str:
    """The language spoken in the video (its first caption track, and speech-to-text's)."""
    roll = _hash(video_id, "language") % 100
    for language, share in SPOKEN:
        if roll < share:
            return language
        roll -= share
    return LANGUAGES[0]  # pragma: no cover (the shares add up to 100)


def caption_languages(handle: str, video_id: str) -> tuple[str, ...]:
    """The video's caption tracks, spoken language first; empty when it has none."""
    if handle.lower().startswith(NO_CAPTIONS_PREFIXES):
        return ()
    if _hash(video_id, "captions") % NO_CAPTIONS_ONE_IN == 0:
        return ()
    spoken = spoken_language(video_id)
    others = [language for language in LANGUAGES if language != spoken]
    rng = random.Random(_hash(video_id, "translations"))
    translations = rng.sample(others, rng.randrange(3))
    return (spoken, *sorted(translations))


def has_speech(handle: str) -> bool:
    """Whether speech-to-text hears anything in the creator's videos."""
    return not handle.lower().startswith(SILENT_PREFIX)


def _timings(video_id: str, duration: float, salt: str) -> list[tuple[float, float]]:
    """Consecutive ``(start, end)`` spans within ``[0, duration]``, in seconds."""
    rng = random.Random(_hash(video_id, salt))
    start = round(rng.uniform(0.0, 0.8), 3)
    spans = []
    while start < duration - 0.5:
        end = round(min(duration, start + rng.uniform(1.2, 4.5)), 3)
        spans.append((start, end))
        start = round(end + rng.uniform(0.0, 0.6), 3)
    return spans or [(0.0, round(duration, 3))]


def _line(rng: random.Random, language: str) -> str:
    words = [rng.choice(_VOCABULARY[language]) for _ in range(rng.randint(3, 9))]
    if language not in ("ja", "ko"):
        words[0] = words[0][:1].upper() + words[0][1:]
    if rng.random() < 0.1:
        words.append(rng.choice(_EMOJI))
    return " ".join(words) + ("" if language in ("ja", "ko") else ".")


def _segments(
    video_id: str, duration: float, language: str, timing_salt: str, text_salt: str
) -> tuple[dict[str, t.Any], ...]:
    rng = random.Random(_hash(video_id, f"{text_salt}:{language}"))
    return tuple(
        {"text": _line(rng, language), "start": start, "end": end}
        for start, end in _timings(video_id, duration, timing_salt)
    )


def length_of(duration: t.Any) -> float:
    """A catalogue duration (int, float, string or null) as seconds of audio."""
    try:
        seconds = float(duration)
    except (TypeError, ValueError):
        return UNKNOWN_DURATION
    return seconds if seconds > 0 else UNKNOWN_DURATION


def captions(
    handle: str, video_id: str, duration: t.Any, language: str | None = None
) -> Transcript | None:
    """The caption track a ``POST /transcript`` serves, or None without captions.

    ``language`` picks a track; a language the video has no track in gets the
    spoken-language track (``selected_language`` says which was served).
    """
    available = caption_languages(handle, video_id)
    if not available:
        return None
    chosen = language if language in available else available[0]
    segments = _segments(video_id, length_of(duration), chosen, "captions", "captions")
    return Transcript(chosen, available, segments)


def speech(handle: str, video_id: str, duration: t.Any) -> Transcript | None:
    """What speech-to-text hears in the video, or None when it hears nothing."""
    if not has_speech(handle):
        return None
    spoken = spoken_language(video_id)
    segments = _segments(video_id, length_of(duration), spoken, "speech", "speech")
    return Transcript(spoken, caption_languages(handle, video_id), segments)
