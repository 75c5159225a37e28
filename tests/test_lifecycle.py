"""The task lifecycle on a fake clock and a fake API: exact about which call happens when.

No process, no socket, no real sleep: each test runs in milliseconds and states the
whole timeline of calls (seconds on the fake clock, method, subject or task id).
"""

from __future__ import annotations

import dataclasses
import decimal
import logging
import types
import typing as t

import pytest

from tap_vidnavigator.errors import (
    CreditsExhaustedError,
    TaskNotFoundError,
    TooManyActiveJobsError,
)
from tap_vidnavigator.families import PROFILES as PROFILE_FAMILY
from tap_vidnavigator.kinds import TaskKind
from tap_vidnavigator.lifecycle import TaskLifecycle
from tap_vidnavigator.records.profiles import PROFILE_KIND as PROFILES
from tap_vidnavigator.run import Run
from tap_vidnavigator.settings import TaskRequest, parse_settings
from tap_vidnavigator.state import InFlightTasks
from tap_vidnavigator.tasks import KindWork

FAR_FUTURE = "2999-01-01T00:00:00Z"


class FakeClock:
    """Time that moves only when the lifecycle sleeps."""

    #: Reads of the clock without time passing before the loop is called a busy-wait.
    SPIN_LIMIT = 1000

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._reads_since_sleep = 0

    def monotonic(self) -> float:
        self._reads_since_sleep += 1
        assert self._reads_since_sleep < self.SPIN_LIMIT, "the lifecycle busy-waits"
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the lifecycle never sleeps for nothing"
        self.sleeps.append(seconds)
        self.now += seconds
        self._reads_since_sleep = 0


@dataclasses.dataclass
class FakeTask:
    subject: str
    done_at: float
    status: str = "completed"
    route: str = "/tiktok/profile"


#: A second kind, declared as a kind is: only what differs from profiles.
SEARCHES = TaskKind.of(
    dataclasses.replace(
        PROFILE_FAMILY,
        name="search",
        route="/tiktok/search",
        subject_field="query",
        results_field="results",
        canonical_subject=lambda text: text.strip() or None,
    ),
    task_record=PROFILES.task_record,
    task_schema=PROFILES.task_schema,
    result_typer=PROFILES.result_typer,
    result_schema=PROFILES.result_schema,
    describe_stats=PROFILES.describe_stats,
)


