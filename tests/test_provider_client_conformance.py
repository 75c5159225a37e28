"""The emulator driven by the provider's own client (``vidnavigator`` 2.1.0, pinned).

Not singer-sdk (tests/test_sdk_*.py are about that one): here "the SDK" is the
provider's Python client. It is the second witness of the live API (after the
documentation page): what it sends, the emulator must accept; what it reads, the
emulator must answer, with exactly the fields of the SDK's models (none missing, none
extra); every documented error must surface as the SDK's own exception class. Where the
two disagree, the emulator is wrong.
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
import json
import typing as t

import pytest
import requests
from vidnavigator import VidNavigatorClient, exceptions, models

from tests import search_oracle
from tests.conftest import HELD, KEY

# Run once, on the default Python, not on each Python of the matrix (noxfile.py):
# the provider's client against the emulator: no code of the tap runs.
pytestmark = pytest.mark.python_independent

# Fields of the usage models that only the LLM endpoints fill (token counts): a TikTok
# task's usage need not carry them.
LLM_ONLY = {"prompt_tokens", "completion_tokens", "total_tokens", "tokens"}


def _fields(model: t.Any) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def assert_exact(raw: dict[str, t.Any], model: t.Any, *, optional: set[str] = frozenset()) -> None:
    """``raw`` has every field of ``model`` (but ``optional``) and no other."""
    fields = _fields(model)
    assert set(raw) - fields == set(), f"extra fields for {model.__name__}"
    assert fields - optional - set(raw) == set(), f"missing fields for {model.__name__}"


def assert_task_answer(body: dict[str, t.Any]) -> None:
    """A poll answer, field by field against the SDK's models."""
    assert_exact(body, models.TikTokProfileResponse, optional={"usage"})
    data = body["data"]
    assert_exact(data, models.TikTokProfileTask)
    if data["filters"] is not None:
        assert_exact(data["filters"], models.TikTokProfileFilters)
    if data["stats"] is not None:
        assert_exact(data["stats"], models.TikTokProfileStats)
    assert_exact(data["pagination"], models.TikTokProfilePagination)
    for video in data["videos"]:
        assert_exact(video, models.TikTokVideo)
    if data["error"] is not None:
        assert_exact(data["error"], models.AsyncJobError)
    if data["webhook"] is not None:
        assert_exact(data["webhook"], models.AsyncJobWebhookStatus)
    if "usage" in body:
        usage = body["usage"]
        assert_exact(usage, models.UsageBlock, optional=LLM_ONLY)
        for charge in usage["charges"]:
            assert_exact(charge, models.UsageCharge, optional=LLM_ONLY)
        if usage["waived"] is not None:
            assert_exact(usage["waived"], models.UsageWaived)
    models.TikTokProfileResponse.model_validate(body)


