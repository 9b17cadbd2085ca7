"""The engines sink tests run on: DuckDB and Parquet under tmp_path, PostgreSQL on the test
server (a schema of its own per test, dropped afterwards), Parquet on S3 played by moto's
server on loopback (the PostgreSQL and S3 fixtures are in tests/conftest.py, shared with
the end-to-end tests).

`sink` (and `dest`, its `--dest` URI) is parametrized over all four engines; a test that
holds for some of them only says which with `@engines(...)` from builders.py. Without a
PostgreSQL server the PostgreSQL tests skip, unless CI is set: there a missing server is
a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from genesys_export.sinks import open_sink
from genesys_export.sinks.base import Sink
from tests.sinks.builders import BUCKET, ENGINES, engine_param


@pytest.fixture(params=[engine_param(n) for n in ENGINES])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def dest(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The `--dest` URI of a new, empty destination on `engine`."""
    if engine == "duckdb":
        return f"duckdb:///{tmp_path}/db.duckdb"
    if engine == "parquet":
        return f"parquet://{tmp_path}/lake"
    if engine == "postgres":
        return str(request.getfixturevalue("uri"))
    request.getfixturevalue("s3")
    return f"s3://{BUCKET}/exports/genesys"


@pytest.fixture
def sink(dest: str) -> Iterator[Sink]:
    with open_sink(dest) as opened:
        yield opened
