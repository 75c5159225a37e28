"""Keep the API key and signed download links out of every log line.

A filter on the handlers (not on loggers) sees records from every library — the SDK,
requests, urllib3, backoff — including exception tracebacks, so one filter covers all.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[REDACTED]"

# Query parameters that make a URL a bearer link (GCS, S3, Azure SAS and generic forms).
_SIGNED_PARAMS = re.compile(
    r"(?i)\b(X-Goog-Signature|X-Goog-Credential|X-Amz-Signature|X-Amz-Credential|"
    r"X-Amz-Security-Token|Signature|sig|se|token|access_token|api_key|apikey|key)"
    r"=([^&\s\"'<>]+)"
)
_API_KEY_HEADER = re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)([^'\"\s,}]+)")


class _Secrets:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        # Very short values would redact ordinary words; no real key is that short.
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def redact(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        text = _SIGNED_PARAMS.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
        return _API_KEY_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


SECRETS = _Secrets()


def register_secret(value: str) -> None:
    """Redact ``value`` wherever it appears in logs from now on."""
    SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with registered secrets and signed-URL parameters replaced."""
    return SECRETS.redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and traceback with secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_redaction() -> None:
    """Attach the filter to every handler that exists now (idempotent)."""
    loggers = [
        logging.getLogger(),
        *(
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
