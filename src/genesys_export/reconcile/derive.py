"""The details' side of a reconciliation, derived where the details are.

One SQL statement per destination, run by the destination's own engine (DuckDB for a
DuckDB file and, over Arrow datasets of its files, for Parquet on disk or S3; PostgreSQL
for PostgreSQL), so only the cells travel back, never a row of details:

- the metrics of `session_metrics` emitted inside the interval, each in the bucket of its
  `emit_date` (the aggregates count an event when it happens, not when its conversation
  started);
- each attributed to its session's `media_type` (`sessions`) and to the first `queue_id`
  among that session's segments, by `segment_index` (NULL when no segment has one);
- grouped by bucket, queue, media type and metric: occurrences and the total of values.

A metric cannot be emitted before its conversation starts, so every table is read only
up to the interval's end (`conversation_start < end`), which lets the engines skip later
partitions, row groups or index ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import pyarrow as pa

from genesys_export.errors import ConfigError
from genesys_export.reconcile.cells import DERIVED, Grid, epoch_ms
from genesys_export.sinks.base import Sink

TABLES = ("session_metrics", "sessions", "segments")


@runtime_checkable
class Queryable(Protocol):
    """A sink that can answer SQL over its committed tables (all of ours can)."""

    dialect: str

    def has_table(self, name: str) -> bool: ...

    def query(self, statement: str, *, tables: Sequence[str] = ()) -> pa.Table: ...


@dataclass(frozen=True)
class Window:
    """What to derive: the buckets of `grid` from its start to `end`, for `metrics`."""

    grid: Grid
    end: datetime
    metrics: tuple[str, ...]


def derive_details(sink: Sink, window: Window) -> pa.Table:
    """The derivation's rows (`DERIVED`) for the window; empty without details."""
    if not isinstance(sink, Queryable):
        raise ConfigError(f"--dest {sink.uri} cannot be read back; reconcile needs one that can")
    if not all(sink.has_table(name) for name in TABLES):
        return DERIVED.empty_table()
    statement = details_sql(sink.dialect, window)
    return sink.query(statement, tables=TABLES).select(DERIVED.names).cast(DERIVED)


def details_sql(dialect: str, window: Window) -> str:
    """The derivation in `dialect` ("duckdb" or "postgres")."""
    grid = window.grid
    start, end = _timestamp(grid.start), _timestamp(window.end)
    names = ", ".join(_text(metric) for metric in window.metrics)
    since = f"conversation_start < {end}"
    step_ms = grid.step // timedelta(milliseconds=1)
    if dialect == "postgres":
        bucket = (
            f"floor((extract(epoch FROM emit_date) * 1000 - {epoch_ms(grid.start)}) "
            f"/ {step_ms})::bigint"
        )
        first_queue = (
            "SELECT DISTINCT ON (g.conversation_id, g.session_id) g.conversation_id, "
            "g.session_id, g.queue_id FROM segments g JOIN k USING (conversation_id, session_id) "
            f"WHERE g.queue_id IS NOT NULL AND g.{since} "
            "ORDER BY g.conversation_id, g.session_id, g.segment_index"
        )
    else:
        bucket = f"(epoch_ms(emit_date) - {epoch_ms(grid.start)}) // {step_ms}"
        first_queue = (
            "SELECT g.conversation_id, g.session_id, arg_min(g.queue_id, g.segment_index) "
            "AS queue_id FROM segments g JOIN k USING (conversation_id, session_id) "
            f"WHERE g.queue_id IS NOT NULL AND g.{since} GROUP BY g.conversation_id, g.session_id"
        )
    return f"""
WITH m AS (
    SELECT conversation_id, session_id, name, value, {bucket} AS bucket
    FROM session_metrics
    WHERE emit_date >= {start} AND emit_date < {end} AND name IN ({names}) AND {since}
),
k AS (SELECT DISTINCT conversation_id, session_id FROM m),
q AS ({first_queue}),
s AS (
    SELECT x.conversation_id, x.session_id, x.media_type
    FROM sessions x JOIN k USING (conversation_id, session_id) WHERE x.{since}
)
SELECT m.bucket AS bucket, q.queue_id AS queue_id, s.media_type AS media_type,
       m.name AS metric, count(*) AS n, CAST(sum(m.value) AS BIGINT) AS total
FROM m
LEFT JOIN s USING (conversation_id, session_id)
LEFT JOIN q USING (conversation_id, session_id)
GROUP BY 1, 2, 3, 4
"""


def _timestamp(instant: datetime) -> str:
    text = instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"CAST('{text}+00' AS TIMESTAMPTZ)"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