class FakeApi:
    """The provider, scripted on the fake clock.

    ``durations`` says how long each subject's task runs; ``cap`` is the API's limit of
    active jobs per key, ``foreign_until`` keeps that many jobs of the key (outside
    this run) active until then; ``credits`` the submits it will take.
    """

    def __init__(
        self,
        clock: FakeClock,
        durations: dict[str, float],
        *,
        cap: int | None = None,
        foreign: int = 0,
        foreign_until: float = 0.0,
        credits: int | None = None,
        retry_after: float | None = None,
        vanished: t.Iterable[str] = (),
        costs: dict[str, float] | None = None,
        balance: float | str | None = None,
        results: dict[str, list[dict[str, t.Any]]] | None = None,
        lifetime: float | None = None,
    ) -> None:
        self.clock = clock
        self.durations = durations
        self.cap = cap
        self.foreign = foreign
        self.foreign_until = foreign_until
        self.credits = credits
        self.retry_after = retry_after
        self.vanished = set(vanished)
        #: What each subject's task costs (its usage's total_credits; 1 by default).
        self.costs = dict(costs or {})
        #: What GET /usage says is left (monthly_remaining; "unlimited" allowed).
        self.balance = balance
        #: Each subject's results, served ``page`` a page; a task answers 404 once
        #: ``lifetime`` seconds passed after it ended.
        self.results = results or {}
        self.page = 2
        self.lifetime = lifetime
        self.tasks: dict[str, FakeTask] = {}
        self.calls: list[tuple[float, str, str]] = []

    def _active(self, now: float) -> int:
        ours = sum(1 for task in self.tasks.values() if now < task.done_at)
        return ours + (self.foreign if now < self.foreign_until else 0)

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        body: dict[str, t.Any] | None = None,
        retry_ambiguous: bool = True,
    ) -> dict[str, t.Any]:
        now = self.clock.now
        if method == "POST":
            assert body is not None
            subject = body["query"] if "query" in body else body["profile_url"].rsplit("@", 1)[-1]
            self.calls.append((now, "POST", subject))
            if self.credits is not None and self.credits <= 0:
                raise CreditsExhaustedError("no credits", status=402)
            if self.cap is not None and self._active(now) >= self.cap:
                raise TooManyActiveJobsError(
                    "too many", status=429, code="too_many_active_jobs",
                    retry_after=self.retry_after,
                )  # fmt: skip
            if self.credits is not None:
                self.credits -= 1
            task_id = f"t{len(self.tasks) + 1}"
            self.tasks[task_id] = FakeTask(subject, now + self.durations[subject], route=path)
            return {"status": "success", "data": {"task_id": task_id, "expires_at": FAR_FUTURE}}
        if path == "/usage":
            self.calls.append((now, "GET", "usage"))
            credits = {"monthly_total": 15, "monthly_remaining": self.balance, "purchased": 0}
            return {"status": "success", "data": {"credits": credits}}
        task_id = path.rsplit("/", 1)[-1]
        assert params is not None
        cursor = params.get("cursor")
        self.calls.append((now, "GET", task_id if cursor is None else f"{task_id}@{cursor}"))
        assert params == (
            {"limit": 500, "include_usage": "true"}
            if cursor is None
            else {"cursor": cursor, "limit": 500}
        )
        task = self.tasks.get(task_id)
        if task is None or task_id in self.vanished or not path.startswith(task.route):
            raise TaskNotFoundError("gone", task_id=task_id)
        if self.lifetime is not None and now >= task.done_at + self.lifetime:
            raise TaskNotFoundError("expired", task_id=task_id)
        status = "processing" if now < task.done_at else task.status
        subject = (
            {"query": task.subject}
            if task.route == SEARCHES.route
            else {"profile_url": f"https://www.tiktok.com/@{task.subject}"}
        )
        data = {"task_id": task_id, "task_status": status, **subject, "expires_at": FAR_FUTURE}
        answer: dict[str, t.Any] = {"status": "success", "data": data}
        if status != "processing":
            # Pages of ``page`` results; the cursor is the offset.
            everything = self.results.get(task.subject, [])
            start = int(cursor or 0)
            end = min(start + self.page, len(everything))
            data["results" if task.route == SEARCHES.route else "videos"] = everything[start:end]
            data["pagination"] = {
                "has_next": end < len(everything),
                "next_cursor": str(end) if end < len(everything) else None,
            }
            if cursor is None:
                answer["usage"] = {"total_credits": self.costs.get(task.subject, 1)}
        return answer


class FakeParentStream:
    """What InFlightTasks needs of a stream: its state, and a STATE writer."""

    def __init__(self, state: dict[str, t.Any] | None = None) -> None:
        self.stream_state: dict[str, t.Any] = state or {}
        self.state_manager = types.SimpleNamespace(is_flushed=True)
        self.written: list[dict[str, t.Any]] = []

    def _write_state_message(self) -> None:
        self.written.append({k: dict(v) for k, v in self.stream_state.get("in_flight", {}).items()})


@dataclasses.dataclass
class Harness:
    clock: FakeClock
    api: FakeApi
    run: Run
    parent: FakeParentStream
    lifecycle: TaskLifecycle
    search_parent: FakeParentStream

    def finish_all(self) -> list[tuple[float, str, str | None]]:
        """Drive the lifecycle to the end: (time, task id, status) of each finished task."""
        return [
            (self.clock.now, finished.task_id, finished.data["task_status"])
            for finished in self.lifecycle.finished_tasks()
        ]


