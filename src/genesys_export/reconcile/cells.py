"""Cells and their comparison: Arrow in, Arrow out, no I/O.

A cell is one (bucket, queue, media type, metric) of a reconciliation. Both sides reach
`compare` in the same shape, `CELLS`: the bucket as its index from the interval's start,
the queue and media type (NULL where a session has none: a cell of its own), the metric,
a count and a sum. `n*` metrics count by summing their values and have no sum; `t*`
metrics count their occurrences and sum their values, as the aggregates'
`StatisticalSummary` does.

A cell present on one side only counts as zero there. A settled cell matches when its
counts differ by at most the tolerance and, where the counts are equal, its sums are
equal too (a count difference the tolerance accepts carries the durations of the events
it concerns, so those sums are not judged). A cell whose bucket ends after the settled
cutoff is pending: it lands with `matched` NULL and is never a difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.transform.tables import UTC_MS, UTC_US, TableSpec

KEY = ("bucket", "queue_id", "media_type", "metric")
CELLS = pa.schema(
    [
        pa.field("bucket", pa.int64()),
        pa.field("queue_id", pa.string()),
        pa.field("media_type", pa.string()),
        pa.field("metric", pa.string()),
        pa.field("count", pa.int64()),
        pa.field("sum", pa.float64()),
    ]
)
# What the details derivation answers: occurrences (n) and the total of their values.
DERIVED = pa.schema([*list(CELLS)[:4], pa.field("n", pa.int64()), pa.field("total", pa.int64())])
RECONCILIATION = TableSpec(
    "reconciliation",
    pa.schema(
        [
            pa.field("interval_start", UTC_MS, nullable=False),
            pa.field("granularity", pa.string(), nullable=False),
            pa.field("queue_id", pa.string()),
            pa.field("media_type", pa.string()),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("interval_end", UTC_MS, nullable=False),
            pa.field("details_count", pa.int64(), nullable=False),
            pa.field("aggregates_count", pa.int64(), nullable=False),
            pa.field("difference", pa.int64(), nullable=False),  # details - aggregates
            pa.field("details_sum", pa.float64()),
            pa.field("aggregates_sum", pa.float64()),
            pa.field("sum_difference", pa.float64()),
            pa.field("settled", pa.bool_(), nullable=False),
            pa.field("matched", pa.bool_()),  # NULL while pending
            pa.field("_run_id", pa.string(), nullable=False),
            pa.field("_checked_at", UTC_US, nullable=False),
        ]
    ),
    key=("interval_start", "granularity", "queue_id", "media_type", "metric"),
    partition_by="interval_start",
)
RUN_ID, CHECKED_AT = (
    RECONCILIATION.schema.field("_run_id"),
    RECONCILIATION.schema.field("_checked_at"),
)
PIECE = timedelta(days=1)  # buckets compared, and derived by DuckDB, at a time
_NULL_KEY = "\x00"  # stands in for NULL while joining: Arrow joins never match NULL keys
_SUM_EPSILON = 0.5  # sums are whole milliseconds; the aggregates give them as numbers
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Grid:
    """The buckets of a reconciliation: bucket i is [start + i*step, start + (i+1)*step)."""

    start: datetime
    step: timedelta
    granularity: str


@dataclass(frozen=True)
class Verdict:
    """How cells are judged: buckets ending after `settled_before` are pending."""

    settled_before: datetime
    tolerance: int = 0


def details_cells(derived: pa.Table) -> pa.Table:
    """Cells from the derivation's rows (see `DERIVED`)."""
    rows = derived.select(DERIVED.names).cast(DERIVED)
    counted = pc.starts_with(rows["metric"], "n")
    return pa.table(
        {
            **{name: rows[name] for name in KEY},
            "count": pc.if_else(counted, rows["total"], rows["n"]),
            "sum": pc.if_else(
                counted, pa.scalar(None, pa.float64()), pc.cast(rows["total"], pa.float64())
            ),
        },
        schema=CELLS,
    )


