"""A reconciliation: Genesys' aggregates against the landed details, landed cell by cell.

    query = reconcile_query("2024-05-01/2024-05-08")         # checked: exit 2 when wrong
    summary = reconcile(landing, query, tolerance=0, repair=producer, chunk_length=P1D)

Steps: the data-availability date (one request) fixes which buckets are settled; the
aggregates query, grouped by queueId and mediaType, goes through the checks and the
chunking every aggregates export has; the destination derives the same cells from its
`session_metrics` (`derive.py`); `cells.compare` judges them. With a `repair` producer, the
UTC days holding a differing cell are exported again (each conversation replaced whole)
and the details derived again against the same aggregates, so days without a difference
cost no request. The final cells replace those of their buckets in the `reconciliation`
table, and `reconcile.finished` goes to the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from genesys_export.chunks import ChunkResult, Replacement, partition_dates
from genesys_export.errors import CellsDiffer, ConfigError
from genesys_export.events import AuditEvent
from genesys_export.intervals import Interval
from genesys_export.jobs.aggregates import (
    AggregateProducer,
    AggregateQuery,
    build_aggregate_query,
    check_complexity,
    plan_chunks,
)
from genesys_export.jobs.lifecycle import CONVERSATION_DETAILS, data_availability
from genesys_export.landing import Landing, Producer, land_details
from genesys_export.pipeline import Run, commit_tables, run_chunks, settled_cutoff
from genesys_export.reconcile.cells import (
    CELLS,
    RECONCILIATION,
    Grid,
    Verdict,
    aggregate_cells,
    compare_pieces,
    details_cells,
)
from genesys_export.reconcile.derive import Window, derive_details
from genesys_export.reconcile.tally import Tally
from genesys_export.transform.tables import RunContext
from genesys_export.validate import ValidationReport

DEFAULT_METRICS = ("nOffered", "nConnected", "tHandle", "tTalk", "tAcw", "tAnswered")
DEFAULT_GRANULARITY = "PT30M"
GROUP_BY = ("queueId", "mediaType")


def reconcile_query(
    interval: str | Interval,
    *,
    granularity: str = DEFAULT_GRANULARITY,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> AggregateQuery:
    """The aggregates query of a reconciliation, checked like any aggregates export.

    Only `n*` and `t*` metrics have session metrics to add up; buckets are UTC.
    """
    query = build_aggregate_query(
        interval,
        granularity=granularity,
        group_by=GROUP_BY,
        metrics=metrics,
        name="reconciliation_aggregates",
    )
    if others := [m for m in query.metrics if m[0] not in "nt"]:
        raise ConfigError(
            f"--metrics: {others[0]!r} cannot be reconciled; details carry counts (n*) and "
            "durations (t*) only, e.g. nOffered,tHandle"
        )
    return query


def check_tolerance(tolerance: int) -> int:
    if tolerance < 0:
        raise ConfigError(f"--tolerance {tolerance}: use a count of 0 or more")
    return tolerance


@dataclass(frozen=True)
class Judge:
    """Compares derived details with the aggregates' cells, a day of buckets at a time."""

    aggregates: pa.Table
    grid: Grid
    verdict: Verdict
    run_id: str

    def pieces(self, derived: pa.Table) -> Iterator[pa.Table]:
        return compare_pieces(
            details_cells(derived),
            self.aggregates,
            self.grid,
            self.verdict,
            run_id=self.run_id,
            checked_at=datetime.now(UTC),
        )


def reconcile(
    landing: Landing,
    query: AggregateQuery,
    *,
    tolerance: int = 0,
    repair: Producer | None = None,
    chunk_length: timedelta,
) -> dict[str, Any]:
    """Reconcile `query.interval` in `landing.sink`; the summary of what was found."""
    run = landing.run
    availability = data_availability(landing.api, CONVERSATION_DETAILS)
    grid = Grid(query.interval.start, query.step, query.granularity)
    verdict = Verdict(settled_cutoff(availability, run.extracted_at, landing.lookback), tolerance)
    window = Window(grid, query.interval.start, query.interval.end, query.metrics)
    # The destination derives its cells while the aggregates are asked for.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="derive") as pool:
        derived = pool.submit(derive_details, landing.sink, window)
        aggregates = fetch_aggregates(landing, query, grid, chunk_length)
        judge = Judge(aggregates, grid, verdict, run.run_id)
        details = derived.result()
    repaired = None
    if repair is not None:
        details, repaired = _repaired(landing, judge, details, window, repair, chunk_length)
    tally = Tally()
    land_cells(run, landing, tally.passing(judge.pieces(details)), query)
    summary = tally.summary()
    if repaired is not None:
        summary |= {
            "repaired_days": [d.isoformat() for d in repaired.days],
            "cells_fixed": repaired.differed - tally.differ,
        }
    run.event(
        AuditEvent.RECONCILE_FINISHED,
        interval=query.interval.iso(),
        granularity=query.granularity,
        **{k: v for k, v in summary.items() if k != "worst_cells"},
    )
    return {
        "interval": query.interval.iso(),
        "granularity": query.granularity,
        "metrics": list(query.metrics),
        "tolerance": tolerance,
        "data_availability": availability.isoformat(),
        "settled_until": min(verdict.settled_before, query.interval.end).isoformat(),
        **summary,
    }


@dataclass(frozen=True)
class Repaired:
    """What a repair did: the days it exported again, and the cells that differed before."""

    days: list[date]
    differed: int


