"""tap-vidnavigator: TikTok profile scrapes and keyword searches from the VidNavigator API."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import sys
import typing as t
import uuid

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_vidnavigator.client import VidNavigatorStream
from tap_vidnavigator.config_keys import config_file_problem, known_settings
from tap_vidnavigator.errors import ApiError, TaskNotFoundError, VidNavigatorError
from tap_vidnavigator.families import PROFILES
from tap_vidnavigator.output import install_quiet_output
from tap_vidnavigator.record_loop import install_state_gate, wait_for_tasks
from tap_vidnavigator.redaction import install_redaction, redact, register_secret
from tap_vidnavigator.run import Run
from tap_vidnavigator.settings import CONFIG_SCHEMA, Settings, SettingsError, parse_settings
from tap_vidnavigator.streams import (
    STREAM_CLASSES,
    TasksStream,
    link_observers,
    start_lifecycle,
)
from tap_vidnavigator.writer import OrjsonWriter

_LOGGER = logging.getLogger("tap-vidnavigator")
#: The runs of this process (one per tap instance that synced): judged after sync_all.
_RUNS: list[Run] = []


class TapVidNavigator(Tap):
    """Singer tap for the VidNavigator TikTok API: profile scrapes and keyword searches."""

    name = "tap-vidnavigator"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = OrjsonWriter
    # What this tap supports and tests. Not activate-version: profile_tasks holds
    # only this run's tasks, so a target honouring it would delete earlier runs'
    # rows. Batch: the results streams (batch.py); task rows stay RECORD messages.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.BATCH,
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.TEST,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        install_redaction()
        install_quiet_output()
        super().__init__(*args, **kwargs)
        install_state_gate(self)  # when STATE goes out: state.py
        key = self.config.get("api_key")
        if isinstance(key, str):
            register_secret(key)
        if kwargs.get("validate_config", True):
            _ = self.settings  # every setting is checked before any request

    @override
    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        super().append_builtin_config(config_jsonschema)
        # singer-sdk words batch_config differently per release (0.55: "Tap BATCH
        # Configuration"); the tap's own words keep meltano.yml, the Hub file and the
        # README the same on every SDK line it supports.
        properties = config_jsonschema["properties"]
        properties["batch_config"] = {
            **properties["batch_config"],
            "title": "Batch Configuration",
            "description": "Configuration for BATCH message capabilities.",
        }

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        if raise_errors:
            return super()._validate_config(raise_errors=True)
        # Discovery: the catalog does not depend on the settings, and the SDK's warning
        # would be "Config validation failed" without saying what; runs name each problem.
        return []

    @functools.cached_property
    def settings(self) -> Settings:
        """The validated settings; ConfigValidationError lists every problem."""
        try:
            return parse_settings(self.config, known=known_settings(type(self)))
        except SettingsError as exc:
            raise ConfigValidationError(
                "Invalid tap-vidnavigator settings", errors=exc.errors
            ) from None

    @functools.cached_property
    def run(self) -> Run:
        """This run's shared state; its owner decides whether the run failed."""
        _RUNS.append(
            run := Run(
                lambda: self.settings,
                lambda run: start_lifecycle(run, sleep=lambda s: wait_for_tasks(self, s)),
            )
        )
        return run

    @override
    def discover_streams(self) -> list[VidNavigatorStream]:
        # Each stream registers its role on the run as it is built: tasks streams their
        # kind, video_stats and the enrichments their observer (run.py).
        streams = [stream(self, self.run) for stream in STREAM_CLASSES]
        try:
            _ = self.settings
        except ConfigValidationError:
            # Discovery without a valid config: nothing syncs, the catalog is the same.
            return streams
        link_observers(streams)
        return streams

    def check_connection(self) -> None:
        """Prove the key works without spending credits.

        A GET of a task id that cannot exist costs nothing: 404 ``task_not_found``
        proves the key was accepted; 401/403 raise KeyRefusedError.
        """
        stream = t.cast("TasksStream", self.streams[PROFILES.tasks_stream])
        probe = f"tt_connection_check_{uuid.uuid4().hex[:12]}"
        try:
            stream.call_api("GET", f"{PROFILES.route}/{probe}", params={"limit": 1})
        except TaskNotFoundError:
            self.logger.info(
                "Connection test passed: %s accepted the API key (no credits spent)",
                self.settings.api_url,
            )
            return
        msg = f"Connection test: the API answered a task that cannot exist ({probe})"
        raise ApiError(msg)

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config = ctx.params.get("config")
        with _clean_failure():
            tap = cls(
                config=config.config if config else None,
                parse_env_config=bool(config and config.parse_env),
                validate_config=True,
            )
            tap.check_connection()
        ctx.exit()

    @override
    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        # A missing or malformed file: one line naming it, not the JSON parser's traceback.
        for path in value:
            problem = config_file_problem(path)
            if problem:
                install_redaction()
                _fail(problem)
        return super().cb_config(ctx, param, value)

    @override
    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        for param in command.params:
            if param.name == "test":
                # The SDK's text says it syncs a record: here it is the free key check.
                param.help = (
                    "Check the API key with one free call (submits nothing, spends no "
                    "credits). --test=schema writes the streams' schemas without syncing."
                )
        return command

    @override
    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        # Everything imported at start-up (about 50,000 objects, mostly the SDK's)
        # lives for the whole run, yet each full garbage collection walks all of it
        # again: about 3% of a 100,000-video run. Frozen, collections skip them.
        gc.freeze()
        try:
            with _clean_failure():
                super().invoke(*args, **kwargs)
                # The SDK's sync_all is final: the run is judged here, after every
                # stream synced and its STATE was written.
                for run in _RUNS:
                    run.raise_if_failed()
        finally:
            gc.unfreeze()


@contextlib.contextmanager
def _clean_failure() -> t.Iterator[None]:
    """Turn any failure into ERROR lines, one clear last line, and exit code 1."""
    install_redaction()
    install_quiet_output()
    try:
        yield
    except (SystemExit, KeyboardInterrupt, click.exceptions.Exit):
        raise
    except ConfigValidationError as exc:
        for error in exc.errors or [str(exc)]:
            _LOGGER.error("Invalid setting: %s", error)
        count = len(exc.errors or [1])
        _fail(f"invalid configuration ({count} problem(s)); fix the settings above")
    except VidNavigatorError as exc:
        _fail(str(exc))
    except Exception as exc:
        _LOGGER.error("Unexpected error", exc_info=exc)
        _fail(f"unexpected {type(exc).__name__}: {exc}")


def _fail(summary: str) -> t.NoReturn:
    _LOGGER.error("tap-vidnavigator failed: %s", redact(summary))
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.exit(1)


if __name__ == "__main__":
    TapVidNavigator.cli()
