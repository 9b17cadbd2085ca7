"""Tables, keys, checkpoints, engines and test servers shared by the sink tests.

CONVERSATIONS carries every type the sinks must carry; every sink test uses it, and
`seed` puts the same two conversations in any sink.
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

# Every kind of column a sink must carry: text, a UTC timestamp, integers, floats and
# booleans, a list (empty or not) and a struct (present or null).
CONVERSATIONS = TableSpec(
    "conversations",
    pa.schema(
        [
            pa.field("conversation_id", pa.string(), nullable=False),
            pa.field("conversation_start", UTC_MS, nullable=False),
            pa.field("duration_ms", pa.int64()),
            pa.field("score", pa.float64()),
            pa.field("answered", pa.bool_()),
            pa.field("note", pa.string()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("wrapup", pa.struct([("code", pa.string()), ("ms", pa.int64())])),
        ]
    ),
    key=("conversation_id",),
    partition_by="conversation_start",
)


def conversations(*rows: tuple[str, datetime, int]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "conversation_id": cid,
                "conversation_start": start,
                "duration_ms": ms,
                "score": ms / 10,
                "answered": ms % 2 == 0,
                "note": f"note {ms}",
                "tags": ["a"] * (ms % 3),
                "wrapup": {"code": f"w{ms}", "ms": ms} if ms % 3 else None,
            }
            for cid, start, ms in rows
        ],
        schema=CONVERSATIONS.schema,
    )


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


def seed(sink: Any, c2_ms: int = 200) -> Any:
    """c1 (May 1) with participants p1, p2; c2 (May 2) with p1; and a checkpoint at DAY2."""
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 100), ("c2", DAY2, c2_ms)))
    sink.append(
        PARTICIPANTS,
        participants(
            ("c1", "p1", DAY1, "agent"), ("c1", "p2", DAY1, "customer"), ("c2", "p1", DAY2, "agent")
        ),
    )
    sink.commit([checkpoint(DAY2)])
    return sink


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
