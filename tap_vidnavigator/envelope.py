"""The API's answer bodies: parsed once, quoted safely, and unwrapped.

Below the REST stream (client.py) and the paginator (paging.py), so that code which
only reads answers (the spool, the cursor helpers) does not pull in the REST stack.
"""

from __future__ import annotations

import typing as t

import orjson

from tap_vidnavigator.errors import BadResponseError
from tap_vidnavigator.redaction import redact

if t.TYPE_CHECKING:
    import requests

_BODY_QUOTE = 200

_MISSING = object()


def response_json(response: requests.Response) -> t.Any:
    """The response body parsed once (cached on the response), or BadResponseError."""
    cached = response.__dict__.get("_vidnavigator_json", _MISSING)
    if cached is not _MISSING:
        return cached
    try:
        parsed = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise BadResponseError(
            f"The API answered HTTP {response.status_code} to {describe_request(response.request)} "
            f"with a body that is not JSON: {quote_body(response)}",
            status=response.status_code,
        ) from None
    response.__dict__["_vidnavigator_json"] = parsed
    return parsed


def quote_body(response: requests.Response) -> str:
    """The first 200 characters of a body, redacted, for error messages."""
    text = response.content[: _BODY_QUOTE * 4].decode("utf-8", "replace")[:_BODY_QUOTE]
    return repr(redact(text))


def describe_request(request: requests.PreparedRequest | None) -> str:
    """``GET /v1/tiktok/profile/ID?...`` with any secret removed."""
    if request is None:
        return "a request"
    return redact(f"{request.method} {request.path_url}")


def error_fields(response: requests.Response) -> tuple[str | None, str]:
    """The error code and message of an error body (tolerating non-JSON bodies)."""
    try:
        body = response_json(response)
    except BadResponseError:
        return None, quote_body(response)
    if not isinstance(body, dict):
        return None, quote_body(response)
    code = body.get("error") or body.get("error_code")
    message = str(body.get("message") or body.get("detail") or "")
    if isinstance(body.get("docs_url"), str):
        message += f" (see {body['docs_url']})"
    return (str(code) if code else None), redact(message)


def envelope_data(response: requests.Response) -> dict[str, t.Any]:
    """The ``data`` object of a success envelope, or BadResponseError."""
    body = response_json(response)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadResponseError(
            f"The API answered HTTP {response.status_code} to {describe_request(response.request)} "
            f"without a 'data' object: {quote_body(response)}",
            status=response.status_code,
        )
    return data
