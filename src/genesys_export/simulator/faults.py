"""Fault injection: a small grammar, a frozen plan, and the counters that apply it.

Grammar (whitespace ignored)::

    spec  := rule (";" rule)*
    rule  := kind [":" param ("," param)*]
    param := name "=" value

Request faults, counted over API requests (`/api/v2/...`; add `scope=all` to count and hit
token requests too), optionally only those whose path contains `path=...`:

    429:every=N[,after=K][,retry_after=S]   every Nth request (after the first K) gets 429
    429:burst=N[,after=K][,retry_after=S]   requests K+1..K+N get 429 (Retry-After S, default 1)
    5xx:every=N | 5xx:burst=N [,status=500|503|504][,after=K]   default status 503
    drop:every=N | drop:burst=N [,after=K]  close the connection without answering

Token revocation, counted over API requests:

    revoke:after=N     after N API calls every token issued so far is refused (401);
                       tokens issued later work
    revoke:every=N     the same, again after every further N API calls

Job, page and download faults, each hitting the first N occasions (default n=1):

    fail_job:n=N       the first N details/users jobs end FAILED with an errorMessage
    expire:n=N         the first N jobs turn EXPIRED when their results are first
                       requested: that request gets 404, the status then reads EXPIRED
    repeat_cursor:n=N  N results pages carry the cursor the client just sent, not a new one
    export_fail:n=N    the first N reporting exports end FAILED
                       (exportErrorMessagesType FAILED_GETTING_DATA_FROM_SERVICE)
    partial_export:n=N the first N reporting exports (that do not fail) end
                       COMPLETED_WITH_PARTIAL_RESULTS, with a downloadUrl; the file is
                       the one a complete export would give
    ragged_csv:n=N     the first N report CSV files built are malformed: of their k data
                       rows, row k//2 (0-based, the summary row not counted) has one
                       field too many, its name split in two as an unquoted delimiter
                       would; every download of that export gets the same file
    download_drop:n=N  the first N downloads send half the body under the full
                       Content-Length, then close
    short_pages[:n=N]  pages hold half the asked pageSize (at least 1) while a cursor
                       follows; all pages unless n is given
    slow_jobs:seconds=S[,n=N]   jobs take S seconds longer (all jobs unless n is given)
    slow_export:seconds=S[,n=N] reporting exports take S seconds longer (all unless n
                       is given; an export refused by the org's in-flight limit is not
                       counted), so exports can finish in another order than submitted
    drop_conversations[:n=K][,day=YYYY-MM-DD]
                       the first conversation details job whose interval overlaps the
                       UTC day (any job without day) leaves out K conversations (default
                       1): the first K, in conversationStart order, that start and end
                       inside that day (inside the job's interval without day). Jobs
                       submitted later serve them again; aggregates always count them

Permissions:

    deny:path=P        every API request whose path contains P is refused with 403
                       `missing.any.permissions`, as for a client without the permission

Example: `429:every=10,retry_after=1;5xx:burst=2;fail_job:n=1`. Faults are counters, not
randomness, so a run with the same plan and the same requests sees the same faults.
In Python: `FaultPlan(rules=[FaultRule(FaultKind.TOO_MANY_REQUESTS, every=10)])`;
`plan.describe()` writes a plan back in the grammar. A 429 from a fault does not spend
the token's budget; drop, 5xx and 429 faults are checked before the bearer token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum


class FaultKind(StrEnum):
    """What a rule breaks."""

    TOO_MANY_REQUESTS = "429"
    SERVER_ERROR = "5xx"
    DROP = "drop"
    REVOKE = "revoke"
    FAIL_JOB = "fail_job"
    EXPIRE = "expire"
    SHORT_PAGES = "short_pages"
    SLOW_JOBS = "slow_jobs"
    SLOW_EXPORT = "slow_export"
    EXPORT_FAIL = "export_fail"
    DOWNLOAD_DROP = "download_drop"
    REPEAT_CURSOR = "repeat_cursor"
    PARTIAL_EXPORT = "partial_export"
    RAGGED_CSV = "ragged_csv"
    DENY = "deny"
    DROP_CONVERSATIONS = "drop_conversations"


class FaultScope(StrEnum):
    """Which requests a request fault counts: API requests only, or token requests too."""

    API = "api"
    ALL = "all"


_REQUEST_KINDS = (FaultKind.TOO_MANY_REQUESTS, FaultKind.SERVER_ERROR, FaultKind.DROP)
_COUNTED_KINDS = (
    FaultKind.FAIL_JOB,
    FaultKind.EXPIRE,
    FaultKind.SHORT_PAGES,
    FaultKind.SLOW_JOBS,
    FaultKind.SLOW_EXPORT,
    FaultKind.EXPORT_FAIL,
    FaultKind.DOWNLOAD_DROP,
    FaultKind.REPEAT_CURSOR,
    FaultKind.PARTIAL_EXPORT,
    FaultKind.RAGGED_CSV,
)
# Counted kinds without n hit the first occasion only; short_pages and slow_* hit all.
_ONCE_BY_DEFAULT = (
    FaultKind.FAIL_JOB,
    FaultKind.EXPIRE,
    FaultKind.EXPORT_FAIL,
    FaultKind.DOWNLOAD_DROP,
    FaultKind.REPEAT_CURSOR,
    FaultKind.PARTIAL_EXPORT,
    FaultKind.RAGGED_CSV,
)
_SLOW_KINDS = (FaultKind.SLOW_JOBS, FaultKind.SLOW_EXPORT)
_PARAMS: dict[FaultKind, frozenset[str]] = {
    FaultKind.TOO_MANY_REQUESTS: frozenset(
        {"every", "burst", "after", "retry_after", "scope", "path"}
    ),
    FaultKind.SERVER_ERROR: frozenset({"every", "burst", "after", "status", "scope", "path"}),
    FaultKind.DROP: frozenset({"every", "burst", "after", "scope", "path"}),
    FaultKind.REVOKE: frozenset({"after", "every"}),
    FaultKind.SLOW_JOBS: frozenset({"seconds", "n"}),
    FaultKind.SLOW_EXPORT: frozenset({"seconds", "n"}),
    FaultKind.DENY: frozenset({"path"}),
    FaultKind.DROP_CONVERSATIONS: frozenset({"n", "day"}),
    **{kind: frozenset({"n"}) for kind in _COUNTED_KINDS if kind not in _SLOW_KINDS},
}
_SERVER_ERROR_STATUSES = (500, 503, 504)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class FaultRule:
    """One rule of a plan; which fields matter depends on `kind` (see the module grammar)."""

    kind: FaultKind
    every: int | None = None
    burst: int | None = None
    after: int = 0
    n: int | None = None
    retry_after: int = 1
    status: int = 503
    seconds: float = 0.0
    scope: FaultScope = FaultScope.API
    path: str | None = None
    day: str | None = None  # drop_conversations: a UTC date, YYYY-MM-DD

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        object.__setattr__(self, "scope", FaultScope(self.scope))
        if self.kind in (*_ONCE_BY_DEFAULT, FaultKind.DROP_CONVERSATIONS) and self.n is None:
            object.__setattr__(self, "n", 1)
        problem = self._problem()
        if problem:
            raise ValueError(f"fault rule {self.kind.value}: {problem}")

    def _problem(self) -> str | None:
        if self.kind in _REQUEST_KINDS and (self.every is None) == (self.burst is None):
            return "give exactly one of every=N or burst=N"
        if self.kind is FaultKind.REVOKE and (self.every is None) == (self.after == 0):
            return "give exactly one of after=N or every=N"
        if self.kind is FaultKind.DENY and not self.path:
            return "give path=P, the part of the paths to refuse"
        if self.kind in _SLOW_KINDS and self.seconds <= 0:
            return "give seconds=S with S > 0"
        if self.kind is FaultKind.SERVER_ERROR and self.status not in _SERVER_ERROR_STATUSES:
            return f"status must be one of {', '.join(map(str, _SERVER_ERROR_STATUSES))}"
        numbers = (self.every, self.burst, self.n)
        if any(value is not None and value < 1 for value in numbers) or self.after < 0:
            return "every, burst and n must be >= 1, after >= 0"
        if self.retry_after < 0:
            return "retry_after must be >= 0"
        if self.day is not None and not _is_day(self.day):
            return f"day={self.day!r} is not a date; use YYYY-MM-DD"
        return None

    def day_bounds_ms(self) -> tuple[int, int] | None:
        """The UTC day of `day` as [start, end) epoch ms, or None without a day."""
        if self.day is None:
            return None
        start = datetime.combine(date.fromisoformat(self.day), time.min, UTC)
        start_ms = int(start.timestamp()) * 1000
        return start_ms, start_ms + 86_400_000

    def describe(self) -> str:
        """This rule in the grammar of FaultPlan.parse."""
        params = []
        for name in sorted(_PARAMS[self.kind]):
            value = getattr(self, name)
            if value is not None and value != FaultRule.__dataclass_fields__[name].default:
                params.append(f"{name}={value}")
        return self.kind.value + (":" + ",".join(params) if params else "")


@dataclass(frozen=True)
class FaultPlan:
    """An ordered set of fault rules; `FaultPlan()` injects nothing."""

    rules: tuple[FaultRule, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Parse the grammar of this module's docstring; ValueError names what is wrong."""
        if not spec or not spec.strip():
            return cls()
        return cls(rules=tuple(_parse_rule(text) for text in spec.split(";") if text.strip()))

    def describe(self) -> str:
        """The plan in the grammar of `parse` (empty for no faults)."""
        return ";".join(rule.describe() for rule in self.rules)


