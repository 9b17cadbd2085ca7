"""Downstream notifications: a signed JSON manifest POSTed to each webhook after a dataset lands.

The body is the manifest as canonical JSON (sorted keys, no spaces, UTF-8), so a receiver
can hash or compare it. Every request carries:

    Content-Type: application/json
    X-Genesys-Export-Timestamp: <unix seconds>
    X-Genesys-Export-Signature: v1=<hex HMAC-SHA256 of f"{timestamp}.{body}" with the secret>
    X-Genesys-Export-Delivery: <uuid>   the same for every attempt: an idempotency key

Each attempt is signed afresh with the current time, so a delivery retried for a while still
passes a receiver's replay window. Network errors, timeouts, 429 and 5xx are retried by the
policy of `retry.py`; any other answer is final. `notify_all` never raises for a webhook
that failed: it returns one `Delivery` per webhook and reports each through `events`
as `notify.sent`, and the caller decides whether a failure fails the run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from genesys_export import redact
from genesys_export.config import Secret
from genesys_export.errors import ApiError, ConfigError, RateLimited, ServerError
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import USER_AGENT
from genesys_export.retry import retrying

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Genesys-Export-Timestamp"
SIGNATURE_HEADER = "X-Genesys-Export-Signature"
DELIVERY_HEADER = "X-Genesys-Export-Delivery"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE = 300.0
# Longer than any unix time in seconds for millennia; bounds int() on hostile input.
_MAX_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True, repr=False)
class Webhook:
    """A receiver of manifests; its URL may carry a token, so its repr redacts it."""

    url: str
    secret: Secret
    timeout: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"webhook URL {redact.url(self.url)!r} is not usable; expected http(s)://host/path"
            )
        if not isinstance(self.secret, Secret) or not self.secret.reveal():
            raise ConfigError(
                f"webhook {redact.url(self.url)} needs a non-empty signing secret (a Secret)"
            )
        if self.timeout <= 0:
            raise ConfigError(f"webhook {redact.url(self.url)} timeout must be > 0 seconds")

    def __repr__(self) -> str:
        url = redact.url(self.url)
        return f"Webhook(url={url!r}, secret={self.secret!r}, timeout={self.timeout!r})"


@dataclass(frozen=True)
class Delivery:
    """The outcome of one webhook's notification; `url` is redacted."""

    url: str
    ok: bool
    attempts: int
    status: int | None
    delivery_id: str
    error: str | None = None


def canonical_json(manifest: Mapping[str, Any]) -> bytes:
    """The manifest as canonical JSON bytes: sorted keys, no spaces, UTF-8, no NaN.

    Datetimes and dates become ISO 8601, enums their value, paths strings and sets sorted
    lists. Raises TypeError or ValueError for anything else that is not JSON.
    """
    text = json.dumps(
        dict(manifest),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_plain,
    )
    return text.encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: `v1=` + hex HMAC-SHA256 of `f"{timestamp}.{body}"`."""
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether a received notification is authentic and fresh (the receiver's side).

    False for a missing or malformed header, a timestamp more than `tolerance` seconds
    from `now` either way (a replay), a changed body or another secret. Header names are
    matched case-insensitively; the signature header may list several comma-separated
    signatures (as during a secret rotation) and one matching `v1` is enough.
    """
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    if timestamp is None or signatures is None or not _is_unix_seconds(timestamp):
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, int(timestamp), body).encode()
    return any(
        hmac.compare_digest(expected, candidate.strip().encode("utf-8", "replace"))
        for candidate in signatures.split(",")
    )


