"""The request plan of a details export: how many jobs, how long each, how many at once.

What users wait for is requests (the org's budget, about 300 a minute) and Genesys' job
latency, not our transform. A details job costs a submit, its status polls, one request
per results page and a delete; its latency grows with its interval. So:

* when the budget binds (many result pages), fewer and longer jobs (up to the API's
  maximum job interval) save their fixed requests;
* when job latency binds (few pages, slow jobs), more jobs run side by side, up to the
  org's concurrent-job limit.

`plan_details` tries every split of the interval's commit pieces (UTC days by default)
into consecutive, equally long jobs, estimates each by replaying it on a small model of
the run (jobs in slots, pages read at the budget's pace), and keeps the fastest, with
the fewest requests among those within 3% of it. Job boundaries fall on piece
boundaries, so a crash loses at most one piece and a rerun resumes with a job for the
rest.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from genesys_export.chunks import PlannedJob
from genesys_export.intervals import Interval

DAY = timedelta(days=1)
NEAR_FASTEST = 1.03  # a plan this close to the fastest competes on requests alone


@dataclass(frozen=True)
class LatencyModel:
    """Seconds from a job's submission to its results: `base + per_day x days`."""

    base: float
    per_day: float
    source: str  # "assumed", or how many jobs of earlier runs it was fitted on

    def seconds(self, length: timedelta) -> float:
        return self.base + self.per_day * (length / DAY)

    @property
    def observed(self) -> bool:
        return self.source != ASSUMED.source


# Genesys documents no job latency; until a destination's audit trail shows how long this
# org's jobs take, the plan assumes this.
ASSUMED = LatencyModel(base=2.0, per_day=3.0, source="assumed")


def fit_latency(
    samples: Sequence[tuple[float, float]], prior: LatencyModel = ASSUMED
) -> LatencyModel:
    """A model from (days, seconds) of finished jobs: least squares when their lengths
    differ enough, else the prior's shape scaled to their median."""
    usable = [(d, s) for d, s in samples if d > 0 and s >= 0]
    if not usable:
        return prior
    days = [d for d, _ in usable]
    secs = [s for _, s in usable]
    source = f"{len(usable)} jobs of earlier runs"
    if max(days) >= 1.5 * min(days) and len(usable) >= 3:
        slope, intercept = statistics.linear_regression(days, secs)
        if slope >= 0 and intercept >= 0:
            return LatencyModel(intercept, slope, source)
    mid_days, mid_secs = statistics.median(days), statistics.median(secs)
    scale = mid_secs / max(prior.seconds(mid_days * DAY), 1e-9)
    return LatencyModel(prior.base * scale, prior.per_day * scale, source)


@dataclass(frozen=True)
class Ladder:
    """When to ask a job again: rungs that rise by `factor` up to `cap`, and a wait never
    shorter than `grow` of the time waited so far. Runs poll by it (jobs.polling) and the
    plan counts their polls by it."""

    first: float = 0.25
    factor: float = 1.4
    cap: float = 10.0
    grow: float = 0.25

    def step(self, rung: float, waited: float) -> tuple[float, float]:
        """The wait after `waited` s on rung `rung`, and the next rung."""
        wait = min(self.cap, max(rung, self.grow * waited))
        return wait, min(self.cap, wait * self.factor)


@dataclass(frozen=True)
class Capacity:
    """What the org allows a run: its request budget, job slots and longest job."""

    budget_per_minute: int
    job_slots: int
    max_job_interval: timedelta
    page_size: int
    ladder: Ladder = Ladder()

    @property
    def rate(self) -> float:
        """Requests per second the run's budget sends (budget.RequestBudget's pace)."""
        burst = max(1.0, self.budget_per_minute / 30)
        return max(self.budget_per_minute - burst, 1.0) / 60.0

    def first_poll_of(self, model: LatencyModel, length: timedelta) -> float:
        """When to poll a job first: just after the latency this org's jobs showed, or
        half the assumed one (an assumption may be far off either way)."""
        seconds = model.seconds(length)
        return seconds * 1.03 if model.observed else max(self.ladder.first, seconds / 2)

    def polls(self, latency: float, *, learned: bool) -> tuple[int, float]:
        """Status requests until a job of `latency` s is seen done, and when it is seen.

        With a learned latency the first poll waits about that long; else it waits half of
        the planned latency, and later waits grow with the time waited (jobs.polling).
        """
        if learned:
            return 1, latency * 1.08
        waited, rung, polls = max(self.ladder.first, latency / 2), self.ladder.first, 1
        while waited < latency:
            wait, rung = self.ladder.step(rung, waited)
            waited += wait
            polls += 1
        return polls, waited


@dataclass(frozen=True)
class DetailsPlan:
    """The jobs of a details export, and what they are expected to cost."""

    jobs: tuple[PlannedJob, ...]
    concurrency: int
    requests: int
    seconds: float
    binds: str  # "request budget" or "job latency"
    latency: LatencyModel
    volume_known: bool

    @property
    def gated(self) -> bool:
        """Jobs are polled in turn (see jobs.lifecycle.stream_job) when the budget binds;
        when latency binds, each is polled and read as soon as it is done."""
        return self.binds == "request budget"

    @property
    def pieces(self) -> int:
        return sum(len(job.pieces) for job in self.jobs)


