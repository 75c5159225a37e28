"""Cursor paging over ``data.pagination``, guarded against cursors that loop."""

from __future__ import annotations

import typing as t

from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_vidnavigator.client import envelope_data
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


class CursorPaginator(BaseAPIPaginator["str | None"]):
    """Follows ``next_cursor`` until ``has_next`` is false.

    The SDK detects a cursor equal to the previous one; this also stops a cursor that
    comes back after others (a longer cycle), which would otherwise page forever.
    """

    def __init__(self, task_id: str, start_cursor: str | None = None) -> None:
        super().__init__(start_cursor)
        self.task_id = task_id
        self._seen: set[str] = {start_cursor} if start_cursor else set()

    @override
    def has_more(self, response: requests.Response) -> bool:
        pagination = page_pagination(envelope_data(response), self.task_id)
        return bool(pagination.get("has_next"))

    @override
    def get_next(self, response: requests.Response) -> str | None:
        cursor = next_cursor(page_pagination(envelope_data(response), self.task_id), self.task_id)
        if cursor is not None:
            self.check_new(cursor)
        return cursor

    def check_new(self, cursor: str) -> None:
        """Raise BadResponseError if ``cursor`` was already followed in this task."""
        if cursor in self._seen:
            msg = (
                f"The API handed out cursor {cursor!r} for task {self.task_id} a second "
                "time; paging stopped to avoid an endless loop"
            )
            raise BadResponseError(msg)
        self._seen.add(cursor)

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        # An empty page that still says has_next is followed: the cursor guard bounds it.
        return self.has_more(response)
