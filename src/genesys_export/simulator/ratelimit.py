"""Per-token request budget, like `client.credentials.token.rate.per.minute` (§1.2, §6.2).

A token bucket per access token: capacity = the per-minute budget, refilled continuously
at budget/60 per second. A request takes one unit or is refused with 429.

Rate-limit headers (§6.1; their exact semantics are UNVERIFIED, these are the simulator's):
`inin-ratelimit-allowed` is the budget, `inin-ratelimit-count` the units in use (budget
minus what is left in the bucket), `inin-ratelimit-reset` the whole seconds until the
bucket is full again. A 429 carries `Retry-After`: whole seconds until one unit is back.

Separately it records, per token, the most requests seen in any sliding 60 s window
(refused ones included): what a client's pacing actually produced.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class BudgetState:
    """The outcome of one request against the budget, and the header values to send."""

    allowed: bool
    count: int
    limit: int
    reset_seconds: int
    retry_after: int

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The inin-ratelimit-* headers for this state."""
        return (
            ("inin-ratelimit-count", str(self.count)),
            ("inin-ratelimit-allowed", str(self.limit)),
            ("inin-ratelimit-reset", str(self.reset_seconds)),
        )


class _Bucket:
    def __init__(self, capacity: float, now: float) -> None:
        self.level = capacity
        self.updated = now


class RateLimiter:
    """Token buckets and sliding-window counters, one of each per access token."""

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("budget_per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / WINDOW_SECONDS
        self._buckets: dict[str, _Bucket] = {}
        self._windows: dict[str, deque[float]] = {}
        self.max_in_window: dict[str, int] = {}

    def take(self, token: str, now: float) -> BudgetState:
        """Spend one unit of `token`'s budget if there is one."""
        self._observe(token, now)
        bucket = self._buckets.setdefault(token, _Bucket(self.capacity, now))
        bucket.level = min(self.capacity, bucket.level + (now - bucket.updated) * self.rate)
        bucket.updated = now
        allowed = bucket.level >= 1.0
        if allowed:
            bucket.level -= 1.0
        return self._state(bucket, allowed)

    def idle_state(self) -> BudgetState:
        """Header values for a request that carried no usable token."""
        return BudgetState(True, 0, int(self.capacity), 0, 0)

    def _state(self, bucket: _Bucket, allowed: bool) -> BudgetState:
        missing = self.capacity - bucket.level
        return BudgetState(
            allowed=allowed,
            count=math.ceil(missing - 1e-9),
            limit=int(self.capacity),
            reset_seconds=math.ceil(missing / self.rate - 1e-9),
            retry_after=max(1, math.ceil((1.0 - bucket.level) / self.rate)),
        )

    def _observe(self, token: str, now: float) -> None:
        window = self._windows.setdefault(token, deque())
        window.append(now)
        while window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        self.max_in_window[token] = max(self.max_in_window.get(token, 0), len(window))
