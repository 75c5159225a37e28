"""Settings parsing beyond the CLI matrix: normalisation, defaults, numbers as text."""

from __future__ import annotations

import decimal

import pytest

from tap_vidnavigator.families import PROFILES, canonical_profile_url
from tap_vidnavigator.settings import SettingsError, parse_settings

BASE = {"api_key": "k-123456", "profiles": ["@tiktok"]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("@TikTok", "https://www.tiktok.com/@tiktok"),
        ("https://www.tiktok.com/@cooking.daily?lang=en", "https://www.tiktok.com/@cooking.daily"),
        ("tiktok.com/@a_b", "https://www.tiktok.com/@a_b"),
        ("https://m.tiktok.com/@abc/", "https://www.tiktok.com/@abc"),
        ("https://www.tiktok.com/@x/video/1", None),
        ("@", None),
        ("https://youtube.com/@abc", None),
    ],
)
def test_profile_urls(value, expected):
    assert canonical_profile_url(value) == expected


@pytest.mark.parametrize("value", [0.2, "0.2", decimal.Decimal("0.2")])
def test_seconds_as_number_string_or_decimal(value):
    settings = parse_settings(
        {**BASE, "poll_interval": value, "task_timeout": value, "request_timeout": value}
    )
    assert settings.poll_interval == settings.task_timeout == settings.request_timeout == 0.2


def test_defaults_and_overrides():
    config = {
        **BASE,
        "profiles": ["@a1", {"profile_url": "@b1", "min_likes": 5, "after_date": "2025-02-01"}],
        "min_likes": 1,
        "after_date": "2025-01-01",
        "max_posts": decimal.Decimal(100),
    }
    settings = parse_settings(config)
    first, second = settings.requests_for(PROFILES)
    assert first.filter_dict() == {"max_posts": 100, "after_date": "2025-01-01", "min_likes": 1}
    assert second.filter_dict() == {"max_posts": 100, "after_date": "2025-02-01", "min_likes": 5}
    assert (settings.page_size, settings.max_active_tasks, settings.lookback_days) == (500, 10, 3)
    assert (
        settings.use_download_url is True and settings.api_url == "https://api.vidnavigator.com/v1"
    )


def test_loopback_http_is_allowed_and_remote_http_is_not():
    assert (
        parse_settings({**BASE, "api_url": "http://localhost:9/v1/"}).api_url
        == "http://localhost:9/v1"
    )
    assert parse_settings({**BASE, "api_url": "http://[::1]:9/v1"}).api_url == "http://[::1]:9/v1"
    with pytest.raises(SettingsError, match="plain http"):
        parse_settings({**BASE, "api_url": "http://10.0.0.1/v1"})


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"api_key": "", "page_size": 0, "after_date": "x"})
    messages = " | ".join(caught.value.errors)
    for fragment in (
        "api_key is missing",
        "page_size must be >= 1",
        "after_date must be a date",
        "nothing to extract",
    ):
        assert fragment in messages
