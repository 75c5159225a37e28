"""Every stream family of the tap, declared once.

A family is what one product of the API becomes in a warehouse: the streams it fills,
their keys, the settings that ask for it, the API routes it calls and where its STATE
lives. This module imports nothing of the tap's, so that everything else reads it:
the settings (their schema and parsing), the record tables, the streams, ``tap.py``,
``orchestrate/shard.py``, ``scripts/plugin_metadata.py`` and the docs generator.

Adding a task family (a third asynchronous API product) means: its declaration here,
its record table (``records/``), its stream classes (``streams.py``) and its emulator
routes.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

#: The Singer STATE of a tasks stream keeps submitted, not yet extracted tasks here.
IN_FLIGHT = "in_flight"
#: ...and the requests the budget did not submit, to be submitted first next run.
SKIPPED = "skipped"
#: ...and, until they expire, the tasks whose results were all emitted (the ledger
#: reuses no task the STATE already holds).
EXTRACTED = "extracted"
#: The task families' results: their bookmark field and their identity within a task.
REPLICATION_KEY = "published_at"
RESULT_ID = "id"


@dataclasses.dataclass(frozen=True)
class Filter:
    """One filter a task request can carry: a setting, and the submit-body field."""

    #: The setting's name (in an item object, and at the top level when ``top_level``).
    name: str
    #: The submit-body field the provider's SDK sends it as.
    api_field: str
    #: "date" (YYYY-MM-DD), "count" (a whole number >= ``minimum``) or "choice".
    type: t.Literal["date", "count", "choice"]
    title: str
    description: str
    minimum: int = 0
    choices: tuple[str, ...] = ()
    #: A top-level setting of the same name is the default of every item that does not
    #: set it (for every family whose filters include this one).
    top_level: bool = False


@dataclasses.dataclass(frozen=True)
class TaskFamily:
    """One kind of asynchronous scrape task, and the two streams it fills.

    ``tasks_stream`` holds one record per task (and, in its STATE, the tasks in
    flight); ``results_stream`` one record per result (and, in its STATE, a bookmark per
    subject, partitioned by ``subject_field``).
    """

    #: The noun logs use for a task's subject ("profile").
    name: str
    #: ``POST {route}`` submits (paid); ``GET {route}/{task_id}`` polls and pages (free).
    route: str
    tasks_stream: str
    results_stream: str
    #: The key properties of a results record.
    result_key: tuple[str, ...]
    #: The subject's field: in the submit body, the records and the STATE partitions.
    subject_field: str
    #: The canonical form of a subject, or None when the text is not one.
    canonical_subject: t.Callable[[str], str | None]
    #: The list of results in a task body (one page of it).
    results_field: str
    #: The setting listing requests (subjects, or objects with filters).
    requests_setting: str
    #: The setting listing existing task ids to read without submitting.
    task_ids_setting: str
    filters: tuple[Filter, ...]
    #: (low, high) filter pairs that must not cross.
    ranges: tuple[tuple[str, str], ...]
    #: What an item of ``requests_setting`` may be besides an object, and in the plural.
    item: str
    items: str
    #: The refusal of an item whose subject is not one (``{where}``, ``{text!r}``).
    not_a_subject: str
    requests_title: str
    requests_description: str
    task_ids_title: str
    task_ids_description: str
    #: The filters whose dates bound a scrape: the incremental floor raises the first.
    floor_filter: str = "after_date"
    ceiling_filter: str = "before_date"
    #: A result's identity within one task (what de-duplication reads).
    result_id: str = RESULT_ID
    #: The results' field whose newest value is a subject's bookmark.
    replication_key: str = REPLICATION_KEY

    @property
    def filter_names(self) -> tuple[str, ...]:
        """The filters' setting names, in the submit body's order."""
        return tuple(f.name for f in self.filters)

    @property
    def filter_api_fields(self) -> dict[str, str]:
        """Each filter setting and the submit-body field it is sent as."""
        return {f.name: f.api_field for f in self.filters}


_HANDLE = r"[A-Za-z0-9_.]{2,24}"
_PROFILE_URL_RE = re.compile(
    rf"^(?:https?://)?(?:www\.|m\.)?tiktok\.com/@(?P<handle>{_HANDLE})/?(?:[?#].*)?$"
)
_BARE_HANDLE_RE = re.compile(rf"^@(?P<handle>{_HANDLE})$")


def canonical_profile_url(value: str) -> str | None:
    """``https://www.tiktok.com/@handle`` for a profile URL or ``@handle``, else None."""
    text = value.strip()
    match = _BARE_HANDLE_RE.match(text) or _PROFILE_URL_RE.match(text)
    if not match:
        return None
    return f"https://www.tiktok.com/@{match.group('handle').lower()}"


def canonical_query(value: str) -> str | None:
    """A query with its spacing normalised, or None when it is empty."""
    return " ".join(value.split()) or None


