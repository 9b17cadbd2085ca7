"""What the simulator saw: every request, and counters for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received, with the status it got.

    `headers` has lower-case names and keeps `authorization` as sent, so a test can assert
    where tokens went (and that none reached the storage host). `status` is 0 when the
    connection was dropped without an answer. `time` is the simulator clock at arrival.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    headers: dict[str, str]
    host: str  # "api" (API and login host) or "storage"
    time: float
    body: bytes = b""


@dataclass(frozen=True)
class SimulatorStats:
    """A snapshot of the counters.

    `max_requests_per_minute` is the most API requests one access token made in any
    sliding 60 s window (refused ones included), over all tokens;
    `max_requests_per_minute_by_token` has it per token.

    `busy_seconds` is the simulator's own time: the sum over requests (API, login and
    storage hosts) of the time.perf_counter seconds from the start of `Simulator.handle`
    / `handle_storage` to the request being recorded, i.e. gate, handler and answer
    building, but not HTTP parsing or socket writes (the simulator never sleeps, so
    none is excluded). Requests handled at once on several threads each count in full,
    so it may exceed wall time; `prerender` is outside it.
    """

    requests_total: int = 0
    requests_by_path: dict[str, int] = field(default_factory=dict)
    requests_by_route: dict[str, int] = field(default_factory=dict)
    too_many_requests: int = 0
    server_errors: int = 0
    dropped: int = 0
    unauthorized: int = 0
    tokens_issued: int = 0
    jobs_submitted: int = 0
    jobs_deleted: int = 0
    jobs_refused: int = 0  # past the org's concurrent-job or submission-rate limit
    exports_submitted: int = 0
    downloads: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    max_requests_per_minute: int = 0
    max_requests_per_minute_by_token: dict[str, int] = field(default_factory=dict)
    busy_seconds: float = 0.0


class Recorder:
    """Accumulates requests and counters; the simulator calls it under its lock."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.by_path: dict[str, int] = {}
        self.by_route: dict[str, int] = {}
        self.counters: dict[str, int] = {}
        self.busy_seconds = 0.0

    def record(self, request: RecordedRequest, route: str, busy: float = 0.0) -> None:
        """Keep a request, count it, and add the `busy` seconds spent answering it."""
        self.requests.append(request)
        self.busy_seconds += busy
        self.by_path[request.path] = self.by_path.get(request.path, 0) + 1
        self.by_route[route] = self.by_route.get(route, 0) + 1
        if request.status == 429:
            self.bump("too_many_requests")
        elif request.status >= 500:
            self.bump("server_errors")
        elif request.status == 401:
            self.bump("unauthorized")
        elif request.status == 0:
            self.bump("dropped")

    def bump(self, counter: str) -> None:
        """Add one to a named counter (a SimulatorStats field)."""
        self.counters[counter] = self.counters.get(counter, 0) + 1

    def snapshot(
        self, *, tokens_issued: int, faults: dict[str, int], windows: dict[str, int]
    ) -> SimulatorStats:
        """The counters as a frozen SimulatorStats."""
        return SimulatorStats(
            requests_total=len(self.requests),
            requests_by_path=dict(self.by_path),
            requests_by_route=dict(self.by_route),
            tokens_issued=tokens_issued,
            faults_injected=dict(faults),
            max_requests_per_minute=max(windows.values(), default=0),
            max_requests_per_minute_by_token=dict(windows),
            busy_seconds=self.busy_seconds,
            **self.counters,
        )