def notify_all(
    webhooks: Sequence[Webhook],
    manifest: Mapping[str, Any],
    *,
    events: Events,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
    attempts: int = 5,
) -> list[Delivery]:
    """POST the signed manifest to every webhook, in order; one `Delivery` each.

    Each outcome, success or final failure, is reported as
    `events(AuditEvent.NOTIFY_SENT, url=, ok=, attempts=, status=, delivery_id=, error=)`.
    A webhook that fails never raises; only `attempts < 1` does (ConfigError).
    """
    if attempts < 1:
        raise ConfigError(f"notify attempts must be at least 1, got {attempts}")
    try:
        body = canonical_json(manifest)
    except (TypeError, ValueError) as exc:
        return [_report(_unsent(w, f"manifest is not JSON: {exc}"), events) for w in webhooks]
    with httpx.Client(transport=transport, headers={"User-Agent": USER_AGENT}) as client:
        sender = _Sender(client, clock=clock, sleep=sleep, attempts=attempts)
        return [_report(sender.deliver(webhook, body), events) for webhook in webhooks]


class _Sender:
    """Delivers one body to one webhook at a time, with the project's retry policy."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        attempts: int,
    ) -> None:
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._attempts = attempts

    def deliver(self, webhook: Webhook, body: bytes) -> Delivery:
        """Send until a final answer or the attempts run out; never raises for the webhook."""
        delivery_id = str(uuid.uuid4())
        url = redact.url(webhook.url)
        tries = 0

        def attempt() -> httpx.Response:
            nonlocal tries
            tries += 1
            return self._post(webhook, body, delivery_id=delivery_id)

        def on_retry(exc: BaseException, wait: float) -> None:
            log.warning("webhook %s: retrying in %.1f s after %s", url, wait, _describe(exc))

        policy = retrying(sleep=self._sleep, on_retry=on_retry, attempts=self._attempts)
        try:
            response: httpx.Response = policy(attempt)
        except ApiError as exc:
            return Delivery(url, False, tries, exc.status, delivery_id, _describe(exc))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Delivery(url, False, tries, None, delivery_id, _describe(exc))
        status = response.status_code
        error = None if response.is_success else f"HTTP {status}"
        return Delivery(url, response.is_success, tries, status, delivery_id, error)

    def _post(self, webhook: Webhook, body: bytes, *, delivery_id: str) -> httpx.Response:
        """One signed attempt; raises for a retryable answer, returns any other."""
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(webhook.secret.reveal(), timestamp, body),
            DELIVERY_HEADER: delivery_id,
        }
        request = self._client.build_request(
            "POST", webhook.url, content=body, headers=headers, timeout=webhook.timeout
        )
        # Only the status matters: the receiver's body is never read (it may be large).
        response = self._client.send(request, stream=True)
        response.close()
        _raise_if_transient(response, url=redact.url(webhook.url))
        return response


def _raise_if_transient(response: httpx.Response, *, url: str) -> None:
    """Turn a 429 or 5xx into the exception `retry.py` retries."""
    status = response.status_code
    where: dict[str, Any] = {"status": status, "method": "POST", "url": url}
    if status == 429:
        retry_after = _seconds(response.headers.get("Retry-After"))
        raise RateLimited("webhook is rate limiting", retry_after=retry_after, **where)
    if status >= 500:
        raise ServerError("webhook failed", **where)


def _report(delivery: Delivery, events: Events) -> Delivery:
    """Tell the caller of an outcome; a failure is also logged (without secrets)."""
    if not delivery.ok:
        log.warning(
            "webhook %s: notification %s failed after %d attempt(s): %s",
            delivery.url,
            delivery.delivery_id,
            delivery.attempts,
            delivery.error,
        )
    events(
        AuditEvent.NOTIFY_SENT,
        url=delivery.url,
        ok=delivery.ok,
        attempts=delivery.attempts,
        status=delivery.status,
        delivery_id=delivery.delivery_id,
        error=delivery.error,
    )
    return delivery


def _unsent(webhook: Webhook, error: str) -> Delivery:
    return Delivery(redact.url(webhook.url), False, 0, None, str(uuid.uuid4()), error)


def _describe(exc: BaseException) -> str:
    """A short, secret-free account of a failure: the status, or the error's type."""
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status}"
    # httpx messages can quote the URL, whose query may hold a token: keep the type only.
    return type(exc).__name__


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _is_unix_seconds(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= _MAX_TIMESTAMP_DIGITS


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _plain(value: object) -> object:
    """json.dumps fallback for values a manifest naturally holds."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"a value of type {type(value).__name__} is not JSON")