# ----------------------------------------------------------------- filters
# The dates' setting names are the page's older spelling (users know them); the submit
# body uses the provider's SDK's names (vidnavigator 2.1.0), which the live API reads:
# an unknown field would be ignored in silence, and everything scraped and charged.
MAX_POSTS = Filter(
    "max_posts", "max_posts", "count", "Max posts",
    "Stop each scrape after this many matching posts (1 or more).",
    minimum=1, top_level=True,
)  # fmt: skip
AFTER_DATE = Filter(
    "after_date", "after_datetime", "date", "After date",
    "Only posts published on or after this date (YYYY-MM-DD, UTC).", top_level=True,
)  # fmt: skip
BEFORE_DATE = Filter(
    "before_date", "before_datetime", "date", "Before date",
    "Only posts published on or before this date (YYYY-MM-DD, UTC).", top_level=True,
)  # fmt: skip
MIN_LIKES = Filter(
    "min_likes", "min_likes", "count", "Min likes",
    "Only posts with at least this many likes.", top_level=True,
)  # fmt: skip
MAX_LIKES = Filter(
    "max_likes", "max_likes", "count", "Max likes",
    "Only posts with at most this many likes.", top_level=True,
)  # fmt: skip
SORT_BY = ("relevance", "most_liked", "newest")
PUBLISHED_WITHIN = (
    "all", "past_24_hours", "this_week", "this_month", "last_3_months", "last_6_months",
)  # fmt: skip


def _search_filter(name: str, type_: t.Any, **kwargs: t.Any) -> Filter:
    return Filter(name, name, type_, name.replace("_", " ").capitalize(), "", **kwargs)


# ---------------------------------------------------------------- families
PROFILES = TaskFamily(
    name="profile",
    route="/tiktok/profile",
    tasks_stream="profile_tasks",
    results_stream="videos",
    result_key=(RESULT_ID,),
    subject_field="profile_url",
    canonical_subject=canonical_profile_url,
    results_field="videos",
    requests_setting="profiles",
    task_ids_setting="task_ids",
    filters=(MAX_POSTS, AFTER_DATE, BEFORE_DATE, MIN_LIKES, MAX_LIKES),
    ranges=(("after_date", "before_date"), ("min_likes", "max_likes")),
    item="a profile URL, an @handle",
    items="profile URLs, @handles",
    not_a_subject="{where} {text!r} is not a TikTok profile: use "
    "https://www.tiktok.com/@handle or @handle",
    requests_title="Profiles",
    requests_description="TikTok profiles to scrape: each a profile URL, a bare @handle, or an "
    "object {profile_url, max_posts, after_date, before_date, min_likes, max_likes} "
    "whose values override the defaults below.",
    task_ids_title="Task IDs",
    task_ids_description="Existing scrape task IDs to read without submitting anything "
    "(no credits spent).",
)

SEARCHES = TaskFamily(
    name="search",
    route="/tiktok/search",
    tasks_stream="search_tasks",
    results_stream="search_results",
    # A daily search for the same query updates a video's counts instead of adding a
    # row per day, and a video that matches two queries has a row for each.
    result_key=("query", RESULT_ID),
    subject_field="query",
    canonical_subject=canonical_query,
    results_field="results",
    requests_setting="searches",
    task_ids_setting="search_task_ids",
    # In the provider's SDK's order (_core.submit_tiktok_search).
    filters=(
        _search_filter("max_results", "count", minimum=1),
        _search_filter("parallel_search_slices", "count", minimum=1),
        _search_filter("sort_by", "choice", choices=SORT_BY),
        _search_filter("published_within", "choice", choices=PUBLISHED_WITHIN),
        AFTER_DATE,
        BEFORE_DATE,
        MIN_LIKES,
        MAX_LIKES,
        _search_filter("min_views", "count"),
        _search_filter("max_views", "count"),
    ),
    ranges=(
        ("after_date", "before_date"),
        ("min_likes", "max_likes"),
        ("min_views", "max_views"),
    ),
    item="a query",
    items="queries",
    not_a_subject="{where} has an empty query: give a keyword or #hashtag",
    requests_title="Searches",
    requests_description="TikTok keyword searches: each a query (a keyword or #hashtag) or an "
    "object {query, max_results, parallel_search_slices, sort_by (relevance, most_liked, "
    "newest), published_within (all, past_24_hours, this_week, this_month, "
    "last_3_months, last_6_months), after_date, before_date, min_likes, max_likes, "
    "min_views, max_views}; after_date, before_date, min_likes and max_likes default to "
    "the top-level settings.",
    task_ids_title="Search task IDs",
    task_ids_description="Existing search task IDs to read without submitting anything "
    "(no credits spent).",
)

#: Every task family, in the order the tap lists (and syncs) their streams.
TASK_FAMILIES: tuple[TaskFamily, ...] = (PROFILES, SEARCHES)