def _parse_rule(text: str) -> FaultRule:
    kind_text, _, params_text = text.strip().partition(":")
    try:
        kind = FaultKind(kind_text.strip())
    except ValueError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise ValueError(
            f"unknown fault kind {kind_text.strip()!r}; expected one of: {known}"
        ) from None
    values: dict[str, object] = {}
    for param in filter(None, (part.strip() for part in params_text.split(","))):
        name, equals, value = (piece.strip() for piece in param.partition("="))
        if not equals or name not in _PARAMS[kind]:
            allowed = ", ".join(sorted(_PARAMS[kind])) or "none"
            raise ValueError(f"fault {kind.value}: bad parameter {param!r}; allowed: {allowed}")
        values[name] = _convert(kind, name, value)
    return FaultRule(kind, **values)  # type: ignore[arg-type]


def _convert(kind: FaultKind, name: str, value: str) -> object:
    try:
        if name in ("scope", "path", "day"):
            return FaultScope(value) if name == "scope" else value
        return float(value) if name == "seconds" else int(value)
    except ValueError:
        raise ValueError(f"fault {kind.value}: {name}={value!r} is not a valid value") from None


@dataclass(frozen=True)
class RequestFault:
    """What to do to one request: answer 429 or 5xx, or drop the connection."""

    kind: FaultKind
    status: int
    retry_after: int


