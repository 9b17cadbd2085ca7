"""Conversation aggregates query and the limits endpoints."""

from __future__ import annotations

from collections import Counter
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


WEEK = "2024-04-27T00:00:00.000Z/2024-05-04T00:00:00.000Z"
WEEK_START, WEEK_END = datetime(2024, 4, 27, tzinfo=UTC), datetime(2024, 5, 4, tzinfo=UTC)


def _started_in_week(h: Any) -> list[dict[str, Any]]:
    """The dataset's conversations whose conversationStart is inside WEEK."""
    return [
        c
        for c in h.sim.dataset.conversations(WEEK_START, WEEK_END)
        if "2024-04-27" <= c["conversationStart"] < "2024-05-04"
    ]


def test_n_conversations_per_day_is_the_conversations_started_that_day(
    harness: Any, contract: Any
) -> None:
    """The volume probe (P1D, nConversations, no groupBy) counts each conversation once, on
    the UTC day of its conversationStart, up to the watermark; the week's total is what a
    details job over the week returns with conversationStart inside the week."""
    with harness() as h:
        query = {"interval": WEEK, "granularity": "P1D", "metrics": ["nConversations"]}
        response = h.api("POST", AGGREGATES, json=query)
        assert response.status_code == 200, response.text
        body = response.json()
        contract.validate(
            "conversation-aggregates.json", "ConversationAggregateQueryResponse", body
        )
        [result] = body["results"]
        assert result["group"] == {}
        served = {}
        for bucket in result["data"]:
            [metric] = bucket["metrics"]
            assert metric["metric"] == "nConversations" and set(metric["stats"]) == {"count"}
            served[bucket["interval"][:10]] = metric["stats"]["count"]
        expected = Counter(c["conversationStart"][:10] for c in _started_in_week(h))
        assert served == dict(expected)
        # Seven days, the last cut at the watermark (2024-05-03 12:00): its count is lower.
        assert sorted(served) == [f"2024-04-{d}" for d in (27, 28, 29, 30)] + [
            f"2024-05-0{d}" for d in (1, 2, 3)
        ]
        assert 0 < served["2024-05-03"] < served["2024-05-02"]

        job_id = h.fulfilled(WEEK)
        details = [c for page in h.pages(job_id, page_size=1000) for c in page["conversations"]]
        inside = [c for c in details if "2024-04-27" <= c["conversationStart"] < "2024-05-04"]
        assert len(details) > len(inside)  # some started the day before and ran past midnight
        assert sum(served.values()) == len(inside)


def test_n_conversations_groups_and_filters_by_the_first_session(harness: Any) -> None:
    """With groupBy and filter, a conversation counts in the group of its first session
    (first participant's first session), and the async job serves the same answer."""
    with harness() as h:
        query = {
            "interval": WEEK,
            "granularity": "P7D",
            "groupBy": ["mediaType"],
            "metrics": ["nConversations", "nOffered"],
        }
        body = h.api("POST", AGGREGATES, json=query).json()
        served = {
            r["group"]["mediaType"]: m["stats"]["count"]
            for r in body["results"]
            for d in r["data"]
            for m in d["metrics"]
            if m["metric"] == "nConversations"
        }
        first_media = Counter(
            c["participants"][0]["sessions"][0]["mediaType"] for c in _started_in_week(h)
        )
        assert served == dict(first_media)
        voice_only = {
            **query,
            "filter": {"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
        }
        voice = h.api("POST", AGGREGATES, json=voice_only).json()["results"]
        assert [r["group"] for r in voice] == [{"mediaType": "voice"}]
        counts = {m["metric"]: m["stats"]["count"] for m in voice[0]["data"][0]["metrics"]}
        assert counts["nConversations"] == first_media["voice"]

        job = h.api("POST", JOBS, json=query).json()["jobId"]
        h.clock.advance(h.sim.job_config.latency)
        assert h.api("GET", f"{JOBS}/{job}/results").json()["results"] == body["results"]


def test_n_conversations_obeys_the_answer_limits(harness: Any) -> None:
    """Too many buckets or cells refuse nConversations queries like any other."""
    with harness(max_aggregate_buckets=100, max_aggregate_cells=50) as h:
        too_fine = {"interval": WEEK, "granularity": "PT1H", "metrics": ["nConversations"]}
        refused = h.api("POST", AGGREGATES, json=too_fine)
        assert refused.status_code == 400 and "buckets" in refused.json()["message"]
        too_big = {**too_fine, "granularity": "PT6H", "groupBy": ["conversationId"]}
        refused = h.api("POST", AGGREGATES, json=too_big)
        assert refused.status_code == 400
        assert refused.json()["code"] == "response.entity.too.large"


def test_published_max_interval_is_the_one_enforced(harness: Any) -> None:
    """details.job.max.interval.days follows max_job_interval_days, and a details job
    longer than it is refused."""
    with harness(max_job_interval_days=5) as h:
        body = h.api("GET", f"{LIMITS}/analytics").json()
        values = {e["key"]: e["value"] for e in body["entities"]}
        assert values["details.job.max.interval.days"] == 5
        six_days = "2024-04-27T00:00:00.000Z/2024-05-03T00:00:00.000Z"
        refused = h.api(
            "POST", "/api/v2/analytics/conversations/details/jobs", json={"interval": six_days}
        )
        assert refused.status_code == 400 and "5 days" in refused.json()["message"]