def harness(
    profiles: list[t.Any],
    durations: dict[str, float],
    *,
    state: dict[str, t.Any] | None = None,
    api_options: dict[str, t.Any] | None = None,
    searches: t.Sequence[str] = (),
    **settings: t.Any,
) -> Harness:
    config = {"api_key": "k", "profiles": profiles, "poll_interval": 3, **settings}
    parsed = parse_settings(config)
    clock = FakeClock()
    api = FakeApi(clock, durations, **(api_options or {}))
    run = Run(lambda: parsed)
    parent = FakeParentStream(state)
    work = KindWork(
        kind=PROFILES,
        requests=parsed.requests_for(PROFILE_FAMILY),
        task_ids=parsed.task_ids_for(PROFILE_FAMILY),
        in_flight=InFlightTasks(t.cast("t.Any", parent), PROFILES.subject_field),
        submit_filters=lambda request: request.filter_dict(),
    )
    search_parent = FakeParentStream()
    search_work = KindWork(
        kind=SEARCHES,
        requests=[TaskRequest(query, ()) for query in searches],
        task_ids=(),
        in_flight=InFlightTasks(t.cast("t.Any", search_parent), SEARCHES.subject_field),
        submit_filters=lambda request: request.filter_dict(),
    )
    lifecycle = TaskLifecycle(
        api=api,
        run=run,
        work=[work, search_work] if searches else [work],
        logger=logging.getLogger("tap-vidnavigator.test"),
        clock=clock.monotonic,
        sleep=clock.sleep,
    )
    return Harness(clock, api, run, parent, lifecycle, search_parent)


def test_polls_every_second_for_ten_seconds_then_every_poll_interval():
    h = harness(["@aa"], {"aa": 20})
    assert h.finish_all() == [(22, "t1", "completed")]
    assert h.api.calls == [
        (0, "POST", "aa"),
        *[(second, "GET", "t1") for second in range(1, 11)],
        (13, "GET", "t1"), (16, "GET", "t1"), (19, "GET", "t1"), (22, "GET", "t1"),
    ]  # fmt: skip


def test_submits_queue_under_max_active_tasks_and_start_as_tasks_finish():
    h = harness(["@aa", "@bb", "@cc"], {"aa": 2, "bb": 2, "cc": 2}, max_active_tasks=2)
    assert h.finish_all() == [
        (2, "t1", "completed"),
        (2, "t2", "completed"),
        (4, "t3", "completed"),
    ]
    assert h.api.calls == [
        (0, "POST", "aa"), (0, "POST", "bb"),
        (1, "GET", "t1"), (1, "GET", "t2"),
        (2, "GET", "t1"), (2, "POST", "cc"), (2, "GET", "t2"),
        (3, "GET", "t3"), (4, "GET", "t3"),
    ]  # fmt: skip
    # Each task was in STATE the moment its submit was answered, and left it once done.
    assert [sorted(entry) for entry in h.parent.written[:2]] == [
        ["https://www.tiktok.com/@aa"],
        ["https://www.tiktok.com/@aa", "https://www.tiktok.com/@bb"],
    ]
    assert h.parent.stream_state["in_flight"] == {}


@pytest.mark.parametrize(
    ("retry_after", "submits"),
    [(None, [0, 3, 6]), (1.0, [0, 1, 2, 3, 4, 5])],  # poll_interval, or the API's word
)
def test_too_many_active_jobs_of_other_runs_retries_after_the_wait_asked(retry_after, submits):
    api = {"cap": 1, "foreign": 1, "foreign_until": 5, "retry_after": retry_after}
    h = harness(["@aa"], {"aa": 1}, api_options=api)
    first = submits[-1]
    assert h.finish_all() == [(first + 1, "t1", "completed")]
    assert h.api.calls == [*[(s, "POST", "aa") for s in submits], (first + 1, "GET", "t1")]
    assert h.run.problems == ()


def test_too_many_active_jobs_while_ours_run_waits_for_a_finish():
    h = harness(["@aa", "@bb"], {"aa": 4, "bb": 1}, api_options={"cap": 1})
    assert h.finish_all() == [(4, "t1", "completed"), (5, "t2", "completed")]
    assert h.api.calls == [
        (0, "POST", "aa"), (0, "POST", "bb"),
        (1, "GET", "t1"), (2, "GET", "t1"), (3, "GET", "t1"), (4, "GET", "t1"),
        (4, "POST", "bb"), (5, "GET", "t2"),
    ]  # fmt: skip


