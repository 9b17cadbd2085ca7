"""The request budget every request of a run draws from.

Genesys Cloud allows a client-credentials token about 300 requests a minute
(`client.credentials.token.rate.per.minute`). A token bucket paces all concurrent work
below that, so chunks running side by side do not push the org into 429s. A 429 still
happens (other clients share the org); then everyone pauses for the server's wait and the
rate steps down, creeping back up after a run of successes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RequestBudget:
    """A thread-safe token bucket sized so no 60 s window exceeds `per_minute` requests."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waited: float = 0.0  # seconds callers spent waiting for the budget
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Burst capacity + a minute's refill must not exceed the per-minute allowance.
        self.capacity = max(1.0, self.per_minute / 30)
        self.base_rate = max(self.per_minute - self.capacity, 1.0) / 60.0
        self.rate = self.base_rate
        self._tokens = self.capacity
        self._stamp = self.clock()
        self._paused_until = 0.0
        self._successes = 0

    def acquire(self) -> None:
        """Block until one request may be sent."""
        while True:
            with self._lock:
                delay = self._try_take()
            if delay <= 0:
                return
            self.waited += delay
            self.sleep(delay)

    def _try_take(self) -> float:
        now = self.clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1 - 1e-9:  # float refill can land a hair under 1
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def rate_limited(self, wait: float) -> None:
        """The server answered 429: pause everyone for `wait` seconds and slow down."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + wait)
            self.rate = max(self.base_rate * 0.25, self.rate * 0.7)
            self._tokens = 0.0
            self._successes = 0

    def succeeded(self) -> None:
        """A request went through: after a tenth of a minute's worth, speed back up."""
        with self._lock:
            self._successes += 1
            if self.rate < self.base_rate and self._successes >= self.per_minute / 10:
                self.rate = min(self.base_rate, self.rate * 1.2)
                self._successes = 0
