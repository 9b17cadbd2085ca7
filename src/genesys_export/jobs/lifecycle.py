"""Async analytics jobs: submit -> wait -> page through results -> delete.

Shared by conversation details and user details jobs (same five endpoints under a
different base path). Polling is not retrying: `wait_for_job` is an explicit loop over
JobState with backoff, jitter and a deadline on the API's injected clock, ending in
JobTimedOut rather than a silent give-up. A FAILED job is resubmitted a bounded number of
times; results that EXPIRE are fetched again by a new job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from genesys_export.capture import RawCapture, capturing, saving
from genesys_export.chunks import ChunkResult, ExportKind, PlannedJob
from genesys_export.errors import (
    ClientError,
    GenesysExportError,
    JobExpired,
    JobFailed,
    JobTimedOut,
)
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import Api
from genesys_export.intervals import parse_interval
from genesys_export.jobs.limits import JobSlots
from genesys_export.pagination import iter_pages
from genesys_export.transform.tables import RunContext

log = logging.getLogger(__name__)
P = TypeVar("P")


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


@dataclass(frozen=True)
class JobEndpoint:
    """Where one export kind's jobs live."""

    export_kind: ExportKind
    base: str  # e.g. /api/v2/analytics/conversations/details/jobs

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"


CONVERSATION_DETAILS = JobEndpoint(
    ExportKind.CONVERSATION_DETAILS, "/api/v2/analytics/conversations/details/jobs"
)
USER_DETAILS = JobEndpoint(ExportKind.USER_DETAILS, "/api/v2/analytics/users/details/jobs")


class JobLatency:
    """How long this run's jobs took on the server (completionDate - submissionDate).

    Every status poll costs a request from the org's budget. Once a few jobs of a run have
    finished, the first poll of the next one waits about as long as they took, so a job
    usually costs one status request instead of a ladder of early ones.
    """

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=16)
        self._lock = threading.Lock()

    def observe(self, status: dict[str, Any]) -> None:
        seconds = server_latency(status)
        if seconds is None:
            return
        with self._lock:
            self._samples.append(seconds)

    def expected(self) -> float | None:
        with self._lock:
            return statistics.median(self._samples) if self._samples else None


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class Polling:
    """How often to ask a job how it is doing: backoff with jitter, learning as it goes."""

    first: float = 0.25
    factor: float = 1.4
    cap: float = 10.0
    jitter: float = 0.2  # +- fraction of each wait
    deadline: float = 3600.0
    latency: JobLatency = field(default_factory=JobLatency, compare=False)

    def first_wait(self, rng: random.Random) -> float:
        """Just after the run's typical job latency, else the start of the backoff ladder."""
        expected = self.latency.expected()
        if expected is None or expected < self.first:
            return self.first * (1 + rng.uniform(-self.jitter, self.jitter))
        return expected * rng.uniform(1.05, 1.12)


def body_hash(body: Any) -> str:
    """sha256 of the canonical JSON of a request body, for the audit trail."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def submit_job(api: Api, endpoint: JobEndpoint, body: dict[str, Any], events: Events) -> str:
    response = api.request("POST", endpoint.base, json=body)
    job_id = str(response.json()["jobId"])
    events(
        AuditEvent.JOB_SUBMITTED,
        export_kind=endpoint.export_kind,
        job_id=job_id,
        interval=body.get("interval"),
        payload_sha256=body_hash(body),
        correlation_id=response.headers.get("ININ-Correlation-Id"),
    )
    return job_id


def wait_for_job(
    api: Api,
    endpoint: JobEndpoint,
    job_id: str,
    *,
    polling: Polling,
    events: Events,
    rng: random.Random,
    turn: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Poll until the job is terminal; FULFILLED returns its status, others raise.

    The first poll waits for the job's `turn` too (see `stream_job`).
    """
    started = api.clock()
    api.sleep(polling.first_wait(rng))
    turn()
    wait, state = polling.first, None
    while True:
        status: dict[str, Any] = api.get_json(f"{endpoint.base}/{job_id}")
        new_state = JobState(status.get("state", "PENDING"))
        if new_state != state:
            state = new_state
            log.info("job %s is %s", job_id, state)
            events(AuditEvent.JOB_STATE, job_id=job_id, state=str(state))
        if state is JobState.FULFILLED:
            polling.latency.observe(status)
            return status
        if state.is_terminal:
            _raise_for_state(state, job_id, status)
        if api.clock() - started + wait > polling.deadline:
            raise JobTimedOut(
                f"not finished after {polling.deadline:.0f} s (last state {state}); "
                "raise the poll deadline or use smaller chunks",
                job_id=job_id,
            )
        api.sleep(wait * (1 + rng.uniform(-polling.jitter, polling.jitter)))
        wait = min(polling.cap, wait * polling.factor)


