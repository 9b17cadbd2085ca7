"""The drop_conversations fault: one details job leaves a few conversations out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from genesys_export.simulator import FaultKind, FaultPlan
from tests.simulator.conftest import AGGREGATES, DAY1, DAY2

QUERY = {"granularity": "P1D", "groupBy": ["mediaType"], "metrics": ["nOffered"]}


def served_ids(h: Any, interval: str) -> list[str]:
    return [
        c["conversationId"]
        for page in h.pages(h.fulfilled(interval))
        for c in page.get("conversations", [])
    ]


def test_the_first_job_over_the_day_misses_k_conversations_of_that_day(harness: Any) -> None:
    """With day=, a job over another day is whole; the first job over that day leaves out
    the first K conversations that start and end in it; the next job over it is whole, and
    aggregates count every conversation all along."""
    with harness(faults="drop_conversations:n=3,day=2024-05-02") as h:
        before = h.api("POST", AGGREGATES, json={"interval": DAY2, **QUERY}).json()
        day1 = served_ids(h, DAY1)
        damaged = served_ids(h, DAY2)
        repaired = served_ids(h, DAY2)
        after = h.api("POST", AGGREGATES, json={"interval": DAY2, **QUERY}).json()

        start, end = datetime(2024, 5, 2, tzinfo=UTC), datetime(2024, 5, 3, tzinfo=UTC)
        truth = h.sim.dataset.conversation_records(
            int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        )
        inside = [
            r.conversation_id
            for r in truth
            if r.start_ms >= start.timestamp() * 1000
            and r.end_ms is not None
            and r.end_ms < end.timestamp() * 1000
        ]
        assert len(day1) == len(
            h.sim.dataset.conversations(datetime(2024, 5, 1, tzinfo=UTC), start)
        )
        assert repaired == [r.conversation_id for r in truth]
        assert damaged == [c for c in repaired if c not in inside[:3]]
        assert before == after
        assert h.sim.stats.faults_injected == {"drop_conversations": 1}


def test_without_a_day_the_first_job_loses_one(harness: Any) -> None:
    """Without day and n, the first job loses one conversation, the second none."""
    with harness(faults="drop_conversations") as h:
        first, second = served_ids(h, DAY1), served_ids(h, DAY1)
        assert len(first) == len(second) - 1 and set(first) < set(second)


def test_grammar_round_trips_and_checks_the_day() -> None:
    """The rule parses and describes itself back; a day that is no date is refused."""
    plan = FaultPlan.parse("drop_conversations:n=4,day=2024-05-08")
    assert plan.rules[0].kind is FaultKind.DROP_CONVERSATIONS
    assert (plan.rules[0].n, plan.rules[0].day) == (4, "2024-05-08")
    assert FaultPlan.parse(plan.describe()) == plan
    for bad in ("drop_conversations:day=2024-13-01", "drop_conversations:day=may"):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            FaultPlan.parse(bad)
