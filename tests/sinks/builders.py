"""Tables, keys and checkpoints shared by the sink tests (each sink's own CONVERSATIONS
spec stays in its file: each exercises the types that sink must carry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from genesys_export.chunks import Replacement
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import UTC_MS, TableSpec

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
