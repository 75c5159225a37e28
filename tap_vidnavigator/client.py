"""The base REST stream: authentication, error mapping, retries and JSON parsing.

Retries go through the SDK's request decorator (``backoff_*`` hooks). A failure is
*safe* when it proves the API created nothing: a connection refused (or a connect
timeout) before anything was sent, a 429, the API's own 503 with its error body
(overload). Any other retriable failure is *ambiguous*: a read timeout, a connection
reset after the body was sent, a body broken mid-answer, a 5xx without the API's
error body (a gateway) or with it but other than 503. A submit whose kind may not be
bought twice is sent with ``call_api(..., retry_ambiguous=False)``: safe failures are
retried as any request, an ambiguous one raises AmbiguousSubmitError at once
(:func:`failure_certainty`; docs/costs.md).
"""

from __future__ import annotations

import email.utils
import functools
import random
import time
import typing as t
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_vidnavigator.envelope import (
    describe_request,
    envelope_data,
    error_fields,
    response_json,
)
from tap_vidnavigator.errors import (
    AmbiguousSubmitError,
    ApiError,
    BadResponseError,
    CreditsExhaustedError,
    InvalidCursorError,
    KeyRefusedError,
    RetriesExhaustedError,
    TaskNotFoundError,
    TooManyActiveJobsError,
)
from tap_vidnavigator.record_loop import FastRecordLoopStream
from tap_vidnavigator.redaction import redact

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers._batch import BatchConfig

    from tap_vidnavigator.run import Run
    from tap_vidnavigator.settings import Settings

#: The exceptions the SDK's request decorator retries; after the budget they surface.
RETRIABLE_ERRORS = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
MAX_SERVER_WAIT = 300.0

try:
    _VERSION = version("tap-vidnavigator")
except PackageNotFoundError:  # pragma: no cover
    _VERSION = "0"
USER_AGENT = f"tap-vidnavigator/{_VERSION}"


