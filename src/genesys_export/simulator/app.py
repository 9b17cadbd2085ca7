"""The Simulator: configuration, state, and the gate every request passes.

Order of the gate for an API request (`/api/v2/...`): count it for `revoke` faults (and
revoke if due) -> request faults (drop, 5xx, 429) -> bearer token -> per-token budget ->
the route. Token requests (`/oauth/token`) only meet request faults with `scope=all`.
Every API and login response carries `ININ-Correlation-Id`; every API response carries
the `inin-ratelimit-*` headers (§6.1). Every error is an ErrorBody whose `contextId` is the
correlation id, except the login host's OAuth-style errors.

401 codes (§6.3 lists them; which one the API picks is UNVERIFIED): no bearer token ->
`authentication.required`; unknown or revoked token -> `bad.credentials`; expired token
-> `credentials.expired`. Injected 5xx use `internal.server.error` (500),
`service.unavailable` (503) and `request.timeout` (504).

Clock: `clock` (monotonic seconds, injectable) drives job and export progression, token
expiry and the budget. Wall-clock dates on the wire are the construction-time wall clock
plus clock time elapsed since, so a fake clock moves them too.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from genesys_export.simulator import exports, jobs
from genesys_export.simulator.dataset import Dataset
from genesys_export.simulator.directory import Directory
from genesys_export.simulator.exports import Export
from genesys_export.simulator.faults import FaultKind, FaultPlan, FaultRule, FaultState
from genesys_export.simulator.handlers import Handlers, Route
from genesys_export.simulator.isotime import format_ms, to_ms
from genesys_export.simulator.jobs import Job
from genesys_export.simulator.problems import Problem, not_found
from genesys_export.simulator.ratelimit import BudgetState, RateLimiter
from genesys_export.simulator.recording import RecordedRequest, Recorder, SimulatorStats
from genesys_export.simulator.tokens import TokenProblem, TokenStore
from genesys_export.simulator.wire import (
    HttpRequest,
    Reply,
    error_reply,
    new_correlation_id,
)

_TOKEN_MESSAGES = {
    TokenProblem.MISSING: "No authentication bearer token specified in authorization header.",
    TokenProblem.UNKNOWN: "Invalid login credentials.",
    TokenProblem.EXPIRED: "The bearer token has expired; request a new token.",
}
_SERVER_ERRORS = {
    500: ("internal.server.error", "The server encountered an unexpected condition which "
          "prevented it from fulfilling the request."),
    503: ("service.unavailable", "Service Unavailable - The server is currently unavailable "
          "(because it is overloaded or down for maintenance)."),
    504: ("request.timeout", "The request timed out."),
}  # fmt: skip


def default_data_availability(now: datetime | None = None) -> datetime:
    """The default watermark: the current hour (UTC) minus two hours."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


@dataclass(frozen=True)
class Call:
    """One API request that passed the gate, with its path parameters."""

    request: HttpRequest
    now: float
    params: dict[str, str]
    correlation_id: str


