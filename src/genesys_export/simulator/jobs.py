"""Async jobs: `/api/v2/analytics/{conversations,users}/details/jobs` (§3, §4) and
`/api/v2/analytics/conversations/aggregates/jobs` (§5.1).

Lifecycle (transitions UNVERIFIED, §3.3): QUEUED for the first fifth of the job's latency,
then PENDING, then FULFILLED (or FAILED under a `fail_job` fault). A details or user
details job's latency is `job_latency + job_latency_per_day * days` (its interval's length
in days, fractional), so longer intervals take longer, as on the real API; an aggregates
job's is `job_latency`. `completionDate` is submission plus that latency. DELETE makes a job
CANCELLED. A job EXPIRED `job_retention` seconds after submission (the retention is
UNVERIFIED; 24 h here), or under an `expire` fault the first time its results are asked
for. Errors on `/results` (codes UNVERIFIED): 400 `bad.request` while the job is not
FULFILLED, 404 `not.found` once it has EXPIRED. DELETE answers 204 (the contract only
says "Deleted", most likely 204).

Results are the dataset's records for the interval, fixed when first read. Pages hold
`pageSize` items (default 100, at most `page_size_max`; both UNVERIFIED, §3.4; beyond the
maximum is 400 `invalid.query.param.value`), ordered by conversationStart
(`order: desc` reverses) or by userId; the cursor is opaque and the last page has none.
An empty page omits its `conversations` / `userDetails` array (UNVERIFIED either way).

Aggregates jobs take a ConversationAsyncAggregationQuery, validated and computed like the
synchronous query (`aggregates.py`); their pages hold `pageSize` result groups as set in
the body (default 100, UNVERIFIED; results take no pageSize parameter, §5.1) and carry no
dataAvailabilityDate. Fault rules for jobs (fail_job, expire, slow_jobs) apply to details
and user details jobs only; drop_conversations to conversation details jobs.

Filters honoured on conversation jobs: `conversationFilters` (against conversation
dimensions) and `segmentFilters` (a conversation matches when one of its sessions, with
the dimensions of its segments, matches), each list ANDed; `limit`,
`startOfDayIntervalMatching`. On user jobs: `userFilters` on userId, `limit`, `order`.
Evaluation, survey, resolution, presence and routing-status filters are refused (400).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from genesys_export.simulator import aggregates, filters
from genesys_export.simulator.dataset import Dataset
from genesys_export.simulator.isotime import MS_PER_DAY, IsoError, parse_interval, to_ms
from genesys_export.simulator.problems import (
    Problem,
    bad_request,
    invalid_query_param,
    invalid_value,
    not_found,
)
from genesys_export.simulator.render import ConversationRecord, SessionFacts
from genesys_export.simulator.vocabulary import (
    CONVERSATION_FILTER_DIMENSIONS,
    SEGMENT_FILTER_DIMENSIONS,
)

Json = dict[str, Any]
DEFAULT_PAGE_SIZE = 100


class JobKind(StrEnum):
    """The async job families."""

    CONVERSATIONS = "conversations"
    USERS = "users"
    AGGREGATES = "aggregates"

    @property
    def path(self) -> str:
        """The jobs collection path."""
        if self is JobKind.AGGREGATES:
            return "/api/v2/analytics/conversations/aggregates/jobs"
        return f"/api/v2/analytics/{self.value}/details/jobs"

    @property
    def items_key(self) -> str:
        """The array member of a results page."""
        return {"conversations": "conversations", "users": "userDetails"}.get(self, "results")

    @property
    def is_details(self) -> bool:
        """Details and user details jobs (not aggregates)."""
        return self is not JobKind.AGGREGATES


class JobState(StrEnum):
    """AsyncQueryStatus.state (§3.3)."""

    QUEUED = "QUEUED"
    PENDING = "PENDING"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    FULFILLED = "FULFILLED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Drop:
    """Conversations a `drop_conversations` fault leaves out of one job's results: the
    first `count` that start and end inside [start_ms, end_ms)."""

    count: int
    start_ms: int
    end_ms: int

    def apply(self, records: list[ConversationRecord]) -> list[ConversationRecord]:
        inside = [
            r.conversation_id
            for r in records
            if self.start_ms <= r.start_ms and r.end_ms is not None and r.end_ms < self.end_ms
        ]
        gone = set(inside[: self.count])
        return [r for r in records if r.conversation_id not in gone]


@dataclass
class Job:
    """One submitted job; `results` holds encoded items once first read."""

    id: str
    kind: JobKind
    query: Json
    submitted: float
    latency: float
    fails: bool = False
    expires_on_read: bool = False
    drop: Drop | None = None
    cancelled_at: float | None = None
    expired: bool = False
    results: list[bytes] | None = None
    cursors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JobConfig:
    """Limits and timings shared by all jobs."""

    latency: float
    retention: float
    page_size_max: int
    max_interval_days: int
    max_concurrent: int = 10  # details jobs running at once, per org
    submits_per_second: int = 10  # details job submissions per second, per org
    latency_per_day: float = 0.0  # added to a details job's latency per day of interval

    def latency_of(self, kind: JobKind, query: Json) -> float:
        """Seconds from submission to FULFILLED of a job of `kind` over a validated query
        (before any slow_jobs fault): details jobs grow with their interval."""
        if not kind.is_details or not self.latency_per_day:
            return self.latency
        start, end = parse_interval(query["interval"])
        return self.latency + self.latency_per_day * (end - start).total_seconds() / 86_400


def validate_query(kind: JobKind, body: Any, max_days: int, dataset: Dataset) -> Json:
    """Validate an AsyncConversationQuery / AsyncUserDetailsQuery /
    ConversationAsyncAggregationQuery; raise Problem."""
    if kind is JobKind.AGGREGATES:
        return _validate_aggregates(body, dataset)
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object with at least an interval")
    if not isinstance(body.get("interval"), str):
        raise bad_request(
            "interval is required, for example 2024-05-01T00:00:00Z/2024-05-02T00:00:00Z"
        )
    try:
        start, end = parse_interval(body["interval"])
    except IsoError as exc:
        raise Problem(400, exc.code, str(exc)) from exc
    days = (end - start).total_seconds() / 86_400
    if days > max_days:
        raise bad_request(
            f"interval {body['interval']} spans {days:g} days; a details job covers at most "
            f"{max_days} days, so split the interval"
        )
    if body.get("order", "asc") not in ("asc", "desc", "unordered"):
        raise invalid_value(body["order"], "OrderEnum", ("asc", "desc", "unordered"))
    limit = body.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise bad_request("limit must be a positive integer")
    _validate_filters(kind, body)
    return body


def _validate_aggregates(body: Any, dataset: Dataset) -> Json:
    if isinstance(body, dict) and "pageSize" in body:
        size = body["pageSize"]
        if not isinstance(size, int) or size < 1:
            raise bad_request("pageSize must be a positive integer")
        query = {key: value for key, value in body.items() if key != "pageSize"}
    else:
        query = body
    aggregates.plan_query(query, dataset.limits)
    return dict(body)


def aggregate_page_size(job: Job) -> int:
    """The page size an aggregates job was submitted with."""
    return int(job.query.get("pageSize") or DEFAULT_PAGE_SIZE)


def _validate_filters(kind: JobKind, body: Json) -> None:
    allowed: dict[str, tuple[str, ...]]
    refused: tuple[str, ...]
    if kind is JobKind.CONVERSATIONS:
        allowed = {
            "conversationFilters": CONVERSATION_FILTER_DIMENSIONS,
            "segmentFilters": SEGMENT_FILTER_DIMENSIONS,
        }
        refused = ("evaluationFilters", "surveyFilters", "resolutionFilters")
    else:
        allowed = {"userFilters": ("userId",)}
        refused = ("presenceFilters", "routingStatusFilters")
    for name in refused:
        if body.get(name):
            raise bad_request(f"{name} are not supported by the simulator")
    for name, dimensions in allowed.items():
        specs = body.get(name) or []
        if not isinstance(specs, list):
            raise bad_request(f"{name} must be a list of filters")
        for spec in specs:
            filters.validate_filter(spec, dimensions, name)


def status_doc(job: Job, state: JobState, config: JobConfig, wall: Callable[[float], str]) -> Json:
    """The AsyncQueryStatus of a job in `state`."""
    doc: Json = {"state": state.value, "submissionDate": wall(job.submitted)}
    if state in (JobState.FULFILLED, JobState.FAILED, JobState.EXPIRED):
        doc["completionDate"] = wall(job.submitted + job.latency)
    elif state is JobState.CANCELLED and job.cancelled_at is not None:
        doc["completionDate"] = wall(job.cancelled_at)
    if state is JobState.FAILED:
        doc["errorMessage"] = (
            "The query failed to execute (simulated fail_job fault); submit it again"
        )
    doc["expirationDate"] = wall(job.submitted + config.retention)
    return doc


def state_of(job: Job, now: float, config: JobConfig) -> JobState:
    """The state of a job at clock time `now`."""
    if job.cancelled_at is not None:
        return JobState.CANCELLED
    if job.expired or now >= job.submitted + config.retention:
        return JobState.EXPIRED
    elapsed = now - job.submitted
    if elapsed < job.latency * 0.2:
        return JobState.QUEUED
    if elapsed < job.latency:
        return JobState.PENDING
    return JobState.FAILED if job.fails else JobState.FULFILLED


def page_size(query: dict[str, str], maximum: int) -> int:
    """The pageSize query parameter, validated."""
    text = query.get("pageSize")
    if text is None:
        return min(DEFAULT_PAGE_SIZE, maximum)
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise invalid_query_param(text, "pageSize", f"an integer from 1 to {maximum}")
    return size


def results_problem(job: Job, state: JobState) -> Problem | None:
    """Why the results of a job cannot be read now, if they cannot."""
    if state is JobState.EXPIRED:
        return not_found(f"results of job {job.id}: the job has EXPIRED; submit it again")
    if state is not JobState.FULFILLED:
        return bad_request(
            f"job {job.id} is {state.value}; results can be read once it is FULFILLED"
        )
    return None


def materialize(job: Job, dataset: Dataset) -> list[bytes]:
    """The job's result items, encoded, in page order (computed once per job)."""
    if job.results is None and job.kind is JobKind.AGGREGATES:
        query = {key: value for key, value in job.query.items() if key != "pageSize"}
        job.results = [_encode(group) for group in dataset.aggregate(query).get("results", [])]
    if job.results is None:
        start, end = parse_interval(job.query["interval"])
        if job.kind is JobKind.CONVERSATIONS:
            records = dataset.conversation_records(to_ms(start), to_ms(end))
            if job.drop is not None:
                records = job.drop.apply(records)
            items = [r.raw for r in records if _conversation_matches(r, job.query, to_ms(start))]
        else:
            details = dataset.user_details(start, end)
            items = [_encode(d) for d in details if _user_matches(d, job.query)]
        if job.query.get("order") == "desc":
            items.reverse()
        job.results = items[: job.query.get("limit") or None]
    return job.results


