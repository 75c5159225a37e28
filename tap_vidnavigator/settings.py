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
import re
import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_vidnavigator.batch import batch_config_errors
from tap_vidnavigator.config_keys import did_you_mean, unknown_setting_errors
from tap_vidnavigator.shards import shard_of

DEFAULT_API_URL = "https://api.vidnavigator.com/v1"
#: Each filter setting, and the submit-body field the provider's SDK sends it as
#: (``vidnavigator`` 2.1.0, ``_core.submit_tiktok_profile_scrape``). The settings keep
#: the names users know; the dates' names are the page's older spelling, which the
#: live API may ignore in silence (and then scrape, and charge for, everything).
FILTER_API_FIELDS: dict[str, str] = {
    "max_posts": "max_posts",
    "after_date": "after_datetime",
    "before_date": "before_datetime",
    "min_likes": "min_likes",
    "max_likes": "max_likes",
}
FILTER_NAMES = tuple(FILTER_API_FIELDS)

_HANDLE = r"[A-Za-z0-9_.]{2,24}"
_PROFILE_URL_RE = re.compile(
    rf"^(?:https?://)?(?:www\.|m\.)?tiktok\.com/@(?P<handle>{_HANDLE})/?(?:[?#].*)?$"
)
_BARE_HANDLE_RE = re.compile(rf"^@(?P<handle>{_HANDLE})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Seconds may arrive as numbers or as numeric strings: Meltano 4.4 passes a setting of
# kind "string" (the only kind that works from an environment variable) as a string.
_SECONDS = th.CustomType({"type": ["number", "string"]})

_FILTER_PROPERTIES = (
    th.Property(
        "max_posts",
        th.IntegerType(minimum=1),
        title="Max posts",
        description="Stop each scrape after this many matching posts (1 or more).",
    ),
    th.Property(
        "after_date",
        th.StringType,
        title="After date",
        description="Only posts published on or after this date (YYYY-MM-DD, UTC).",
    ),
    th.Property(
        "before_date",
        th.StringType,
        title="Before date",
        description="Only posts published on or before this date (YYYY-MM-DD, UTC).",
    ),
    th.Property(
        "min_likes",
        th.IntegerType(minimum=0),
        title="Min likes",
        description="Only posts with at least this many likes.",
    ),
    th.Property(
        "max_likes",
        th.IntegerType(minimum=0),
        title="Max likes",
        description="Only posts with at most this many likes.",
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
    th.Property(
        "profiles",
        th.ArrayType(th.CustomType({"anyOf": [{"type": "string"}, {"type": "object"}]})),
        title="Profiles",
        description="TikTok profiles to scrape: each a profile URL, a bare @handle, or an "
        "object {profile_url, max_posts, after_date, before_date, min_likes, max_likes} "
        "whose values override the defaults below.",
    ),
    *_FILTER_PROPERTIES,
    th.Property(
        "task_ids",
        th.ArrayType(th.StringType),
        title="Task IDs",
        description="Existing scrape task IDs to read without submitting anything "
        "(no credits spent).",
    ),
    th.Property(
        "searches",
        th.ArrayType(th.CustomType({"anyOf": [{"type": "string"}, {"type": "object"}]})),
        title="Searches",
        description="TikTok keyword searches: each a query (a keyword or #hashtag) or an "
        "object {query, max_results, parallel_search_slices, sort_by (relevance, most_liked, "
        "newest), published_within (all, past_24_hours, this_week, this_month, "
        "last_3_months, last_6_months), after_date, before_date, min_likes, max_likes, "
        "min_views, max_views}; after_date, before_date, min_likes and max_likes default to "
        "the top-level settings.",
    ),
    th.Property(
        "search_task_ids",
        th.ArrayType(th.StringType),
        title="Search task IDs",
        description="Existing search task IDs to read without submitting anything "
        "(no credits spent).",
    ),
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
        "with exponential backoff honouring Retry-After, before the run fails.",
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
        "batch_file_retention_hours",
        th.IntegerType(minimum=0),
        default=24,
        title="Batch file retention hours",
        description="With batch_config: at the start of a run, delete this tap's batch files "
        "(tap-vidnavigator--*) under the batch storage root that are older than this many "
        "hours. Their BATCH messages went out in earlier runs; target-snowflake deletes "
        "each file once loaded, target-postgres never does.",
    ),
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
class TaskRequest:
    """One task to submit: its subject (a profile URL, ...) and its effective filters.

    Values are already validated; the filters are in the settings' names.
    """

    subject: str
    filters: tuple[tuple[str, t.Any], ...]

    @property
    def key(self) -> str:
        """A stable identity of the request, used to deduplicate and to resume."""
        parts = [f"{name}={value}" for name, value in self.filters if value is not None]
        return self.subject + ("?" + "&".join(parts) if parts else "")

    def filter_dict(self) -> dict[str, t.Any]:
        """The filters that are set."""
        return {name: value for name, value in self.filters if value is not None}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated, typed configuration."""

    api_key: str
    api_url: str
    profiles: tuple[TaskRequest, ...]
    task_ids: tuple[str, ...]
    searches: tuple[TaskRequest, ...]
    search_task_ids: tuple[str, ...]
    page_size: int
    poll_interval: float
    task_timeout: float
    max_active_tasks: int
    use_download_url: bool
    start_date: dt.date | None
    lookback_days: int
    request_timeout: float
    max_retries: int
    batch_file_retention_hours: int
    shard_index: int = 0
    shard_count: int = 1
    #: How many items of each list the whole configuration has (all shards).
    configured: dict[str, int] = dataclasses.field(default_factory=dict)


def canonical_profile_url(value: str) -> str | None:
    """``https://www.tiktok.com/@handle`` for a profile URL or ``@handle``, else None."""
    text = value.strip()
    match = _BARE_HANDLE_RE.match(text) or _PROFILE_URL_RE.match(text)
    if not match:
        return None
    return f"https://www.tiktok.com/@{match.group('handle').lower()}"


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


def _cross_check(where: str, filters: dict[str, t.Any], errors: list[str]) -> None:
    after, before = filters["after_date"], filters["before_date"]
    if after and before and after > before:
        errors.append(
            f"{where}after_date {after} is later than {where}before_date {before}: "
            "no post can match; swap or widen them"
        )
    min_likes, max_likes = filters["min_likes"], filters["max_likes"]
    if min_likes is not None and max_likes is not None and min_likes > max_likes:
        errors.append(
            f"{where}min_likes {min_likes} is greater than {where}max_likes "
            f"{max_likes}: no post can match"
        )


def _filters(where: str, source: t.Mapping[str, t.Any], errors: list[str]) -> dict[str, t.Any]:
    found = len(errors)
    after = _check_date(f"{where}after_date", source.get("after_date"), errors)
    before = _check_date(f"{where}before_date", source.get("before_date"), errors)
    filters = {
        "max_posts": _check_int(f"{where}max_posts", source.get("max_posts"), 1, errors),
        "after_date": after.isoformat() if after else None,
        "before_date": before.isoformat() if before else None,
        "min_likes": _check_int(f"{where}min_likes", source.get("min_likes"), 0, errors),
        "max_likes": _check_int(f"{where}max_likes", source.get("max_likes"), 0, errors),
    }
    if len(errors) == found:
        _cross_check(where, filters, errors)
    return filters


class _ListedRequests(t.NamedTuple):
    """How one setting lists requests of a kind: items are a subject or an object."""

    setting: str
    subject_key: str
    filter_names: tuple[str, ...]
    #: "a profile URL, an @handle" / "a query": what an item may be besides an object.
    item: str
    #: The same in the plural, for the list as a whole.
    items: str
    canonical: t.Callable[[str], str | None]
    #: The error for an item whose subject is not one.
    not_a_subject: t.Callable[[str, t.Any], str]
    #: The item's effective filters (the defaults where it sets none), checked.
    filters: t.Callable[[str, t.Mapping[str, t.Any], dict[str, t.Any], list[str]], dict]


def _listed_requests(
    spec: _ListedRequests,
    config: t.Mapping[str, t.Any],
    defaults: dict[str, t.Any],
    errors: list[str],
) -> tuple[TaskRequest, ...]:
    raw = config.get(spec.setting) or []
    if not isinstance(raw, list):
        errors.append(f"{spec.setting} must be a list of {spec.items} or objects")
        return ()
    requests: dict[str, TaskRequest] = {}
    for index, item in enumerate(raw):
        where = f"{spec.setting}[{index}]"
        text: t.Any
        source: t.Mapping[str, t.Any]
        if isinstance(item, str):
            text, source = item, {}
        elif isinstance(item, dict):
            allowed = (spec.subject_key, *spec.filter_names)
            unknown = sorted(set(item) - set(allowed))
            if unknown:
                errors.append(
                    f"{where} has unknown keys {unknown}{did_you_mean(unknown, allowed)}; "
                    f"allowed: {', '.join(allowed)}"
                )
            text, source = item.get(spec.subject_key) or "", item
        else:
            errors.append(f"{where} must be {spec.item} or an object, got {item!r}")
            continue
        filters = spec.filters(where, source, defaults, errors)
        subject = spec.canonical(text) if isinstance(text, str) else None
        if subject is None:
            errors.append(spec.not_a_subject(where, text))
            continue
        request = TaskRequest(subject, tuple(filters.items()))
        requests.setdefault(request.key, request)
    return tuple(requests.values())


def _profile_filters(
    where: str, item: t.Mapping[str, t.Any], defaults: dict[str, t.Any], errors: list[str]
) -> dict[str, t.Any]:
    if not item:
        return dict(defaults)
    found = len(errors)
    overrides = _filters(f"{where}.", item, errors)
    merged = {
        name: overrides[name] if overrides[name] is not None else defaults[name]
        for name in FILTER_NAMES
    }
    if merged != defaults and len(errors) == found:
        _cross_check(f"{where} with the defaults: ", merged, errors)
    return merged


_PROFILES = _ListedRequests(
    setting="profiles",
    subject_key="profile_url",
    filter_names=FILTER_NAMES,
    item="a profile URL, an @handle",
    items="profile URLs, @handles",
    canonical=canonical_profile_url,
    not_a_subject=lambda where, text: (
        f"{where} {text!r} is not a TikTok profile: use https://www.tiktok.com/@handle or @handle"
    ),
    filters=_profile_filters,
)


def _task_ids(name: str, config: t.Mapping[str, t.Any], errors: list[str]) -> tuple[str, ...]:
    raw = config.get(name) or []
    if not isinstance(raw, list) or not all(isinstance(i, str) and i.strip() for i in raw):
        errors.append(f"{name} must be a list of non-empty task ID strings")
        return ()
    return tuple(dict.fromkeys(task_id.strip() for task_id in raw))


#: Each search filter setting and the submit-body field the provider's SDK sends it as
#: (``_core.submit_tiktok_search``), in the SDK's order.
SEARCH_FILTER_API_FIELDS: dict[str, str] = {
    "max_results": "max_results",
    "parallel_search_slices": "parallel_search_slices",
    "sort_by": "sort_by",
    "published_within": "published_within",
    "after_date": "after_datetime",
    "before_date": "before_datetime",
    "min_likes": "min_likes",
    "max_likes": "max_likes",
    "min_views": "min_views",
    "max_views": "max_views",
}
SORT_BY = ("relevance", "most_liked", "newest")
PUBLISHED_WITHIN = (
    "all", "past_24_hours", "this_week", "this_month", "last_3_months", "last_6_months",
)  # fmt: skip
#: The top-level settings a search inherits when it does not set its own.
_SEARCH_DEFAULTS = ("after_date", "before_date", "min_likes", "max_likes")


def canonical_query(value: str) -> str | None:
    """A query with its spacing normalised, or None when it is empty."""
    return " ".join(value.split()) or None


def _choice(where: str, value: t.Any, allowed: tuple[str, ...], errors: list[str]) -> t.Any:
    if value is not None and value not in allowed:
        errors.append(f"{where} must be one of {', '.join(allowed)}, got {value!r}")
        return None
    return value


def _search_filters(
    where: str, item: t.Mapping[str, t.Any], defaults: dict[str, t.Any], errors: list[str]
) -> dict[str, t.Any]:
    found = len(errors)
    dated = _filters(where, {name: item.get(name) for name in _SEARCH_DEFAULTS}, errors)
    merged = {
        name: dated[name] if dated[name] is not None else defaults[name]
        for name in _SEARCH_DEFAULTS
    }
    filters = {
        "max_results": _check_int(f"{where}max_results", item.get("max_results"), 1, errors),
        "parallel_search_slices": _check_int(
            f"{where}parallel_search_slices", item.get("parallel_search_slices"), 1, errors
        ),
        "sort_by": _choice(f"{where}sort_by", item.get("sort_by"), SORT_BY, errors),
        "published_within": _choice(
            f"{where}published_within", item.get("published_within"), PUBLISHED_WITHIN, errors
        ),
        "after_date": merged["after_date"],
        "before_date": merged["before_date"],
        "min_likes": merged["min_likes"],
        "max_likes": merged["max_likes"],
        "min_views": _check_int(f"{where}min_views", item.get("min_views"), 0, errors),
        "max_views": _check_int(f"{where}max_views", item.get("max_views"), 0, errors),
    }
    if len(errors) == found:
        _cross_check(where, {**filters, "max_posts": None}, errors)
        low, high = filters["min_views"], filters["max_views"]
        if low is not None and high is not None and low > high:
            errors.append(
                f"{where}min_views {low} is greater than {where}max_views {high}: no post can match"
            )
    return filters


_SEARCHES = _ListedRequests(
    setting="searches",
    subject_key="query",
    filter_names=tuple(SEARCH_FILTER_API_FIELDS),
    item="a query",
    items="queries",
    canonical=canonical_query,
    not_a_subject=lambda where, _text: f"{where} has an empty query: give a keyword or #hashtag",
    filters=lambda where, item, defaults, errors: _search_filters(
        f"{where}.", item, defaults, errors
    ),
)


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
    defaults = _filters("", config, errors)
    profiles = _listed_requests(_PROFILES, config, defaults, errors)
    task_ids = _task_ids("task_ids", config, errors)
    searches = _listed_requests(_SEARCHES, config, defaults, errors)
    search_task_ids = _task_ids("search_task_ids", config, errors)
    if not any(
        config.get(name) for name in ("profiles", "task_ids", "searches", "search_task_ids")
    ):
        errors.append(
            "nothing to extract: set profiles (TikTok profile URLs or @handles), searches "
            "(keywords or #hashtags), and/or task_ids / search_task_ids (existing task IDs)"
        )

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
    configured = {
        "profiles": len(profiles),
        "task_ids": len(task_ids),
        "searches": len(searches),
        "search_task_ids": len(search_task_ids),
    }
    if shard_count > 1:

        def mine(key: str) -> bool:
            return shard_of(key, shard_count) == shard_index

        profiles = tuple(r for r in profiles if mine(r.subject))
        searches = tuple(r for r in searches if mine(r.subject))
        task_ids = tuple(i for i in task_ids if mine(i))
        search_task_ids = tuple(i for i in search_task_ids if mine(i))
    use_download = setting("use_download_url")
    if not isinstance(use_download, bool):
        errors.append(f"use_download_url must be true or false, got {use_download!r}")

    settings = Settings(
        api_key=api_key,
        api_url=api_url,
        profiles=profiles,
        task_ids=task_ids,
        searches=searches,
        search_task_ids=search_task_ids,
        page_size=valid("page_size", page_size),
        poll_interval=_check_number("poll_interval", setting("poll_interval"), errors),
        task_timeout=_check_number("task_timeout", setting("task_timeout"), errors),
        max_active_tasks=valid("max_active_tasks", max_active),
        use_download_url=bool(use_download),
        start_date=_check_date("start_date", config.get("start_date"), errors),
        lookback_days=valid("lookback_days", lookback),
        request_timeout=_check_number("request_timeout", setting("request_timeout"), errors),
        max_retries=valid("max_retries", max_retries),
        batch_file_retention_hours=valid("batch_file_retention_hours", retention),
        shard_index=shard_index,
        shard_count=shard_count,
        configured=configured,
    )
    errors.extend(batch_config_errors(config.get("batch_config")))
    if errors:
        raise SettingsError(errors)
    return settings