def server_wait(response: requests.Response | None) -> float | None:
    """Seconds the server asked us to wait: Retry-After, or ``retry_after_seconds``."""
    if response is None:
        return None
    header = response.headers.get("Retry-After")
    if header:
        try:
            return min(MAX_SERVER_WAIT, max(0.0, float(header)))
        except ValueError:
            when = email.utils.parsedate_to_datetime(header) if header else None
            if when is not None:
                return min(MAX_SERVER_WAIT, max(0.0, when.timestamp() - time.time()))
    try:
        body = response_json(response)
    except BadResponseError:
        return None
    value = body.get("retry_after_seconds") if isinstance(body, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return min(MAX_SERVER_WAIT, max(0.0, float(value)))
    return None


def describe_failure(exc: BaseException) -> str:
    """A short cause for a retriable failure, for logs and the give-up error."""
    if isinstance(exc, RetriableAPIError) and exc.response is not None:
        code, message = error_fields(exc.response)
        detail = " ".join(part for part in (code, message) if part)
        return f"HTTP {exc.response.status_code}" + (f" {detail}" if detail else "")
    if isinstance(exc, requests.exceptions.Timeout):
        return "no response within request_timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection broke in the middle of the response body"
    return f"connection failed ({type(exc).__name__})"


#: A failure that proves nothing was created / one that may have created a task.
SAFE, AMBIGUOUS = "safe", "ambiguous"


def is_api_error_body(response: requests.Response) -> bool:
    """Whether a body is the API's own error envelope (``{"status": "error", ...}``),
    not a gateway's page."""
    try:
        body = response_json(response)
    except BadResponseError:
        return False
    return (
        isinstance(body, dict)
        and body.get("status") == "error"
        and isinstance(body.get("error") or body.get("error_code"), str)
    )


def _refused_before_sending(exc: requests.exceptions.ConnectionError) -> bool:
    """A connection that was never made (refused, unresolvable): nothing was sent."""
    for arg in exc.args:
        reason = getattr(arg, "reason", arg)
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return True
    return False


def failure_certainty(exc: BaseException) -> str:
    """SAFE when a retriable failure proves the API created nothing, else AMBIGUOUS."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return SAFE
    if isinstance(exc, RetriableAPIError) and exc.response is not None:
        status = exc.response.status_code
        if status == 429 or (status == 503 and is_api_error_body(exc.response)):
            return SAFE
        return AMBIGUOUS
    if isinstance(exc, requests.exceptions.ConnectionError) and _refused_before_sending(exc):
        return SAFE
    return AMBIGUOUS


def _ambiguous(request: requests.PreparedRequest, cause: str) -> AmbiguousSubmitError:
    return AmbiguousSubmitError(
        f"{describe_request(request)} was sent but its answer was lost ({cause}): the API "
        "may have created the task, so it is not submitted again automatically.",
        cause=cause,
    )


class ProxiesOnceSession(requests.Session):
    """A session that reads the proxy settings from the environment once per host.

    requests resolves them for every request it sends (``resolve_proxies``: two walks of
    the whole environment, which under Meltano holds hundreds of variables): about a
    millisecond a request, several times the tap's own work per request when thousands
    of tasks are submitted and polled. The environment does not change during a run.
    """

    def __init__(self) -> None:
        super().__init__()
        self._proxies_by_origin: dict[tuple[t.Any, ...], dict[str, str]] = {}

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        if "proxies" not in kwargs and request.url:
            origin = (*urlsplit(request.url)[:2], self.trust_env, *sorted(self.proxies.items()))
            proxies = self._proxies_by_origin.get(origin)
            if proxies is None:
                proxies = requests.utils.resolve_proxies(
                    request, dict(self.proxies), self.trust_env
                )
                self._proxies_by_origin[origin] = proxies
            kwargs["proxies"] = proxies
        return super().send(request, **kwargs)


class VidNavigatorStream(FastRecordLoopStream):
    """Shared behaviour of the tap's streams; see the contract in shared/api."""

    # Records are typed once by the tap (records/); the SDK's second pass is redundant.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # requests keeps custom headers such as X-API-Key on a redirect to another host;
    # the API never redirects, so a redirect is refused instead of followed.
    allow_redirects = False

    #: Whether its rows come from the results streams' records (video_stats, an
    #: enrichment that is turned on): see ``streams.link_observers``.
    observes_results: bool = False

    def __init__(self, tap: t.Any, run: Run) -> None:
        self.run = run
        self._session: ProxiesOnceSession | None = None
        super().__init__(tap)

    @property
    @override
    def requests_session(self) -> requests.Session:
        if self._session is None:
            self._session = ProxiesOnceSession()
        return self._session

    @property
    def settings(self) -> Settings:
        """The validated settings of this run."""
        return self.run.settings

    @override
    def before_sync(self) -> None:
        # The run's one task loop is built, and every saved task planned, before the
        # first stream syncs, whatever the streams' names and order.
        self.run.begin()

    @functools.cached_property
    def files_batch_config(self) -> BatchConfig | None:
        """The ``batch_config`` this stream's records go to files under, or None.

        None as well when stream maps, flattening or deselected properties apply: the
        SDK writes batch files before those apply, so RECORD messages carry what the
        user asked for instead.
        """
        batch_config = super().get_batch_config(self.config)
        if batch_config is not None and not self.passes_through:
            self.logger.warning(
                "%s: batch_config is ignored because of stream maps, flattening or "
                "deselected properties on this stream; sending RECORD messages",
                self.name,
            )
            return None
        return batch_config

    @override
    @property
    def url_base(self) -> str:
        return self.settings.api_url

    @override
    @property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="X-API-Key", value=self.settings.api_key, location="header")

    @override
    @property
    def http_headers(self) -> dict:
        return {"User-Agent": USER_AGENT, "Accept": "application/json"}

    @override
    @property
    def timeout(self) -> float:  # type: ignore[override]
        return self.settings.request_timeout

    # ------------------------------------------------------------- errors
    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if 300 <= status < 400:
            target = redact(urlsplit(response.headers.get("Location", "")).netloc or "?")
            raise ApiError(
                f"The API answered {describe_request(response.request)} with HTTP {status}, a "
                f"redirect to {target}; it was not followed, so the API key went nowhere "
                "else. Check api_url.",
                status=status,
            )
        if status < 400:
            return
        if status == 429 or status >= 500:
            code, _ = error_fields(response)
            if code == "too_many_active_jobs":
                raise TooManyActiveJobsError(
                    "The API refused the submit: too many active jobs for this key",
                    status=status,
                    code=code,
                    retry_after=server_wait(response),
                )
            raise RetriableAPIError(describe_failure(RetriableAPIError("", response)), response)
        code, message = error_fields(response)
        where = describe_request(response.request)
        detail = (
            f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        )
        if status in {401, 403}:
            raise KeyRefusedError(
                f"The VidNavigator API refused the API key ({detail}) on {where}. Check "
                "api_key (TAP_VIDNAVIGATOR_API_KEY) and that it has access; the key is not shown.",
                status=status,
                code=code,
            )
        if status == 402:
            raise CreditsExhaustedError(
                f"The VidNavigator API has no credits left for this key ({detail}). Top up "
                "the plan, or read finished tasks with task_ids (free).",
                status=status,
                code=code,
            )
        if status == 404:
            task_id = (
                response.request.path_url.split("?")[0].rsplit("/", 1)[-1]
                if response.request
                else "?"
            )
            raise TaskNotFoundError(
                f"Task {task_id} was not found ({detail}): it expired (tasks live about an "
                "hour after they finish), never existed, or belongs to another API key.",
                task_id=task_id,
                code=code,
            )
        if status == 400 and code == "invalid_cursor":
            raise InvalidCursorError(
                f"The API rejected a cursor it handed out ({detail}) on {where}.",
                status=status,
                code=code,
            )
        raise ApiError(f"The API refused {where} ({detail}).", status=status, code=code)

    # ------------------------------------------------------------ retries
    @override
    def backoff_wait_generator(self) -> t.Generator[float, None, None]:
        def waits() -> t.Generator[float, t.Any, None]:
            attempt = 0
            exception = yield  # type: ignore[misc]
            while True:
                attempt += 1
                asked = server_wait(getattr(exception, "response", None))
                if asked is None:
                    # Full-ish jitter on an exponential base: 0.5 s, 1 s, 2 s ... 30 s.
                    asked = min(30.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                exception = yield asked

        return waits()

    @override
    def backoff_jitter(self, value: float) -> float:
        # Jitter is applied in backoff_wait_generator; a server's Retry-After is exact.
        return value

    @override
    def backoff_max_tries(self) -> int:
        return self.settings.max_retries + 1

    @override
    def backoff_handler(self, details: Details) -> None:
        exc = t.cast("BaseException", details.get("exception"))
        request = details["args"][0] if details.get("args") else None
        self.logger.warning(
            "Retrying %s after %s (attempt %d of %d): waiting %.1f s",
            describe_request(request if isinstance(request, requests.PreparedRequest) else None),
            describe_failure(exc),
            details.get("tries", 0),
            self.backoff_max_tries(),
            details.get("wait", 0.0),
        )

    @override
    def request_decorator(self, func: t.Callable) -> t.Callable:
        decorated = super().request_decorator(func)

        @functools.wraps(func)
        def call(prepared_request: requests.PreparedRequest, context: t.Any) -> requests.Response:
            try:
                return t.cast("requests.Response", decorated(prepared_request, context))
            except RETRIABLE_ERRORS as exc:
                raise RetriesExhaustedError(
                    f"Gave up on {describe_request(prepared_request)} after "
                    f"{self.backoff_max_tries()} attempts; the last failure was "
                    f"{describe_failure(exc)}. The API is unavailable or rate-limiting this "
                    "key: rerun later (finished work is kept in the state), or raise "
                    "max_retries / request_timeout."
                ) from exc

        return call

    # --------------------------------------------------------- plain calls
    def call_api(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        body: dict[str, t.Any] | None = None,
        retry_ambiguous: bool = True,
    ) -> dict[str, t.Any]:
        """One API call with this stream's auth, retries and error mapping.

        Returns the whole success envelope; its ``data`` is checked to be an object.
        ``retry_ambiguous=False`` (a submit that must not be bought twice): an
        ambiguous failure, or a success whose body cannot be read, raises
        AmbiguousSubmitError instead of being retried; safe failures are retried.
        """
        prepared = self.build_prepared_request(
            method=method,
            url=f"{self.url_base}{path}",
            params=params or {},
            headers=self.http_headers,
            json=body,
        )
        # The SDK's own request path (auth, validate_response, metrics) with retries.
        send = self._request if retry_ambiguous else self._without_ambiguous_retries
        response = self.request_decorator(send)(prepared, None)
        try:
            envelope_data(response)
        except BadResponseError as exc:
            if retry_ambiguous:
                raise
            raise _ambiguous(prepared, f"HTTP {response.status_code} unreadable") from exc
        return t.cast("dict[str, t.Any]", response_json(response))

    def _without_ambiguous_retries(
        self, prepared_request: requests.PreparedRequest, context: t.Any
    ) -> requests.Response:
        """The SDK's ``_request``, an ambiguous failure turned into AmbiguousSubmitError
        (not retriable) before the request decorator sees it."""
        try:
            return self._request(prepared_request, context)
        except RETRIABLE_ERRORS as exc:
            if failure_certainty(exc) == SAFE:
                raise
            raise _ambiguous(prepared_request, describe_failure(exc)) from exc
