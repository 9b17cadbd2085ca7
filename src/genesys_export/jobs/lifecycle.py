"""Async analytics jobs: submit -> wait -> page through results -> delete.

Shared by conversation details and user details jobs (same five endpoints under a
different base path); waiting is `polling.wait_for_job`. A FAILED job is resubmitted a
bounded number of times; results that EXPIRE are fetched again by a new job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from genesys_export.capture import RawCapture, capturing, saving
from genesys_export.chunks import ChunkResult, ExportKind, PlannedJob
from genesys_export.errors import (
    ClientError,
    GenesysExportError,
    JobExpired,
    JobFailed,
)
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import Api
from genesys_export.intervals import parse_interval
from genesys_export.jobs.limits import JobSlots
from genesys_export.jobs.polling import JobState, Polling, server_latency, wait_for_job
from genesys_export.pagination import iter_pages
from genesys_export.transform.tables import RunContext

log = logging.getLogger(__name__)
P = TypeVar("P")


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


def run_job(api: Api, endpoint: JobEndpoint, body: dict[str, Any], **options: Any) -> list[Any]:
    """All pages of one job (`stream_job` with the same `options`), collected before
    returning; results that expire while being read are read again, whole, by a new job."""
    attempts = int(options["max_attempts"])
    for attempt in range(1, attempts + 1):
        try:
            return list(stream_job(api, endpoint, body, **options))
        except JobExpired:
            if attempt == attempts:
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
    first_poll: float = 0.0,
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
                        api,
                        f"{endpoint.base}/{job_id}",
                        job_id,
                        polling=polling,
                        events=events,
                        rng=rng,
                        days=_days(body),
                        first_poll=first_poll,
                        turn=turn,
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

    def job_options(self) -> dict[str, Any]:
        """What every job of this producer runs with (`stream_job` / `run_job` keywords)."""
        return {
            "page_size": self.page_size,
            "polling": self.polling,
            "events": self.events,
            "max_attempts": self.max_attempts,
            "rng": self.rng,
            "slots": self.slots,
            "raw": self.raw,
        }
