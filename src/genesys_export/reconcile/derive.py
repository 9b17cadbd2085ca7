"""The details' side of a reconciliation, derived where the details are.

One SQL statement, run by the destination's own engine, so only cells travel back, never
a row of details:

- the metrics of `session_metrics` emitted inside the window, each in the bucket of its
  `emit_date` (the aggregates count an event when it happens, not when its conversation
  started);
- each attributed to its session's `media_type` (`sessions`) and to the first `queue_id`
  among that session's segments by `segment_index` (NULL when no segment has one);
- grouped by bucket, queue, media type and metric: occurrences and the total of values.

A metric is never emitted before its conversation starts, so every table is read only for
conversations that started before the window's end and no earlier than the earliest
conversation with a metric in it, which lets the engines skip partitions, row groups and
zone maps.

Engines: PostgreSQL runs the window in one statement (it plans and spills by itself).
DuckDB runs it a day of buckets at a time, so its hash tables hold one day's sessions
within the sink's memory limit (measured on 200,000 conversations over 30 days: 64 MB
and one thread, 1.5 s; the whole window at once needs about 700 MB). Parquet, on disk or
S3, is read by DuckDB a day at a time too, each table as an Arrow stream of just the
columns and rows the day needs, from just the partitions whose `emit_date` statistics
(read once from the footers) overlap it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from genesys_export.errors import ConfigError, SinkError
from genesys_export.reconcile.cells import DERIVED, PIECE, Grid, epoch_ms
from genesys_export.sinks.base import Sink
from genesys_export.sinks.deferred import DeferredSink

if TYPE_CHECKING:
    import duckdb

TABLES = ("session_metrics", "sessions", "segments")
_IDS = ("conversation_id", "session_id", "conversation_start")
COLUMNS = {
    "session_metrics": (*_IDS, "name", "value", "emit_date"),
    "sessions": (*_IDS, "media_type"),
    "segments": (*_IDS, "segment_index", "queue_id"),
}
# DuckDB over Parquet: its buffer pool and threads (one: measured no faster with two on
# two cores, and more memory), and the Arrow stream's batch size.
PARQUET_MEMORY = "64MB"
PARQUET_BATCH_ROWS = 65_536


@runtime_checkable
class Queryable(Protocol):
    """A database sink that answers SQL over its committed tables (DuckDB, PostgreSQL)."""

    dialect: str

    def has_table(self, name: str) -> bool: ...

    def query(self, statement: str, *, tables: Sequence[str] = ()) -> pa.Table: ...


@runtime_checkable
class PartitionedFiles(Protocol):
    """A file sink: one Parquet file per table and UTC date, on a pyarrow filesystem."""

    fs: pafs.FileSystem

    def partition_files(self, name: str) -> dict[date, str]: ...


@dataclass(frozen=True)
class Window:
    """What to derive: the buckets of `grid` in [start, end), for `metrics`."""

    grid: Grid
    start: datetime
    end: datetime
    metrics: tuple[str, ...]

    def pieces(self) -> list[Window]:
        """Bucket-aligned pieces of about `PIECE` (at least one bucket each)."""
        per = max(1, PIECE // self.grid.step) * self.grid.step
        cuts = [self.start + per * i for i in range(-(-(self.end - self.start) // per))]
        return [replace(self, start=c, end=min(c + per, self.end)) for c in cuts]


def derive_details(sink: Sink, window: Window) -> pa.Table:
    """The derivation's rows (`DERIVED`) for the window; none without details."""
    if isinstance(sink, DeferredSink):  # a run's sink opens on first use
        sink = sink.open()
    if isinstance(sink, PartitionedFiles):
        parts = _from_parquet(sink, window)
    elif isinstance(sink, Queryable):
        parts = _from_database(sink, window)
    else:
        raise ConfigError(f"--dest {sink.uri} cannot be read back; reconcile needs one that can")
    rows = [part.select(DERIVED.names).cast(DERIVED) for part in parts]
    return pa.concat_tables([DERIVED.empty_table(), *rows])


def _from_database(sink: Queryable, window: Window) -> Iterator[pa.Table]:
    if not all(sink.has_table(name) for name in TABLES):
        return
    pieces = [window] if sink.dialect == "postgres" else window.pieces()
    for piece in pieces:
        yield sink.query(details_sql(sink.dialect, piece), tables=TABLES)


def _from_parquet(sink: PartitionedFiles, window: Window) -> Iterator[pa.Table]:
    import duckdb

    files = {name: sink.partition_files(name) for name in TABLES}
    if not all(files.values()):
        return
    spans = _emit_spans(sink.fs, files["session_metrics"])
    con = duckdb.connect(config={"threads": 1, "memory_limit": PARQUET_MEMORY})
    try:
        for piece in window.pieces():
            days = [
                d for d, (low, high) in spans.items() if low < piece.end and high >= piece.start
            ]
            if not days:
                continue
            for name in TABLES:
                paths = [files[name][d] for d in sorted(days) if d in files[name]]
                _source(con, sink.fs, paths, name, piece)
            yield con.sql(details_sql("duckdb", piece)).to_arrow_table()
    except duckdb.Error as exc:
        raise SinkError(f"reconcile: reading the Parquet details failed ({exc})") from exc
    finally:
        con.close()


