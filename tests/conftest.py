"""Shared fixtures: the simulator on a real loopback port, and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from genesys_export.config import Credentials, Secret, Settings
from genesys_export.simulator import FaultPlan, Simulator, serve

# A fixed watermark so tests do not depend on today's date.
AVAILABLE = datetime(2024, 5, 10, 6, 0, tzinfo=UTC)


def make_simulator(**options: Any) -> Simulator:
    defaults: dict[str, Any] = {
        "seed": 11,
        "conversations_per_day": 40,
        "users": 8,
        "job_latency": 0.05,
        "export_latency": 0.05,
        "data_availability": AVAILABLE,
    }
    faults = options.pop("faults", "")
    return Simulator(**(defaults | options), faults=FaultPlan.parse(faults))


def settings_for(running: Any, **options: Any) -> Settings:
    settings = Settings(
        credentials=Credentials(client_id="sim-client", client_secret=Secret("sim-secret")),
        api_url=running.api_url,
        login_url=running.login_url,
    )
    return settings.with_options(**options)


@contextmanager
def running_simulator(**options: Any) -> Iterator[tuple[Simulator, Any]]:
    sim = make_simulator(**options)
    with serve(sim, host="127.0.0.1", port=0) as running:
        yield sim, running


@pytest.fixture
def sim_factory() -> Any:
    """`with sim_factory(faults=...) as (sim, running):` a fresh simulator per test."""
    return running_simulator


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer  # heavy: only for the tests that use it

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
