"""The emulated provider's task kinds, one declaration each.

This is the emulator's own description of the API (it stands for the provider, so it
shares nothing with the tap's modules). :mod:`.state` runs every kind the same way and
reads what differs from here: the route, the subject a submit names, the list its
results are served under, how a body's filters are read and echoed, where its results
come from, how they are filtered and counted, and the charges on its usage block.
Adding a kind means a declaration here and its data module.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_vidnavigator.emulator import data, growth, pricing, search

Result = dict[str, t.Any]


class Catalogue(t.Protocol):
    """What a kind's results are drawn from: the emulator's state."""

    def profile_videos(self, handle: str) -> list[Result]:
        """All videos of a profile, newest first."""
        ...

    def search_results(self, query: str) -> list[Result]:
        """All results of a query, in relevance order."""
        ...


@dataclasses.dataclass(frozen=True)
class ProfileRequest:
    """A profile scrape as submitted."""

    profile_url: str
    handle: str
    filters: data.Filters


@dataclasses.dataclass(frozen=True)
class SearchRequest:
    """A keyword search as submitted."""

    query: str
    filters: search.SearchFilters


R = t.TypeVar("R", ProfileRequest, SearchRequest)


@dataclasses.dataclass(frozen=True)
class Kind(t.Generic[R]):
    """How one kind of task appears in the API and what its results are."""

    name: str
    route: str
    #: The submit field naming what the task is about, echoed in every answer.
    subject_field: str
    #: The list a poll answer and a download serve the results under.
    results_field: str
    id_prefix: str
    storage_folder: str
    started: str
    #: The meters a terminal task fired, (meter, quantity) each, from its request and
    #: ``stats`` (:mod:`.pricing`).
    meters: t.Callable[[R, t.Mapping[str, t.Any]], list[tuple[str, int]]]
    #: Where a result keeps the counts that grow with its age (:mod:`.growth`).
    counts: growth.Counts
    #: Whether today's shape adds ``published_at`` to the page's older one
    #: (``EmulatorConfig.modern_fields``); False when the kind always serves it.
    adds_published_at: bool
    #: A submit body (or a ground-truth question) read into a request; a bad value
    #: raises :class:`data.FilterError` naming its field.
    parse: t.Callable[[t.Mapping[str, t.Any]], R]
    subject: t.Callable[[R], str]
    failure: t.Callable[[R], data.ProfileFailure | None]
    #: Every result the subject has, before filters, as generated (settled counts).
    results: t.Callable[[Catalogue, R], t.Sequence[Result]]
    #: The results a task serves, in serving order, and the task's ``stats``.
    select: t.Callable[[t.Sequence[Result], R], tuple[list[Result], dict[str, t.Any]]]
    #: The ``stats`` of a failed task, given what the subject has.
    failed_stats: t.Callable[[R, t.Sequence[Result]], dict[str, t.Any]]
    #: What a submit's answer echoes beside the subject.
    accepted: t.Callable[[R], dict[str, t.Any]]
    #: What a poll answer says beside the subject; ``shown`` once completed.
    described: t.Callable[[R, bool, int], dict[str, t.Any]]
    #: The name ``EmulatorConfig.processing_by_handle`` knows the task by, if any.
    slow_key: t.Callable[[R], str | None]


def _parse_profile(body: t.Mapping[str, t.Any]) -> ProfileRequest:
    handle = data.handle_of(str(body.get("profile_url") or ""))
    return ProfileRequest(str(body["profile_url"]), handle, data.parse_filters(body))


def _parse_search(body: t.Mapping[str, t.Any]) -> SearchRequest:
    query, filters = search.parse_search(body)
    return SearchRequest(query, filters)


def _search_failure(request: SearchRequest) -> data.ProfileFailure | None:
    failure = search.failure(request.query)
    return data.ProfileFailure(*failure) if failure else None


def _failed_search_stats(request: SearchRequest, results: t.Sequence[Result]) -> dict[str, t.Any]:
    _, stats = search.apply_search(results, request.filters)
    return {**stats, "results_count": 0}


PROFILE: Kind[ProfileRequest] = Kind(
    name="profile",
    route="/tiktok/profile",
    subject_field="profile_url",
    results_field="videos",
    id_prefix="tt_profile_",
    storage_folder="tiktok_profiles",
    started="TikTok profile scrape started",
    # Every listing page the scraper consumed is one scraper request.
    meters=lambda request, stats: [
        (pricing.profile_page_meter(request.handle), int(stats.get("pages_consumed") or 0))
    ],
    counts=growth.Counts(None, ("views", "likes", "comments", "reposts")),
    adds_published_at=True,
    parse=_parse_profile,
    subject=lambda request: request.profile_url,
    failure=lambda request: data.profile_failure(request.handle),
    results=lambda catalogue, request: catalogue.profile_videos(request.handle),
    select=lambda results, request: data.apply_filters(results, request.filters),
    failed_stats=lambda request, results: {
        "videos_scanned": 0, "videos_matched": 0, "pages_consumed": 1,
    },
    accepted=lambda request: {},
    described=lambda request, shown, moment: {
        "profile": data.profile_object(request.handle, moment) if shown else None
    },
    slow_key=lambda request: request.handle.lower(),
)  # fmt: skip

SEARCH: Kind[SearchRequest] = Kind(
    name="search",
    route="/tiktok/search",
    subject_field="query",
    results_field="results",
    id_prefix="tt_search_",
    storage_folder="tiktok_searches",
    started="TikTok search started",
    # TikTok's search listing is only served to the proxy-backed scraper.
    meters=lambda request, stats: [("residential_request", int(stats.get("pages_fetched") or 0))],
    counts=growth.Counts("stats", ("views", "likes", "comments", "shares", "collects")),
    adds_published_at=False,
    parse=_parse_search,
    subject=lambda request: request.query,
    failure=_search_failure,
    results=lambda catalogue, request: catalogue.search_results(request.query),
    select=lambda results, request: search.apply_search(results, request.filters),
    failed_stats=_failed_search_stats,
    accepted=lambda request: {
        "max_results": request.filters.max_results,
        "parallel_search_slices": request.filters.parallel_search_slices,
        "filters": request.filters.echo(),
    },
    described=lambda request, shown, _moment: {
        "parallel_search_slices": request.filters.parallel_search_slices
    },
    slow_key=lambda request: None,
)

KINDS: dict[str, Kind[t.Any]] = {kind.name: kind for kind in (PROFILE, SEARCH)}
