"""The request plan: what it chooses when the budget binds and when job latency binds, and
how it learns an org's latency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from genesys_export.intervals import Interval
from genesys_export.request_plan import (
    ASSUMED,
    Capacity,
    LatencyModel,
    fit_latency,
    plan_details,
)

START = datetime(2024, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def days(n: int) -> list[Interval]:
    return Interval(START, START + n * DAY).split(DAY)


def test_when_the_budget_binds_the_plan_asks_few_long_jobs() -> None:
    """31 days of 6,452 conversations a day at 150 requests a minute, jobs of 2 s: one job
    for the month, about the fewest requests (availability + 3 + 200 pages)."""
    fast = LatencyModel(2.0, 0.0, "7 jobs of earlier runs")
    plan = plan_details(days(31), [6452] * 31, Capacity(150, 4, 31 * DAY, 1000), fast)
    assert len(plan.jobs) <= 2
    assert plan.requests <= 205 + 3
    assert plan.binds == "request budget" and plan.gated


def test_when_job_latency_binds_the_plan_fills_the_slots() -> None:
    """30 days of 200 conversations a day, 10 s per day of job: ten 3-day jobs at once,
    about 30 s, however few requests one long job would need."""
    slow = LatencyModel(0.0, 10.0, "10 jobs of earlier runs")
    plan = plan_details(days(30), [200] * 30, Capacity(300, 10, 31 * DAY, 1000), slow)
    assert [job.interval.length for job in plan.jobs] == [3 * DAY] * 10
    assert plan.concurrency == 10
    assert plan.binds == "job latency" and not plan.gated
    assert 30 <= plan.seconds < 39


def test_jobs_cover_the_pieces_in_order_within_the_longest_job() -> None:
    pieces = days(75)
    plan = plan_details(pieces, None, Capacity(300, 1, 31 * DAY, 1000), ASSUMED)
    assert [p for job in plan.jobs for p in job.pieces] == pieces
    assert all(job.interval.length <= 31 * DAY for job in plan.jobs)
    assert all(
        job.interval == Interval(job.pieces[0].start, job.pieces[-1].end) for job in plan.jobs
    )
    assert len(plan.jobs) >= 3


def test_an_assumed_latency_polls_the_first_job_from_the_start() -> None:
    plan = plan_details(days(10), [200] * 10, Capacity(300, 4, 31 * DAY, 1000), ASSUMED)
    assert plan.jobs[0].first_poll == 0.0
    assert all(job.first_poll > 0 for job in plan.jobs[1:])


def test_an_observed_latency_polls_each_job_just_after_it() -> None:
    seen = LatencyModel(1.0, 2.0, "5 jobs of earlier runs")
    plan = plan_details(days(8), [200] * 8, Capacity(300, 4, 31 * DAY, 1000), seen)
    for job in plan.jobs:
        expected = seen.seconds(job.interval.length)
        assert expected < job.first_poll <= expected * 1.05


def test_latency_is_fitted_from_jobs_of_different_lengths() -> None:
    samples = [(d, 4.0 + 6.0 * d) for d in (1.0, 2.0, 3.0, 7.0)]
    model = fit_latency(samples)
    assert model.base == pytest.approx(4.0) and model.per_day == pytest.approx(6.0)
    assert model.observed and model.source == "4 jobs of earlier runs"


def test_jobs_of_one_length_scale_the_assumed_shape_to_what_they_took() -> None:
    model = fit_latency([(3.0, 30.0)] * 5)
    assert model.seconds(3 * DAY) == pytest.approx(30.0)
    assert model.per_day / model.base == pytest.approx(ASSUMED.per_day / ASSUMED.base)


def test_no_history_means_the_assumed_latency() -> None:
    assert fit_latency([]) == ASSUMED and not ASSUMED.observed
