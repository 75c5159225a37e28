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
    page_size: int
    poll_interval: float
    task_timeout: float
    max_active_tasks: int
    use_download_url: bool
    start_date: dt.date | None
    lookback_days: int
    request_timeout: float
    max_retries: int


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


def _profiles(
    config: t.Mapping[str, t.Any], defaults: dict[str, t.Any], errors: list[str]
) -> tuple[TaskRequest, ...]:
    raw = config.get("profiles") or []
    if not isinstance(raw, list):
        errors.append("profiles must be a list of profile URLs, @handles or objects")
        return ()
    requests: dict[str, TaskRequest] = {}
    for index, item in enumerate(raw):
        where = f"profiles[{index}]"
        found = len(errors)
        overrides: dict[str, t.Any] = {}
        if isinstance(item, str):
            url_text = item
        elif isinstance(item, dict):
            unknown = sorted(set(item) - {"profile_url", *FILTER_NAMES})
            if unknown:
                errors.append(
                    f"{where} has unknown keys {unknown}; allowed: profile_url, "
                    + ", ".join(FILTER_NAMES)
                )
            url_text = item.get("profile_url") or ""
            overrides = _filters(f"{where}.", item, errors)
        else:
            errors.append(f"{where} must be a profile URL, an @handle or an object, got {item!r}")
            continue
        url = canonical_profile_url(url_text) if isinstance(url_text, str) else None
        if url is None:
            errors.append(
                f"{where} {url_text!r} is not a TikTok profile: use "
                "https://www.tiktok.com/@handle or @handle"
            )
            continue
        merged = {
            name: overrides.get(name) if overrides.get(name) is not None else defaults[name]
            for name in FILTER_NAMES
        }
        if overrides and merged != defaults and len(errors) == found:
            _cross_check(f"{where} with the defaults: ", merged, errors)
        request = TaskRequest(url, tuple(merged.items()))
        requests.setdefault(request.key, request)
    return tuple(requests.values())


def parse_settings(config: t.Mapping[str, t.Any]) -> Settings:
    """Validate the whole config; raise SettingsError listing every problem."""
    errors: list[str] = []
    api_key = config.get("api_key")
    if not isinstance(api_key, str) or not api_key.strip():
        errors.append("api_key is missing: set it in the config or as TAP_VIDNAVIGATOR_API_KEY")
        api_key = ""
    api_url = _check_api_url(config.get("api_url", DEFAULTS["api_url"]), errors)
    defaults = _filters("", config, errors)
    profiles = _profiles(config, defaults, errors)
    raw_task_ids = config.get("task_ids") or []
    task_ids: list[str] = []
    if not isinstance(raw_task_ids, list) or not all(
        isinstance(task_id, str) and task_id.strip() for task_id in raw_task_ids
    ):
        errors.append("task_ids must be a list of non-empty task ID strings")
    else:
        task_ids = list(dict.fromkeys(task_id.strip() for task_id in raw_task_ids))
    if not config.get("profiles") and not raw_task_ids:
        errors.append(
            "nothing to extract: set profiles (TikTok profile URLs or @handles) "
            "and/or task_ids (existing task IDs)"
        )

    def setting(name: str) -> t.Any:
        return config.get(name, DEFAULTS[name])

    page_size = _check_int("page_size", setting("page_size"), 1, errors)
    if page_size is not None and page_size > 500:
        errors.append(f"page_size must be between 1 and 500, got {page_size}")
    max_active = _check_int("max_active_tasks", setting("max_active_tasks"), 1, errors)
    lookback = _check_int("lookback_days", setting("lookback_days"), 0, errors)
    max_retries = _check_int("max_retries", setting("max_retries"), 0, errors)
    use_download = setting("use_download_url")
    if not isinstance(use_download, bool):
        errors.append(f"use_download_url must be true or false, got {use_download!r}")

    def valid(name: str, value: t.Any) -> t.Any:
        # An invalid value has been reported; the default stands in until the raise.
        return DEFAULTS[name] if value is None else value

    settings = Settings(
        api_key=api_key,
        api_url=api_url,
        profiles=profiles,
        task_ids=tuple(task_ids),
        page_size=valid("page_size", page_size),
        poll_interval=_check_number("poll_interval", setting("poll_interval"), errors),
        task_timeout=_check_number("task_timeout", setting("task_timeout"), errors),
        max_active_tasks=valid("max_active_tasks", max_active),
        use_download_url=bool(use_download),
        start_date=_check_date("start_date", config.get("start_date"), errors),
        lookback_days=valid("lookback_days", lookback),
        request_timeout=_check_number("request_timeout", setting("request_timeout"), errors),
        max_retries=valid("max_retries", max_retries),
    )
    if errors:
        raise SettingsError(errors)
    return settings