class FaultState:
    """The counters that apply a plan; the simulator calls it under its lock."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._seen = [0] * len(plan.rules)
        self._fired = [0] * len(plan.rules)
        self._api_calls = 0
        self.injected: dict[str, int] = {}

    def on_request(self, *, token_request: bool, path: str) -> RequestFault | None:
        """Count one request against every request rule; the first rule that fires wins."""
        chosen: RequestFault | None = None
        for index, rule in enumerate(self.plan.rules):
            if rule.kind not in _REQUEST_KINDS:
                continue
            if token_request and rule.scope is not FaultScope.ALL:
                continue
            if rule.path is not None and rule.path not in path:
                continue
            self._seen[index] += 1
            if chosen is None and _fires(rule, self._seen[index]):
                status = {FaultKind.TOO_MANY_REQUESTS: 429, FaultKind.DROP: 0}.get(
                    rule.kind, rule.status
                )
                chosen = RequestFault(rule.kind, status, rule.retry_after)
                self._count(rule.kind)
        return chosen

    def denies(self, path: str) -> bool:
        """Whether a `deny` rule refuses this path (counted as injected when it does)."""
        for rule in self.plan.rules:
            if rule.kind is FaultKind.DENY and rule.path is not None and rule.path in path:
                self._count(rule.kind)
                return True
        return False

    def revokes_now(self) -> bool:
        """Count one API call; True when tokens issued so far must be revoked before it."""
        self._api_calls += 1
        done = self._api_calls - 1
        for rule in self.plan.rules:
            if rule.kind is not FaultKind.REVOKE or done == 0:
                continue
            if (rule.every is None and done == rule.after) or (
                rule.every is not None and done % rule.every == 0
            ):
                self._count(rule.kind)
                return True
        return False

    def take(self, kind: FaultKind) -> FaultRule | None:
        """The rule of `kind` that applies to this occasion, if any (uses up one of its n)."""
        for index, rule in enumerate(self.plan.rules):
            if rule.kind is kind and (rule.n is None or self._fired[index] < rule.n):
                self._fired[index] += 1
                self._count(kind)
                return rule
        return None

    def take_drop(self, start_ms: int, end_ms: int) -> FaultRule | None:
        """The drop_conversations rule for a conversation job over [start, end), if one
        applies: it has not fired yet and its day, if any, overlaps the interval."""
        for index, rule in enumerate(self.plan.rules):
            if rule.kind is not FaultKind.DROP_CONVERSATIONS or self._fired[index]:
                continue
            bounds = rule.day_bounds_ms()
            if bounds is None or (bounds[0] < end_ms and start_ms < bounds[1]):
                self._fired[index] += 1
                self._count(rule.kind)
                return rule
        return None

    def _count(self, kind: FaultKind) -> None:
        self.injected[kind.value] = self.injected.get(kind.value, 0) + 1


def _is_day(text: str) -> bool:
    if not _DAY.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _fires(rule: FaultRule, seen: int) -> bool:
    if seen <= rule.after:
        return False
    if rule.every is not None:
        return (seen - rule.after) % rule.every == 0
    return seen <= rule.after + (rule.burst or 0)
