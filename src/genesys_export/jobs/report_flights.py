"""Reporting exports in flight together: one poll loop, in request order, inside the org's limit.

Up to `concurrency` exports are in flight at once. One listing request (newest first,
paging further only while an export in flight is missing) serves every export in flight,
so N exports cost about one poll per poll interval, not N. An export that completes is
downloaded at once; the files are handed out strictly in request order, so the caller
writes (and checkpoints) request k only after every earlier request, whatever order
Genesys finished them in. At most `2 x concurrency` requests are in flight or waiting
to be handed out, which bounds the scratch space.

The org has its own limit on exports in flight (its number is undocumented). An export
the org refuses with TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION (at submit or later) is not a
failure: it is submitted again once another export of ours has finished, and the run's
cap drops to what the org accepted, growing again by one after twice that many
successes in a row. With none of ours in flight the org is busy with others' exports:
the run waits with backoff (ExportPacing) before submitting again, up to the poll
deadline. Any other FAILED or CANCELLED export fails the run when its turn comes, after
the earlier requests are handed out (as a run one after another would), and nothing
after it is submitted or handed out.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from genesys_export.errors import JobFailed, JobTimedOut
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import Api
from genesys_export.jobs.polling import JobLatency, Polling
from genesys_export.jobs.reports import (
    DONE,
    ENDED_BADLY,
    ORG_BUSY,
    Download,
    ExportPacing,
    download,
    find_exports,
    submit_export,
)
from genesys_export.reporting import ReportRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """A request whose export completed: its record and its downloaded file."""

    index: int
    request: ReportRequest
    record: dict[str, Any]
    file: Download

    @property
    def export_id(self) -> str:
        return str(self.record["id"])


@dataclass
class _Flight:
    """One export of ours that is SUBMITTED or RUNNING (as far as we know)."""

    index: int
    export_id: str
    submitted: float
    attempt: int
    due: float  # clock time of its next poll
    step: float  # its current backoff wait
    status: str | None = None


@dataclass
class ExportFlights:
    """Runs `requests` as reporting exports; iterate for the Finished ones, in order."""

    api: Api
    requests: Sequence[ReportRequest]
    scratch: Path
    concurrency: int
    polling: Polling
    events: Events
    rng: random.Random
    pacing: ExportPacing = field(default_factory=ExportPacing)
    resubmitted: int = 0  # exports the org refused and we submitted again
    max_in_flight: int = 0  # the most exports of ours the org had accepted at once
    _flying: dict[str, _Flight] = field(default_factory=dict, init=False)
    _queue: list[int] = field(default_factory=list, init=False)  # heap of request indices
    _results: dict[int, Finished | Exception] = field(default_factory=dict, init=False)
    _attempts: dict[int, int] = field(default_factory=dict, init=False)
    _next: int = field(default=0, init=False)  # the next request to hand out
    _end: int = field(default=0, init=False)  # requests from here on are never handed out
    _cap: int = field(default=1, init=False)
    _successes: int = field(default=0, init=False)
    _hold: float = field(default=0.0, init=False)  # wait before submitting again
    _refused_wait: float | None = field(default=None, init=False)
    _refused_since: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._queue = list(range(len(self.requests)))
        self._end = len(self.requests)
        self._cap = max(1, self.concurrency)
        # The exports' own latency, apart from any details jobs' of the same run.
        self.polling = replace(self.polling, latency=JobLatency())

    def __iter__(self) -> Iterator[Finished]:
        while self._next < self._end:
            result = self._results.pop(self._next, None)
            if isinstance(result, Exception):
                raise result
            if result is not None:
                try:
                    yield result
                finally:
                    result.file.path.unlink(missing_ok=True)
                self._next += 1
                continue
            self._fill()
            if self._next not in self._results:
                self._wait_and_poll()

    # -- submitting ------------------------------------------------------------------------

    def _fill(self) -> None:
        """Submit the earliest waiting requests while the cap and the window allow."""
        window = self._next + 2 * max(1, self.concurrency)
        while self._queue and len(self._flying) < self._cap and not self._hold:
            index = self._queue[0]
            if index >= min(window, self._end):
                return
            heapq.heappop(self._queue)
            self._submit(index)

    def _submit(self, index: int) -> None:
        attempt = self._attempts[index] = self._attempts.get(index, 0) + 1
        entity = submit_export(self.api, self.requests[index], self.events)
        now = self.api.clock()
        flight = _Flight(
            index,
            str(entity["id"]),
            submitted=now,
            attempt=attempt,
            due=now + self.polling.first_wait(self.rng),
            step=self.polling.first,
        )
        self._flying[flight.export_id] = flight
        self._observe(flight, entity, now, polled=False)
        if flight.export_id in self._flying:  # accepted, for now
            self._refused_wait = self._refused_since = None
            self.max_in_flight = max(self.max_in_flight, len(self._flying))

    # -- polling ---------------------------------------------------------------------------

    def _wait_and_poll(self) -> None:
        """Sleep until the earliest export is due (or a refusal's wait is over), then poll."""
        if not self._flying:
            if not self._hold:
                raise AssertionError("no export in flight and none to wait for")
            self.api.sleep(self._hold)
            self._hold = 0.0
            return
        wait = min(f.due for f in self._flying.values()) - self.api.clock()
        if wait > 0:
            self.api.sleep(wait)
        listed = find_exports(self.api, set(self._flying))
        now = self.api.clock()
        for flight in list(self._flying.values()):
            if flight.export_id in self._flying:  # not dropped by an earlier one's failure
                self._observe(flight, listed.get(flight.export_id), now, polled=True)

    def _observe(
        self, flight: _Flight, entity: dict[str, Any] | None, now: float, *, polled: bool
    ) -> None:
        status = str(entity.get("status")) if entity else "NOT_LISTED"
        if status != flight.status:
            flight.status = status
            self.events(AuditEvent.JOB_STATE, job_id=flight.export_id, state=status)
        if entity is not None and status in DONE and entity.get("downloadUrl"):
            self._completed(flight, entity, now)
        elif entity is not None and status in ENDED_BADLY:
            reason = entity.get("exportErrorMessagesType") or "no reason given"
            if reason == ORG_BUSY:
                self._refused(flight, f"reporting export ended {status}: {reason}", now)
                return
            self._land_off(flight)
            failure = JobFailed(
                f"reporting export ended {status}: {reason}",
                job_id=flight.export_id,
                server_message=str(reason),
            )
            self._fail_at(flight.index, failure)
        elif now - flight.submitted + flight.step > self.polling.deadline:
            self._land_off(flight)
            timed_out = JobTimedOut(
                f"reporting export still {status} after {self.polling.deadline:.0f} s",
                job_id=flight.export_id,
            )
            self._fail_at(flight.index, timed_out)
        elif polled and flight.due <= now + self.pacing.coalesce * flight.step:
            jitter = self.polling.jitter
            flight.due = now + flight.step * (1 + self.rng.uniform(-jitter, jitter))
            flight.step = min(self.polling.cap, flight.step * self.polling.factor)

    # -- endings ---------------------------------------------------------------------------

    def _land_off(self, flight: _Flight) -> None:
        self._flying.pop(flight.export_id, None)

    def _completed(self, flight: _Flight, entity: dict[str, Any], now: float) -> None:
        self._land_off(flight)
        created, modified = entity.get("createdDateTime"), entity.get("modifiedDateTime")
        self.polling.latency.observe({"submissionDate": created, "completionDate": modified})
        self.events(
            AuditEvent.JOB_FINISHED,
            job_id=flight.export_id,
            state=flight.status,
            latency_s=round(now - flight.submitted, 3),
            attempt=flight.attempt,
        )
        self._successes += 1
        if self._cap < self.concurrency and self._successes >= 2 * self._cap:
            self._cap, self._successes = self._cap + 1, 0
        try:
            file = download(
                self.api,
                str(entity["downloadUrl"]),
                self.scratch / f"export-{flight.index}.csv",
                events=self.events,
                job_id=flight.export_id,
            )
        except JobFailed as exc:  # storage refused the file: fails the run in its turn
            self._fail_at(flight.index, exc)
            return
        self._results[flight.index] = Finished(
            flight.index, self.requests[flight.index], entity, file
        )

    def _refused(self, flight: _Flight, reason: str, now: float) -> None:
        """The org had too many exports in flight: this request goes back in the queue."""
        self._land_off(flight)
        self.resubmitted += 1
        self.events(
            AuditEvent.JOB_FINISHED,
            job_id=flight.export_id,
            state="retry",
            error=reason,
            attempt=flight.attempt,
        )
        heapq.heappush(self._queue, flight.index)
        self._cap, self._successes = max(1, len(self._flying)), 0
        if self._flying:
            log.info(
                "the org refused export %s (too many in flight); %d of ours are in flight, "
                "it is submitted again when one finishes",
                flight.export_id,
                len(self._flying),
            )
            return
        self._refused_since = self._refused_since if self._refused_since is not None else now
        first = self.polling.first
        wait = self._refused_wait * self.pacing.refused_factor if self._refused_wait else first
        self._refused_wait = min(self.pacing.refused_cap, wait)
        if now - self._refused_since + self._refused_wait > self.polling.deadline:
            raise JobTimedOut(
                f"the org refused reporting exports ({ORG_BUSY}) for "
                f"{self.polling.deadline:.0f} s while none of this run's was in flight",
                job_id=flight.export_id,
            )
        self._hold = self._refused_wait * (1 + self.rng.uniform(0, self.polling.jitter))
        log.info(
            "the org refused export %s (too many in flight, none of ours); "
            "submitting it again in %.1f s",
            flight.export_id,
            self._hold,
        )

    def _fail_at(self, index: int, failure: Exception) -> None:
        """Request `index` fails the run in its turn; nothing after it is handed out."""
        if index >= self._end:
            return
        self._results[index] = failure
        self._end = index + 1
        self._queue = [i for i in self._queue if i < self._end]
        heapq.heapify(self._queue)
        for later in [f for f in self._flying.values() if f.index >= self._end]:
            self._land_off(later)  # left to finish on the server; never read
        for late in [i for i in self._results if i >= self._end]:
            dropped = self._results.pop(late)
            if isinstance(dropped, Finished):
                dropped.file.path.unlink(missing_ok=True)
