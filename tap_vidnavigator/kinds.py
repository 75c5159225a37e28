"""Kinds of scrape task: what differs between them, declared once each.

The lifecycle (submit, poll, hand over), the result reader (download or pages,
de-duplication, completeness, newest seen), the in-flight state and the bookmarks
take a :class:`TaskKind` and know nothing of any one kind. A kind says where its
tasks live, what its subject is (a profile URL, ...), how a request becomes a submit
body, where its incremental floor goes, and how its task and results become records.
"""

from __future__ import annotations

import dataclasses
import functools
import typing as t

from tap_vidnavigator.records import (
    SearchTaskInfo,
    TaskInfo,
    search_result_record,
    search_task_record,
    task_record,
    video_record,
)
from tap_vidnavigator.settings import (
    FILTER_API_FIELDS,
    SEARCH_FILTER_API_FIELDS,
    canonical_profile_url,
    canonical_query,
)

if t.TYPE_CHECKING:
    from tap_vidnavigator.settings import TaskRequest

ResultTyper = t.Callable[[t.Any], dict[str, t.Any]]


@dataclasses.dataclass(frozen=True)
class TaskKind:
    """One kind of scrape task, as the shared core needs to know it."""

    #: How logs name a task's subject ("profile").
    name: str
    #: ``POST {route}`` submits; ``GET {route}/{task_id}`` polls and pages (free).
    route: str
    #: The subject's field: in the submit body, the state partition and the records.
    subject_field: str
    #: The list of results in a task body (one page of it).
    results_field: str
    #: Each filter setting and the submit-body field it is sent as.
    filter_api_fields: t.Mapping[str, str]
    #: The date settings that bound a scrape: the incremental floor raises the first.
    floor_filter: str
    ceiling_filter: str
    #: The canonical form of a subject, or None when the text is not one.
    canonical_subject: t.Callable[[str], str | None]
    #: A terminal task body, its subject and its usage block, as a record.
    task_record: t.Callable[
        [t.Mapping[str, t.Any], str, t.Mapping[str, t.Any] | None], dict[str, t.Any]
    ]
    #: For a task id and subject, the function that types one of its results.
    result_typer: t.Callable[[str, str], ResultTyper]
    #: A task record's ``stats`` as the completion log line says them.
    describe_stats: t.Callable[[t.Mapping[str, t.Any]], str]

    def submit_body(self, request: TaskRequest, filters: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The submit body: the filters that are set, under the API's names, in order."""
        body: dict[str, t.Any] = {self.subject_field: request.subject}
        for name, api_field in self.filter_api_fields.items():
            if filters.get(name) is not None:
                body[api_field] = filters[name]
        return body

    def subject_of(self, data: t.Mapping[str, t.Any], fallback: str | None = None) -> str:
        """The canonical subject of a task body (falling back to what was submitted)."""
        raw = data.get(self.subject_field)
        canonical = self.canonical_subject(raw) if isinstance(raw, str) else None
        return canonical or fallback or (raw if isinstance(raw, str) else "")

    @staticmethod
    def describe(request: TaskRequest) -> str:
        """A request as the logs name it: its subject, and its filters when set."""
        filters = request.filter_dict()
        if not filters:
            return request.subject
        return f"{request.subject} ({', '.join(f'{k}={v}' for k, v in filters.items())})"


def _video_typer(task_id: str, profile_url: str) -> ResultTyper:
    handle = profile_url.rsplit("@", 1)[-1]
    return functools.partial(video_record, task=TaskInfo(task_id, profile_url, handle))


def _profile_stats(stats: t.Mapping[str, t.Any]) -> str:
    matched, scanned = stats.get("videos_matched", "?"), stats.get("videos_scanned", "?")
    return f"{matched} videos matched of {scanned} scanned"


def _search_typer(task_id: str, query: str) -> ResultTyper:
    return functools.partial(search_result_record, task=SearchTaskInfo(task_id, query))


def _search_stats(stats: t.Mapping[str, t.Any]) -> str:
    results, pages = stats.get("results_count", "?"), stats.get("pages_fetched", "?")
    return f"{results} results from {pages} pages"


PROFILES = TaskKind(
    name="profile",
    route="/tiktok/profile",
    subject_field="profile_url",
    results_field="videos",
    filter_api_fields=FILTER_API_FIELDS,
    floor_filter="after_date",
    ceiling_filter="before_date",
    canonical_subject=canonical_profile_url,
    task_record=task_record,
    result_typer=_video_typer,
    describe_stats=_profile_stats,
)

SEARCHES = TaskKind(
    name="search",
    route="/tiktok/search",
    subject_field="query",
    results_field="results",
    filter_api_fields=SEARCH_FILTER_API_FIELDS,
    floor_filter="after_date",
    ceiling_filter="before_date",
    canonical_subject=canonical_query,
    task_record=search_task_record,
    result_typer=_search_typer,
    describe_stats=_search_stats,
)
