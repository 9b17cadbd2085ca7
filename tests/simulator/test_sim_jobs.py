"""Conversation and user details jobs: lifecycle, paging, ground truth, validation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from tests.simulator.conftest import (
    AVAILABLE,
    CONVERSATION_JOBS,
    DAY1,
    DAY2,
    USER_JOBS,
)

AGGREGATE_JOBS = "/api/v2/analytics/conversations/aggregates/jobs"
D1, D2, D3 = (datetime(2024, 5, day, tzinfo=UTC) for day in (1, 2, 3))


def _state(h: Any, job_id: str, path: str = CONVERSATION_JOBS) -> dict[str, Any]:
    response = h.api("GET", f"{path}/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_job_moves_from_queued_to_fulfilled(harness: Any, contract: Any) -> None:
    """A job is QUEUED, then PENDING, then FULFILLED as the clock passes job_latency."""
    with harness(job_latency=10.0) as h:
        response = h.api("POST", CONVERSATION_JOBS, json={"interval": DAY1})
        assert response.status_code == 202
        contract.validate("conversation-details-jobs.json", "AsyncQueryResponse", response.json())
        job_id = response.json()["jobId"]
        seen = []
        for step in (0.0, 5.0, 5.0):
            h.clock.advance(step)
            status = _state(h, job_id)
            contract.validate("conversation-details-jobs.json", "AsyncQueryStatus", status)
            seen.append(status["state"])
        assert seen == ["QUEUED", "PENDING", "FULFILLED"]
        assert "completionDate" in status and "expirationDate" in status


def test_results_before_fulfilled_are_refused(harness: Any, contract: Any) -> None:
    """Reading results of a PENDING job is a 400 ErrorBody."""
    with harness() as h:
        job_id = h.submit()
        h.clock.advance(1.0)
        response = h.api("GET", f"{CONVERSATION_JOBS}/{job_id}/results")
        assert response.status_code == 400
        contract.validate("errors.json", "ErrorBody", response.json())
        assert "PENDING" in response.json()["message"]


def test_paging_returns_every_conversation_once_as_ground_truth(
    harness: Any, contract: Any
) -> None:
    """Cursor pages cover the job's conversations exactly once, in conversationStart
    order, and equal Dataset.conversations for the interval."""
    with harness() as h:
        pages = h.pages(h.fulfilled(DAY1), page_size=7)
        served = [conversation for page in pages for conversation in page["conversations"]]
        for page in pages:
            contract.validate(
                "conversation-details-jobs.json", "AnalyticsConversationAsyncQueryResponse", page
            )
            assert page["dataAvailabilityDate"] == "2024-05-03T12:00:00.000Z"
        assert all(len(page["conversations"]) == 7 for page in pages[:-1])
        assert "cursor" not in pages[-1]
        ids = [c["conversationId"] for c in served]
        assert len(ids) == len(set(ids))
        assert served == h.sim.dataset.conversations(D1, D2)
        starts = [c["conversationStart"] for c in served]
        assert starts == sorted(starts)


def test_conversation_spanning_midnight_is_in_both_days(harness: Any) -> None:
    """A conversation starting before and ending after midnight is returned for both days."""
    with harness() as h:
        day1 = {
            c["conversationId"]: c
            for page in h.pages(h.fulfilled(DAY1))
            for c in page["conversations"]
        }
        day2 = {
            c["conversationId"]: c
            for page in h.pages(h.fulfilled(DAY2))
            for c in page["conversations"]
        }
        spanning = [
            c
            for c in day1.values()
            if c["conversationStart"] < "2024-05-02" < c.get("conversationEnd", "9")
        ]
        assert spanning, "the generator always makes late conversations"
        assert all(c["conversationId"] in day2 for c in spanning)


def test_data_stops_at_the_availability_watermark(harness: Any) -> None:
    """Nothing starts after the watermark, and some conversations are still open at it."""
    with harness(conversations_per_day=300) as h:
        conversations = h.sim.dataset.conversations(D3, datetime(2024, 5, 4, tzinfo=UTC))
        assert conversations
        assert max(c["conversationStart"] for c in conversations) < "2024-05-03T12:00"
        open_ones = [c for c in conversations if "conversationEnd" not in c]
        assert open_ones
        availability = h.api("GET", CONVERSATION_JOBS + "/availability").json()
        assert availability == {"dataAvailabilityDate": "2024-05-03T12:00:00.000Z"}


def test_dataset_is_deterministic_and_metrics_are_consistent(harness: Any) -> None:
    """Same seed, same data; handle time is talk + hold + after-call work."""
    with harness() as h:
        first = h.sim.dataset.conversations(D1, D2)
    with harness() as h:
        assert h.sim.dataset.conversations(D1, D2) == first
    media = set()
    for conversation in first:
        for participant in conversation["participants"]:
            for session in participant["sessions"]:
                media.add(session["mediaType"])
                totals: dict[str, int] = {}
                for metric in session.get("metrics", []):
                    totals[metric["name"]] = totals.get(metric["name"], 0) + metric["value"]
                if "tHandle" in totals:
                    parts = ("tTalk", "tHeld", "tAcw", "tDialing", "tContacting")
                    assert totals["tHandle"] == sum(totals.get(name, 0) for name in parts)
    assert {"voice", "chat", "email", "message", "callback"} <= media


def test_page_size_limits_and_bad_cursor(harness: Any, contract: Any) -> None:
    """pageSize above page_size_max and unknown cursors are 400 invalid.query.param.value."""
    with harness(page_size_max=50) as h:
        job_id = h.fulfilled()
        for params in ({"pageSize": 51}, {"pageSize": 0}, {"cursor": "forged"}):
            response = h.api("GET", f"{CONVERSATION_JOBS}/{job_id}/results", params=params)
            assert response.status_code == 400
            contract.validate("errors.json", "ErrorBody", response.json())
            assert response.json()["code"] == "invalid.query.param.value"
        default = h.api("GET", f"{CONVERSATION_JOBS}/{job_id}/results").json()
        assert len(default["conversations"]) == 50  # default 100, capped by page_size_max


def test_delete_cancels_and_unknown_jobs_are_404(harness: Any) -> None:
    """DELETE answers 204 and the job reads CANCELLED; unknown ids are 404."""
    with harness() as h:
        job_id = h.submit()
        response = h.api("DELETE", f"{CONVERSATION_JOBS}/{job_id}")
        assert response.status_code == 204
        assert _state(h, job_id)["state"] == "CANCELLED"
        assert h.api("GET", f"{CONVERSATION_JOBS}/missing").status_code == 404
        assert h.api("GET", f"{USER_JOBS}/{job_id}").status_code == 404
        assert h.sim.stats.jobs_submitted == 1 and h.sim.stats.jobs_deleted == 1


def test_job_body_validation(harness: Any, contract: Any) -> None:
    """Missing, malformed or over-long intervals are refused with a clear 400."""
    with harness() as h:
        cases = [
            ({}, "bad.request", "interval is required"),
            ({"interval": "yesterday/today"}, "invalid.date", "ISO-8601"),
            ({"interval": "2024-01-01T00:00:00Z/2024-03-01T00:00:00Z"}, "bad.request", "31 days"),
            ({"interval": DAY1, "order": "sideways"}, "invalid.value", "sideways"),
            (
                {"interval": DAY1, "segmentFilters": [{"type": "and", "predicates": [
                    {"dimension": "colour", "value": "red"}]}]},
                "invalid.value",
                "colour",
            ),
        ]  # fmt: skip
        for body, code, text in cases:
            response = h.api("POST", CONVERSATION_JOBS, json=body)
            assert response.status_code == 400, body
            contract.validate("errors.json", "ErrorBody", response.json())
            assert response.json()["code"] == code
            assert text in response.json()["message"]


def test_filters_limit_the_conversations(harness: Any) -> None:
    """conversationFilters and segmentFilters select conversations like the API does."""
    with harness() as h:
        outbound = {
            "type": "and",
            "predicates": [
                {"type": "dimension", "dimension": "originatingDirection", "value": "outbound"}
            ],
        }
        email = {"type": "or", "predicates": [{"dimension": "mediaType", "value": "email"}]}
        pages = h.pages(h.fulfilled(conversationFilters=[outbound]))
        found = [c for page in pages for c in page.get("conversations", [])]
        assert found and all(c["originatingDirection"] == "outbound" for c in found)
        pages = h.pages(h.fulfilled(segmentFilters=[email]))
        found = [c for page in pages for c in page.get("conversations", [])]
        assert found
        assert all(
            any(s["mediaType"] == "email" for p in c["participants"] for s in p["sessions"])
            for c in found
        )  # fmt: skip


def test_user_details_job_serves_ground_truth(harness: Any, contract: Any) -> None:
    """User details pages validate, cover every user once and equal Dataset.user_details."""
    with harness() as h:
        pages = h.pages(h.fulfilled(DAY1, kind="users"), kind="users", page_size=3)
        for page in pages:
            contract.validate(
                "user-details-jobs.json", "AnalyticsUserDetailsAsyncQueryResponse", page
            )
        details = [detail for page in pages for detail in page["userDetails"]]
        assert details == h.sim.dataset.user_details(D1, D2)
        assert len(details) == 10
        for detail in details:
            presence = detail["primaryPresence"]
            assert all(a["endTime"] == b["startTime"] for a, b in itertools.pairwise(presence))
            assert presence[0]["startTime"] <= "2024-05-01T00:00:00.000Z"
            assert presence[-1]["endTime"] >= "2024-05-02T00:00:00.000Z"
        midnight = "2024-05-02T00:00:00.000Z"
        last_records = [detail["primaryPresence"][-1] for detail in details]
        spanning = [r for r in last_records if r["startTime"] < midnight < r["endTime"]]
        assert spanning, "late-shift users have records spanning midnight"
        assert h.api("GET", USER_JOBS + "/availability").json()["dataAvailabilityDate"]


def test_empty_interval_has_no_conversations_array(harness: Any, contract: Any) -> None:
    """A job after the watermark is FULFILLED with one page and no conversations."""
    with harness() as h:
        assert AVAILABLE.day == 3
        pages = h.pages(h.fulfilled("2024-05-05T00:00:00Z/2024-05-06T00:00:00Z"))
        assert len(pages) == 1 and "conversations" not in pages[0]
        contract.validate(
            "conversation-details-jobs.json", "AnalyticsConversationAsyncQueryResponse", pages[0]
        )


def test_served_shapes_hold_across_days_and_the_watermark(harness: Any, contract: Any) -> None:
    """Every conversation and user detail of three days, open ones included, validates
    against the strict contract schemas."""
    with harness(conversations_per_day=150) as h:
        conversations = h.sim.dataset.conversations(D1, datetime(2024, 5, 4, tzinfo=UTC))
        page = {"conversations": conversations, "dataAvailabilityDate": "2024-05-03T12:00:00Z"}
        contract.validate(
            "conversation-details-jobs.json", "AnalyticsConversationAsyncQueryResponse", page
        )
        users = {"userDetails": h.sim.dataset.user_details(D3, datetime(2024, 5, 4, tzinfo=UTC))}
        contract.validate("user-details-jobs.json", "AnalyticsUserDetailsAsyncQueryResponse", users)
        assert any("endTime" not in r for u in users["userDetails"] for r in u["primaryPresence"])
        purposes = {p["purpose"] for c in conversations for p in c["participants"]}
        assert purposes == {"customer", "external", "ivr", "acd", "agent"}
        assert any("attributes" in p for c in conversations for p in c["participants"])


def test_stats_count_routes_and_delete_has_no_body(harness: Any) -> None:
    """Stats group requests by route template; DELETE is a bare 204."""
    with harness() as h:
        job_id = h.fulfilled()
        pages = h.pages(job_id, page_size=20)
        deleted = h.api("DELETE", f"{CONVERSATION_JOBS}/{job_id}")
        assert deleted.status_code == 204 and deleted.content == b""
        routes = h.sim.stats.requests_by_route
        assert routes[f"GET {CONVERSATION_JOBS}/{{jobId}}/results"] == len(pages) > 1
        assert routes[f"DELETE {CONVERSATION_JOBS}/{{jobId}}"] == 1
        assert routes["POST /oauth/token"] == 1


def test_details_job_latency_grows_with_its_interval(harness: Any) -> None:
    """job_latency + job_latency_per_day * days: a 3-day job takes 7 s, a 12-hour job 2 s
    (both conversation and user details), completionDate agrees, aggregates jobs take
    job_latency."""
    three_days = "2024-05-01T00:00:00.000Z/2024-05-04T00:00:00.000Z"
    half_day = "2024-05-01T00:00:00.000Z/2024-05-01T12:00:00.000Z"
    with harness(job_latency=1.0, job_latency_per_day=2.0) as h:
        submitted = h.clock.now
        long_job, short_job = h.submit(three_days), h.submit(half_day, kind="users")
        body = {"interval": three_days, "metrics": ["nOffered"]}
        aggregates = h.api("POST", AGGREGATE_JOBS, json=body).json()["jobId"]

        def states(at: float) -> tuple[str, str, str]:
            h.clock.now = submitted + at
            return (
                _state(h, long_job)["state"],
                _state(h, short_job, USER_JOBS)["state"],
                _state(h, aggregates, AGGREGATE_JOBS)["state"],
            )

        assert states(0.1) == ("QUEUED", "QUEUED", "QUEUED")
        assert states(1.0) == ("QUEUED", "PENDING", "FULFILLED")
        assert states(1.9) == ("PENDING", "PENDING", "FULFILLED")
        assert states(2.0) == ("PENDING", "FULFILLED", "FULFILLED")
        assert states(6.9) == ("PENDING", "FULFILLED", "FULFILLED")
        assert states(7.0) == ("FULFILLED", "FULFILLED", "FULFILLED")
        for job_id, path, seconds in (
            (long_job, CONVERSATION_JOBS, 7.0),
            (short_job, USER_JOBS, 2.0),
        ):
            status = _state(h, job_id, path)
            taken = _instant(status["completionDate"]) - _instant(status["submissionDate"])
            assert taken.total_seconds() == seconds
        assert h.pages(h.fulfilled(three_days), page_size=1000)[0]["conversations"]


def _instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
