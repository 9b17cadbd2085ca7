"""The async job lifecycle against the simulator: deadlines, resubmission, polling cost."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

import pytest

from genesys_export.errors import JobTimedOut
from genesys_export.http_client import Api
from genesys_export.jobs.lifecycle import CONVERSATION_DETAILS, run_job
from genesys_export.jobs.polling import Polling
from tests.conftest import settings_for

BODY = {"interval": "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z"}


def collect(api: Api, polling: Polling, events: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    return run_job(
        api,
        CONVERSATION_DETAILS,
        BODY,
        page_size=100,
        read_page=lambda raw: raw,
        cursor_of=lambda raw: json.loads(raw).get("cursor"),
        polling=polling,
        events=lambda name, **fields: events.append((name, fields)),
        max_attempts=3,
        rng=random.Random(1),
    )


def test_a_job_that_never_finishes_ends_in_a_clear_error_with_its_id(sim_factory) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    with (
        sim_factory(faults="slow_jobs:seconds=30") as (sim, running),
        Api(settings_for(running)) as api,
    ):
        with pytest.raises(JobTimedOut) as err:
            collect(api, Polling(first=0.05, cap=0.1, deadline=0.5), events)
    job_id = next(f["job_id"] for name, f in events if name == "job.submitted")
    assert err.value.job_id == job_id and job_id in str(err.value)
    assert err.value.exit_code == 4
    assert sim.stats.jobs_deleted == 1  # the abandoned job was released


def test_a_failed_job_is_resubmitted_and_its_results_read_once(sim_factory) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    with sim_factory(faults="fail_job:n=1") as (sim, running), Api(settings_for(running)) as api:
        pages = collect(api, Polling(first=0.02, cap=0.05), events)
    states = [f["state"] for name, f in events if name == "job.state"]
    assert "FAILED" in states and states[-1] == "FULFILLED"
    assert sim.stats.jobs_submitted == 2
    ids = [c["conversationId"] for p in pages for c in json.loads(p).get("conversations", [])]
    start, end = (
        datetime.fromisoformat(x.replace("Z", "+00:00")) for x in BODY["interval"].split("/")
    )
    truth = sim.dataset.conversations(start, end)
    assert sorted(ids) == sorted(c["conversationId"] for c in truth)


def test_polling_learns_the_job_latency_and_asks_once_per_job(sim_factory) -> None:
    """After the first jobs, a job costs one status request: the first poll waits about
    as long as the run's jobs have taken."""
    polling = Polling(first=0.02, cap=0.05)
    with sim_factory(job_latency=0.3) as (sim, running), Api(settings_for(running)) as api:
        for _ in range(4):
            collect(api, polling, [])
        before = sim.stats.requests_by_route.get(
            "GET /api/v2/analytics/conversations/details/jobs/{jobId}", 0
        )
        collect(api, polling, [])
        after = sim.stats.requests_by_route.get(
            "GET /api/v2/analytics/conversations/details/jobs/{jobId}", 0
        )
    assert polling.latency.expected(1.0) == pytest.approx(0.3, abs=0.05)
    assert after - before == 1
