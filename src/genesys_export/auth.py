"""OAuth client credentials as an httpx.Auth flow: callers never see a token.

A token is fetched when there is none or it expires within the margin, attached only to
requests for the API host, and renewed once when the API refuses it (401), after which the
refused request is sent again. Concurrent callers share one renewal. The token lives in
memory only.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from genesys_export import redact
from genesys_export.config import Credentials
from genesys_export.errors import AuthError, ServerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # on the auth's clock

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at:.0f})"


class ClientCredentials(httpx.Auth):
    """Bearer tokens from `POST {login}/oauth/token` with grant_type=client_credentials."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        token_url: str,
        api_url: str,
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._credentials = credentials
        self._token_url = token_url
        self._api_origin = httpx.URL(api_url)
        self._margin = margin
        self._clock = clock
        self._login = httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), transport=transport)
        self._lock = threading.Lock()
        self._token: Token | None = None
        self.issued = 0  # tokens fetched, for the run summary and tests

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self._credentials.client_id!r})"

    def close(self) -> None:
        self._login.close()

    @property
    def expires_in(self) -> float | None:
        """Seconds the current token has left, or None before the first one."""
        return None if self._token is None else self._token.expires_at - self._clock()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._is_api_host(request.url):
            # Never hand a bearer token to another host (pre-signed storage, proxies).
            request.headers.pop("Authorization", None)
            yield request
            return
        token = self.current()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            response.read()
            log.info("API refused the token (401); renewing it once and resending")
            token = self.renew(refused=token)
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request

    def current(self) -> Token:
        """A token valid for at least the margin, fetched if needed."""
        with self._lock:
            if self._token is None or self._token.expires_at - self._clock() <= self._margin:
                self._token = self._fetch()
            return self._token

    def renew(self, *, refused: Token) -> Token:
        """Replace `refused` unless another caller already did."""
        with self._lock:
            if self._token is None or self._token.value == refused.value:
                self._token = self._fetch()
            return self._token

    def _is_api_host(self, url: httpx.URL) -> bool:
        origin = self._api_origin
        return (url.scheme, url.host, url.port) == (origin.scheme, origin.host, origin.port)

    def _fetch(self) -> Token:
        basic = f"{self._credentials.client_id}:{self._credentials.client_secret.reveal()}"
        response = self._login.post(
            self._token_url,
            headers={"Authorization": "Basic " + base64.b64encode(basic.encode()).decode()},
            data={"grant_type": "client_credentials"},
        )
        if response.status_code >= 500:
            raise ServerError(
                "token endpoint failed",
                status=response.status_code,
                method="POST",
                url=redact.url(self._token_url),
                correlation_id=response.headers.get("ININ-Correlation-Id"),
            )
        if response.status_code != 200:
            raise AuthError(self._refusal(response))
        body = response.json()
        self.issued += 1
        expires_in = float(body.get("expires_in", 86400))
        log.info("new access token, expires in %.0f s", expires_in)
        return Token(str(body["access_token"]), self._clock() + expires_in)

    def _refusal(self, response: httpx.Response) -> str:
        try:
            error = response.json().get("error", "")
        except ValueError:
            error = ""
        reason = f" ({error})" if isinstance(error, str) and error else ""
        return (
            f"the token endpoint {redact.url(self._token_url)} refused client "
            f"{self._credentials.client_id!r}: HTTP {response.status_code}{reason}; check "
            "GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION"
        )