def _raise_for_state(state: JobState, job_id: str, status: dict[str, Any]) -> None:
    if state is JobState.EXPIRED:
        raise JobExpired("results expired before they were read", job_id=job_id)
    message = status.get("errorMessage") or f"job ended {state}"
    raise JobFailed(f"ended {state}: {message}", job_id=job_id, server_message=message)


def iter_results(
    api: Api,
    endpoint: JobEndpoint,
    job_id: str,
    *,
    page_size: int,
    read_page: Callable[[bytes], P],
    cursor_of: Callable[[P], str | None],
) -> Iterator[P]:
    """Every results page of a FULFILLED job, parsed by `read_page`."""

    def fetch(cursor: str | None) -> P:
        params = {"pageSize": page_size, "cursor": cursor}
        try:
            response = api.request(
                "GET",
                f"{endpoint.base}/{job_id}/results",
                params={k: v for k, v in params.items() if v is not None},
            )
        except ClientError as exc:
            _explain_results_refusal(api, endpoint, job_id, exc)
            raise
        return read_page(response.content)

    return iter_pages(fetch, cursor_of, what=f"job {job_id} results")


def _explain_results_refusal(
    api: Api, endpoint: JobEndpoint, job_id: str, exc: ClientError
) -> None:
    """A 4xx on results usually means the results expired: say so precisely."""
    status = api.get_json(f"{endpoint.base}/{job_id}")
    if status.get("state") == JobState.EXPIRED:
        raise JobExpired("results expired while being read", job_id=job_id) from exc


def delete_job(api: Api, endpoint: JobEndpoint, job_id: str) -> None:
    """Release the job's server-side results. A failure here costs quota, not data."""
    try:
        api.request("DELETE", f"{endpoint.base}/{job_id}")
    except ClientError as exc:
        # Already gone (expired or deleted): nothing left to release.
        log.info("job %s was not deleted: %s", job_id, exc)


def data_availability(api: Api, endpoint: JobEndpoint) -> datetime:
    """The instant before which the datalake is complete for this export kind."""
    body = api.get_json(endpoint.availability)
    return datetime.fromisoformat(str(body["dataAvailabilityDate"]).replace("Z", "+00:00"))