def test_retry_after_is_honoured_even_while_ours_run_and_a_finish_unblocks():
    api = {"cap": 2, "foreign": 1, "foreign_until": 2.5, "retry_after": 1.5}
    h = harness(["@aa", "@bb"], {"aa": 6, "bb": 1}, api_options=api)
    h.finish_all()
    posts = [(when, subject) for when, method, subject in h.api.calls if method == "POST"]
    # Refused at 0 and 1.5 (a foreign job is active until 2.5), accepted at 3.
    assert posts == [(0, "aa"), (0, "bb"), (1.5, "bb"), (3.0, "bb")]


def test_out_of_credits_stops_submits_and_running_tasks_still_finish():
    h = harness(["@aa", "@bb", "@cc"], {"aa": 1, "bb": 1, "cc": 1}, api_options={"credits": 1})
    assert h.finish_all() == [(1, "t1", "completed")]
    assert h.api.calls == [(0, "POST", "aa"), (0, "POST", "bb"), (1, "GET", "t1")]
    assert h.run.problems == (
        "out of credits; not submitted: https://www.tiktok.com/@bb, https://www.tiktok.com/@cc",
    )


def test_task_timeout_gives_up_but_keeps_the_task_for_the_next_run(caplog):
    h = harness(["@aa"], {"aa": 100}, task_timeout=5)
    with caplog.at_level(logging.ERROR):
        assert h.finish_all() == []
    assert h.api.calls == [(0, "POST", "aa"), *[(s, "GET", "t1") for s in range(1, 7)]]
    assert h.run.problems == ("task t1 for https://www.tiktok.com/@aa timed out",)
    assert h.parent.stream_state["in_flight"]["https://www.tiktok.com/@aa"]["task_id"] == "t1"
    assert "the next run resumes it without a new submit" in caplog.text


def _saved(task_id: str, expires_at: str) -> dict[str, t.Any]:
    url = "https://www.tiktok.com/@aa"
    entry = {"task_id": task_id, "profile_url": url, "filters": {}, "expires_at": expires_at}
    return {"in_flight": {url: entry}}


def test_a_saved_task_is_polled_not_paid_for_again():
    h = harness(["@aa"], {"aa": 0}, state=_saved("t1", FAR_FUTURE))
    h.api.tasks["t1"] = FakeTask("aa", done_at=3)
    assert h.finish_all() == [(3, "t1", "completed")]
    assert h.api.calls == [(0, "GET", "t1"), (1, "GET", "t1"), (2, "GET", "t1"), (3, "GET", "t1")]


def test_an_expired_saved_task_is_replaced_by_one_submit_without_a_poll(caplog):
    h = harness(["@aa"], {"aa": 1}, state=_saved("t_old", "2000-01-01T00:00:00Z"))
    with caplog.at_level(logging.INFO):
        assert h.finish_all() == [(1, "t1", "completed")]
    assert h.api.calls == [(0, "POST", "aa"), (1, "GET", "t1")]
    assert "Saved task t_old for https://www.tiktok.com/@aa expired" in caplog.text


def test_a_saved_task_that_vanished_is_replaced_once(caplog):
    h = harness(["@aa"], {"aa": 1}, state=_saved("t_gone", FAR_FUTURE))
    with caplog.at_level(logging.INFO):
        assert h.finish_all() == [(1, "t1", "completed")]
    assert h.api.calls == [(0, "GET", "t_gone"), (0, "POST", "aa"), (1, "GET", "t1")]
    assert "is gone (404 task_not_found" in caplog.text and h.run.problems == ()


def test_a_task_of_this_run_that_vanishes_is_a_problem_not_a_second_payment():
    h = harness(["@aa"], {"aa": 5}, api_options={"vanished": ["t1"]})
    assert h.finish_all() == []
    assert h.api.calls == [(0, "POST", "aa"), (1, "GET", "t1")]
    assert h.run.problems == ("task t1 (https://www.tiktok.com/@aa) not found",)


