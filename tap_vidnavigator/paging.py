"""Cursor paging over ``data.pagination``, guarded against cursors that loop."""

from __future__ import annotations

import typing as t

from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_vidnavigator.envelope import envelope_data
from tap_vidnavigator.errors import BadResponseError

if t.TYPE_CHECKING:
    import requests


def page_pagination(data: t.Mapping[str, t.Any], task_id: str) -> dict[str, t.Any]:
    """The ``pagination`` object of a page, or BadResponseError."""
    pagination = data.get("pagination")
    if not isinstance(pagination, dict):
        msg = f"A page of task {task_id} has no 'pagination' object"
        raise BadResponseError(msg)
    return pagination


def next_cursor(pagination: t.Mapping[str, t.Any], task_id: str) -> str | None:
    """The cursor of the next page; None on the last page."""
    if not pagination.get("has_next"):
        return None
    cursor = pagination.get("next_cursor")
    if not isinstance(cursor, str) or not cursor:
        msg = f"A page of task {task_id} says has_next but gives no next_cursor"
        raise BadResponseError(msg)
    return cursor


def _task_of(response: requests.Response) -> str:
    """The task id a page belongs to: the last segment of the request's path."""
    path = response.request.path_url if response.request is not None else ""
    return path.split("?")[0].rsplit("/", 1)[-1] or "?"


class CursorPaginator(BaseAPIPaginator["str | None"]):
    """Follows ``next_cursor`` until ``has_next`` is false.

    The SDK detects a cursor equal to the previous one; this also stops a cursor that
    comes back after others (a longer cycle), which would otherwise page forever.
    """

    def __init__(self) -> None:
        super().__init__(None)
        self._seen: set[str] = set()

    @override
    def has_more(self, response: requests.Response) -> bool:
        pagination = page_pagination(envelope_data(response), _task_of(response))
        return bool(pagination.get("has_next"))

    @override
    def get_next(self, response: requests.Response) -> str | None:
        task_id = _task_of(response)
        cursor = next_cursor(page_pagination(envelope_data(response), task_id), task_id)
        if cursor is not None:
            self.check_new(cursor, task_id)
        return cursor

    def check_new(self, cursor: str, task_id: str) -> None:
        """Raise BadResponseError if ``cursor`` was already followed in this task."""
        if cursor in self._seen:
            msg = (
                f"The API handed out cursor {cursor!r} for task {task_id} a second "
                "time; paging stopped to avoid an endless loop"
            )
            raise BadResponseError(msg)
        self._seen.add(cursor)

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        # An empty page that still says has_next is followed: the cursor guard bounds it.
        return self.has_more(response)
