"""What a person reads at the default log level: the tap's own lines, and every warning.

At INFO the SDK logs a ``METRIC: {json}`` line per request and per stream, and its own
bookkeeping: each setting parsed from the environment, each child stream added, each
task's sync start and bookmark. A run of eight tasks printed about 90 such lines around
the 30 that say what happened to the tasks. They are detail, so at the default level a
filter on the handlers drops INFO (and lower) lines logged by the SDK's code; warnings
and errors always pass, and so does everything the tap logs itself.

They all come back at DEBUG, through the SDK's own switches: ``TAP_VIDNAVIGATOR_LOGLEVEL``
(or ``LOGLEVEL``) set to ``debug``, or a root level of DEBUG in the logging configuration
the SDK reads from ``SINGER_SDK_LOG_CONFIG``, which is what ``meltano --log-level=debug``
writes for the plugins it runs.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import singer_sdk

#: Every module of the SDK, the metrics logger's included, lives under this folder (as
#: imported, and with links resolved).
_SDK_CODE = tuple(
    {str(folder) + os.sep for folder in (Path(singer_sdk.__file__).parent,) * 2}
    | {str(Path(singer_sdk.__file__).resolve().parent) + os.sep}
)
#: The SDK's own level variables (singer_sdk.plugin_base), most specific first.
_LEVEL_VARIABLES = ("TAP_VIDNAVIGATOR_LOGLEVEL", "LOGLEVEL")


def detail_wanted() -> bool:
    """Whether the user asked for DEBUG, by the SDK's variables or the root logger."""
    for variable in _LEVEL_VARIABLES:
        value = os.environ.get(variable)
        if value:
            return value.strip().upper() == "DEBUG"
    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


class SdkDetailFilter(logging.Filter):
    """Drops the SDK's INFO lines (METRIC lines included) unless DEBUG was asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not record.pathname.startswith(_SDK_CODE):
            return True
        return detail_wanted()


_FILTER = SdkDetailFilter()


def install_quiet_output() -> None:
    """Attach the filter to the root logger's handlers, where the console output goes
    (idempotent). A handler of the user's own on another logger (the SDK's metrics
    logger, say, in a SINGER_SDK_LOG_CONFIG file) keeps everything it is sent.

    Also keeps singer-sdk's notice that the running Python (3.10) has reached its end of
    life to DEBUG: the tap supports 3.10 and tests on it; the notice is the SDK's plan.
    """
    if not detail_wanted():
        # By its words: the warning's class lives in a private module of the SDK.
        warnings.filterwarnings(
            "ignore", message=r"Python 3\.\d+ reached its end of life", category=FutureWarning
        )
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
