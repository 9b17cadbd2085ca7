"""The login host: `POST /oauth/token` (client credentials, §1.2) and the tokens it issues.

Accepted: `Authorization: Basic base64(id:secret)` and a form body of exactly
`grant_type=client_credentials`. Anything else in the body (a `scope`, the client id or
secret) is refused with 400 `invalid_request`, because the official SDKs never send it
and a client that does is misreading the contract. Wrong credentials get 401
`invalid_client` (status UNVERIFIED: the contract leaves 400 vs 401 open).
Tokens are random opaque strings that expire `token_ttl` seconds after issue, measured
on the simulator's clock. The response is `{access_token, token_type: "bearer",
expires_in: token_ttl}`; the casing of "bearer" and whether a live token reports exactly
the configured lifetime are UNVERIFIED (§1.2, §8).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs

from genesys_export.simulator.wire import HttpRequest, Reply, json_reply


class TokenProblem(StrEnum):
    """Why a bearer token was refused; the values are ErrorBody codes (§6.3)."""

    MISSING = "authentication.required"
    UNKNOWN = "bad.credentials"
    EXPIRED = "credentials.expired"


@dataclass
class _Token:
    expires_at: float
    revoked: bool = False


class TokenStore:
    """Issues, checks and revokes access tokens."""

    def __init__(self, *, client_id: str, client_secret: str, ttl: int) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.ttl = ttl
        self._tokens: dict[str, _Token] = {}
        self.issued = 0

    def grant(self, request: HttpRequest, now: float) -> Reply:
        """Answer one token request."""
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        token = secrets.token_urlsafe(48)
        self._tokens[token] = _Token(expires_at=now + self.ttl)
        self.issued += 1
        return json_reply(
            200, {"access_token": token, "token_type": "bearer", "expires_in": self.ttl}
        )

    def check(
        self, authorization: str | None, now: float
    ) -> tuple[str | None, TokenProblem | None]:
        """(token, None) for a usable bearer token, else (token or None, the problem)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, TokenProblem.MISSING
        token = token.strip()
        record = self._tokens.get(token)
        if record is None or record.revoked:
            return token, TokenProblem.UNKNOWN
        if now >= record.expires_at:
            return token, TokenProblem.EXPIRED
        return token, None

    def revoke_all(self) -> None:
        """Invalidate every token issued so far (tokens issued later are unaffected)."""
        for record in self._tokens.values():
            record.revoked = True

    def _refusal(self, request: HttpRequest) -> Reply | None:
        if request.method != "POST":
            return _oauth_error(405, "invalid_request", "the token endpoint accepts POST only")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(
                400, "invalid_request", "send a form body (application/x-www-form-urlencoded)"
            )
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        extra = sorted(set(form) - {"grant_type"})
        if extra:
            return _oauth_error(
                400, "invalid_request", f"unexpected parameter(s): {', '.join(extra)}"
            )
        if form.get("grant_type") != ["client_credentials"]:
            return _oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        if not self._authenticates(request.headers.get("authorization")):
            return _oauth_error(401, "invalid_client", "authentication failed")
        return None

    def _authenticates(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, _, secret = decoded.partition(":")
        return hmac.compare_digest(client_id.encode(), self.client_id.encode()) and (
            hmac.compare_digest(secret.encode(), self.client_secret.encode())
        )


def _oauth_error(status: int, error: str, description: str) -> Reply:
    # The observed login-host error shape (§1.2, third-party): OAuth `error` + `description`.
    return json_reply(
        status, {"error": error, "description": description, "error_description": description}
    )
