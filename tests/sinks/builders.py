"""Tables, keys, checkpoints, engines and test servers shared by the sink tests.

The contract suite (test_contract.py) has a CONVERSATIONS spec with every type the sinks
must carry; each engine's file keeps its own for what only that engine does.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pytest

from genesys_export.chunks import Replacement
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import UTC_MS, TableSpec

ENGINES = ("duckdb", "parquet", "postgres", "s3")  # the `engine` fixture's (conftest.py)
# PostgreSQL: the server from GENESYS_EXPORT_TEST_POSTGRES_DSN (default: the local one).
DSN = os.environ.get(
    "GENESYS_EXPORT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
PASSWORD = "not-a-real-pw-4f9c"  # trust auth ignores it; it must never show up anywhere
# S3: the bucket made on moto's server for each test.
BUCKET = "genesys-lake"

DAY1 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
DAY2 = datetime(2024, 5, 2, 23, 30, tzinfo=UTC)

PARTICIPANTS = TableSpec(
    "participants",
    pa.schema(
        [
            pa.field("conversation_id", pa.string(), nullable=False),
            pa.field("participant_id", pa.string(), nullable=False),
            pa.field("conversation_start", UTC_MS, nullable=False),
            pa.field("purpose", pa.string()),
        ]
    ),
    key=("conversation_id", "participant_id"),
    partition_by="conversation_start",
)


def participants(*rows: tuple[str, str, datetime, str]) -> pa.Table:
    names = PARTICIPANTS.schema.names
    return pa.Table.from_pylist(
        [dict(zip(names, r, strict=True)) for r in rows], schema=PARTICIPANTS.schema
    )


def keys(*ids: str, days: tuple[datetime, ...] = ()) -> Replacement:
    """Replace conversations `ids`, living in the partitions of `days`."""
    return Replacement(
        pa.table({"conversation_id": pa.array(ids, pa.string())}),
        frozenset(d.date() for d in days),
    )


def checkpoint(until: datetime, dataset: str = "conversations") -> Checkpoint:
    return Checkpoint(
        dataset=dataset,
        export_kind="conversation_details",
        written_until=until,
        settled_until=until - timedelta(hours=1),
        run_id="run-1",
        updated_at=until,
    )


def rows_of(table: pa.Table, *columns: str) -> list[tuple[object, ...]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def with_password(dsn: str) -> str:
    """The DSN with a password in its user info (trust auth accepts any)."""
    parts = urlsplit(dsn)
    if parts.password is not None:
        return dsn
    user = parts.username or "postgres"
    netloc = f"{user}:{PASSWORD}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def engine_param(name: str) -> Any:
    """`name` as a parameter of the `engine` fixture; PostgreSQL's carries its marker."""
    marks = [pytest.mark.postgres] if name == "postgres" else []
    return pytest.param(name, marks=marks, id=name)


def engines(*names: str) -> pytest.MarkDecorator:
    """Run the test on these engines only: a scenario the others do not promise."""
    assert set(names) <= set(ENGINES), names
    return pytest.mark.parametrize("engine", [engine_param(n) for n in names], indirect=True)
