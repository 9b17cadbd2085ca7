"""Conversation aggregates query and the limits endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.simulator.conftest import AGGREGATES, DAY1

LIMITS = "/api/v2/organizations/limits/namespaces"
JOBS = "/api/v2/analytics/conversations/aggregates/jobs"


def test_aggregates_match_the_detail_metrics(harness: Any, contract: Any) -> None:
    """Counts and sums equal the session metrics of the same conversations, bucketed by
    emitDate, and the answer validates against the contract."""
    with harness() as h:
        query = {
            "interval": DAY1,
            "granularity": "PT6H",
            "groupBy": ["queueId", "mediaType"],
            "metrics": ["nOffered", "tHandle", "tTalk"],
        }
        response = h.api("POST", AGGREGATES, json=query)
        assert response.status_code == 200, response.text
        body = response.json()
        contract.validate(
            "conversation-aggregates.json", "ConversationAggregateQueryResponse", body
        )
        assert body == h.sim.dataset.aggregate(query)
        expected = _detail_totals(h, ("nOffered", "tHandle", "tTalk"))
        served: dict[str, list[float]] = {"nOffered": [0, 0], "tHandle": [0, 0], "tTalk": [0, 0]}
        for result in body["results"]:
            assert set(result["group"]) <= {"queueId", "mediaType"}
            for bucket in result["data"]:
                start, end = bucket["interval"].split("/")
                assert start.endswith(":00:00.000Z") and start < end
                for metric in bucket["metrics"]:
                    stats = metric["stats"]
                    served[metric["metric"]][0] += stats["count"]
                    served[metric["metric"]][1] += stats.get("sum", stats["count"])
        assert served == expected


def _detail_totals(h: Any, names: tuple[str, ...]) -> dict[str, list[float]]:
    totals: dict[str, list[float]] = {name: [0, 0] for name in names}
    start, end = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)
    for conversation in h.sim.dataset.conversations(start, end):
        for participant in conversation["participants"]:
            for session in participant["sessions"]:
                for metric in session.get("metrics", []):
                    inside = "2024-05-01" <= metric["emitDate"] < "2024-05-02"
                    if metric["name"] in totals and inside:
                        name, value = metric["name"], metric["value"]
                        totals[name][0] += value if name.startswith("n") else 1
                        totals[name][1] += value
    return totals


def test_filter_and_time_zone_buckets(harness: Any) -> None:
    """A dimension filter keeps only matching groups; P1D buckets follow the time zone."""
    with harness() as h:
        query = {
            "interval": "2024-05-01T04:00:00.000Z/2024-05-03T04:00:00.000Z",
            "granularity": "P1D",
            "timeZone": "America/New_York",
            "groupBy": ["mediaType"],
            "metrics": ["nOffered"],
            "filter": {
                "type": "or",
                "predicates": [
                    {"type": "dimension", "dimension": "mediaType", "value": "voice"},
                    {"dimension": "mediaType", "operator": "matches", "value": "email"},
                ],
            },
        }
        body = h.api("POST", AGGREGATES, json=query).json()
        assert {r["group"]["mediaType"] for r in body["results"]} <= {"voice", "email"}
        intervals = {d["interval"] for r in body["results"] for d in r["data"]}
        assert intervals <= {
            "2024-05-01T04:00:00.000Z/2024-05-02T04:00:00.000Z",
            "2024-05-02T04:00:00.000Z/2024-05-03T04:00:00.000Z",
        }


def test_aggregate_validation_errors(harness: Any, contract: Any) -> None:
    """Bad names, granularities and oversize answers are 400s that say what is wrong."""
    with harness(max_aggregate_buckets=100, max_aggregate_cells=50) as h:
        base = {"interval": DAY1, "metrics": ["nOffered"]}
        cases = [
            ({**base, "metrics": ["nOffered", "tBogus"]}, "invalid.value", "tBogus"),
            ({**base, "groupBy": ["queue"]}, "invalid.value", "queue"),
            ({"interval": DAY1}, "bad.request", "metrics"),
            ({**base, "interval": "2024-05-01"}, "bad.request", "interval"),
            ({**base, "granularity": "PT7H"}, "bad.request", "does not divide"),
            ({**base, "granularity": "PT1M"}, "bad.request", "buckets"),
            ({**base, "granularity": "often"}, "bad.request", "granularity"),
            ({**base, "timeZone": "Mars/Olympus"}, "bad.request", "Mars/Olympus"),
            (
                {**base, "granularity": "PT30M", "groupBy": ["queueId", "userId"],
                 "metrics": ["nOffered", "tHandle", "tTalk", "tAcw"]},
                "response.entity.too.large",
                "size limit",
            ),
            ({**base, "filter": {"type": "and", "predicates": [
                {"type": "metric", "metric": "tTalk"}]}}, "bad.request", "dimension predicates"),
        ]  # fmt: skip
        for body, code, text in cases:
            response = h.api("POST", AGGREGATES, json=body)
            assert response.status_code == 400, body
            error = response.json()
            contract.validate("errors.json", "ErrorBody", error)
            assert error["code"] == code, error
            assert text in error["message"]


def test_empty_aggregate_is_an_empty_object(harness: Any) -> None:
    """An interval without data answers {} (after the watermark nothing exists)."""
    with harness() as h:
        query = {"interval": "2024-06-01T00:00:00Z/2024-06-02T00:00:00Z", "metrics": ["nOffered"]}
        assert h.api("POST", AGGREGATES, json=query).json() == {}


def test_limits_endpoints(harness: Any, contract: Any) -> None:
    """Analytics and platform limits are listed as Limit entities."""
    with harness(budget_per_minute=240, max_aggregate_cells=999) as h:
        for path in (f"{LIMITS}/analytics", f"{LIMITS}/analytics/defaults"):
            body = h.api("GET", path).json()
            for entity in body["entities"]:
                contract.validate("errors.json", "Limit", entity)
            values = {e["key"]: e["value"] for e in body["entities"]}
            assert values == {
                "aggregates.query.max.buckets": 2000,
                "aggregates.query.max.cells": 999,
                "details.job.max.interval.days": 31,
                "details.jobs.concurrent.access.max": 10,
                "details.jobs.rate.per.second": 10,
            }
            assert set(body) == {"entities"}  # a LimitsEntityListing has nothing else
        platform = h.api("GET", f"{LIMITS}/platform.api").json()["entities"]
        assert platform == [
            {"key": "client.credentials.token.rate.per.minute", "namespace": "platform.api",
             "value": 240}
        ]  # fmt: skip
        assert h.api("GET", f"{LIMITS}/nothing.here").status_code == 404


def test_aggregates_job_pages_the_same_results(harness: Any, contract: Any) -> None:
    """The async aggregates job pages (pageSize from the body) add up to the sync answer."""
    with harness() as h:
        query = {"interval": DAY1, "groupBy": ["queueId"], "metrics": ["nOffered", "tHandle"]}
        submitted = h.api("POST", JOBS, json={**query, "pageSize": 2})
        assert submitted.status_code == 202
        job_id = submitted.json()["jobId"]
        h.clock.advance(h.sim.job_config.latency)
        status = h.api("GET", f"{JOBS}/{job_id}").json()
        contract.validate("conversation-aggregates.json", "AsyncQueryStatus", status)
        assert status["state"] == "FULFILLED"
        results, cursor = [], None
        while True:
            params = {"cursor": cursor} if cursor else {}
            page = h.api("GET", f"{JOBS}/{job_id}/results", params=params).json()
            contract.validate(
                "conversation-aggregates.json", "ConversationAsyncAggregateQueryResponse", page
            )
            assert len(page["results"]) <= 2
            results += page["results"]
            cursor = page.get("cursor")
            if not cursor:
                break
        assert results == h.sim.dataset.aggregate(query)["results"]
        bad = h.api("POST", JOBS, json={**query, "metrics": ["nBogus"]})
        assert bad.status_code == 400 and "nBogus" in bad.json()["message"]
        assert h.api("DELETE", f"{JOBS}/{job_id}").status_code == 204
