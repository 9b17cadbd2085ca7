"""How many conversations each piece of an interval holds, asked before planning jobs.

One synchronous aggregate query per 1,000 days (`nConversations` by UTC day) tells the
request plan how many results pages each job will have: the difference between a plan
bound by the request budget and one bound by job latency. An org that refuses the query
(a missing permission) is planned without it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from genesys_export.errors import ClientError
from genesys_export.http_client import Api
from genesys_export.intervals import Interval, parse_interval
from genesys_export.jobs.aggregates import QUERY_PATH
from genesys_export.jobs.limits import AnalyticsLimits

log = logging.getLogger(__name__)
DAY = timedelta(days=1)
METRIC = "nConversations"


def conversation_volumes(
    api: Api, pieces: Sequence[Interval], limits: AnalyticsLimits
) -> tuple[list[float] | None, int]:
    """Expected conversations per piece (None when the org will not say), and requests."""
    if not pieces:
        return [], 0
    start = datetime.combine(pieces[0].start.date(), time(), UTC)
    end = datetime.combine((pieces[-1].end - timedelta(microseconds=1)).date(), time(), UTC) + DAY
    days: list[tuple[Interval, float]] = []
    requests = 0
    for part in Interval(start, end).split_from_start(DAY * max(1, limits.max_buckets)):
        body = {"interval": part.iso(), "granularity": "P1D", "metrics": [METRIC]}
        requests += 1
        try:
            answer = api.post_json(QUERY_PATH, body)
        except ClientError as exc:
            log.info("conversation counts not available (%s); planning without them", exc)
            return None, requests
        days.extend(_buckets(answer))
    return [_overlap(piece, days) for piece in pieces], requests


def _buckets(answer: dict[str, Any]) -> list[tuple[Interval, float]]:
    buckets = []
    for result in answer.get("results") or []:
        for bucket in result.get("data") or []:
            count = sum(
                float((m.get("stats") or {}).get("count") or 0)
                for m in bucket.get("metrics") or []
                if m.get("metric") == METRIC
            )
            buckets.append((parse_interval(str(bucket["interval"]), name="interval"), count))
    return buckets


def _overlap(piece: Interval, days: list[tuple[Interval, float]]) -> float:
    """The conversations of the days a piece overlaps, in proportion to the overlap."""
    total = 0.0
    for day, count in days:
        shared = min(piece.end, day.end) - max(piece.start, day.start)
        if shared > timedelta(0):
            total += count * (shared / day.length)
    return total
