"""The retry policy, in one place: which failures are retried and how long to wait.

Transient: 429, 5xx, timeouts and dropped connections. Every other 4xx is final.
Waits are exponential with full jitter (a uniform draw in [0, min(cap, base * 2^n)]),
except after a 429, where the server's `Retry-After` (or, lacking it,
`inin-ratelimit-reset`) is honoured.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import tenacity

from genesys_export.errors import RateLimited, ServerError

TRANSIENT: tuple[type[BaseException], ...] = (
    RateLimited,
    ServerError,
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
MAX_RETRY_AFTER = 120.0
WAIT_BASE = 0.5
WAIT_CAP = 30.0
ATTEMPTS = 8
TOTAL_TIMEOUT = 900.0


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def backoff(attempt: int, exc: BaseException | None, *, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1-based) after `exc`."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    return rng.uniform(0, min(WAIT_CAP, WAIT_BASE * 2 ** (attempt - 1)))


def retrying(
    *,
    sleep: Callable[[float], None],
    on_retry: Callable[[BaseException, float], None],
    rng: random.Random | None = None,
    attempts: int = ATTEMPTS,
) -> tenacity.Retrying:
    """A tenacity policy; `on_retry(exc, wait)` is told of every retry before its wait."""
    draw = rng or random.Random()

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return backoff(state.attempt_number, exc, rng=draw)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            on_retry(exc, state.upcoming_sleep)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        wait=wait,
        stop=tenacity.stop_after_attempt(attempts) | tenacity.stop_after_delay(TOTAL_TIMEOUT),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