def plan_details(
    pieces: Sequence[Interval],
    volumes: Sequence[float] | None,
    capacity: Capacity,
    latency: LatencyModel,
    *,
    fixed_requests: int = 0,
) -> DetailsPlan:
    """The fastest split of `pieces` into jobs (fewest requests among near-fastest).

    `volumes` are the expected results per piece (conversations); None when unknown, which
    counts one results page per job. `fixed_requests` are the run's own (availability,
    limits, the volume probe).
    """
    if not pieces:
        return DetailsPlan(
            (), 1, fixed_requests, 0.0, "request budget", latency, volumes is not None
        )
    candidates = []
    for count in _job_counts(_fewest_jobs(pieces, capacity.max_job_interval), len(pieces)):
        groups = _equal_groups(len(pieces), count)
        spans = [Interval(pieces[a].start, pieces[b - 1].end) for a, b in groups]
        jobs = tuple(
            PlannedJob(span, tuple(pieces[a:b]), capacity.first_poll_of(latency, span.length))
            for span, (a, b) in zip(spans, groups, strict=True)
        )
        if any(job.interval.length > capacity.max_job_interval for job in jobs):
            continue
        loads = [sum(volumes[a:b]) if volumes is not None else None for a, b in groups]
        plan = _estimate(jobs, loads, capacity, latency, fixed_requests, volumes, gated=True)
        if not plan.gated:  # latency binds: every job is polled and read when it is done
            plan = _estimate(jobs, loads, capacity, latency, fixed_requests, volumes, gated=False)
        candidates.append(plan)
    fastest = min(c.seconds for c in candidates)
    near = [c for c in candidates if c.seconds <= fastest * NEAR_FASTEST]
    chosen = min(near, key=lambda c: (c.requests, c.seconds))
    if not latency.observed:
        # An assumed latency may be far off: the first job climbs the polling ladder from
        # its start, and when it is done, the others (waiting half the assumed latency, or
        # their turn) are asked at once (jobs.polling: siblings).
        first = replace(chosen.jobs[0], first_poll=0.0)
        chosen = replace(chosen, jobs=(first, *chosen.jobs[1:]))
    return chosen


def _fewest_jobs(pieces: Sequence[Interval], longest: timedelta) -> int:
    """Jobs needed when each takes as many consecutive pieces as fit in `longest`."""
    jobs, start = 1, pieces[0].start
    for piece in pieces:
        if piece.end - start > longest:
            jobs, start = jobs + 1, piece.start
    return jobs


def _job_counts(fewest: int, most: int) -> list[int]:
    """Every job count up to 200 more than the fewest, then a few per doubling."""
    counts = list(range(fewest, min(most, fewest + 200) + 1))
    while counts[-1] < most:
        counts.append(min(most, int(counts[-1] * 1.25)))
    return counts


def _equal_groups(n: int, count: int) -> list[tuple[int, int]]:
    """`n` pieces in `count` consecutive groups whose sizes differ by at most one."""
    edges = [round(i * n / count) for i in range(count + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _estimate(
    jobs: tuple[PlannedJob, ...],
    loads: Sequence[float | None],
    capacity: Capacity,
    latency: LatencyModel,
    fixed: int,
    volumes: Sequence[float] | None,
    *,
    gated: bool,
) -> DetailsPlan:
    """Replay the plan on a model of the run: jobs start as slots free up; a job is polled
    only from its turn (once the jobs before it are read), so a job that finished while
    others were read costs one poll; its pages are read, one job after another, at the
    budget's pace, and its slot frees when they are. The run ends at the later of the last
    read and all requests at the budget's pace."""
    rate = capacity.rate
    concurrency = max(1, min(capacity.job_slots, len(jobs)))
    slots = [fixed / rate] * concurrency
    reader = fixed / rate
    requests = fixed
    waiting = 0.0  # time the reader spent idle, waiting for a job
    for job, load in zip(jobs, loads, strict=True):
        start = min(slots)
        slots.remove(start)
        seconds = latency.seconds(job.interval.length)
        polls, seen = capacity.polls(seconds, learned=latency.observed)
        if gated and reader >= start + seen:  # done before its turn: one poll at the turn
            polls, seen = 1, reader - start
        elif gated and reader > start and not latency.observed:  # no rungs before the turn
            polls -= capacity.polls(reader - start, learned=False)[0] - 1
        pages = max(1, math.ceil(load / capacity.page_size)) if load is not None else 1
        requests += 2 + polls + pages
        ready = start + seen
        waiting += max(0.0, ready - reader)
        reader = max(ready, reader) + (pages + 1) / rate
        slots.append(reader)
    seconds = max(reader, requests / rate)
    binds = "job latency" if waiting > seconds / 2 else "request budget"
    known = volumes is not None
    return DetailsPlan(jobs, concurrency, requests, seconds, binds, latency, known)
