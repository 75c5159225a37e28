"""The tap's settings: their JSON schema, and their parsing into typed values.

The schema catches wrong types; :func:`parse_settings` then checks what a schema
cannot (profile URLs, date order, like bounds) and turns the config into
:class:`Settings`, so that no other module reads the raw config.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import ipaddress
import logging
import re
import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_vidnavigator.batch import batch_config_errors
from tap_vidnavigator.config_keys import did_you_mean, unknown_setting_errors
from tap_vidnavigator.extraction_settings import PROPERTY as EXTRACTION_PROPERTY
from tap_vidnavigator.extraction_settings import ExtractionSettings, parse_extraction
from tap_vidnavigator.families import (
    TASK_FAMILIES,
    VIDEO_STATS,
    Filter,
    TaskFamily,
    top_level_filters,
)
from tap_vidnavigator.kinds import TaskRequest
from tap_vidnavigator.shards import shard_of
from tap_vidnavigator.transcript_settings import PROPERTY as TRANSCRIPTS_PROPERTY
from tap_vidnavigator.transcript_settings import (
    TranscriptSettings,
    deprecated_ledger_path,
    parse_transcripts,
)

_LOGGER = logging.getLogger("tap-vidnavigator")
DEFAULT_API_URL = "https://api.vidnavigator.com/v1"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Seconds may arrive as numbers or as numeric strings: Meltano 4.4 passes a setting of
# kind "string" (the only kind that works from an environment variable) as a string.
_SECONDS = th.CustomType({"type": ["number", "string"]})
#: Credits are fractional (0.0001 a standard page): numbers, or numeric strings.
_CREDITS = _SECONDS


def _filter_property(item: Filter) -> th.Property:
    kind: t.Any = th.StringType if item.type != "count" else th.IntegerType(minimum=item.minimum)
    return th.Property(item.name, kind, title=item.title, description=item.description)


def _family_properties(family: TaskFamily) -> tuple[th.Property, ...]:
    listed = th.ArrayType(th.CustomType({"anyOf": [{"type": "string"}, {"type": "object"}]}))
    return (
        th.Property(
            family.requests_setting,
            listed,
            title=family.requests_title,
            description=family.requests_description,
        ),
        th.Property(
            family.task_ids_setting,
            th.ArrayType(th.StringType),
            title=family.task_ids_title,
            description=family.task_ids_description,
        ),
    )


CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType(min_length=1),
        required=True,
        secret=True,
        title="API key",
        description="VidNavigator API key, sent as the X-API-Key header to the API host only.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        title="API URL",
        description="Base URL of the VidNavigator API. Plain http is refused unless the "
        "host is loopback (for the local emulator).",
    ),
    # The first family's list, then the defaults its description calls "below".
    *_family_properties(TASK_FAMILIES[0])[:1],
    *(_filter_property(item) for item in top_level_filters()),
    *_family_properties(TASK_FAMILIES[0])[1:],
    *(prop for family in TASK_FAMILIES[1:] for prop in _family_properties(family)),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=500),
        default=500,
        title="Page size",
        description="Videos per page when paging through a task's results (1 to 500).",
    ),
    th.Property(
        "poll_interval",
        _SECONDS,
        default=3,
        title="Poll interval",
        description="Seconds between status polls of a running task (fractions allowed); "
        "polls are every second during a task's first 10 seconds.",
    ),
    th.Property(
        "task_timeout",
        _SECONDS,
        default=3600,
        title="Task timeout",
        description="Seconds a scrape task may stay processing before the tap gives up on it.",
    ),
    th.Property(
        "max_active_tasks",
        th.IntegerType(minimum=1),
        default=10,
        title="Max active tasks",
        description="How many scrape tasks the tap keeps running at once.",
    ),
    th.Property(
        "use_download_url",
        th.BooleanType,
        default=True,
        title="Use download URL",
        description="Fetch a completed task's whole result through its signed download_url "
        "when offered (one request), falling back to cursor paging on any failure.",
    ),
    th.Property(
        "start_date",
        th.StringType,
        title="Start date",
        description="On a profile's first run (no bookmark yet), only posts published on "
        "or after this date (YYYY-MM-DD).",
    ),
    th.Property(
        "lookback_days",
        th.IntegerType(minimum=0),
        default=3,
        title="Lookback days",
        description="With a bookmark, re-scrape this many days before it so that counts of "
        "recent videos are refreshed.",
    ),
    th.Property(
        VIDEO_STATS.window_setting,
        th.IntegerType(minimum=0),
        default=0,
        title=VIDEO_STATS.window_title,
        description=VIDEO_STATS.window_description,
    ),
    th.Property(
        "request_timeout",
        _SECONDS,
        default=60,
        title="Request timeout",
        description="Seconds to wait for one HTTP response before retrying it.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=8,
        title="Max retries",
        description="Retries of one request after 429, 5xx, timeouts or connection errors, "
        "with exponential backoff honouring Retry-After, before the run fails. A paid "
        "per-video submit (speech-to-text) is retried only after failures that prove "
        "nothing was bought (429, the API's 503, a refused connection): after any other, "
        "it is an uncertain purchase (release_uncertain_purchases).",
    ),
    th.Property(
        "shard_count",
        th.IntegerType(minimum=1),
        default=1,
        title="Shard count",
        description="Split profiles, searches and task IDs into this many shards by a stable "
        "hash of each item; a run extracts only shard_index's items. Run each shard with its "
        "own state ID (orchestrate/shard.py does).",
    ),
    th.Property(
        "shard_index",
        th.IntegerType(minimum=0),
        default=0,
        title="Shard index",
        description="Which shard this run extracts, from 0 to shard_count - 1.",
    ),
    th.Property(
        "max_credits_per_run",
        _CREDITS,
        title="Max credits per run",
        description="Stop buying once this run's tasks cost this many credits: what ended "
        "tasks cost (their usage) plus an estimate for those still running (each at the "
        "most a task of its kind cost in this run). Requests left are skipped, kept in the "
        "STATE and submitted first on the next run. Fractions allowed; unset: no cap.",
    ),
    th.Property(
        "min_credits_balance",
        _CREDITS,
        title="Min credits balance",
        description="Keep at least this many credits on the account: the balance is read "
        "from GET /usage (free) before the first submit, and this run spends at most the "
        "balance minus this, counted as for max_credits_per_run. Unset: no floor.",
    ),
    th.Property(
        "fail_when_over_budget",
        th.BooleanType,
        default=False,
        title="Fail when over budget",
        description="Exit non-zero when max_credits_per_run or min_credits_balance kept "
        "requests from being submitted (the records extracted are kept either way).",
    ),
    th.Property(
        "use_ledger",
        th.BooleanType,
        default=True,
        title="Use ledger",
        description="Reuse policy of the purchase ledger (ledger_dir): remember the scrape "
        "and search tasks this tap bought (until they expire) and, before submitting, reuse "
        "an unexpired one bought for exactly the same request that the STATE does not hold: "
        "a rerun after a failed loader or a retried shard polls it (free) instead of buying "
        "it again. Needs ledger_dir, or Meltano. Per-video paid jobs (speech-to-text) are "
        "never bought twice whatever this says.",
    ),
    th.Property(
        "ledger_dir",
        th.StringType,
        title="Ledger folder",
        description="The purchase ledger's folder: the scrape and search tasks bought (one "
        "JSON file each, for use_ledger) and purchases.jsonl, the per-video paid jobs "
        "never bought twice (locked; safe for parallel shards sharing it, e.g. a volume). "
        "Default when Meltano runs the tap: <project>/.meltano/tap-vidnavigator/ledger; "
        "outside Meltano, no task reuse and purchases in .tap-vidnavigator/ in the working "
        "directory. Replaces transcripts.ledger_path (deprecated, still read).",
    ),
    th.Property(
        "force_new_tasks",
        th.BooleanType,
        default=False,
        title="Force new tasks",
        description="Buy a new scrape or search task for every request, reusing none from "
        "the ledger (tasks in the STATE are still resumed, and what is bought is still "
        "written for later runs): for fresh counts within the hour after a run. Per-video "
        "paid jobs are never bought again all the same.",
    ),
    th.Property(
        "release_uncertain_purchases",
        th.BooleanType,
        default=False,
        title="Release uncertain purchases",
        description="Before this run, withdraw the ledger's uncertain per-video purchases "
        "(a speech-to-text submit whose answer was lost, or a run killed while submitting: "
        "the run summary lists them), so that this run may buy those videos again. Check "
        "the account's usage first; set it for one run, not for every run.",
    ),
    th.Property(
        "batch_file_retention_hours",
        th.IntegerType(minimum=0),
        default=24,
        title="Batch file retention hours",
        description="With batch_config: at the start of a run, delete this tap's batch files "
        "(tap-vidnavigator--*) under the batch storage root that are older than this many "
        "hours. Their BATCH messages went out in earlier runs; target-snowflake deletes "
        "each file once loaded, target-postgres never does.",
    ),
    TRANSCRIPTS_PROPERTY,
    EXTRACTION_PROPERTY,
).to_dict()


#: Each setting's default, as the schema above declares it (written once, there).
DEFAULTS: dict[str, t.Any] = {
    name: prop["default"] for name, prop in CONFIG_SCHEMA["properties"].items() if "default" in prop
}


class SettingsError(ValueError):
    """A setting is invalid; the messages name the setting and what is allowed."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated, typed configuration."""

    api_key: str
    api_url: str
    #: Per task family (by name): the requests to submit, and the task ids to read.
    requests: t.Mapping[str, tuple[TaskRequest, ...]]
    task_ids: t.Mapping[str, tuple[str, ...]]
    page_size: int
    poll_interval: float
    task_timeout: float
    max_active_tasks: int
    use_download_url: bool
    start_date: dt.date | None
    lookback_days: int
    #: Each run asks every subject for at least the last this many days.
    observe_days: int
    request_timeout: float
    max_retries: int
    batch_file_retention_hours: int
    shard_index: int = 0
    shard_count: int = 1
    max_credits_per_run: decimal.Decimal | None = None
    min_credits_balance: decimal.Decimal | None = None
    fail_when_over_budget: bool = False
    use_ledger: bool = True
    #: The ledger's folder as set (None: the default, ledger.default_folder).
    ledger_dir: str | None = None
    force_new_tasks: bool = False
    #: Withdraw uncertain per-video purchases before the run (ledger.py).
    release_uncertain_purchases: bool = False
    #: ``transcripts.ledger_path`` when the config sets it (deprecated for ledger_dir).
    deprecated_ledger_path: str | None = None
    #: How many items of each list setting the whole configuration has (all shards).
    configured: dict[str, int] = dataclasses.field(default_factory=dict)
    #: The ``transcripts`` object (transcript_settings.py).
    transcripts: TranscriptSettings = dataclasses.field(default_factory=TranscriptSettings)
    #: The ``extraction`` object (extraction_settings.py).
    extraction: ExtractionSettings = dataclasses.field(default_factory=ExtractionSettings)

    def requests_for(self, family: TaskFamily) -> tuple[TaskRequest, ...]:
        """The requests of a family that this run (this shard) makes."""
        return self.requests.get(family.name, ())

    def task_ids_for(self, family: TaskFamily) -> tuple[str, ...]:
        """The existing tasks of a family that this run (this shard) reads."""
        return self.task_ids.get(family.name, ())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_api_url(value: t.Any, errors: list[str]) -> str:
    if not isinstance(value, str) or not value:
        errors.append("api_url must be a URL such as https://api.vidnavigator.com/v1")
        return DEFAULT_API_URL
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host:
        errors.append(
            f"api_url {value!r} is not an http(s) URL; use https://api.vidnavigator.com/v1"
        )
    elif parts.scheme == "http" and not _is_loopback(host):
        errors.append(
            f"api_url {value!r} uses plain http to a non-loopback host, which would send "
            "the API key unencrypted; use https (plain http is allowed only for "
            "127.0.0.1, ::1 or localhost)"
        )
    if parts.username or parts.password or parts.query:
        errors.append("api_url must not carry credentials or a query string")
    return value.rstrip("/")