def test_a_failed_task_is_handed_over_like_a_completed_one():
    h = harness(["@aa", "@bb"], {"aa": 1, "bb": 2})
    h.api.durations["aa"] = 1
    finished = []
    for task in h.lifecycle.finished_tasks():
        if task.task_id == "t1":
            h.api.tasks["t2"].status = "failed"
        finished.append((h.clock.now, task.task_id, task.data["task_status"], task.usage))
    assert finished == [
        (1, "t1", "completed", {"total_credits": 1}),
        (2, "t2", "failed", {"total_credits": 1}),
    ]


def test_two_kinds_share_max_active_tasks_and_each_waits_for_its_own_stream():
    h = harness(
        ["@aa", "@bb"], {"aa": 5, "bb": 1, "cats": 1}, max_active_tasks=2, searches=["cats"]
    )
    profiles = [(h.clock.now, f.task_id) for f in h.lifecycle.finished_tasks(PROFILES)]
    # The search finished at 2, while profiles were asked for: it waits, still saved.
    assert list(h.search_parent.stream_state["in_flight"]) == ["cats"]
    searches = [(h.clock.now, f.task_id) for f in h.lifecycle.finished_tasks(SEARCHES)]
    assert profiles == [(1, "t2"), (5, "t1")]
    assert searches == [(5, "t3")]  # handed over at once, no further poll
    assert h.api.calls == [
        (0, "POST", "aa"), (0, "POST", "bb"),
        (1, "GET", "t1"), (1, "GET", "t2"), (1, "POST", "cats"),
        (2, "GET", "t1"), (2, "GET", "t3"),
        (3, "GET", "t1"), (4, "GET", "t1"), (5, "GET", "t1"),
    ]  # fmt: skip
    assert h.search_parent.stream_state["in_flight"] == {}
    assert h.parent.stream_state["in_flight"] == {}


def test_asking_for_one_kind_keeps_the_others_running():
    # The search runs longer than every profile: asking for profiles ends without
    # waiting for it; asking for searches then polls it to the end.
    h = harness(["@aa"], {"aa": 1, "dogs": 4}, searches=["dogs"])
    assert [f.task_id for f in h.lifecycle.finished_tasks(PROFILES)] == ["t1"]
    assert h.clock.now == 1
    assert [(h.clock.now, f.task_id) for f in h.lifecycle.finished_tasks(SEARCHES)] == [(4, "t2")]
    assert [call for call in h.api.calls if call[2] == "t2"] == [
        (1, "GET", "t2"),
        (2, "GET", "t2"),
        (3, "GET", "t2"),
        (4, "GET", "t2"),
    ]


# ------------------------------------------------------------------------- budget
FIVE = ["@aa", "@bb", "@cc", "@dd", "@ee"]
TWO_SECONDS = dict.fromkeys(["aa", "bb", "cc", "dd", "ee"], 2)
PAGE = dict.fromkeys(["aa", "bb", "cc", "dd", "ee"], 0.0001)


def _posts(h: Harness) -> list[tuple[float, str]]:
    return [(when, subject) for when, method, subject in h.api.calls if method == "POST"]


def test_a_budget_stops_submits_at_the_cap_exactly(caplog):
    h = harness(FIVE, TWO_SECONDS, max_credits_per_run="0.0003", api_options={"costs": PAGE})
    with caplog.at_level(logging.INFO):
        finished = h.finish_all()
    # The first task's price is unknown: it runs alone. Then each running task counts
    # at 0.0001 (the most one cost): 0.0001 settled + 2 x 0.0001 running reach 0.0003.
    assert _posts(h) == [(0, "aa"), (2, "bb"), (2, "cc")]
    assert [task_id for _, task_id, _ in finished] == ["t1", "t2", "t3"]
    assert h.run.budget.settled == decimal.Decimal("0.0003")
    assert list(h.parent.stream_state["skipped"]) == [
        "https://www.tiktok.com/@dd",
        "https://www.tiktok.com/@ee",
    ]
    assert h.run.problems == ()  # not asked to fail
    assert h.run.budget.summary() == (
        "Budget: 2 request(s) not submitted, max_credits_per_run 0.0003 reached: 0.0003 "
        "credits settled + 0 estimated for 0 running task(s) >= the cap of 0.0003. Skipped "
        "profile: https://www.tiktok.com/@dd, https://www.tiktok.com/@ee. They are kept in "
        "the STATE and submitted first on the next run."
    )
    assert (
        "Budget: max_credits_per_run 0.0003 reached: 0.0001 credits settled + 0.0002 "
        "estimated for 2 running task(s) >= the cap of 0.0003; not submitting the 2 "
        "request(s) left (kept in the STATE for the next run)"
    ) in caplog.text

    # The next run submits the skipped ones first, and forgets them once submitted.
    again = harness(FIVE, TWO_SECONDS, state=h.parent.stream_state, max_active_tasks=5)
    again.finish_all()
    assert [subject for _, subject in _posts(again)] == ["dd", "ee", "aa", "bb", "cc"]
    assert "skipped" not in again.parent.stream_state


