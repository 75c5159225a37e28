"""Errors the tap raises, each with a message a data engineer can act on.

Every message says what went wrong, where, and what to do. None of them may contain
the API key or a signed download URL: they end up in logs and orchestrator UIs.
"""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class VidNavigatorError(Exception):
    """Base class: the run cannot go on (or ends non-zero) for this reason."""


class RunFailedError(VidNavigatorError):
    """Some tasks could not be extracted; the others were, and their state was saved."""


class ApiError(VidNavigatorError, FatalAPIError):
    """The API answered with an error that retrying will not fix."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class KeyRefusedError(ApiError):
    """401 or 403: the key is missing, wrong, or lacks access."""


class CreditsExhaustedError(ApiError):
    """402: no credits left for submits."""


class TooManyActiveJobsError(ApiError):
    """429 too_many_active_jobs on submit: wait for a running task to finish."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        #: Seconds the server asked to wait (Retry-After), when it said.
        self.retry_after = retry_after


class TaskNotFoundError(ApiError):
    """404 task_not_found: the task is absent, expired, or another user's."""

    def __init__(
        self, message: str, *, task_id: str, status: int = 404, code: str | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.task_id = task_id


class InvalidCursorError(ApiError):
    """400 invalid_cursor: the API rejected a cursor it handed out."""


class BadResponseError(ApiError):
    """The API answered 2xx with a body the contract does not allow."""


class RetriesExhaustedError(VidNavigatorError):
    """A retriable failure outlasted the retry budget."""


class TaskTimeoutError(VidNavigatorError):
    """A task was still processing when ``task_timeout`` ran out."""


class AmbiguousSubmitError(VidNavigatorError):
    """A paid submit's body was sent and its answer lost (a read timeout, a connection
    reset, a gateway's 5xx): the API may have created the task. Raised instead of a
    retry for the kinds that never re-submit automatically (client.py)."""

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        #: What was lost, for the ledger and the run summary ("no response within ...").
        self.cause = cause
