"""The only way request details reach logs, errors and the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

MASK = "***"
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
# Query parameters that carry credentials: pre-signed storage URLs sign with these.
_SECRET_PARAMS = ("signature", "token", "secret", "password", "credential", "key", "sig")


def url(value: str | httpx.URL) -> str:
    """A URL with its password and any credential-like query values masked."""
    parts = urlsplit(str(value))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = urlencode(
        [(k, MASK if _is_secret_param(k) else v) for k, v in parse_qsl(parts.query, True)],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def headers(values: Mapping[str, str]) -> dict[str, str]:
    """Headers with credentials masked."""
    return {k: MASK if k.lower() in _SECRET_HEADERS else v for k, v in values.items()}


def _is_secret_param(name: str) -> bool:
    lowered = name.lower()
    return any(s in lowered for s in _SECRET_PARAMS)