@dataclasses.dataclass(frozen=True)
class ObservationFamily:
    """A stream derived from task families' results: one row per result per task that
    observed it, written in the same pass as the results (no request of its own).

    Its rows follow their source's STATE: they are written before the STATE that moves
    the source's bookmark, and a rerun of a task gives the same rows (same key).
    """

    stream: str
    key: tuple[str, ...]
    sources: tuple[TaskFamily, ...]
    #: The setting that keeps each result observed for its first N days.
    window_setting: str
    window_title: str
    window_description: str


VIDEO_STATS = ObservationFamily(
    stream="video_stats",
    key=("video_id", "task_id"),
    sources=TASK_FAMILIES,
    window_setting="observe_days",
    window_title="Observe days",
    window_description="Keep every video observed for its first N days: with a bookmark, each "
    "run asks every profile and search for at least the last N days (besides "
    "lookback_days), so video_stats gains one row per video per run while its counts move. "
    "More pages per scrape, at the provider's price; 0 (the default) observes only what "
    "lookback_days re-scrapes.",
)


@dataclasses.dataclass(frozen=True)
class AccountFamily:
    """A stream read from one free call per run, about the account (not a task).

    Its rows are keyed by when the tap read them, so each run adds one and a table of
    them is the account's history.
    """

    stream: str
    key: tuple[str, ...]
    #: ``GET {route}`` answers it (free).
    route: str


ACCOUNT_USAGE = AccountFamily(stream="account_usage", key=("read_at",), route="/usage")


def top_level_filters() -> tuple[Filter, ...]:
    """The filters that are also top-level settings (each family's items' defaults)."""
    found: dict[str, Filter] = {}
    for family in TASK_FAMILIES:
        for item in family.filters:
            if item.top_level:
                found.setdefault(item.name, item)
    return tuple(found.values())


def state_layout() -> tuple[tuple[str, str, str], ...]:
    """Per task family: the stream whose STATE holds its in-flight tasks, the stream
    whose STATE holds its bookmarks, and the subject both are kept by."""
    return tuple((f.tasks_stream, f.results_stream, f.subject_field) for f in TASK_FAMILIES)


# ------------------------------------------------------------- enrichments
@dataclasses.dataclass(frozen=True)
class EnrichmentFamily:
    """A product bought per video the task families find (transcripts, extraction): one
    row per video in its own stream, each video decided once.

    Its candidates are the results of the ``sources`` its setting names (collected while
    they sync: enrichment.py); what it asks of each video is its hooks' business
    (``enrichments/``).
    """

    stream: str
    key: tuple[str, ...]
    #: The object setting that turns it on and says which videos, how and how many.
    setting: str
    title: str
    description: str


TRANSCRIPTS = EnrichmentFamily(
    stream="video_transcripts",
    key=("video_id",),
    setting="transcripts",
    title="Transcripts",
    description="Opt-in: the transcript of every video the profiles and searches find, "
    "fetched once per video into video_transcripts. An object: enabled (default false), "
    "sources (profiles, searches or both; default both), min_views (default 0), languages "
    "(preferred ISO 639-1 codes, first first), max_per_run (videos per run, newest "
    "first; the rest wait for later runs), concurrency (requests at once, default 8), "
    "speech_to_text (paid speech-to-text for videos without captions, default false), "
    "max_transcription_hours_per_run (audio hours speech-to-text may buy per run, "
    "default 1) and ledger_path (deprecated: the purchase ledger is in ledger_dir; an "
    "older version's speech-to-text ledger, still read; default "
    ".tap-vidnavigator/transcriptions.jsonl). Captions cost 1 "
    "credit per 10,000 videos, speech-to-text 1 credit per hour of audio.",
)
EXTRACTION = EnrichmentFamily(
    stream="video_extractions",
    key=("video_id",),
    setting="extraction",
    title="Extraction",
    description="Opt-in structured extraction: the fields you ask of each video the profiles "
    "and searches find, one typed column per top-level field of your schema in "
    "video_extractions, extracted once per video. An object: enabled (default false), schema "
    "(the provider's format: at most 10 top-level fields, each {type, description}; type "
    "String, Number, Integer, Boolean, Enum with enum, Array with items, Object with "
    "properties) or schema_file (a JSON or YAML file of it, relative to the Meltano project), "
    "what_to_extract (guidance for the extraction), sources (profiles, searches or both; "
    "default both), min_views (default 0), max_per_run (videos per run, newest first; the "
    "rest wait for later runs), transcribe (speech-to-text for videos without captions, "
    "billed on top; default false) and reextract (buy again, under a changed schema, the "
    "videos extracted under an older one; default false). At least 1 credit per video.",
)
#: Every enrichment family, in the order the tap lists (and syncs) their streams.
ENRICHMENT_FAMILIES: tuple[EnrichmentFamily, ...] = (TRANSCRIPTS, EXTRACTION)
#: The ``sources`` choices of an enrichment's setting, each the families it takes videos
#: from.
ENRICHMENT_SOURCES: dict[str, tuple[TaskFamily, ...]] = {
    PROFILES.requests_setting: (PROFILES,),
    SEARCHES.requests_setting: (SEARCHES,),
    "both": TASK_FAMILIES,
}
