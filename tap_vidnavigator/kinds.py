"""Kinds of asynchronous task, at two levels.

A :class:`JobKind` is what the shared lifecycle (lifecycle.py) needs of a kind: where
its tasks are submitted and polled, what a submit body carries, what its subject is,
and whether its results are paged. Per-video paid jobs (speech-to-text) are job kinds
and nothing more.

A :class:`TaskKind` is a scrape family's kind (profiles, searches): a job kind plus the
family's declaration (families.py: streams, settings, filters, STATE) and how its tasks
and results become records (records/). The lifecycle, the result reader, the in-flight
state and the bookmarks know nothing of any one kind.
"""

from __future__ import annotations

import dataclasses
import typing as t

if t.TYPE_CHECKING:
    from tap_vidnavigator.families import Filter, TaskFamily
    from tap_vidnavigator.records.result_typing import ResultTyper


@dataclasses.dataclass(frozen=True)
class TaskRequest:
    """One task to submit: its subject (a profile URL, ...) and its effective filters.

    Values are already validated; the filters are in the settings' names.
    """

    subject: str
    filters: tuple[tuple[str, t.Any], ...]

    @property
    def key(self) -> str:
        """A stable identity of the request, used to deduplicate and to resume."""
        parts = [f"{name}={value}" for name, value in self.filters if value is not None]
        return self.subject + ("?" + "&".join(parts) if parts else "")

    def filter_dict(self) -> dict[str, t.Any]:
        """The filters that are set."""
        return {name: value for name, value in self.filters if value is not None}


def _stripped(text: str) -> str | None:
    return text.strip() or None


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobKind:
    """What the lifecycle needs of one kind of asynchronous task."""

    #: How logs name a task's subject ("profile", "speech-to-text").
    name: str
    #: ``GET {route}/{task_id}`` polls (free); ``POST {route}`` submits unless
    #: ``submit_route`` says otherwise.
    route: str
    #: The subject's field: in the submit body, the in-flight state, the records.
    subject_field: str
    #: The canonical form of a subject, or None when the text is not one.
    canonical_subject: t.Callable[[str], str | None] = _stripped
    #: ``POST {submit_route}`` submits (speech-to-text's ``/transcribe/async``).
    submit_route: str | None = None
    #: The field of a terminal task body that holds its results.
    results_field: str
    #: Whether the results are paged by cursor (a scrape); else the terminal poll holds
    #: the whole result (a per-video job).
    paged: bool
    #: The filters a submit body may carry, in the body's order.
    filters: tuple[Filter, ...] = ()
    #: Whether a submit may be sent again after an ambiguous failure (its answer lost
    #: after the body was sent: client.failure_certainty). False for per-video paid
    #: jobs, claimed in the never-again ledger before the POST (ledger.py).
    retry_ambiguous_submit: bool = True

    @property
    def submit_path(self) -> str:
        """Where a task of this kind is submitted."""
        return self.submit_route or self.route

    @property
    def given_label(self) -> str:
        """How logs name a task read by id, before its subject is known."""
        return f"a {self.name} task"

    def submit_body(self, request: TaskRequest, filters: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The submit body: the subject, then the filters that are set, under the API's
        names, in order. A kind without declared filters (a per-video job) sends the
        fields its hooks gave as they are."""
        body: dict[str, t.Any] = {self.subject_field: request.subject}
        if not self.filters:
            body.update(filters)
            return body
        for item in self.filters:
            if filters.get(item.name) is not None:
                body[item.api_field] = filters[item.name]
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskKind(JobKind):
    """A scrape family's kind: its declaration, and how its tasks and results become
    records. Build one with :meth:`of`, which takes the job's facts from the family."""

    family: TaskFamily
    #: A terminal task body, its subject and its usage block, as a record.
    task_record: t.Callable[
        [t.Mapping[str, t.Any], str, t.Mapping[str, t.Any] | None], dict[str, t.Any]
    ]
    task_schema: dict[str, t.Any]
    #: For a task id and subject, the function that types one of its results.
    result_typer: t.Callable[[str, str], ResultTyper]
    result_schema: dict[str, t.Any]
    #: A task record's ``stats`` as the completion log line says them.
    describe_stats: t.Callable[[t.Mapping[str, t.Any]], str]

    @classmethod
    def of(cls, family: TaskFamily, **records: t.Any) -> TaskKind:
        """The kind of a scrape family, with its record functions and schemas."""
        return cls(
            name=family.name,
            route=family.route,
            subject_field=family.subject_field,
            canonical_subject=family.canonical_subject,
            results_field=family.results_field,
            paged=True,
            filters=family.filters,
            family=family,
            **records,
        )

    @property
    def given_label(self) -> str:
        """A task read by id is named by the setting that listed it."""
        return self.family.task_ids_setting