def test_a_failed_task_counts_at_what_it_would_have_cost():
    h = harness(FIVE, TWO_SECONDS, max_credits_per_run="0.0003", api_options={"costs": PAGE})
    h.api.costs["aa"] = 0
    real = h.api.__call__

    def waived(method, path, **kwargs):
        answer = real(method, path, **kwargs)
        if answer.get("usage") and answer["data"]["task_id"] == "t1":
            answer["usage"] = {"total_credits": 0, "waived": {"credits_saved": 0.0002}}
        return answer

    h.lifecycle.api = waived
    h.finish_all()
    # 0 settled; each running task is estimated at 0.0002: one more fits, not two.
    assert _posts(h) == [(0, "aa"), (2, "bb"), (2, "cc")]


def test_min_credits_balance_reads_the_balance_before_the_first_submit():
    api = {"costs": PAGE, "balance": 1.0002}
    h = harness(FIVE, TWO_SECONDS, min_credits_balance=1, api_options=api)
    h.finish_all()
    assert h.api.calls[0] == (0, "GET", "usage")
    assert _posts(h) == [(0, "aa"), (2, "bb")]
    assert h.run.budget.settled == decimal.Decimal("0.0002")
    unlimited = harness(FIVE, TWO_SECONDS, min_credits_balance=1,
                        api_options={"balance": "unlimited"})  # fmt: skip
    unlimited.finish_all()
    assert len(_posts(unlimited)) == 5


def test_a_run_over_budget_fails_only_when_asked():
    h = harness(FIVE, TWO_SECONDS, max_credits_per_run=0, fail_when_over_budget=True)
    assert h.finish_all() == []
    assert _posts(h) == []
    assert h.run.problems == ("budget reached, 5 request(s) not submitted (fail_when_over_budget)",)


# --------------------------------------------------------------- expiry while waiting
def test_a_task_that_ends_while_another_stream_syncs_is_read_before_it_expires(caplog):
    # The search ends at 5 and lives an hour; the profile scrape runs for two hours.
    found = [{"id": f"r{i}"} for i in range(5)]
    api = {"results": {"cats": found}, "lifetime": 3600}
    h = harness(
        ["@aa"], {"aa": 7200, "cats": 5}, searches=["cats"], api_options=api, task_timeout=9999
    )
    with caplog.at_level(logging.DEBUG):
        profiles = [(h.clock.now, f.task_id) for f in h.lifecycle.finished_tasks(PROFILES)]
    assert profiles == [(7201, "t1")]  # polled every 3 s
    # Its three pages were read at 5, the moment it ended, and never asked for again.
    assert [call for call in h.api.calls if call[2].startswith("t2")] == [
        *[(s, "GET", "t2") for s in range(1, 6)],
        (5, "GET", "t2@2"),
        (5, "GET", "t2@4"),
    ]
    assert "its 5 results were read now, before the task can expire" in caplog.text
    handed = []
    for search in h.lifecycle.finished_tasks(SEARCHES):
        # What its results stream reads while the task is handed over.
        assert search.spooled is not None
        handed.append((h.clock.now, list(h.run.spool.read(search.spooled))))
    assert handed == [(7201, found)]
    # Handed over, its file is gone; the run's folder goes with the run.
    assert not search.spooled.exists()
    h.run.spool.close()