class Recorder:
    """Every JSON answer the SDK's session received, by request."""

    def __init__(self) -> None:
        self.answers: list[tuple[requests.PreparedRequest, int, t.Any]] = []

    def __call__(self, response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
        self.answers.append((response.request, response.status_code, response.json()))


def sdk_client(emulator, key: str = KEY) -> tuple[VidNavigatorClient, Recorder]:
    session = requests.Session()
    recorder = Recorder()
    session.hooks["response"].append(recorder)
    return VidNavigatorClient(api_key=key, base_url=emulator.url, session=session), recorder


def test_submit_wait_and_page_with_the_sdk_while_the_limit_changes(make_emulator):
    emulator = make_emulator(
        processing_polls=1, modern_fields=True, plan="trial", monthly_remaining=0.001,
        purchased_credits=2,
    )  # fmt: skip
    client, recorder = sdk_client(emulator)
    profile = "https://www.tiktok.com/@big1200"
    job = client.submit_tiktok_profile_scrape(
        profile_url=profile,
        after_datetime=dt.date(2025, 6, 1),
        before_datetime=dt.date(2025, 12, 31),
        min_likes=100,
        max_posts=900,
    )
    # What the SDK sent reached the emulator as sent, with today's names.
    _, body, status = emulator.state.submissions[-1]
    assert status == 202
    assert json.loads(body) == {
        "profile_url": profile,
        "max_posts": 900,
        "after_datetime": "2025-06-01",
        "before_datetime": "2025-12-31",
        "min_likes": 100,
    }
    assert job.check_status_url == f"/v1/tiktok/profile/{job.task_id}"
    assert_exact(recorder.answers[-1][2]["data"], models.TikTokProfileSubmitData)

    first = job.wait(include_usage=True, poll_interval=0.05, limit=7)
    assert isinstance(first, models.TikTokProfileResponse) and first.data.is_completed
    truth = emulator.ground_truth(
        profile,
        max_posts=900,
        after_datetime="2025-06-01",
        before_datetime="2025-12-31",
        min_likes=100,
    )
    assert len(truth) > 100
    filters = first.data.filters
    assert (filters.after_datetime, filters.before_datetime) == ("2025-06-01", "2025-12-31")
    assert (filters.min_likes, filters.max_posts, filters.max_likes) == (100, 900, None)

    # Usage parsed into the SDK's UsageBlock, equal to the emulator's rule.
    usage = first.usage
    assert isinstance(usage, models.UsageBlock)
    expected = emulator.state.expected_usage(
        profile, max_posts=900, after_datetime="2025-06-01", before_datetime="2025-12-31",
        min_likes=100,
    )  # fmt: skip
    # The published table: 1 credit per 10,000 standard pages, whatever was matched.
    pages = first.data.stats.pages_consumed
    assert pages == -(-first.data.stats.videos_scanned // 30) > 1
    assert [(c.service_type, c.quantity, c.credits) for c in usage.charges] == [
        ("standard_request", pages, pages / 10_000)
    ]
    assert usage.total_credits == expected["total_credits"] == pages / 10_000
    # Monthly credits first (0.001 left), purchased ones for the rest.
    assert usage.credits_remaining_after == float(
        decimal.Decimal("2.001") - decimal.Decimal(pages) / 10_000
    )
    balance = client.get_usage()
    assert isinstance(balance, models.UsageResponse)
    spent = max(decimal.Decimal(pages) / 10_000 - decimal.Decimal("0.001"), decimal.Decimal(0))
    assert (balance.data.credits.monthly_total, balance.data.credits.monthly_remaining) == (
        5,
        float(max(decimal.Decimal("0.001") - decimal.Decimal(pages) / 10_000, 0)),
    )
    assert balance.data.credits.purchased == float(2 - spent)
    assert balance.data.usage.standard_request.used == pages

    # Page with next_cursor while the limit changes: nothing skipped or repeated.
    seen = [video.id for video in first.data.videos]
    cursor = first.data.pagination.next_cursor
    limits = iter([500, 1, 33, 2, 499] * 100)
    while cursor is not None:
        page = client.get_tiktok_profile_scrape(job.task_id, cursor=cursor, limit=next(limits))
        seen += [video.id for video in page.data.videos]
        assert page.data.pagination.has_next == (page.data.pagination.next_cursor is not None)
        cursor = page.data.pagination.next_cursor
    assert seen == [video["id"] for video in truth]
    # published_at is a datetime in the SDK's model, equal to timestamp.
    video = page.data.videos[-1] if page.data.videos else first.data.videos[-1]
    assert video.published_at == dt.datetime.fromtimestamp(video.timestamp, dt.timezone.utc)

    # Every answer the SDK read has exactly its models' fields.
    polls = [
        body
        for request, status, body in recorder.answers
        if request.method == "GET" and "/tiktok/profile/" in request.url
    ]
    assert any(body["data"]["task_status"] == "processing" for body in polls)
    for body in polls:
        assert_task_answer(body)
    # Usage came with the terminal poll only: not while processing, not on pages
    # asked without include_usage.
    with_usage = [body for body in polls if "usage" in body]
    assert len(with_usage) == 1 and with_usage[0]["data"]["task_status"] == "completed"


def test_usage_only_when_asked_and_only_once_terminal(make_emulator):
    emulator = make_emulator(processing_polls=1)
    client, _ = sdk_client(emulator)
    job = client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size30")
    processing = client.get_tiktok_profile_scrape(job.task_id, include_usage=True)
    assert processing.data.is_processing and processing.usage is None
    done = job.wait(include_usage=True, poll_interval=0.05)
    assert done.usage.total_credits == 0.0001 and done.usage.credits_remaining_after is None
    assert client.get_tiktok_profile_scrape(job.task_id).usage is None  # not asked


@pytest.mark.parametrize(
    ("handle", "error_class", "code", "http_status"),
    [
        ("notfound_sdk", exceptions.NotFoundError, "user_not_found", 404),
        ("private_sdk", exceptions.AccessDeniedError, "private_account", 403),
    ],
)
def test_a_failed_task_raises_the_sdk_exception_of_its_error_object(
    emulator, handle, error_class, code, http_status
):
    client, recorder = sdk_client(emulator)
    job = client.submit_tiktok_profile_scrape(profile_url=f"https://www.tiktok.com/@{handle}")
    with pytest.raises(error_class) as raised:
        job.wait(include_usage=True, poll_interval=0.05)
    assert raised.value.error_code == code and raised.value.status_code == http_status
    failed = job.last_response
    assert failed.data.is_failed and failed.data.error.http_status == http_status
    # The failed task's page is waived: nothing charged, what it saved said.
    assert failed.usage.total_credits == 0 and failed.usage.waived.credits_saved == 0.0001
    [charge] = failed.usage.charges
    assert (charge.service_type, charge.quantity) == ("standard_request", 1)
    assert charge.waived is True and charge.credits == 0 and charge.credits_saved == 0.0001
    assert emulator.counters().credits_charged == 0
    assert_task_answer(recorder.answers[-1][2])


def test_a_resumed_job_and_a_webhook_url(emulator):
    client, recorder = sdk_client(emulator)
    job = client.submit_tiktok_profile_scrape(
        profile_url="https://www.tiktok.com/@size25", webhook_url="https://hooks.example/vn"
    )
    assert job.webhook_url == "https://hooks.example/vn"
    resumed = client.resume_job("tiktok_profile", job.task_id)
    done = resumed.result(include_usage=True, poll_interval=0.05, limit=500)
    assert len(done.data.videos) == 25
    assert done.data.webhook.status == "not_sent" and done.data.webhook.attempts == 0
    assert_task_answer(recorder.answers[-1][2])
    # "" opts out of the account's default webhook: nothing is echoed.
    quiet = client.submit_tiktok_profile_scrape(
        profile_url="https://www.tiktok.com/@size25", webhook_url=""
    )
    assert quiet.webhook_url is None
    assert quiet.wait(poll_interval=0.05).data.webhook is None


def _call(client: VidNavigatorClient, what: str, task_id: str) -> t.Any:
    if what == "unknown task":
        return client.get_tiktok_profile_scrape("tt_profile_doesnotexist")
    if what == "invalid cursor":
        return client.get_tiktok_profile_scrape(task_id, cursor="bm90IGEgY3Vyc29y")
    if what == "limit 0":
        return client.get_tiktok_profile_scrape(task_id, limit=0)
    if what == "limit 501":
        return client.get_tiktok_profile_scrape(task_id, limit=501)
    return client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size20")


@pytest.mark.parametrize(
    ("what", "key", "error_class", "code"),
    [
        ("unknown task", KEY, exceptions.NotFoundError, "task_not_found"),
        ("another user's task", "demo-key-2", exceptions.NotFoundError, "task_not_found"),
        ("invalid cursor", KEY, exceptions.BadRequestError, "invalid_cursor"),
        ("limit 0", KEY, exceptions.BadRequestError, "bad_request"),
        ("limit 501", KEY, exceptions.BadRequestError, "bad_request"),
        ("bad key on a poll", "not-a-key", exceptions.AuthenticationError, "invalid_api_key"),
        ("bad key on a submit", "not-a-key", exceptions.AuthenticationError, "invalid_api_key"),
    ],
)
def test_documented_errors_raise_the_sdks_exception_classes(emulator, what, key, error_class, code):
    owner, _ = sdk_client(emulator)
    task_id = owner.submit_tiktok_profile_scrape(
        profile_url="https://www.tiktok.com/@size20"
    ).task_id
    client, _ = sdk_client(emulator, key)
    with pytest.raises(error_class) as raised:
        if what == "another user's task" or what == "bad key on a poll":
            client.get_tiktok_profile_scrape(task_id)
        else:
            _call(client, what, task_id)
    assert raised.value.error_code == code


def test_out_of_credits_and_too_many_active_jobs_raise_the_sdks_classes(make_emulator):
    emulator = make_emulator(processing_seconds=HELD, max_active_tasks=1)
    client, _ = sdk_client(emulator)
    client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size20")
    with pytest.raises(exceptions.TooManyActiveJobsError) as busy:
        client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size21")
    assert busy.value.status_code == 429
    other, _ = sdk_client(make_emulator(plan="trial", monthly_remaining=0))
    with pytest.raises(exceptions.PaymentRequiredError) as broke:
        other.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size20")
    assert broke.value.error_code == "insufficient_credits"


# ------------------------------------------------------------------ keyword search
SEARCH_RESULT_PARTS = {
    "author": models.TikTokSearchAuthor,
    "stats": models.TikTokSearchStats,
    "music": models.TikTokSearchMusic,
}


def assert_search_answer(body: dict[str, t.Any]) -> None:
    """A search poll answer, field by field against the SDK's models."""
    assert_exact(body, models.TikTokSearchResponse, optional={"usage"})
    data = body["data"]
    assert_exact(data, models.TikTokSearchTask)
    assert_exact(data["filters"], models.TikTokSearchFilters)
    if data["stats"] is not None:
        assert_exact(data["stats"], models.TikTokSearchStatsSummary)
    assert_exact(data["pagination"], models.TikTokProfilePagination)
    for result in data["results"]:
        assert_exact(result, models.TikTokSearchResult)
        for part, model in SEARCH_RESULT_PARTS.items():
            assert_exact(result[part], model)
    if "usage" in body:
        assert_exact(body["usage"], models.UsageBlock, optional=LLM_ONLY)
    models.TikTokSearchResponse.model_validate(body)


def test_search_with_every_filter_through_the_sdk(make_emulator):
    emulator = make_emulator(processing_polls=1, plan="voyager")
    client, recorder = sdk_client(emulator)
    filters = {
        "max_results": 150,
        "parallel_search_slices": 2,
        "sort_by": "most_liked",
        "published_within": "last_6_months",
        "min_likes": 20,
        "max_likes": 100_000,
        "min_views": 100,
        "max_views": 10_000_000,
    }
    job = client.submit_tiktok_search(
        query="#airfryer size400",
        after_datetime=dt.date(2025, 8, 1),
        before_datetime=dt.date(2025, 12, 31),
        **filters,
    )
    _, body, status = emulator.state.submissions[-1]
    assert status == 202
    assert json.loads(body) == {
        "query": "#airfryer size400",
        "max_results": 150,
        "parallel_search_slices": 2,
        "sort_by": "most_liked",
        "published_within": "last_6_months",
        "after_datetime": "2025-08-01",
        "before_datetime": "2025-12-31",
        "min_likes": 20,
        "max_likes": 100_000,
        "min_views": 100,
        "max_views": 10_000_000,
    }
    submitted = recorder.answers[-1][2]["data"]
    assert_exact(submitted, models.TikTokSearchSubmitData)
    assert_exact(submitted["filters"], models.TikTokSearchFilters)
    assert job.check_status_url == f"/v1/tiktok/search/{job.task_id}"

    first = job.wait(include_usage=True, poll_interval=0.05, limit=9)
    assert isinstance(first, models.TikTokSearchResponse) and first.data.is_completed
    # The truth computed from the contract, not by the emulator's filter code: each bound
    # on the query's every result, the most liked first (ties by id), 150 at most.
    oracle = search_oracle.expected(
        emulator.state, "#airfryer size400", seen_by=job.task_id,
        after_datetime=dt.date(2025, 8, 1), before_datetime=dt.date(2025, 12, 31), **filters,
    )  # fmt: skip
    truth = oracle.kept
    assert 20 < len(truth) <= 150
    assert len(truth) + len(oracle.excluded) == 400
    # What was left out failed a bound or came after the 150th: both happen here.
    assert ("max_results",) in oracle.reasons.values()
    assert any(why != ("max_results",) for why in oracle.reasons.values())
    assert truth == emulator.state.search_ground_truth(
        "#airfryer size400", after_datetime="2025-08-01", before_datetime="2025-12-31", **filters
    )
    seen = [result.id for result in first.data.results]
    cursor = first.data.pagination.next_cursor
    limits = iter([1, 500, 7] * 100)
    while cursor is not None:
        page = client.get_tiktok_search(job.task_id, cursor=cursor, limit=next(limits))
        seen += [result.id for result in page.data.results]
        cursor = page.data.pagination.next_cursor
    assert seen == oracle.kept_ids
    assert not set(seen) & oracle.excluded_ids
    likes = [int(result["stats"]["likes"]) for result in truth]
    assert likes == sorted(likes, reverse=True)  # most_liked
    stats = first.data.stats
    assert (stats.results_count, stats.sort_by, stats.next_search_cursor) == (
        len(truth),
        "most_liked",
        400,
    )
    expected = emulator.state.expected_search_usage(
        "#airfryer size400", after_datetime="2025-08-01", before_datetime="2025-12-31", **filters
    )
    # Search pages are proxy-backed scraper pages: 1 credit per 200.
    assert first.usage.total_credits == expected["total_credits"] == stats.pages_fetched / 200
    assert first.usage.charge_for("residential_request").quantity == stats.pages_fetched == 14
    assert first.usage.credits_remaining_after == 80 - 14 / 200
    for _request, _status, answer in recorder.answers[1:]:
        assert_search_answer(answer)
    # The signed download holds the whole result, under the search's own list name.
    assert "/tiktok_searches/" in first.data.download_url
    downloaded = requests.get(first.data.download_url, timeout=10).json()
    assert [result["id"] for result in downloaded["results"]] == seen


def test_search_queries_that_share_a_word_share_results_and_the_special_queries(emulator):
    client, _ = sdk_client(emulator)
    one = emulator.state.search_ground_truth("#airfryer")
    two = emulator.state.search_ground_truth("airfryer recipe")
    assert {r["id"] for r in one} & {r["id"] for r in two}
    assert len(emulator.state.search_ground_truth("cats size321")) == 321
    assert emulator.state.search_ground_truth("empty") == []
    newest = emulator.state.search_ground_truth("cats size50")  # newest first by default
    stamps = [r["timestamp"] for r in newest]
    assert stamps == sorted(stamps, reverse=True)
    empty = client.submit_tiktok_search(query="empty").wait(poll_interval=0.05, include_usage=True)
    # An empty search still fetched its one page.
    assert empty.data.results == [] and empty.usage.total_credits == 1 / 200
    failing = client.submit_tiktok_search(query="fail on purpose")
    with pytest.raises(exceptions.ServerError) as raised:
        failing.wait(poll_interval=0.05)
    assert raised.value.error_code == "search_failed"


def test_a_search_for_a_creators_handle_serves_exactly_that_profiles_videos(emulator):
    """``@size40`` in a query finds the videos a scrape of the profile serves (one
    published on the calendar too, young and growing), in the search result's shape: the
    same ids, urls, descriptions, times and counts; newest first, or the profile's own
    order by relevance; filters applied as to any result."""
    client, recorder = sdk_client(emulator)
    creator = "https://www.tiktok.com/@size40"
    emulator.state.publish(creator, 2)
    profile = emulator.ground_truth(creator)
    assert len(profile) == 42

    def served(query: str, **filters: t.Any) -> list[dict[str, t.Any]]:
        answer = client.submit_tiktok_search(query=query, **filters).wait(
            poll_interval=0.05, limit=500
        )
        assert answer.data.is_completed
        raw = recorder.answers[-1][2]
        assert_search_answer(raw)
        results = raw["data"]["results"]
        assert results == emulator.state.search_ground_truth(query, **filters)
        return results

    for order in ({}, {"sort_by": "relevance"}):
        results = served("@size40", **order)
        assert [r["id"] for r in results] == [v["id"] for v in profile]
    for result, video in zip(results, profile, strict=True):
        assert result["url"] == video["url"]
        assert result["description"] == video["description"]
        assert result["timestamp"] == int(video["timestamp"])
        assert result["published_at"] == video["published_at"]
        assert result["author"]["unique_id"] == "size40"
        assert result["stats"] == {
            "views": video["views"], "likes": video["likes"], "comments": video["comments"],
            "shares": video["reposts"], "collects": None,
        }  # fmt: skip
    # Filters, computed here on the profile's videos: the most liked from 300 likes on.
    liked = [v for v in profile if v["likes"] is not None and int(v["likes"]) >= 300]
    liked.sort(key=lambda v: (-int(v["likes"]), v["id"]))
    results = served("@size40", sort_by="most_liked", min_likes=300, max_results=12)
    assert [r["id"] for r in results] == [v["id"] for v in liked[:12]]
    after = calendar.timegm((2025, 12, 20, 0, 0, 0))
    results = served("@size40", sort_by="relevance", after_datetime="2025-12-20")
    recent = [v["id"] for v in profile if int(v["timestamp"]) >= after]
    assert 2 < len(recent) < 42
    assert [r["id"] for r in results] == recent
    # With words: the creator's videos first, then what the words find; a creator whose
    # scrape fails adds nothing and the search completes; a handle is never a size.
    mixed = served("@size40 @private_x cats size5", sort_by="relevance")
    words = emulator.state.search_ground_truth("cats size5", sort_by="relevance")
    assert [r["id"] for r in mixed] == [v["id"] for v in profile] + [r["id"] for r in words]
    assert served("@notfound_x") == []
    with pytest.raises(ValueError, match="names a creator"):
        emulator.state.publish_results("@size40", 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x", "sort_by": "oldest"}, "sort_by"),
        ({"query": "x", "published_within": "yesterday"}, "published_within"),
        ({"query": "x", "min_likes": -1}, "min_likes"),
        ({"query": "x", "min_views": 10, "max_views": 5}, "min_views"),
        ({"query": "x", "min_likes": 10, "max_likes": 5}, "min_likes"),
        ({"query": "x", "max_results": 0}, "max_results"),
        ({"query": "x", "parallel_search_slices": 99}, "parallel_search_slices"),
        ({"query": "x", "after_datetime": "2025-02-01", "before_datetime": "2025-01-01"},
         "after_datetime"),
    ],
)  # fmt: skip
def test_bad_search_values_are_400_naming_the_field(emulator, body, field):
    answer = requests.post(
        f"{emulator.url}/tiktok/search", json=body, headers={"X-API-Key": KEY}, timeout=10
    )
    assert answer.status_code == 400 and answer.json()["field"] == field
    client, _ = sdk_client(emulator)
    with pytest.raises(exceptions.BadRequestError):
        client.submit_tiktok_search(**body)
    assert emulator.counters().submits == 0


def test_kinds_have_their_own_routes_and_share_the_active_job_cap(make_emulator):
    emulator = make_emulator(processing_seconds=HELD, max_active_tasks=2)
    client, _ = sdk_client(emulator)
    profile = client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size20")
    searched = client.submit_tiktok_search(query="cats")
    with pytest.raises(exceptions.TooManyActiveJobsError):
        client.submit_tiktok_search(query="dogs")
    with pytest.raises(exceptions.NotFoundError):
        client.get_tiktok_search(profile.task_id)
    with pytest.raises(exceptions.NotFoundError):
        client.get_tiktok_profile_scrape(searched.task_id)
    assert client.get_tiktok_search(searched.task_id).data.is_processing


def test_the_client_reads_counts_that_grew_between_two_moments(emulator):
    client, recorder = sdk_client(emulator)
    profile = "https://www.tiktok.com/@size20"
    fresh = {video["id"] for video in emulator.state.publish(profile, 4)}
    answers = []
    for _ in range(2):
        job = client.submit_tiktok_profile_scrape(profile_url=profile)
        answers.append((job.task_id, job.wait(poll_interval=0.05, limit=500)))
        emulator.advance_clock(days=1)
    for task_id, answer in answers:
        assert isinstance(answer, models.TikTokProfileResponse)
        assert [video.id for video in answer.data.videos] == [
            video["id"] for video in emulator.ground_truth(profile, seen_by=task_id)
        ]
        for video in answer.data.videos:
            counts = emulator.state.counts_seen(task_id, video.id)
            assert counts == {
                "views": video.views,
                "likes": video.likes,
                "comments": video.comments,
                "reposts": video.reposts,
            }
            assert video.published_at.timestamp() <= emulator.state.observed_at(task_id)
    (_, first), (_, second) = answers
    gap = dt.datetime.fromisoformat(second.data.completed_at.replace("Z", "+00:00")) - (
        dt.datetime.fromisoformat(first.data.completed_at.replace("Z", "+00:00"))
    )
    assert dt.timedelta(days=1) <= gap < dt.timedelta(days=1, minutes=1)
    before = {video.id: video for video in first.data.videos}
    grown = [v for v in second.data.videos if v.id in fresh and v.views is not None]
    assert grown and all(video.views > before[video.id].views for video in grown)
    assert all(video == before[video.id] for video in second.data.videos if video.id not in fresh)
    for request, _status, body in recorder.answers:
        if request.method == "GET":
            assert_task_answer(body)


# ------------------------------------------------------------------ account balance
USAGE_PARTS = {
    "usage_period": models.UsagePeriod,
    "billing_period": models.BillingPeriod,
    "subscription": models.Subscription,
    "credits": models.CreditsInfo,
    "channels_indexed": models.CapacityMetric,
    "storage": models.StorageUsage,
}
METERS = ("standard_request", "residential_request", "search_request", "analysis_request",
          "transcription_hour")  # fmt: skip


@pytest.mark.parametrize(
    ("config", "monthly"),
    [
        ({}, ("unlimited", "unlimited")),
        ({"plan": "navigator", "monthly_remaining": 0.0003, "purchased_credits": 1}, (15, 0)),
    ],
)
def test_usage_parses_into_the_sdks_model_and_counts_every_meter(make_emulator, config, monthly):
    emulator = make_emulator(**config)
    client, recorder = sdk_client(emulator)
    client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size45")  # 2 pages
    proxy = client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@proxy_shop")
    client.submit_tiktok_search(query="cats size31")  # 2 pages
    # Nobody polled the tasks: the provider charges a task when it ends, all the same.
    answer = client.get_usage()
    raw = recorder.answers[-1][2]
    assert_exact(raw, models.UsageResponse)
    assert_exact(raw["data"], models.UsageData)
    for part, model in USAGE_PARTS.items():
        assert_exact(raw["data"][part], model)
    assert_exact(raw["data"]["usage"], models.UsageDetails,
                 optional=_fields(models.UsageDetails) - set(METERS))  # fmt: skip
    proxy_pages = emulator.state.tasks[proxy.task_id].stats["pages_consumed"]
    usage = answer.data.usage
    assert (usage.standard_request.used, usage.standard_request.unit) == (2, "requests")
    assert usage.residential_request.used == proxy_pages + 2
    assert usage.transcription_hour.unit == "hours" and usage.search_request.used == 0
    spent = decimal.Decimal(2) / 10_000 + decimal.Decimal(proxy_pages + 2) / 200
    assert emulator.counters().credits_charged == spent
    credits = answer.data.credits
    assert (credits.monthly_total, credits.monthly_remaining) == monthly
    # Unlimited: purchased credits stay untouched. Else the monthly 0.0003 went first.
    left = decimal.Decimal("1.0003") - spent if config else 0
    assert credits.purchased == float(left)
    assert answer.data.subscription.plan_id == config.get("plan", "odyssey")
    assert emulator.counters().submits == 3 and emulator.counters().usage_reads == 1


def test_the_monthly_pool_is_full_again_in_a_new_billing_period(make_emulator):
    emulator = make_emulator(plan="trial", monthly_remaining=0)
    client, _ = sdk_client(emulator)
    with pytest.raises(exceptions.PaymentRequiredError):
        client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size20")
    before = client.get_usage().data
    emulator.advance_clock(days=32)
    after = client.get_usage().data
    assert before.billing_period.end <= after.billing_period.start
    assert (after.credits.monthly_total, after.credits.monthly_remaining) == (5, 5)
    job = client.submit_tiktok_profile_scrape(profile_url="https://www.tiktok.com/@size20")
    assert job.wait(include_usage=True, poll_interval=0.05).usage.credits_remaining_after == 4.9999
