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

from collections.abc import Sequence
from dataclasses import replace
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
    read_limits,
)
from genesys_export.jobs.lifecycle import CONVERSATION_DETAILS, data_availability
from genesys_export.landing import Landing, Producer, land_details
from genesys_export.pipeline import Run, commit_tables, run_chunks, settled_cutoff
from genesys_export.reconcile.cells import (
    RECONCILIATION,
    Grid,
    Verdict,
    aggregate_cells,
    compare,
    days_to_repair,
    details_cells,
    differing,
    summarize,
)
from genesys_export.reconcile.derive import Window, derive_details
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


def reconcile(
    landing: Landing,
    query: AggregateQuery,
    *,
    tolerance: int = 0,
    repair: Producer | None = None,
    chunk_length: timedelta,
) -> dict[str, Any]:
    """Reconcile `query.interval` in `landing.sink`; the summary of what was found."""
    run, api = landing.run, landing.api
    availability = data_availability(api, CONVERSATION_DETAILS)
    grid = Grid(query.interval.start, query.step, query.granularity)
    verdict = Verdict(settled_cutoff(availability, run.extracted_at, landing.lookback), tolerance)
    aggregates = aggregate_cells(fetch_aggregates(landing, query, chunk_length), grid)
    window = Window(grid, query.interval.end, query.metrics)

    def judged() -> pa.Table:
        details = details_cells(derive_details(landing.sink, window))
        return compare(
            details, aggregates, grid, verdict, run_id=run.run_id, checked_at=datetime.now(UTC)
        )

    cells = judged()
    found, days = differing(cells).num_rows, days_to_repair(cells)
    if repair is not None and days:
        for piece in _runs_of(days):
            land_details(
                replace(landing, checkpointed=False),
                CONVERSATION_DETAILS,
                piece,
                repair,
                chunk_length=chunk_length,
            )
        cells = judged()
    land_cells(run, landing, cells, query)
    summary = summarize(cells)
    if repair is not None:
        summary |= {
            "repaired_days": [d.isoformat() for d in days],
            "cells_fixed": found - summary["cells_differ"],
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


def fetch_aggregates(landing: Landing, query: AggregateQuery, chunk_length: timedelta) -> pa.Table:
    """The aggregates of the query, chunked and split as any aggregates export."""
    run, api = landing.run, landing.api
    limits = read_limits(api)
    check_complexity(query, limits)
    chunks = plan_chunks(query, limits, chunk_length)
    tables: list[pa.Table] = [query.spec.schema.empty_table()]

    def keep(result: ChunkResult) -> None:
        if isinstance(result.validation, ValidationReport):
            result.validation.raise_if_failed()
        tables.extend(table for _, table, _ in result.tables if isinstance(table, pa.Table))
        run.progress.chunk_done(result.interval, {})

    run.progress.start("aggregates for reconciliation", len(chunks))
    ctx = RunContext(run.run_id, run.extracted_at)
    producer = AggregateProducer(api, run.event, ctx, query)
    run_chunks(chunks, producer, keep, concurrency=landing.concurrency, stop=api.stop)
    return pa.concat_tables(tables)


def land_cells(run: Run, landing: Landing, cells: pa.Table, query: AggregateQuery) -> None:
    """Replace every cell of the query's buckets with `cells`, in one transaction."""
    starts = query.edges(query.interval)[:-1]
    keys = pa.table(
        {
            "interval_start": pa.array(starts, RECONCILIATION.schema.field("interval_start").type),
            "granularity": pa.array([query.granularity] * len(starts), pa.string()),
        }
    )
    replacement = Replacement(keys, partition_dates(keys, "interval_start"))
    stats = commit_tables(landing.sink, [(RECONCILIATION, cells, replacement)], fresh_keys=True)
    name = RECONCILIATION.name
    run.rows[name] = run.rows.get(name, 0) + cells.num_rows
    run.files.update(stats.files)
    run.event(
        AuditEvent.TABLE_WRITTEN,
        dataset=name,
        interval=query.interval.iso(),
        rows={name: cells.num_rows},
        deleted=stats.deleted,
        files=stats.files,
    )


def raise_if_differ(
    found: dict[str, Any], *, what: str = "reconcile", summary: dict[str, Any] | None = None
) -> None:
    """CellsDiffer (exit 6) naming the worst cells, when settled cells differ.

    `found` is what `reconcile` returned; the error carries `summary` (default `found`).
    """
    differ = found.get("cells_differ", 0)
    if not differ:
        return
    worst = "; ".join(_describe(cell) for cell in found.get("worst_cells", [])[:3])
    raise CellsDiffer(
        f"{what}: {differ} of {found['cells_compared']} settled cells differ (largest "
        f"count difference {found['largest_difference']}); worst: {worst}; every cell is "
        "in table reconciliation (reconcile --repair exports the differing days again)",
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
