"""`check`: configuration, region, token and a permission probe per export kind.

Probes are read-only calls, one per export kind, each needing that kind's permission:
details availability (analytics:conversationDetail:view / analytics:userDetail:view), a
one-hour aggregate query (analytics:conversationAggregate:view) and the reporting exports
list (analytics:dataExport:view).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from genesys_export.config import Settings
from genesys_export.errors import AuthError, GenesysExportError, PermissionDenied
from genesys_export.http_client import Api
from genesys_export.intervals import Interval


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str
    refused: bool = False  # credentials or a permission were refused (exit 3)


@dataclass(frozen=True)
class CheckResult:
    probes: list[Probe]

    @property
    def exit_code(self) -> int:
        if any(p.refused for p in self.probes):
            return 3
        return 0 if all(p.ok for p in self.probes) else 4


def run_check(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> CheckResult:
    region = settings.region.aws_name if settings.region else "custom hosts"
    probes = [
        Probe("region", True, region),
        Probe("api host", True, settings.api_url),
        Probe("login host", True, settings.login_url),
    ]
    with Api(settings, transport=transport) as api:
        try:
            api.auth.current()
        except GenesysExportError as exc:
            return CheckResult(
                [*probes, Probe("token", False, str(exc), isinstance(exc, AuthError))]
            )
        expires = api.auth.expires_in or 0
        probes.append(Probe("token", True, f"issued, expires in {timedelta(seconds=int(expires))}"))
        probes += [_probe(name, call, api) for name, call in PROBES]
    return CheckResult(probes)


def _probe(name: str, call: Callable[[Api], str], api: Api) -> Probe:
    try:
        return Probe(name, True, call(api))
    except PermissionDenied as exc:
        return Probe(name, False, f"refused: {exc}", refused=True)
    except GenesysExportError as exc:
        return Probe(name, False, str(exc))


def _details(path: str) -> Callable[[Api], str]:
    def call(api: Api) -> str:
        body = api.get_json(path)
        return f"data available until {body.get('dataAvailabilityDate')}"

    return call


def _aggregates(api: Api) -> str:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    body = {"interval": Interval(end - timedelta(hours=1), end).iso(), "metrics": ["nConnected"]}
    results = api.post_json("/api/v2/analytics/conversations/aggregates/query", body)
    return f"query answered ({len(results.get('results') or [])} group(s))"


def _reporting(api: Api) -> str:
    body: dict[str, Any] = api.get_json("/api/v2/analytics/reporting/exports", pageSize=1)
    return f"exports listed ({body.get('total', 0)} visible)"


PROBES: list[tuple[str, Callable[[Api], str]]] = [
    ("conversation details", _details("/api/v2/analytics/conversations/details/jobs/availability")),
    ("user details", _details("/api/v2/analytics/users/details/jobs/availability")),
    ("aggregates", _aggregates),
    ("reporting exports", _reporting),
]