def aggregate_cells(table: pa.Table, grid: Grid) -> pa.Table:
    """Cells from the long-format aggregates table of a query grouped by queueId, mediaType.

    A dimension a group lacks may arrive as '' or as NULL; both become NULL.
    """
    since = pc.subtract(_column_ms(table["interval_start"]), epoch_ms(grid.start))
    cells = pa.table(
        {
            "bucket": pc.divide(since, grid.step // _MS),
            "queue_id": _blank_is_null(table["queue_id"]),
            "media_type": _blank_is_null(table["media_type"]),
            "metric": table["metric"],
            "count": pc.cast(table["count"], pa.int64()),
            "sum": pc.cast(table["sum"], pa.float64()),
        }
    )
    summed = cells.group_by(list(KEY), use_threads=False).aggregate(
        [("count", "sum"), ("sum", "sum")]
    )
    return pa.table(
        {
            **{name: summed[name] for name in KEY},
            "count": summed["count_sum"],
            "sum": summed["sum_sum"],
        }
    ).cast(CELLS)


def compare(
    details: pa.Table,
    aggregates: pa.Table,
    grid: Grid,
    verdict: Verdict,
    *,
    run_id: str,
    checked_at: datetime,
) -> pa.Table:
    """Every cell of either side, both values, the differences and the verdict: the rows
    of `RECONCILIATION`, ordered by bucket, queue, media type and metric."""
    pieces = compare_pieces(
        details, aggregates, grid, verdict, run_id=run_id, checked_at=checked_at
    )
    return pa.concat_tables([RECONCILIATION.schema.empty_table(), *pieces])


def compare_pieces(
    details: pa.Table,
    aggregates: pa.Table,
    grid: Grid,
    verdict: Verdict,
    *,
    run_id: str,
    checked_at: datetime,
) -> Iterator[pa.Table]:
    """`compare`, a day of buckets at a time, in order: a join and a sort over string keys
    take several times their rows' size in working memory, which a day keeps small, and
    the pieces can land as a stream."""
    per = max(1, PIECE // grid.step)
    ends = [pc.max(t["bucket"]).as_py() for t in (details, aggregates) if t.num_rows]
    for low in range(0, max(ends, default=-1) + 1, per):
        piece = _compared(
            _buckets(details, low, per), _buckets(aggregates, low, per), grid, verdict
        )
        if piece.num_rows:
            yield _stamped(piece, run_id, checked_at)


def _stamped(table: pa.Table, run_id: str, checked_at: datetime) -> pa.Table:
    n = table.num_rows
    for name, value in (
        ("_run_id", pa.scalar(run_id)),
        ("_checked_at", pa.scalar(checked_at, UTC_US)),
    ):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(index), pa.repeat(value, n))
    return table


def _buckets(cells: pa.Table, low: int, count: int) -> pa.Table:
    bucket = cells["bucket"]
    inside = pc.and_(pc.greater_equal(bucket, low), pc.less(bucket, low + count))
    return cells.filter(inside)


def _compared(details: pa.Table, aggregates: pa.Table, grid: Grid, verdict: Verdict) -> pa.Table:
    """`compare` for some buckets, with placeholder run columns."""
    joined = _keyed(details).join(
        _keyed(aggregates),
        list(KEY),
        join_type="full outer",
        left_suffix="_d",
        right_suffix="_a",
        coalesce_keys=True,
        use_threads=False,
    )
    timed = pc.starts_with(joined["metric"], "t")
    zero = pa.scalar(0.0, pa.float64())
    d_count, a_count = (pc.fill_null(joined[f"count_{s}"], 0) for s in "da")
    d_sum, a_sum = (
        pc.if_else(timed, pc.fill_null(joined[f"sum_{s}"], zero), joined[f"sum_{s}"]) for s in "da"
    )
    difference = pc.subtract(d_count, a_count)
    sum_difference = pc.subtract(d_sum, a_sum)
    start = pc.add(pc.multiply(joined["bucket"], grid.step // _MS), epoch_ms(grid.start))
    end = pc.add(start, grid.step // _MS)
    settled = pc.less_equal(end, epoch_ms(verdict.settled_before))
    n = joined.num_rows
    table = pa.table(
        {
            "interval_start": pc.cast(start, UTC_MS),
            "granularity": pa.repeat(pa.scalar(grid.granularity), n),
            "queue_id": _null_key(joined["queue_id"]),
            "media_type": _null_key(joined["media_type"]),
            "metric": joined["metric"],
            "interval_end": pc.cast(end, UTC_MS),
            "details_count": d_count,
            "aggregates_count": a_count,
            "difference": difference,
            "details_sum": d_sum,
            "aggregates_sum": a_sum,
            "sum_difference": sum_difference,
            "settled": settled,
            "matched": _matched(difference, sum_difference, settled, verdict.tolerance),
            "_run_id": pa.repeat(pa.scalar(""), n),
            "_checked_at": pa.repeat(pa.scalar(0, UTC_US), n),
        },
        schema=RECONCILIATION.schema,
    )
    order = [(name, "ascending") for name in ("interval_start", "queue_id", "media_type")]
    return table.sort_by([*order, ("metric", "ascending")])


def _matched(
    difference: pa.Array, sum_difference: pa.Array, settled: pa.Array, tolerance: int
) -> pa.Array:
    within = pc.less_equal(pc.abs(difference), tolerance)
    sums_equal = pc.fill_null(pc.less(pc.abs(sum_difference), _SUM_EPSILON), True)
    judged = pc.and_(within, pc.or_(pc.not_equal(difference, 0), sums_equal))
    return pc.if_else(settled, judged, pa.scalar(None, pa.bool_()))


def _keyed(cells: pa.Table) -> pa.Table:
    """`cells` with NULL queue and media type as a sentinel, so NULL joins NULL."""
    return cells.set_column(1, "queue_id", pc.fill_null(cells["queue_id"], _NULL_KEY)).set_column(
        2, "media_type", pc.fill_null(cells["media_type"], _NULL_KEY)
    )


def _null_key(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(column, _NULL_KEY), pa.scalar(None, pa.string()), column)


def _blank_is_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _column_ms(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(pc.cast(column, pa.timestamp("ms", tz="UTC")), pa.int64())


def epoch_ms(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // _MS
