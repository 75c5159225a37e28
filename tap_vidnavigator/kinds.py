"""A task family with what its records need: the one object the shared core takes.

The lifecycle (submit, poll, hand over), the result reader (download or pages,
de-duplication, completeness, newest seen), the in-flight state and the bookmarks take
a :class:`TaskKind` and know nothing of any one kind. The family (families.py) says
where its tasks live and what its subject is; the record table (records/) says how a
task and its results become records.
"""

from __future__ import annotations

import dataclasses
import typing as t

if t.TYPE_CHECKING:
    from tap_vidnavigator.families import TaskFamily
    from tap_vidnavigator.records.result_typing import ResultTyper
    from tap_vidnavigator.settings import TaskRequest


@dataclasses.dataclass(frozen=True)
class TaskKind:
    """One task family, and how its tasks and results become records."""

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
    #: ``POST {submit_route}`` submits when it is not the poll route (speech-to-text's
    #: ``/transcribe/async``, polled at ``/transcribe/{task_id}``).
    submit_route: str | None = None
    #: Whether a submit may be sent again after an ambiguous failure (its answer lost
    #: after the body was sent: client.failure_certainty). False for per-video paid
    #: jobs, claimed in the never-again ledger before the POST (ledger.py).
    retry_ambiguous_submit: bool = True

    @property
    def submit_path(self) -> str:
        """Where a task of this kind is submitted."""
        return self.submit_route or self.family.route

    @property
    def name(self) -> str:
        """How logs name a task's subject ("profile")."""
        return self.family.name

    @property
    def route(self) -> str:
        """``POST {route}`` submits; ``GET {route}/{task_id}`` polls and pages."""
        return self.family.route

    @property
    def subject_field(self) -> str:
        """The subject's field: in the submit body, the state partition, the records."""
        return self.family.subject_field

    @property
    def results_field(self) -> str:
        """The list of results in a task body."""
        return self.family.results_field

    def submit_body(self, request: TaskRequest, filters: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The submit body: the filters that are set, under the API's names, in order."""
        body: dict[str, t.Any] = {self.subject_field: request.subject}
        for item in self.family.filters:
            if filters.get(item.name) is not None:
                body[item.api_field] = filters[item.name]
        return body

    def subject_of(self, data: t.Mapping[str, t.Any], fallback: str | None = None) -> str:
        """The canonical subject of a task body (falling back to what was submitted)."""
        raw = data.get(self.subject_field)
        canonical = self.family.canonical_subject(raw) if isinstance(raw, str) else None
        return canonical or fallback or (raw if isinstance(raw, str) else "")

    @staticmethod
    def describe(request: TaskRequest) -> str:
        """A request as the logs name it: its subject, and its filters when set."""
        filters = request.filter_dict()
        if not filters:
            return request.subject
        return f"{request.subject} ({', '.join(f'{k}={v}' for k, v in filters.items())})"