def _emit_spans(
    fs: pafs.FileSystem, files: Mapping[date, str]
) -> dict[date, tuple[datetime, datetime]]:
    """Per partition, the earliest and latest `emit_date` its footer's statistics give
    (the widest span where a row group has none)."""
    widest = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    spans = {}
    for day, path in files.items():
        meta = pq.read_metadata(path, filesystem=fs)
        names = [meta.schema.column(j).name for j in range(meta.num_columns)]
        if "emit_date" not in names or meta.num_rows == 0:
            continue
        column = names.index("emit_date")
        stats = [meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)]
        if all(s is not None and s.has_min_max for s in stats):
            spans[day] = (min(_aware(s.min) for s in stats), max(_aware(s.max) for s in stats))
        else:
            spans[day] = widest
    return spans


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _source(
    con: duckdb.DuckDBPyConnection,
    fs: pafs.FileSystem,
    paths: list[str],
    name: str,
    piece: Window,
) -> None:
    """Table `name` for DuckDB: its own Parquet reader on a local disk (faster, and half
    the memory of an Arrow stream), unless a path holds what it would take for a glob;
    elsewhere (S3) an Arrow stream through `fs`."""
    if isinstance(fs, pafs.LocalFileSystem) and not any(c in "".join(paths) for c in "*?[{"):
        files = ", ".join(_text(path) for path in paths)
        scan = f"read_parquet([{files}], union_by_name = true)"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {scan}")
    else:
        con.register(name, _stream(fs, paths, name, piece))


def _stream(
    fs: pafs.FileSystem, paths: list[str], name: str, piece: Window
) -> pa.RecordBatchReader:
    """The rows of `name` the piece can need, as a stream of small batches."""
    started = pc.field("conversation_start") < pa.scalar(piece.end, pa.timestamp("ms", "UTC"))
    if name == "session_metrics":
        emitted = pc.field("emit_date")
        start, end = (pa.scalar(t, pa.timestamp("ms", "UTC")) for t in (piece.start, piece.end))
        started = started & (emitted >= start) & (emitted < end)
        started = started & pc.field("name").isin(pa.array(piece.metrics, pa.string()))
    dataset = ds.dataset(paths, format="parquet", filesystem=fs)
    scanner = dataset.scanner(
        columns=list(COLUMNS[name]),
        filter=started,
        batch_size=PARQUET_BATCH_ROWS,
        batch_readahead=1,
        fragment_readahead=1,
    )
    return scanner.to_reader()


def details_sql(dialect: str, window: Window) -> str:
    """The derivation of `window` in `dialect` ("duckdb" or "postgres")."""
    grid = window.grid
    start, end = _timestamp(window.start), _timestamp(window.end)
    names = ", ".join(_text(metric) for metric in window.metrics)
    step_ms = grid.step // timedelta(milliseconds=1)

    def since(alias: str) -> str:
        column = f"{alias}.conversation_start"
        return f"{column} < {end} AND {column} >= (SELECT lo FROM lo)"

    if dialect == "postgres":
        since_start = f"extract(epoch FROM emit_date) * 1000 - {epoch_ms(grid.start)}"
        bucket = f"floor(({since_start}) / {step_ms})::bigint"
        first_queue = (
            "SELECT DISTINCT ON (g.conversation_id, g.session_id) g.conversation_id, "
            "g.session_id, g.queue_id FROM segments g JOIN k USING (conversation_id, session_id) "
            f"WHERE g.queue_id IS NOT NULL AND {since('g')} "
            "ORDER BY g.conversation_id, g.session_id, g.segment_index"
        )
    else:
        bucket = f"(epoch_ms(emit_date) - {epoch_ms(grid.start)}) // {step_ms}"
        first_queue = (
            "SELECT g.conversation_id, g.session_id, arg_min(g.queue_id, g.segment_index) "
            "AS queue_id FROM segments g JOIN k USING (conversation_id, session_id) "
            f"WHERE g.queue_id IS NOT NULL AND {since('g')} "
            "GROUP BY g.conversation_id, g.session_id"
        )
    return f"""
WITH m AS (
    SELECT conversation_id, session_id, conversation_start, name, value, {bucket} AS bucket
    FROM session_metrics
    WHERE emit_date >= {start} AND emit_date < {end} AND name IN ({names})
      AND conversation_start < {end}
),
lo AS (SELECT min(conversation_start) AS lo FROM m),
k AS (SELECT DISTINCT conversation_id, session_id FROM m),
q AS ({first_queue}),
s AS (
    SELECT x.conversation_id, x.session_id, x.media_type
    FROM sessions x JOIN k USING (conversation_id, session_id) WHERE {since("x")}
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
