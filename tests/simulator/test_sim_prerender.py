"""Serving speed: rendered conversations are kept and shared, `prerender` renders a job's
conversations ahead of time, and `stats.busy_seconds` measures the simulator's own time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from tests.simulator.conftest import CONVERSATION_JOBS

INTERVAL = "2024-04-29T00:00:00.000Z/2024-05-03T00:00:00.000Z"
START, END = datetime(2024, 4, 29, tzinfo=UTC), datetime(2024, 5, 3, tzinfo=UTC)
_CURSOR = re.compile(rb',"cursor":"[0-9a-f]+"')


def _raw_pages(h: Any, page_size: int = 50) -> list[bytes]:
    """Every results page of a fresh job over INTERVAL, as the bytes on the wire."""
    job_id = h.fulfilled(INTERVAL)
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"pageSize": page_size, **({"cursor": cursor} if cursor else {})}
        response = h.api("GET", f"{CONVERSATION_JOBS}/{job_id}/results", params=params)
        assert response.status_code == 200, response.text
        pages.append(response.content)
        cursor = response.json().get("cursor")
        if not cursor:
            return pages


def test_prerendered_pages_are_byte_identical(harness: Any) -> None:
    """A job on a prerendered simulator serves the same bytes as one on a simulator that
    renders on first read (same seed); only the cursors, opaque per job, differ."""
    with harness() as plain, harness() as ready:
        kept = ready.sim.prerender(START, END)
        expected = _raw_pages(plain)
        served = _raw_pages(ready)
        assert len(served) == len(expected) > 2
        assert [_CURSOR.sub(b"", page) for page in served] == [
            _CURSOR.sub(b"", page) for page in expected
        ]
        conversations = sum(page.count(b'"conversationId"') for page in served)
        assert kept >= conversations > 0


def test_prerendered_days_outlive_the_cache(harness: Any) -> None:
    """Prerendered conversations are rendered once and kept past `cached_days`: after
    other days went through the one-day cache, the same bytes are served; a day that was
    not prerendered is rendered again."""
    with harness(cached_days=1) as h:
        dataset = h.sim.dataset
        h.sim.prerender(START, END)
        kept = [r.raw for r in dataset.conversation_records(_ms(START), _ms(END))]
        other = (_ms(datetime(2024, 4, 20, tzinfo=UTC)), _ms(datetime(2024, 4, 21, tzinfo=UTC)))
        first = [r.raw for r in dataset.conversation_records(*other)]
        dataset.conversation_records(_ms(datetime(2024, 4, 10, tzinfo=UTC)), other[0] - 86_400_000)
        again = [r.raw for r in dataset.conversation_records(_ms(START), _ms(END))]
        assert again == kept and all(a is b for a, b in zip(again, kept, strict=True))
        rendered_again = [r.raw for r in dataset.conversation_records(*other)]
        assert rendered_again == first and rendered_again[0] is not first[0]


def test_rendering_is_shared_by_jobs_over_the_longest_interval(harness: Any) -> None:
    """By default the cache holds the days of a longest details job, so a second job over
    the same days serves the bytes the first one rendered."""
    with harness(max_job_interval_days=12) as h:  # 13 days cached
        dataset = h.sim.dataset
        start, end = _ms(datetime(2024, 4, 19, tzinfo=UTC)), _ms(datetime(2024, 5, 1, tzinfo=UTC))
        first = [r.raw for r in dataset.conversation_records(start, end)]
        second = [r.raw for r in dataset.conversation_records(start, end)]
        assert first and all(a is b for a, b in zip(first, second, strict=True))


def test_busy_seconds_grows_with_requests(harness: Any) -> None:
    """stats.busy_seconds adds up the time spent answering requests: it grows with each
    request and, requests being sequential, stays within the wall time they took."""
    with harness() as h:
        h.sim.prerender(START, END)  # not a request: not counted
        assert h.sim.stats.busy_seconds == 0.0
        began = time.perf_counter()
        job_id = h.fulfilled(INTERVAL)
        seen = [h.sim.stats.busy_seconds]
        for _ in range(3):
            response = h.api("GET", f"{CONVERSATION_JOBS}/{job_id}/results", params={"pageSize": 5})
            assert response.status_code == 200
            seen.append(h.sim.stats.busy_seconds)
        elapsed = time.perf_counter() - began
        assert 0 < seen[0] < seen[1] < seen[2] < seen[3] <= elapsed
        assert h.sim.stats.requests_total == 5  # token, submit, three pages


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)
