"""Shared fixtures: the simulator on a real loopback port, and settings pointing at it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import psycopg
import pytest
from psycopg import sql

from genesys_export.config import Credentials, Secret, Settings
from genesys_export.simulator import FaultPlan, Simulator, serve
from genesys_export.sinks import redact_uri
from tests.sinks.builders import BUCKET, DSN, with_password

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


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin() -> Iterator[psycopg.Connection]:
    """A plain connection to create and drop schemas, or a skip (a failure under CI)."""
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(
                f"CI is set but PostgreSQL at GENESYS_EXPORT_TEST_POSTGRES_DSN is down: {exc}"
            )
        pytest.skip(
            f"no PostgreSQL answers at {redact_uri(DSN)} (set GENESYS_EXPORT_TEST_POSTGRES_DSN)"
        )
    with conn:
        yield conn


@pytest.fixture
def schema(admin: psycopg.Connection) -> Iterator[str]:
    name = f"ge_test_{uuid.uuid4().hex[:12]}"
    yield name
    admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def uri(schema: str) -> str:
    return f"{with_password(DSN)}?schema={schema}"


# --- S3 ----------------------------------------------------------------------------------


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


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh bucket and the AWS variables a user would set for an S3-compatible server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)
    client.close()