def _encode(doc: Json) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _conversation_matches(record: ConversationRecord, query: Json, start_ms: int) -> bool:
    if (
        query.get("startOfDayIntervalMatching")
        and record.start_ms < start_ms // MS_PER_DAY * MS_PER_DAY
    ):
        return False
    for spec in query.get("conversationFilters") or []:
        if not filters.matches(spec, record.dims.get):
            return False
    for spec in query.get("segmentFilters") or []:
        if not any(_session_matches(spec, session, record) for session in record.sessions):
            return False
    return True


def _session_matches(spec: Json, session: SessionFacts, record: ConversationRecord) -> bool:
    return filters.matches(spec, lambda d: session.dims.get(d) or record.dims.get(d))


def _user_matches(detail: Json, query: Json) -> bool:
    user_id = detail["userId"]
    return all(
        filters.matches(spec, lambda d: user_id if d == "userId" else None)
        for spec in query.get("userFilters") or []
    )


def next_page(
    job: Job, items: list[bytes], cursor: str | None, size: int
) -> tuple[list[bytes], str | None]:
    """The items of the page at `cursor` and the cursor of the page after, if any."""
    if cursor is None:
        offset = 0
    elif cursor in job.cursors:
        offset = job.cursors[cursor]
    else:
        raise invalid_query_param(cursor, "cursor", "a cursor returned by the previous page")
    page = items[offset : offset + size]
    following = offset + len(page)
    if following >= len(items):
        return page, None
    token = hashlib.sha256(f"{job.id}:{following}".encode()).hexdigest()[:40]
    job.cursors[token] = following
    return page, token


def page_body(kind: JobKind, items: list[bytes], cursor: str | None, availability: str) -> bytes:
    """A results page assembled from already-encoded items."""
    parts = []
    if items:
        parts.append(b'"' + kind.items_key.encode() + b'":[' + b",".join(items) + b"]")
    if cursor is not None:
        parts.append(b'"cursor":' + _encode_str(cursor))
    if kind.is_details:
        parts.append(b'"dataAvailabilityDate":' + _encode_str(availability))
    return b"{" + b",".join(parts) + b"}"


def _encode_str(text: str) -> bytes:
    return json.dumps(text).encode()