def _check_date(name: str, value: t.Any, errors: list[str]) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    errors.append(f"{name} must be a date written YYYY-MM-DD, got {value!r}")
    return None


def _check_int(name: str, value: t.Any, minimum: int, errors: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{name} must be a whole number >= {minimum}, got {value!r}")
        return None
    if value < minimum:
        errors.append(f"{name} must be >= {minimum}, got {value}")
        return None
    return value


def _check_number(name: str, value: t.Any, errors: list[str]) -> float:
    # Numbers from the config arrive as Decimal (singer-sdk), sometimes as strings
    # (environment variables); convert once here.
    try:
        number = float(value)
        if isinstance(value, bool) or not number > 0 or number == float("inf"):
            raise ValueError
    except (TypeError, ValueError):
        errors.append(f"{name} must be a number of seconds greater than 0, got {value!r}")
        return 1.0
    return number


def _check_credits(name: str, value: t.Any, errors: list[str]) -> decimal.Decimal | None:
    # Exact: a cap of 0.0003 credits is three standard pages, not 0.000299999...
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        credits = decimal.Decimal(str(value).strip())
        if not credits.is_finite() or credits < 0:
            raise ValueError
    except (ValueError, decimal.InvalidOperation):
        errors.append(f"{name} must be a number of credits >= 0 (fractions allowed), got {value!r}")
        return None
    return credits


def _choice(where: str, value: t.Any, allowed: tuple[str, ...], errors: list[str]) -> t.Any:
    if value is not None and value not in allowed:
        errors.append(f"{where} must be one of {', '.join(allowed)}, got {value!r}")
        return None
    return value


def _check_filter(where: str, item: Filter, value: t.Any, errors: list[str]) -> t.Any:
    """One filter's value, checked and normalised, or None (reported when invalid)."""
    name = f"{where}{item.name}"
    if item.type == "date":
        date = _check_date(name, value, errors)
        return date.isoformat() if date else None
    if item.type == "choice":
        return _choice(name, value, item.choices, errors)
    return _check_int(name, value, item.minimum, errors)


def _cross_check(
    family_ranges: tuple[tuple[str, str], ...],
    filters: t.Mapping[str, t.Any],
    errors: list[str],
    *,
    where: str = "",
    suffix: str = "",
) -> None:
    """Refuse (low, high) pairs that cross: no post could match."""
    for low_name, high_name in family_ranges:
        low, high = filters.get(low_name), filters.get(high_name)
        if low is None or high is None or low <= high:
            continue
        if isinstance(low, str):
            errors.append(
                f"{where}{low_name} {low} is later than {where}{high_name} {high}{suffix}: "
                "no post can match; swap or widen them"
            )
        else:
            errors.append(
                f"{where}{low_name} {low} is greater than {where}{high_name} {high}{suffix}: "
                "no post can match"
            )


def _top_level_filters(config: t.Mapping[str, t.Any], errors: list[str]) -> dict[str, t.Any]:
    """The top-level filter settings: the defaults of every family's items."""
    found = len(errors)
    filters = {
        item.name: _check_filter("", item, config.get(item.name), errors)
        for item in top_level_filters()
    }
    if len(errors) == found:
        ranges = {pair for family in TASK_FAMILIES for pair in family.ranges}
        _cross_check(tuple(sorted(ranges)), filters, errors)
    return filters


def _item_filters(
    family: TaskFamily,
    where: str,
    item: t.Mapping[str, t.Any],
    defaults: t.Mapping[str, t.Any],
    errors: list[str],
) -> dict[str, t.Any]:
    """An item's effective filters: its own, else the top-level default; checked."""
    found = len(errors)
    own = {f.name: _check_filter(f"{where}.", f, item.get(f.name), errors) for f in family.filters}
    merged = {
        f.name: own[f.name] if own[f.name] is not None or not f.top_level else defaults[f.name]
        for f in family.filters
    }
    if len(errors) == found:
        _cross_check(family.ranges, own, errors, where=f"{where}.")
    if len(errors) == found and merged != own:
        defaults_note = " (with the top-level defaults)"
        _cross_check(family.ranges, merged, errors, where=f"{where}.", suffix=defaults_note)
    return merged


def _listed_requests(
    family: TaskFamily,
    config: t.Mapping[str, t.Any],
    defaults: t.Mapping[str, t.Any],
    errors: list[str],
) -> tuple[TaskRequest, ...]:
    setting = family.requests_setting
    raw = config.get(setting) or []
    if not isinstance(raw, list):
        errors.append(f"{setting} must be a list of {family.items} or objects")
        return ()
    requests: dict[str, TaskRequest] = {}
    for index, item in enumerate(raw):
        where = f"{setting}[{index}]"
        text: t.Any
        source: t.Mapping[str, t.Any]
        if isinstance(item, str):
            text, source = item, {}
        elif isinstance(item, dict):
            allowed = (family.subject_field, *family.filter_names)
            unknown = sorted(set(item) - set(allowed))
            if unknown:
                errors.append(
                    f"{where} has unknown keys {unknown}{did_you_mean(unknown, allowed)}; "
                    f"allowed: {', '.join(allowed)}"
                )
            text, source = item.get(family.subject_field) or "", item
        else:
            errors.append(f"{where} must be {family.item} or an object, got {item!r}")
            continue
        filters = _item_filters(family, where, source, defaults, errors)
        subject = family.canonical_subject(text) if isinstance(text, str) else None
        if subject is None:
            errors.append(family.not_a_subject.format(where=where, text=text))
            continue
        request = TaskRequest(subject, tuple(filters.items()))
        requests.setdefault(request.key, request)
    return tuple(requests.values())


def _task_ids(name: str, config: t.Mapping[str, t.Any], errors: list[str]) -> tuple[str, ...]:
    raw = config.get(name) or []
    if not isinstance(raw, list) or not all(isinstance(i, str) and i.strip() for i in raw):
        errors.append(f"{name} must be a list of non-empty task ID strings")
        return ()
    return tuple(dict.fromkeys(task_id.strip() for task_id in raw))


def parse_settings(
    config: t.Mapping[str, t.Any], known: t.Collection[str] | None = None
) -> Settings:
    """Validate the whole config; raise SettingsError listing every problem.

    ``known``: the top-level settings the tap accepts; any other key is refused.
    """
    errors = unknown_setting_errors(config, known) if known is not None else []
    api_key = config.get("api_key")
    if not isinstance(api_key, str) or not api_key.strip():
        errors.append("api_key is missing: set it in the config or as TAP_VIDNAVIGATOR_API_KEY")
        api_key = ""
    api_url = _check_api_url(config.get("api_url", DEFAULTS["api_url"]), errors)
    defaults = _top_level_filters(config, errors)
    requests = {f.name: _listed_requests(f, config, defaults, errors) for f in TASK_FAMILIES}
    task_ids = {f.name: _task_ids(f.task_ids_setting, config, errors) for f in TASK_FAMILIES}
    lists = [(f.requests_setting, f.task_ids_setting) for f in TASK_FAMILIES]
    if not any(config.get(name) for pair in lists for name in pair):
        wanted = ", ".join(f"{f.requests_setting} ({f.items})" for f in TASK_FAMILIES)
        given = " / ".join(f.task_ids_setting for f in TASK_FAMILIES)
        errors.append(f"nothing to extract: set {wanted}, and/or {given} (existing task IDs)")

    def setting(name: str) -> t.Any:
        return config.get(name, DEFAULTS[name])

    def valid(name: str, value: t.Any) -> t.Any:
        # An invalid value has been reported; the default stands in until the raise.
        return DEFAULTS[name] if value is None else value

    page_size = _check_int("page_size", setting("page_size"), 1, errors)
    if page_size is not None and page_size > 500:
        errors.append(f"page_size must be between 1 and 500, got {page_size}")
    max_active = _check_int("max_active_tasks", setting("max_active_tasks"), 1, errors)
    lookback = _check_int("lookback_days", setting("lookback_days"), 0, errors)
    window = VIDEO_STATS.window_setting
    observe_days = _check_int(window, setting(window), 0, errors)
    max_retries = _check_int("max_retries", setting("max_retries"), 0, errors)
    retention = _check_int(
        "batch_file_retention_hours", setting("batch_file_retention_hours"), 0, errors
    )
    shard_count = valid("shard_count", _check_int("shard_count", setting("shard_count"), 1, errors))
    shard_index = valid("shard_index", _check_int("shard_index", setting("shard_index"), 0, errors))
    if shard_index >= shard_count:
        errors.append(
            f"shard_index must be below shard_count ({shard_count}): shards are numbered "
            f"0 to {shard_count - 1}, got {shard_index}"
        )
    configured: dict[str, int] = {}
    for family in TASK_FAMILIES:
        configured[family.requests_setting] = len(requests[family.name])
        configured[family.task_ids_setting] = len(task_ids[family.name])
    if shard_count > 1:

        def mine(key: str) -> bool:
            return shard_of(key, shard_count) == shard_index

        requests = {name: tuple(r for r in rs if mine(r.subject)) for name, rs in requests.items()}
        task_ids = {name: tuple(i for i in ids if mine(i)) for name, ids in task_ids.items()}
    use_download = setting("use_download_url")
    if not isinstance(use_download, bool):
        errors.append(f"use_download_url must be true or false, got {use_download!r}")
    flags = {}
    for flag in (
        "fail_when_over_budget",
        "use_ledger",
        "force_new_tasks",
        "release_uncertain_purchases",
    ):
        flags[flag] = setting(flag)
        if not isinstance(flags[flag], bool):
            errors.append(f"{flag} must be true or false, got {flags[flag]!r}")
    ledger_dir = config.get("ledger_dir")
    if ledger_dir is not None and (not isinstance(ledger_dir, str) or not ledger_dir.strip()):
        errors.append(f"ledger_dir must be a folder path, got {ledger_dir!r}")

    settings = Settings(
        api_key=api_key,
        api_url=api_url,
        requests=requests,
        task_ids=task_ids,
        page_size=valid("page_size", page_size),
        poll_interval=_check_number("poll_interval", setting("poll_interval"), errors),
        task_timeout=_check_number("task_timeout", setting("task_timeout"), errors),
        max_active_tasks=valid("max_active_tasks", max_active),
        use_download_url=bool(use_download),
        start_date=_check_date("start_date", config.get("start_date"), errors),
        lookback_days=valid("lookback_days", lookback),
        observe_days=valid(window, observe_days),
        request_timeout=_check_number("request_timeout", setting("request_timeout"), errors),
        max_retries=valid("max_retries", max_retries),
        batch_file_retention_hours=valid("batch_file_retention_hours", retention),
        shard_index=shard_index,
        shard_count=shard_count,
        configured=configured,
        max_credits_per_run=_check_credits(
            "max_credits_per_run", config.get("max_credits_per_run"), errors
        ),
        min_credits_balance=_check_credits(
            "min_credits_balance", config.get("min_credits_balance"), errors
        ),
        fail_when_over_budget=flags["fail_when_over_budget"] is True,
        use_ledger=flags["use_ledger"] is True,
        ledger_dir=ledger_dir if isinstance(ledger_dir, str) and ledger_dir.strip() else None,
        force_new_tasks=flags["force_new_tasks"] is True,
        release_uncertain_purchases=flags["release_uncertain_purchases"] is True,
        deprecated_ledger_path=deprecated_ledger_path(config.get(TRANSCRIPTS_PROPERTY.name)),
        transcripts=parse_transcripts(config.get(TRANSCRIPTS_PROPERTY.name), errors),
        extraction=parse_extraction(config.get(EXTRACTION_PROPERTY.name), errors),
    )
    errors.extend(batch_config_errors(config.get("batch_config")))
    if errors:
        raise SettingsError(errors)
    if settings.deprecated_ledger_path is not None:
        _LOGGER.warning(
            "transcripts.ledger_path is deprecated: set ledger_dir instead (the purchase "
            "ledger's one folder; per-video purchases go to <ledger_dir>/purchases.jsonl). "
            "%s is still read, so nothing it holds is bought again%s.",
            settings.deprecated_ledger_path,
            "" if settings.ledger_dir else ", and written while ledger_dir is unset",
        )
    return settings
