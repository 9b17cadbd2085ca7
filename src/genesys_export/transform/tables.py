"""What every table is: its name, Arrow schema, key and partition column.

This module is shared by the transforms (which build tables) and the sinks (which store
them), so neither knows the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

UTC_MS = pa.timestamp("ms", tz="UTC")
UTC_US = pa.timestamp("us", tz="UTC")

# Columns every row carries, appended after the data columns.
RUN_FIELDS = (
    pa.field("_run_id", pa.string(), nullable=False),
    pa.field("_extracted_at", UTC_US, nullable=False),
)
SETTLED_FIELD = pa.field("_settled", pa.bool_(), nullable=False)


@dataclass(frozen=True)
class TableSpec:
    """A destination table.

    `key` names the columns that identify a row (unique, never null). `partition_by` names
    the timestamp column whose UTC date picks the Parquet partition (`date=YYYY-MM-DD`).
    """

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    partition_by: str

    def __post_init__(self) -> None:
        missing = [c for c in (*self.key, self.partition_by) if c not in self.schema.names]
        if missing:
            raise ValueError(f"table {self.name}: columns {missing} are not in its schema")


@dataclass(frozen=True)
class RunContext:
    """What a transform needs to stamp rows: no clock reads inside transforms."""

    run_id: str
    extracted_at: datetime
    # Rows whose activity ends at or after this instant are provisional (`_settled` false):
    # inside the data-availability watermark or the reprocessing lookback.
    settled_before: datetime | None = None


def run_columns(n: int, ctx: RunContext) -> list[pa.Array]:
    """`_run_id` and `_extracted_at` (constant per run) for `n` rows, in `RUN_FIELDS` order."""
    run_id = pa.repeat(pa.scalar(ctx.run_id, pa.string()), n)
    return [run_id, pa.repeat(pa.scalar(ctx.extracted_at, UTC_US), n)]


def with_run_columns(table: pa.Table, ctx: RunContext) -> pa.Table:
    """Append `_run_id` and `_extracted_at` (constant per run) to a table."""
    run_id, extracted_at = run_columns(table.num_rows, ctx)
    table = table.append_column(RUN_FIELDS[0], run_id)
    return table.append_column(RUN_FIELDS[1], extracted_at)


def settled_flags(ends: pa.ChunkedArray | pa.Array, ctx: RunContext) -> pa.ChunkedArray | pa.Array:
    """True where an activity ended before `ctx.settled_before`; open-ended rows are not settled.

    Without `settled_before` every activity that has ended is settled.
    """
    if ctx.settled_before is None:
        return pc.is_valid(ends)
    flags = pc.less(pc.cast(ends, UTC_MS), pa.scalar(ctx.settled_before, UTC_MS))
    return pc.fill_null(flags, False)