class Simulator:
    """A local Genesys Cloud: state plus request handling. Serve it with `serve()`.

    Options (all keyword-only):
      seed, conversations_per_day, users   the dataset (see `sim.dataset`);
      client_id, client_secret, token_ttl  the one OAuth client and its tokens' lifetime (s);
      budget_per_minute                    requests per token per minute before 429;
      job_latency, export_latency          seconds from submit to FULFILLED / COMPLETED;
      job_latency_per_day                  seconds a details job takes on top of job_latency
                                           per day of its interval (fractional days);
      data_availability                    the watermark (aware UTC datetime); default
                                           `default_data_availability()` at construction;
      faults                               a FaultPlan or its text (see `faults.py`);
      page_size_max                        the largest details-results pageSize;
      report_rows                          data rows per reporting-export CSV;
      clock                                monotonic seconds; inject to drive time by hand;
      max_aggregate_cells/_buckets         aggregate answer limits;
      max_job_interval_days                the longest details-job interval;
      job_retention                        seconds until a job EXPIRES;
      seeded_exports                       older exports pre-listed for other users;
      max_exports_in_flight                reporting exports SUBMITTED/RUNNING at once
                                           before a new one FAILS at once with
                                           TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION (the
                                           real limit is UNVERIFIED); None: no limit;
      cached_days                          days of rendered conversations kept (least
                                           recently used out; default: the days one
                                           longest details job reads, max_job_interval_days
                                           + 1; about 50 MB a day at 6,452 a day).
    `prerender(start, end)` renders a details job's conversations ahead of its requests.
    Read back: `requests`, `stats` (`busy_seconds`: the simulator's own time), `dataset`,
    `faults`, `job_config`, `budget_per_minute`, and once served `api_url`, `login_url`,
    `storage_url`.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        conversations_per_day: int = 200,
        users: int = 25,
        client_id: str = "sim-client",
        client_secret: str = "sim-secret",
        token_ttl: int = 86400,
        budget_per_minute: int = 300,
        job_latency: float = 2.0,
        job_latency_per_day: float = 0.0,
        export_latency: float = 1.0,
        data_availability: datetime | None = None,
        faults: FaultPlan | str | None = None,
        page_size_max: int = 1000,
        report_rows: int = 500,
        clock: Callable[[], float] = time.monotonic,
        max_aggregate_cells: int = 20000,
        max_aggregate_buckets: int = 2000,
        max_job_interval_days: int = 31,
        job_retention: float = 86400.0,
        seeded_exports: int = 27,
        org_export_settings: dict[str, Any] | None = None,
        org_settings_shown: bool = True,
        reference_page_size_max: int = 500,
        max_concurrent_jobs: int = 10,
        job_submits_per_second: int = 10,
        cached_days: int | None = None,
        max_exports_in_flight: int | None = 5,
    ) -> None:
        latencies = (job_latency, job_latency_per_day, export_latency)
        if token_ttl <= 0 or page_size_max < 1 or min(latencies) < 0:
            raise ValueError("token_ttl and page_size_max must be positive, latencies >= 0")
        self.seed = seed
        # The org's own reporting-export settings, which win over a request's (see exports).
        self.org_export_settings = dict(org_export_settings or {})
        self.org_settings_shown = org_settings_shown
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self.dataset = Dataset(
            seed=seed,
            conversations_per_day=conversations_per_day,
            users=users,
            data_availability=data_availability or default_data_availability(),
            report_rows=report_rows,
            max_aggregate_buckets=max_aggregate_buckets,
            max_aggregate_cells=max_aggregate_cells,
            cached_days=max_job_interval_days + 1 if cached_days is None else cached_days,
        )
        # The reference listings (queues, users, ...): tests rename, delete and add in it.
        self.directory = Directory.of(self.dataset.org, seed, page_size_max=reference_page_size_max)
        self.job_config = jobs.JobConfig(
            job_latency,
            job_retention,
            page_size_max,
            max_job_interval_days,
            max_concurrent_jobs,
            job_submits_per_second,
            job_latency_per_day,
        )
        self.max_jobs_running = 0  # the most details jobs running at once, so far
        self.export_latency = export_latency
        self.max_exports_in_flight = max_exports_in_flight  # see exports.over_limit
        self.budget_per_minute = budget_per_minute
        self.api_url: str | None = None
        self.login_url: str | None = None
        self.storage_url: str | None = None
        self._clock_origin = clock()
        self._wall_origin_ms = to_ms(datetime.now(UTC))
        self._lock = threading.Lock()
        self._tokens = TokenStore(client_id=client_id, client_secret=client_secret, ttl=token_ttl)
        self._limiter = RateLimiter(budget_per_minute)
        self._fault_state = FaultState(self.faults)
        self._recorder = Recorder()
        self._signer = exports.UrlSigner(secrets.token_bytes(32))
        self._handlers = Handlers(self)
        history = exports.seeded_history(
            seed, self._clock_origin, self._wall_origin_ms, seeded_exports
        )
        self.state = SharedState(exports={e.id: e for e in history})

    # -- public views --------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._recorder.requests)

    @property
    def stats(self) -> SimulatorStats:
        """A snapshot of the counters."""
        with self._lock:
            return self._recorder.snapshot(
                tokens_issued=self._tokens.issued,
                faults=self._fault_state.injected,
                windows=self._limiter.max_in_window,
            )

    def prerender(self, start: datetime, end: datetime) -> int:
        """Generate and render now, and keep for the simulator's life, every conversation a
        details job over [start, end) (aware datetimes) can return, so that a benchmark
        leaves rendering out of its timed part; jobs then serve the same bytes. Returns how
        many conversations are kept (see `Dataset.prerender`)."""
        return self.dataset.prerender(to_ms(start), to_ms(end))

    def wall_ms(self, clock_time: float) -> int:
        """Epoch milliseconds on the wire for a simulator clock time."""
        return self._wall_origin_ms + round((clock_time - self._clock_origin) * 1000)

    def wall(self, clock_time: float) -> str:
        """The contract's instant string for a simulator clock time."""
        return format_ms(self.wall_ms(clock_time))

    def bind(self, *, api_url: str, login_url: str, storage_url: str) -> None:
        """Record where the simulator is served (serve() calls this)."""
        self.api_url, self.login_url, self.storage_url = api_url, login_url, storage_url

    # -- request handling ----------------------------------------------------------------

    def handle(self, request: HttpRequest) -> Reply:
        """Answer one request to the API/login host."""
        started = time.perf_counter()
        now = self.clock()
        correlation_id = new_correlation_id()
        route, reply = self._answer(request, now, correlation_id)
        if not reply.drop:
            reply = reply.with_headers(("ININ-Correlation-Id", correlation_id))
        self._record(request, now, reply, route, started)
        return reply

    def handle_storage(self, request: HttpRequest) -> Reply:
        """Answer one request to the pre-signed download host."""
        started = time.perf_counter()
        now = self.clock()
        reply = self._handlers.storage(request, now)
        self._record(request, now, reply, f"{request.method} /exports/{{key}}", started)
        return reply

    def _answer(self, request: HttpRequest, now: float, correlation_id: str) -> tuple[str, Reply]:
        if request.path == "/oauth/token":
            return "POST /oauth/token", self._token_request(request, now, correlation_id)
        route = self._handlers.match(request)
        if not request.path.startswith("/api/v2/"):
            problem = not_found(f"{request.method} {request.path}")
            return "unmatched", error_reply(problem, correlation_id)
        with self._lock:
            gate, budget = self._gate(request, now, correlation_id)
        if gate is not None:
            reply = gate
        elif route is None:
            reply = error_reply(not_found(f"{request.method} {request.path}"), correlation_id)
        else:
            reply = self._call(route, Call(request, now, route.params, correlation_id))
        return (route.label if route else "unmatched"), reply.with_headers(*budget.headers())

    def _call(self, route: Route, call: Call) -> Reply:
        try:
            return route.handler(call)
        except Problem as problem:
            return error_reply(problem, call.correlation_id)

    def _token_request(self, request: HttpRequest, now: float, correlation_id: str) -> Reply:
        with self._lock:
            fault = self._fault_state.on_request(token_request=True, path=request.path)
            if fault is not None:
                return self._fault_reply(
                    fault.kind, fault.status, fault.retry_after, correlation_id
                )
            return self._tokens.grant(request, now)

    def _gate(
        self, request: HttpRequest, now: float, correlation_id: str
    ) -> tuple[Reply | None, BudgetState]:
        """Faults, token and budget, in that order: (refusal or None, header values)."""
        idle = self._limiter.idle_state()
        if self._fault_state.revokes_now():
            self._tokens.revoke_all()
        fault = self._fault_state.on_request(token_request=False, path=request.path)
        if fault is not None:
            reply = self._fault_reply(fault.kind, fault.status, fault.retry_after, correlation_id)
            exhausted = BudgetState(
                False, idle.limit, idle.limit, fault.retry_after, fault.retry_after
            )
            return reply, exhausted if fault.kind is FaultKind.TOO_MANY_REQUESTS else idle
        token, problem = self._tokens.check(request.headers.get("authorization"), now)
        if token is None or problem is not None:
            problem = problem or TokenProblem.MISSING
            refusal = Problem(401, problem.value, _TOKEN_MESSAGES[problem])
            return error_reply(refusal, correlation_id), idle
        if self._fault_state.denies(request.path):
            return error_reply(_missing_permission(request.path), correlation_id), idle
        budget = self._limiter.take(token, now)
        if not budget.allowed:
            return self._too_many(budget.limit, budget.retry_after, correlation_id), budget
        return None, budget

    def _fault_reply(
        self, kind: FaultKind, status: int, retry_after: int, correlation_id: str
    ) -> Reply:
        if kind is FaultKind.DROP:
            return Reply(0, drop=True)
        if kind is FaultKind.TOO_MANY_REQUESTS:
            return self._too_many(self._limiter.idle_state().limit, retry_after, correlation_id)
        code, message = _SERVER_ERRORS[status]
        return error_reply(Problem(status, code, message), correlation_id)

    def _too_many(self, limit: int, retry_after: int, correlation_id: str) -> Reply:
        problem = Problem(
            429,
            "too.many.requests",
            f"Rate limit exceeded the maximum [{limit}] requests within [60] seconds",
            params={"limit": str(limit), "seconds": "60"},
            template="Rate limit exceeded the maximum [{limit}] requests "
            "within [{seconds}] seconds",
            limit={
                "key": "client.credentials.token.rate.per.minute",
                "namespace": "platform.api",
                "value": limit,
            },
        )
        return error_reply(problem, correlation_id).with_headers(("Retry-After", str(retry_after)))

    def _record(
        self, request: HttpRequest, now: float, reply: Reply, route: str, started: float
    ) -> None:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            status=0 if reply.drop else reply.status,
            headers=dict(request.headers),
            host=request.host,
            time=now,
            body=request.body,
        )
        with self._lock:
            self._recorder.record(recorded, route, time.perf_counter() - started)

    # -- helpers for handlers ------------------------------------------------------------

    def locked(self) -> threading.Lock:
        """The state lock (handlers hold it while they touch shared state)."""
        return self._lock

    def take_fault(self, kind: FaultKind) -> FaultRule | None:
        """The fault rule that applies to this occasion, if any (call under the lock)."""
        return self._fault_state.take(kind)

    def take_drop(self, start_ms: int, end_ms: int) -> FaultRule | None:
        """The drop_conversations rule for a conversation job over [start, end), if any
        (call under the lock)."""
        return self._fault_state.take_drop(start_ms, end_ms)

    def bump(self, counter: str) -> None:
        """Count an event in the stats (call under the lock)."""
        self._recorder.bump(counter)

    @property
    def signer(self) -> exports.UrlSigner:
        """Signs pre-signed storage URLs."""
        return self._signer


@dataclass
class SharedState:
    """Jobs, exports and downloads: the mutable state the handlers share."""

    exports: dict[str, Export]
    jobs: dict[str, Job] = field(default_factory=dict)
    downloads: OrderedDict[str, bytes] = field(default_factory=OrderedDict)


def _missing_permission(path: str) -> Problem:
    """The 403 of a client whose role lacks the permission a path needs."""
    permissions = "[" + _PERMISSIONS.get(_permission_area(path), "analytics:*:view") + "]"
    template = (
        "Unable to perform the requested action. You must have at least one of the "
        "following permissions assigned: {permissions}"
    )
    return Problem(
        403,
        "missing.any.permissions",
        template.replace("{permissions}", permissions),
        params={"permissions": permissions},
        template=template,
    )


def _permission_area(path: str) -> str:
    return next((area for area in _PERMISSIONS if area in path), "")


_PERMISSIONS = {
    "/conversations/details": "analytics:conversationDetail:view",
    "/users/details": "analytics:userDetail:view",
    "/conversations/aggregates": "analytics:conversationAggregate:view",
    "/reporting/exports": "analytics:dataExport:view",
}
