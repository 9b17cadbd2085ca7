"""The org's analytics limits, read once per run, and the job slots they allow.

`GET /api/v2/organizations/limits/namespaces/analytics` answers with the org's effective
limits. Genesys documents neither their values nor most of their names: the keys read here
are those users' code reads (`details.jobs.concurrent.access.max`,
`details.jobs.rate.per.second`) and the aggregate query sizes; where the org says nothing
our defaults apply, conservative ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from genesys_export.errors import ClientError
from genesys_export.http_client import Api

log = logging.getLogger(__name__)
LIMITS_PATH = "/api/v2/organizations/limits/namespaces/analytics"


@dataclass(frozen=True)
class AnalyticsLimits:
    """How big one aggregate query may be, and how many details jobs may run at once."""

    max_buckets: int = 1000  # interval / granularity per query
    max_cells: int = 100_000  # buckets x metrics x groups the answer may hold
    max_group_by: int = 10
    max_metrics: int = 50
    max_interval: timedelta = timedelta(days=31)  # the longest details job
    concurrent_jobs: int = 10  # details and user details jobs running at once
    jobs_per_second: float = 10.0  # job submissions per second


def read_limits(api: Api) -> AnalyticsLimits:
    """The org's analytics limits, or our defaults where the endpoint says nothing."""
    defaults = AnalyticsLimits()
    try:
        listing = api.get_json(LIMITS_PATH)
    except ClientError as exc:
        log.info("org limits not readable (%s); using our defaults", exc.status)
        return defaults
    values: dict[str, int | float] = {
        str(e.get("key")): e["value"]
        for e in listing.get("entities", [])
        if isinstance(e, dict) and isinstance(e.get("value"), int | float)
    }
    return AnalyticsLimits(
        max_buckets=int(values.get("aggregates.query.max.buckets", defaults.max_buckets)),
        max_cells=int(values.get("aggregates.query.max.cells", defaults.max_cells)),
        max_interval=timedelta(
            days=float(values.get("details.job.max.interval.days", defaults.max_interval.days))
        ),
        concurrent_jobs=max(
            1, int(values.get("details.jobs.concurrent.access.max", defaults.concurrent_jobs))
        ),
        jobs_per_second=float(values.get("details.jobs.rate.per.second", defaults.jobs_per_second))
        or defaults.jobs_per_second,
    )


class JobSlots:
    """The details-job limits, shared by every job of a run.

    At most `concurrent_jobs` jobs are between submit and delete at once (a job keeps its
    slot until its results are read and it is deleted), and submissions are spaced a little
    more than `1 / jobs_per_second` apart, so the org never refuses a job for either.
    """

    def __init__(self, limits: AnalyticsLimits) -> None:
        self._slots = threading.BoundedSemaphore(limits.concurrent_jobs)
        self._gap = 1.1 / limits.jobs_per_second  # a margin: clocks and networks jitter
        self._lock = threading.Lock()
        self._next = 0.0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._slots:
            yield

    def pace(self) -> None:
        """Wait for this submission's turn."""
        with self._lock:
            now = time.monotonic()
            turn = max(now, self._next)
            self._next = turn + self._gap
        if turn > now:
            time.sleep(turn - now)  # under a second: the org's pace, not a backoff
