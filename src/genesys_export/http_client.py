"""One HTTP client for the Genesys API: auth, budget, retries and error mapping.

`Api.request()` is the only way the library talks to the API. Each attempt draws from the
shared RequestBudget; transient failures are retried by the policy in `retry.py`; every
non-2xx answer becomes one exception of `errors.py` in `raise_for_api_status()`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import tenacity

from genesys_export import redact
from genesys_export.auth import ClientCredentials
from genesys_export.budget import RequestBudget
from genesys_export.config import Settings
from genesys_export.errors import (
    ApiError,
    ApiUnreachable,
    ClientError,
    PermissionDenied,
    RateLimited,
    ServerError,
    Stopped,
)
from genesys_export.retry import ATTEMPTS, retrying

log = logging.getLogger(__name__)
USER_AGENT = "genesys-export/0.1"


@dataclass
class RequestStats:
    """What a run cost the org's API budget."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429s received
    server_errors: int = 0
    network_errors: int = 0
    retry_wait: float = 0.0  # seconds slept before retries
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "server_errors": self.server_errors,
            "network_errors": self.network_errors,
            "retry_wait_s": round(self.retry_wait, 3),
        }


def raise_for_api_status(response: httpx.Response) -> None:
    """Map a non-2xx response to its exception, once, for the whole library."""
    status = response.status_code
    if status < 400:
        return
    body = _error_body(response)
    kwargs: dict[str, Any] = {
        "status": status,
        "method": response.request.method,
        "url": redact.url(response.request.url),
        "code": body.get("code"),
        "correlation_id": response.headers.get("ININ-Correlation-Id") or body.get("contextId"),
    }
    message = str(body.get("message") or response.reason_phrase)[:300]
    if status == 429:
        raise RateLimited(message, retry_after=_retry_after(response.headers), **kwargs)
    if status >= 500:
        raise ServerError(message, **kwargs)
    if status in (401, 403):
        raise PermissionDenied(message, **kwargs)
    raise ClientError(message, **kwargs)


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name in ("Retry-After", "inin-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


class Api:
    """The Genesys API as this library uses it. Thread-safe; share one per run."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.stats = RequestStats()
        self._stopped = threading.Event()
        self._wait = sleep
        self.budget = RequestBudget(settings.budget_per_minute, clock=clock, sleep=self.sleep)
        self.auth = ClientCredentials(
            settings.credentials,
            token_url=settings.token_url,
            api_url=settings.api_url,
            margin=settings.token_margin,
            clock=clock,
            transport=transport,
        )
        self.client = httpx.Client(
            base_url=settings.api_url,
            auth=self.auth,
            timeout=httpx.Timeout(60.0, connect=10.0),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        self.transport = transport
        self.clock = clock
        self._rng = rng
        self._policy = self.retry_policy()

    def __repr__(self) -> str:
        return f"Api({redact.url(self.settings.api_url)})"

    def close(self) -> None:
        self.client.close()
        self.auth.close()

    def stop(self) -> None:
        """Make every waiting or later call of this run raise Stopped (Ctrl-C, a failed
        chunk): workers polling slow jobs end now instead of finishing their waits."""
        self._stopped.set()

    def sleep(self, seconds: float) -> None:
        """Wait (budget, backoff, polling), or raise Stopped as soon as the run stops."""
        if self._wait is time.sleep:
            stopped = self._stopped.wait(seconds)
        else:
            self._wait(seconds)
            stopped = self._stopped.is_set()
        if stopped:
            raise Stopped("the run was stopped")

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send with budget and retries; return a 2xx response or raise from errors.py."""
        request = self.client.build_request(method, path, json=json, params=params)
        try:
            response: httpx.Response = self._policy(self._send_once, request)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise ApiUnreachable(
                f"{method} {redact.url(request.url)} kept failing ({type(exc).__name__}); "
                "check the network and GENESYS_REGION / GENESYS_API_URL"
            ) from exc
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request(
            "GET", path, params={k: v for k, v in params.items() if v is not None}
        ).json()

    def post_json(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body).json()

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        if self._stopped.is_set():
            raise Stopped("the run was stopped")
        self.budget.acquire()
        self.stats.add(requests=1)
        try:
            response = self.client.send(request)
        except httpx.TransportError:
            self.stats.add(network_errors=1)
            raise
        try:
            raise_for_api_status(response)
        except RateLimited as exc:
            self.stats.add(rate_limited=1)
            self.budget.rate_limited(exc.retry_after if exc.retry_after is not None else 1.0)
            raise
        except ServerError:
            self.stats.add(server_errors=1)
            raise
        self.budget.succeeded()
        return response

    def retry_policy(self, *, attempts: int = ATTEMPTS) -> tenacity.Retrying:
        """The retry policy with this run's sleep, stop signal and retry counters, for work
        beyond single requests (a download and its redirect)."""
        return retrying(sleep=self.sleep, on_retry=self._on_retry, rng=self._rng, attempts=attempts)

    def _on_retry(self, exc: BaseException, wait: float) -> None:
        self.stats.add(retries=1, retry_wait=wait)
        detail = str(exc) if isinstance(exc, ApiError) else type(exc).__name__
        log.warning("retrying in %.1f s after %s", wait, detail)
