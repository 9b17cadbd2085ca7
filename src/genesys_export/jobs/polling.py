"""Waiting for a job: polls that back off, learn the run's job latency, and hear siblings.

Every status poll costs a request from the org's budget. Polling is not retrying: it is
an explicit loop over JobState with backoff, jitter and a deadline on the API's injected
clock, ending in JobTimedOut rather than a silent give-up. Two things keep it cheap:

* once jobs of a run have finished, the first poll of a job as long as theirs waits about
  as long as they took, so a job usually costs one status request;
* when a job finishes, every waiting job no longer than it that has been running as long
  is polled at once, instead of at its next rung of the ladder: jobs submitted together
  finish together, and the run sees them all done within a moment of the first.
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from genesys_export.errors import JobExpired, JobFailed, JobTimedOut
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import Api
from genesys_export.request_plan import Ladder

log = logging.getLogger(__name__)
STEP = 0.25  # seconds between looks at what other jobs did, while waiting to poll


class JobState(StrEnum):
    QUEUED = "QUEUED"
    PENDING = "PENDING"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    FULFILLED = "FULFILLED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self not in (JobState.QUEUED, JobState.PENDING)


class JobLatency:
    """How long this run's jobs took on the server (completionDate - submissionDate), and
    how long each was (days of interval)."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=32)  # (days, seconds)
        self._lock = threading.Lock()
        self.finished = 0  # jobs observed so far: a waiting job looks for new ones

    def observe(self, status: dict[str, Any], days: float = 0.0) -> None:
        seconds = server_latency(status)
        if seconds is None:
            return
        with self._lock:
            self._samples.append((days, seconds))
            self.finished += 1

    def expected(self, days: float = 0.0) -> float | None:
        """The median latency of finished jobs about as long as one of `days`."""
        with self._lock:
            like = [s for d, s in self._samples if _alike(d, days)]
        return statistics.median(like) if like else None

    def sibling_done(self, days: float, running: float, seen: int) -> bool:
        """Has a job at least three quarters as long as `days`, finished after the first
        `seen`, taken (scaled to this one's length) no longer than this one has run?"""
        with self._lock:
            fresh = list(self._samples)[max(0, len(self._samples) - (self.finished - seen)) :]
        return any(
            d >= days * 0.75 and s * max(1.0, days / d if d else 1.0) * 0.95 <= running
            for d, s in fresh
        )


def _alike(a: float, b: float) -> bool:
    return (a == b == 0.0) or (a > 0 and b > 0 and 0.8 <= a / b <= 1.25)


def server_latency(status: dict[str, Any]) -> float | None:
    """Seconds from the job's submission to its completion, as the server tells them."""
    try:
        start = _instant(status["submissionDate"])
        end = _instant(status["completionDate"])
    except (KeyError, TypeError, ValueError):
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class Polling:
    """How often to ask a job how it is doing: backoff with jitter, learning as it goes."""

    first: float = Ladder.first  # the ladder's rungs (see request_plan.Ladder)
    factor: float = Ladder.factor
    cap: float = Ladder.cap
    grow: float = Ladder.grow
    jitter: float = 0.2  # +- fraction of each wait
    deadline: float = 3600.0
    latency: JobLatency = field(default_factory=JobLatency, compare=False)

    @property
    def ladder(self) -> Ladder:
        return Ladder(self.first, self.factor, self.cap, self.grow)

    def first_wait(self, rng: random.Random, days: float = 0.0, planned: float = 0.0) -> float:
        """Just after the typical latency of the run's jobs this long; else what the
        request plan says (`planned`); else the start of the backoff ladder."""
        expected = self.latency.expected(days)
        if expected is not None and expected >= self.first:
            return expected * rng.uniform(1.05, 1.12)
        if planned > self.first:  # already past the plan's margin: spread it a little
            return planned * rng.uniform(1.0, 1.05)
        return self.first * (1 + rng.uniform(-self.jitter, self.jitter))


def wait_for_job(
    api: Api,
    path: str,
    job_id: str,
    *,
    polling: Polling,
    events: Events,
    rng: random.Random,
    days: float = 0.0,
    first_poll: float = 0.0,
    turn: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Poll `path` until the job is terminal; FULFILLED returns its status, others raise.

    `first_poll` is when the request plan would poll first (0: no plan). The first poll
    waits for the job's `turn` too (the run wants its results only once the jobs before it
    are read). Later waits grow with the time waited so far, so a job that takes a minute
    costs a handful of polls, not one every few seconds.
    """
    started = api.clock()
    seen = polling.latency.finished
    _pause(api, polling, polling.first_wait(rng, days, first_poll), days, started, seen)
    turn()
    wait, state = polling.first, None
    while True:
        seen = polling.latency.finished
        status: dict[str, Any] = api.get_json(path)
        new_state = JobState(status.get("state", "PENDING"))
        if new_state != state:
            state = new_state
            log.info("job %s is %s", job_id, state)
            events(AuditEvent.JOB_STATE, job_id=job_id, state=str(state))
        if state is JobState.FULFILLED:
            polling.latency.observe(status, days)
            return status
        if state.is_terminal:
            _raise_for_state(state, job_id, status)
        if api.clock() - started + wait > polling.deadline:
            raise JobTimedOut(
                f"not finished after {polling.deadline:.0f} s (last state {state}); "
                "raise the poll deadline or use smaller chunks",
                job_id=job_id,
            )
        now, wait = polling.ladder.step(wait, api.clock() - started)
        jittered = now * (1 + rng.uniform(-polling.jitter, polling.jitter))
        _pause(api, polling, jittered, days, started, seen)


def _pause(
    api: Api, polling: Polling, seconds: float, days: float, started: float, seen: int
) -> None:
    """Sleep `seconds`, or less when a sibling job (see JobLatency.sibling_done) finishes."""
    until = api.clock() + seconds
    while (left := until - api.clock()) > 0:
        api.sleep(min(left, STEP))
        if polling.latency.sibling_done(days, api.clock() - started, seen):
            return


def _raise_for_state(state: JobState, job_id: str, status: dict[str, Any]) -> None:
    if state is JobState.EXPIRED:
        raise JobExpired("results expired before they were read", job_id=job_id)
    message = status.get("errorMessage") or f"job ended {state}"
    raise JobFailed(f"ended {state}: {message}", job_id=job_id, server_message=message)
