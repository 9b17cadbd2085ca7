"""Settings: where the API is, who we are, and how hard we may push it.

Read from the environment, a `.env` file in the working directory (the real environment
wins) and, for `sync`, the TOML file. Every option has a default; a wrong value raises
ConfigError naming the variable and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Self

from dotenv import dotenv_values

from genesys_export.errors import ConfigError
from genesys_export.regions import REGIONS, Region, resolve_region

# Where a run lands when no destination is given (the working directory).
DEFAULT_DEST = "duckdb:///genesys_export.duckdb"


class Secret:
    """A string that never shows itself in a repr, str, log line or error."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, kw_only=True)
class Credentials:
    client_id: str
    client_secret: Secret


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a run needs to reach Genesys Cloud and pace itself."""

    credentials: Credentials
    api_url: str
    login_url: str
    region: Region | None = None
    budget_per_minute: int = 300  # client.credentials.token.rate.per.minute default
    concurrency: int = 4
    report_concurrency: int = 5  # reporting exports in flight at once
    chunk: timedelta = timedelta(days=1)
    page_size: int = 1000
    poll_deadline: float = 3600.0  # seconds a job may take before JobTimedOut
    token_margin: float = 60.0  # renew this many seconds before expires_in runs out
    max_job_attempts: int = 3  # FAILED/EXPIRED jobs are resubmitted up to this many times

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/oauth/token"

    def with_options(self, **changes: object) -> Self:
        """A copy with some options changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Settings from the environment, with `.env` filling what the environment lacks."""
        env: dict[str, str] = {}
        if dotenv is not None and dotenv.is_file():
            env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        env.update(os.environ if environ is None else environ)
        region, api_url, login_url = _hosts(env)
        settings = cls(
            credentials=Credentials(
                client_id=_required(env, "GENESYS_CLIENT_ID", "the OAuth client id"),
                client_secret=Secret(
                    _required(env, "GENESYS_CLIENT_SECRET", "the OAuth client secret")
                ),
            ),
            region=region,
            api_url=api_url,
            login_url=login_url,
        )
        return settings.with_options(**_tuning(env))


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"{name} is not set; set it in the environment or in .env to {what} "
            "(an OAuth client with the client-credentials grant)"
        )
    return value


def _hosts(env: Mapping[str, str]) -> tuple[Region | None, str, str]:
    api, login = env.get("GENESYS_API_URL", "").strip(), env.get("GENESYS_LOGIN_URL", "").strip()
    raw_region = env.get("GENESYS_REGION", "").strip()
    region = resolve_region(raw_region) if raw_region else None
    if region is None and not (api and login):
        names = ", ".join(r.aws_name for r in REGIONS)
        raise ConfigError(
            "GENESYS_REGION is not set; set it to an AWS region name "
            f"({names}) or an environment domain such as mypurecloud.ie"
        )
    for name, value in (("GENESYS_API_URL", api), ("GENESYS_LOGIN_URL", login)):
        if value and not value.startswith(("https://", "http://")):
            raise ConfigError(f"{name} {value!r} is not a URL; use https://host[:port]")
    return (
        region,
        (api or (region.api_base_url if region else "")).rstrip("/"),
        (login or (region.login_url if region else "")).rstrip("/"),
    )


_TUNING = {
    "GENESYS_EXPORT_BUDGET_PER_MINUTE": ("budget_per_minute", 1, 100_000),
    "GENESYS_EXPORT_CONCURRENCY": ("concurrency", 1, 64),
    "GENESYS_EXPORT_REPORT_CONCURRENCY": ("report_concurrency", 1, 64),
    "GENESYS_EXPORT_PAGE_SIZE": ("page_size", 1, 10_000),
}


def _tuning(env: Mapping[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for var, (field, low, high) in _TUNING.items():
        if raw := env.get(var, "").strip():
            out[field] = parse_int(raw, var, low, high)
    return out


def parse_int(raw: object, name: str, low: int, high: int) -> int:
    """An integer option within [low, high], or ConfigError naming it."""
    try:
        value = int(str(raw))
    except ValueError:
        raise ConfigError(f"{name} {raw!r} is not a whole number; use {low}..{high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} {value} is out of range; use {low}..{high}")
    return value
