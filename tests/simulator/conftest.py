"""Fixtures for the simulator's own tests: a served simulator, a fake clock, the contract.

These tests speak plain httpx to a real loopback port (never the project's client), so
they check the simulator against the contract, not against our reading of it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from genesys_export.simulator import RunningSimulator, Simulator, serve
from genesys_export.simulator.jobs import JobKind

CONTRACT_DIR = Path(__file__).resolve().parents[3] / "shared" / "genesys-api"
# A fixed watermark: 2024-05-03 12:00 UTC, so tests never depend on today's date.
AVAILABLE = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
DAY1 = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"
DAY2 = "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z"
CONVERSATION_JOBS = "/api/v2/analytics/conversations/details/jobs"
USER_JOBS = "/api/v2/analytics/users/details/jobs"
AGGREGATES = "/api/v2/analytics/conversations/aggregates/query"
EXPORTS = "/api/v2/analytics/reporting/exports"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """A served simulator with an httpx client and a fake clock."""

    sim: Simulator
    running: RunningSimulator
    client: httpx.Client
    clock: FakeClock

    def token(self) -> str:
        response = self.client.post(
            self.running.login_url + "/oauth/token",
            auth=("sim-client", "sim-secret"),
            data={"grant_type": "client_credentials"},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def api(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault("Authorization", f"Bearer {token or self.default_token}")
        return self.client.request(method, self.running.api_url + path, headers=headers, **kwargs)

    @property
    def default_token(self) -> str:
        if not hasattr(self, "_token"):
            self._token = self.token()
        return self._token

    def submit(self, interval: str = DAY1, kind: str = "conversations", **body: Any) -> str:
        path = CONVERSATION_JOBS if kind == "conversations" else USER_JOBS
        response = self.api("POST", path, json={"interval": interval, **body})
        assert response.status_code == 202, response.text
        return str(response.json()["jobId"])

    def fulfilled(self, interval: str = DAY1, kind: str = "conversations", **body: Any) -> str:
        job_id = self.submit(interval, kind, **body)
        latency = self.sim.job_config.latency_of(JobKind(kind), {"interval": interval})
        self.clock.advance(latency + 0.01)
        return job_id

    def pages(
        self, job_id: str, kind: str = "conversations", page_size: int = 100
    ) -> list[dict[str, Any]]:
        path = (CONVERSATION_JOBS if kind == "conversations" else USER_JOBS) + f"/{job_id}/results"
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"pageSize": page_size}
            if cursor:
                params["cursor"] = cursor
            response = self.api("GET", path, params=params)
            assert response.status_code == 200, response.text
            pages.append(response.json())
            cursor = pages[-1].get("cursor")
            if not cursor:
                return pages


@pytest.fixture
def harness() -> Iterator[Callable[..., Any]]:
    """`with harness(**simulator_options) as h:` a fresh served simulator per use."""

    @contextmanager
    def start(**options: Any) -> Iterator[Harness]:
        clock = FakeClock()
        settings: dict[str, Any] = {
            "seed": 7,
            "conversations_per_day": 60,
            "users": 10,
            "data_availability": AVAILABLE,
            "clock": clock,
            "job_latency": 2.0,
            "export_latency": 1.0,
        }
        sim = Simulator(**(settings | options))
        with serve(sim) as running, httpx.Client(timeout=10) as client:
            yield Harness(sim, running, client, clock)

    yield start


class Contract:
    """The contract's JSON schemas, made strict: an object may only hold declared members
    (examples/INDEX.json says every example validates that way too)."""

    def __init__(self, directory: Path) -> None:
        self._files = {path.name: json.loads(path.read_text()) for path in directory.glob("*.json")}
        self._validators: dict[tuple[str, str], jsonschema.Draft7Validator] = {}

    def validate(self, file: str, definition: str, document: Any) -> None:
        key = (file, definition)
        if key not in self._validators:
            definitions = _strict(copy.deepcopy(self._files[file]["definitions"]))
            schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions}
            self._validators[key] = jsonschema.Draft7Validator(schema)
        self._validators[key].validate(document)


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node


@pytest.fixture(scope="session")
def contract() -> Contract:
    """The contract's schemas; tests using it skip where /work/shared is absent."""
    if not (CONTRACT_DIR / "schemas").is_dir():
        pytest.skip("contract schemas not available (../shared/genesys-api)")
    return Contract(CONTRACT_DIR / "schemas")
