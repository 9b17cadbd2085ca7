"""Fault injection and the per-token budget."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from genesys_export.simulator import FaultKind, FaultPlan, FaultRule
from tests.simulator.conftest import CONVERSATION_JOBS, EXPORTS

AVAILABILITY = CONVERSATION_JOBS + "/availability"


def test_grammar_round_trips_and_names_mistakes() -> None:
    """parse() reads every rule kind, describe() writes it back, errors say what is wrong."""
    spec = (
        "429:every=10,retry_after=2;5xx:burst=2,status=504;drop:every=9,path=/results;"
        "revoke:after=20;fail_job:n=2;expire;short_pages;slow_jobs:seconds=5;slow_export:seconds=2;"
        "export_fail;download_drop;repeat_cursor;429:burst=1,scope=all"
    )
    plan = FaultPlan.parse(spec)
    assert [rule.kind for rule in plan.rules][:3] == [
        FaultKind.TOO_MANY_REQUESTS,
        FaultKind.SERVER_ERROR,
        FaultKind.DROP,
    ]
    assert FaultPlan.parse(plan.describe()) == plan
    assert FaultPlan(rules=[FaultRule(FaultKind.EXPIRE)]).rules[0].n == 1
    assert FaultPlan.parse("") == FaultPlan()
    for bad, text in (
        ("teapot", "unknown fault kind"),
        ("429", "every=N or burst=N"),
        ("429:every=2,colour=red", "colour"),
        ("5xx:every=2,status=418", "status"),
        ("slow_jobs", "seconds"),
        ("429:every=x", "every"),
    ):
        with pytest.raises(ValueError, match=text):
            FaultPlan.parse(bad)


def test_every_nth_request_is_429_with_retry_after(harness: Any, contract: Any) -> None:
    """429:every=3 answers the 3rd and 6th API request with Retry-After; tokens are immune."""
    with harness(faults="429:every=3,retry_after=7") as h:
        statuses = [h.api("GET", AVAILABILITY).status_code for _ in range(6)]
        assert statuses == [200, 200, 429, 200, 200, 429]
        refused = h.api("GET", AVAILABILITY)  # the 7th passes; fetch a 429 body again
        assert refused.status_code == 200
        h.api("GET", AVAILABILITY)
        limited = h.api("GET", AVAILABILITY)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "7"
        body = limited.json()
        contract.validate("errors.json", "ErrorBody", body)
        assert body["code"] == "too.many.requests"
        assert h.sim.stats.too_many_requests == 3
        assert h.sim.stats.tokens_issued == 1  # the token request was not counted


def test_burst_and_server_errors(harness: Any, contract: Any) -> None:
    """5xx:burst=2,status=504 fails the first two API calls with an ErrorBody."""
    with harness(faults="5xx:burst=2,status=504;429:burst=1,after=3") as h:
        statuses = [h.api("GET", AVAILABILITY).status_code for _ in range(5)]
        assert statuses == [504, 504, 200, 429, 200]
        assert h.sim.stats.server_errors == 2


def test_scope_all_hits_the_token_endpoint(harness: Any) -> None:
    """With scope=all the token endpoint is counted and faulted too."""
    with harness(faults="5xx:burst=1,scope=all") as h:
        url = h.running.login_url + "/oauth/token"
        form = {"grant_type": "client_credentials"}
        assert h.client.post(url, auth=("sim-client", "sim-secret"), data=form).status_code == 503
        assert h.client.post(url, auth=("sim-client", "sim-secret"), data=form).status_code == 200


def test_drop_closes_the_connection_unanswered(harness: Any) -> None:
    """drop:every=2 makes every second API request fail at the transport level."""
    with harness(faults="drop:every=2") as h:
        assert h.api("GET", AVAILABILITY).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            h.api("GET", AVAILABILITY)
        assert h.api("GET", AVAILABILITY).status_code == 200
        assert h.sim.stats.dropped == 1
        assert [r.status for r in h.sim.requests][-2:] == [0, 200]


def test_revoke_invalidates_old_tokens_only(harness: Any) -> None:
    """After N API calls old tokens get 401; a new token works."""
    with harness(faults="revoke:after=2") as h:
        old = h.token()
        assert h.api("GET", AVAILABILITY, token=old).status_code == 200
        assert h.api("GET", AVAILABILITY, token=old).status_code == 200
        assert h.api("GET", AVAILABILITY, token=old).status_code == 401
        assert h.api("GET", AVAILABILITY, token=h.token()).status_code == 200


def test_fail_job_and_expire(harness: Any, contract: Any) -> None:
    """fail_job: the first job ends FAILED with an errorMessage; expire: the next job turns
    EXPIRED when its results are first read (404), and the one after is normal."""
    with harness(faults="fail_job:n=1;expire:n=1") as h:
        failed, expiring, normal = h.fulfilled(), h.fulfilled(), h.fulfilled()
        status = h.api("GET", f"{CONVERSATION_JOBS}/{failed}").json()
        contract.validate("conversation-details-jobs.json", "AsyncQueryStatus", status)
        assert status["state"] == "FAILED" and status["errorMessage"]
        assert h.api("GET", f"{CONVERSATION_JOBS}/{failed}/results").status_code == 400
        assert h.api("GET", f"{CONVERSATION_JOBS}/{expiring}").json()["state"] == "FULFILLED"
        results = h.api("GET", f"{CONVERSATION_JOBS}/{expiring}/results")
        assert results.status_code == 404
        contract.validate("errors.json", "ErrorBody", results.json())
        assert h.api("GET", f"{CONVERSATION_JOBS}/{expiring}").json()["state"] == "EXPIRED"
        assert h.pages(normal)


def test_short_pages_and_repeat_cursor(harness: Any) -> None:
    """short_pages halves pages but keeps the cursor; repeat_cursor serves an old cursor."""
    with harness(faults="short_pages") as h:
        pages = h.pages(h.fulfilled(), page_size=10)
        assert all(len(page["conversations"]) < 10 for page in pages)
        served = [c["conversationId"] for page in pages for c in page["conversations"]]
        assert len(served) == len(set(served)) == len(h.sim.dataset.conversations(*_day1()))
    with harness(faults="repeat_cursor:n=1") as h:
        path = f"{CONVERSATION_JOBS}/{h.fulfilled()}/results"
        first = h.api("GET", path, params={"pageSize": 5}).json()
        second = h.api("GET", path, params={"pageSize": 5, "cursor": first["cursor"]}).json()
        assert second["cursor"] == first["cursor"]


def _day1() -> tuple[Any, Any]:
    from datetime import UTC, datetime

    return datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)


def test_slow_jobs_add_latency(harness: Any) -> None:
    """slow_jobs:seconds=5 keeps jobs PENDING five seconds longer."""
    with harness(faults="slow_jobs:seconds=5", job_latency=1.0) as h:
        job_id = h.submit()
        h.clock.advance(3.0)
        assert h.api("GET", f"{CONVERSATION_JOBS}/{job_id}").json()["state"] == "PENDING"
        h.clock.advance(3.0)
        assert h.api("GET", f"{CONVERSATION_JOBS}/{job_id}").json()["state"] == "FULFILLED"


def test_export_fail_and_download_drop(harness: Any, contract: Any) -> None:
    """export_fail: FAILED with FAILED_GETTING_DATA_FROM_SERVICE; download_drop: the body
    stops halfway under the full Content-Length."""
    with harness(faults="export_fail;download_drop", export_latency=0.0) as h:
        request = {
            "name": "n", "timeZone": "UTC", "exportFormat": "CSV",
            "interval": "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z", "period": "P1D",
            "viewType": "AGENT_PERFORMANCE_SUMMARY_VIEW", "filter": {}, "locale": "en-US",
        }  # fmt: skip
        failed = h.api("POST", EXPORTS, json=request).json()
        ok = h.api("POST", EXPORTS, json=request).json()
        listed = {e["id"]: e for e in h.api("GET", EXPORTS).json()["entities"]}
        contract.validate(
            "reporting-exports.json", "ReportingExportJobResponse", listed[failed["id"]]
        )
        assert listed[failed["id"]]["status"] == "FAILED"
        assert listed[failed["id"]]["exportErrorMessagesType"] == "FAILED_GETTING_DATA_FROM_SERVICE"
        assert "downloadUrl" not in listed[failed["id"]]
        download = listed[ok["id"]]["downloadUrl"].removeprefix(h.running.api_url)
        location = h.api("GET", download).headers["Location"]
        with pytest.raises(httpx.RemoteProtocolError):
            h.client.get(location)
        assert h.client.get(location).content == h.sim.dataset.report_csv(request)


def test_budget_refuses_with_retry_after_and_refills(harness: Any, contract: Any) -> None:
    """A token over its per-minute budget gets 429 + Retry-After until the bucket refills;
    stats count the 429s and the busiest 60 s window."""
    with harness(budget_per_minute=5) as h:
        statuses = [h.api("GET", AVAILABILITY).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        limited = h.api("GET", AVAILABILITY)
        contract.validate("errors.json", "ErrorBody", limited.json())
        assert limited.json()["limit"]["key"] == "client.credentials.token.rate.per.minute"
        assert limited.headers["Retry-After"] == "12"  # one unit every 60/5 seconds
        assert limited.headers["inin-ratelimit-count"] == "5"
        h.clock.advance(12.0)
        assert h.api("GET", AVAILABILITY).status_code == 200
        other = h.token()  # budgets are per token
        assert h.api("GET", AVAILABILITY, token=other).status_code == 200
        stats = h.sim.stats
        assert stats.too_many_requests == 2
        assert stats.max_requests_per_minute == 8
        assert stats.max_requests_per_minute_by_token[other] == 1
