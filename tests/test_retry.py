import random

import httpx

from genesys_export.errors import ClientError, RateLimited, ServerError
from genesys_export.retry import WAIT_CAP, backoff, is_transient

KW = {"status": 0, "method": "GET", "url": "https://api.example/x"}


def test_transient_failures_are_retried_and_other_4xx_are_not() -> None:
    assert is_transient(RateLimited("slow down", **KW))
    assert is_transient(ServerError("boom", **KW))
    assert is_transient(httpx.ConnectError("dropped"))
    assert is_transient(httpx.ReadTimeout("slow"))
    assert is_transient(httpx.RemoteProtocolError("closed"))
    assert not is_transient(ClientError("bad", **KW))


def test_retry_after_is_honoured_exactly() -> None:
    exc = RateLimited("slow down", retry_after=7.0, **KW)
    assert backoff(1, exc, rng=random.Random(1)) == 7.0


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    rng = random.Random(3)
    draws = [backoff(5, ServerError("x", **KW), rng=rng) for _ in range(500)]
    assert 0 <= min(draws) < 1.0  # full jitter reaches near zero
    assert max(draws) <= 0.5 * 2**4
    assert max(backoff(30, None, rng=rng) for _ in range(200)) <= WAIT_CAP