def run_job(
    api: Api,
    endpoint: JobEndpoint,
    body: dict[str, Any],
    *,
    page_size: int,
    read_page: Callable[[bytes], P],
    cursor_of: Callable[[P], str | None],
    polling: Polling,
    events: Events,
    max_attempts: int,
    rng: random.Random,
    raw: RawCapture | None = None,
    slots: JobSlots | None = None,
    turn: Callable[[], None] = lambda: None,
) -> list[P]:
    """All pages of one job, collected before returning (see `stream_job`); results that
    expire while being read are read again, whole, from a new job."""
    for attempt in range(1, max_attempts + 1):
        try:
            return list(
                stream_job(
                    api,
                    endpoint,
                    body,
                    page_size=page_size,
                    read_page=read_page,
                    cursor_of=cursor_of,
                    polling=polling,
                    events=events,
                    max_attempts=max_attempts,
                    rng=rng,
                    raw=raw,
                    slots=slots,
                    turn=turn,
                )
            )
        except JobExpired:
            if attempt == max_attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def stream_job(
    api: Api,
    endpoint: JobEndpoint,
    body: dict[str, Any],
    *,
    page_size: int,
    read_page: Callable[[bytes], P],
    cursor_of: Callable[[P], str | None],
    polling: Polling,
    events: Events,
    max_attempts: int,
    rng: random.Random,
    raw: RawCapture | None = None,
    slots: JobSlots | None = None,
    turn: Callable[[], None] = lambda: None,
) -> Iterator[P]:
    """Every page of one job as it is read; resubmitted after FAILED or EXPIRED up to
    `max_attempts`, as long as no page has been handed on.

    Once a page has been handed on, an expiry raises JobExpired: the caller, which knows
    what it has already used, asks a new job for the rest. With `raw`, each page's body is
    kept as received; an attempt that fails before handing on a page is discarded there
    too. With `slots`, the job holds one of the org's concurrent-job slots from submit to
    delete. `turn` blocks until this job's results are wanted (the run reads one job's
    pages after another), so a job waiting behind others costs no status polls.
    """
    for attempt in range(1, max_attempts + 1):
        with slots.held() if slots else nullcontext():  # one slot, submit to delete
            if slots is not None:
                slots.pace()
            started = api.clock()
            job_id = submit_job(api, endpoint, body, events)
            handed = [0]  # pages handed on so far
            try:
                with capturing(
                    raw, endpoint.export_kind, job_id, body, ext="json", keep=_any(handed)
                ) as kept:
                    status = wait_for_job(
                        api, endpoint, job_id, polling=polling, events=events, rng=rng, turn=turn
                    )
                    for page in iter_results(
                        api,
                        endpoint,
                        job_id,
                        page_size=page_size,
                        read_page=saving(kept, read_page),
                        cursor_of=cursor_of,
                    ):
                        handed[0] += 1
                        yield page
            except (JobFailed, JobExpired) as exc:
                retry = {"state": "retry", "error": str(exc), "attempt": attempt}
                events(AuditEvent.JOB_FINISHED, job_id=job_id, **retry)
                if attempt == max_attempts or handed[0]:
                    raise
                log.warning(
                    "%s; submitting it again (attempt %d of %d)", exc, attempt + 1, max_attempts
                )
                continue
            finally:
                delete_job(api, endpoint, job_id)
            events(
                AuditEvent.JOB_FINISHED,
                job_id=job_id,
                export_kind=endpoint.export_kind,
                state=str(JobState.FULFILLED),
                pages=handed[0],
                latency_s=round(api.clock() - started, 3),
                job_latency_s=server_latency(status),
                days=round(_days(body), 4),
                attempt=attempt,
            )
            return
    raise AssertionError("unreachable")  # pragma: no cover


def _any(count: list[int]) -> Callable[[], bool]:
    return lambda: count[0] > 0


def server_latency(status: dict[str, Any]) -> float | None:
    """Seconds from the job's submission to its completion, as the server tells them."""
    try:
        start = _instant(status["submissionDate"])
        end = _instant(status["completionDate"])
    except (KeyError, TypeError, ValueError):
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def _days(body: dict[str, Any]) -> float:
    try:
        return parse_interval(str(body["interval"])).length / timedelta(days=1)
    except (KeyError, ValueError, GenesysExportError):
        return 0.0


@dataclass(frozen=True)
class DetailsProducer:
    """What a producer of details-job chunks needs (conversations, users).

    Called with a planned job and its turn (see `stream_job`), it yields the job's chunks
    in order, each ready to commit with its checkpoint.
    """

    api: Api
    events: Events
    ctx: RunContext
    page_size: int
    max_attempts: int
    polling: Polling
    rng: random.Random
    slots: JobSlots | None = None
    raw: RawCapture | None = field(default=None, kw_only=True)

    def __call__(self, job: PlannedJob, turn: Callable[[], None]) -> Iterator[ChunkResult]:
        raise NotImplementedError