def _repaired(
    landing: Landing,
    judge: Judge,
    details: pa.Table,
    window: Window,
    producer: Producer,
    chunk_length: timedelta,
) -> tuple[pa.Table, Repaired]:
    """The details after exporting again the days that differ (none: as they were)."""
    first = Tally()
    for piece in judge.pieces(details):
        first.add(piece)
    days = sorted(first.days)
    if days:
        _repair(landing, days, producer, chunk_length)
        details = derive_details(landing.sink, window)
    return details, Repaired(days, first.differ)


def _repair(
    landing: Landing, days: Sequence[date], producer: Producer, chunk_length: timedelta
) -> None:
    """Export these UTC days again, each conversation replaced whole (no checkpoint)."""
    for piece in _runs_of(days):
        land_details(
            replace(landing, checkpointed=False),
            CONVERSATION_DETAILS,
            piece,
            producer,
            chunk_length=chunk_length,
        )


def fetch_aggregates(
    landing: Landing, query: AggregateQuery, grid: Grid, chunk_length: timedelta
) -> pa.Table:
    """The aggregates' cells (`CELLS`), queried in the chunks and splits of any aggregates
    export; each chunk's answer is cut down to its cells as it arrives."""
    run, api = landing.run, landing.api
    limits = run.limits()
    check_complexity(query, limits)
    chunks = plan_chunks(query, limits, chunk_length)
    cells: list[pa.Table] = [CELLS.empty_table()]

    def keep(result: ChunkResult) -> None:
        if isinstance(result.validation, ValidationReport):
            result.validation.raise_if_failed()
        for _, table, _ in result.tables:
            if isinstance(table, pa.Table):
                cells.append(aggregate_cells(table, grid))
        run.progress.chunk_done(result.interval, {})

    run.progress.start("aggregates for reconciliation", len(chunks))
    ctx = RunContext(run.run_id, run.extracted_at)
    producer = AggregateProducer(api, run.event, ctx, query)
    run_chunks(chunks, producer, keep, concurrency=landing.concurrency, stop=api.stop)
    return pa.concat_tables(cells)


def land_cells(run: Run, landing: Landing, cells: Iterable[pa.Table], query: AggregateQuery) -> int:
    """Replace every cell of the query's buckets with `cells` (a stream of pieces), in one
    transaction; the number of cells."""
    starts = query.edges(query.interval)[:-1]
    keys = pa.table(
        {
            "interval_start": pa.array(starts, RECONCILIATION.schema.field("interval_start").type),
            "granularity": pa.array([query.granularity] * len(starts), pa.string()),
        }
    )
    replacement = Replacement(keys, partition_dates(keys, "interval_start"))
    counted = _Counted(cells)
    stats = commit_tables(landing.sink, [(RECONCILIATION, counted, replacement)], fresh_keys=True)
    name = RECONCILIATION.name
    run.rows[name] = run.rows.get(name, 0) + counted.rows
    run.files.update(stats.files)
    run.event(
        AuditEvent.TABLE_WRITTEN,
        dataset=name,
        interval=query.interval.iso(),
        rows={name: counted.rows},
        deleted=stats.deleted,
        files=stats.files,
    )
    return counted.rows


class _Counted:
    """Tables handed out one by one, their rows counted on the way."""

    def __init__(self, tables: Iterable[pa.Table]) -> None:
        self._tables = tables
        self.rows = 0

    def __iter__(self) -> Iterator[pa.Table]:
        for table in self._tables:
            self.rows += table.num_rows
            yield table


def raise_if_differ(
    found: dict[str, Any], *, what: str = "reconcile", summary: dict[str, Any] | None = None
) -> None:
    """CellsDiffer (exit 6) naming the worst cells, when settled cells differ.

    `found` is what `reconcile` returned; the error carries `summary` (default `found`).
    """
    differ = found.get("cells_differ", 0)
    if not differ:
        return
    worst = _describe(found["worst_cells"][0]) if found.get("worst_cells") else "none"
    raise CellsDiffer(
        f"{what}: {differ} of {found['cells_compared']} settled cells differ (largest "
        f"count difference {found['largest_difference']}; worst {worst}); every cell is "
        "in table reconciliation; reconcile --repair exports the differing days again",
        summary=found if summary is None else summary,
    )


def _describe(cell: dict[str, Any]) -> str:
    sums = ""
    if cell.get("details_sum") is not None or cell.get("aggregates_sum") is not None:
        sums = f", sums {_ms(cell['details_sum'])} vs {_ms(cell['aggregates_sum'])}"
    return (
        f"{cell['interval_start']} queue {cell['queue_id']} {cell['media_type']} "
        f"{cell['metric']}: details {cell['details_count']} vs aggregates "
        f"{cell['aggregates_count']}{sums}"
    )


def _ms(total: float | None) -> str:
    return "none" if total is None else f"{total:.0f} ms"


def newly_settled(before: datetime, after: datetime) -> Interval | None:
    """The whole UTC days that were not settled at `before` and are at `after`."""
    start = _midnight(before)
    end = _midnight(after)
    return Interval(start, end) if start < end else None


def _midnight(instant: datetime) -> datetime:
    return datetime.combine(instant.astimezone(UTC).date(), datetime.min.time(), UTC)


def _runs_of(days: Sequence[date]) -> list[Interval]:
    """Consecutive UTC days as one interval each."""
    pieces: list[Interval] = []
    for day in days:
        start = datetime.combine(day, datetime.min.time(), UTC)
        if pieces and pieces[-1].end == start:
            pieces[-1] = Interval(pieces[-1].start, start + timedelta(days=1))
        else:
            pieces.append(Interval(start, start + timedelta(days=1)))
    return pieces
