"""What a reconciliation found, tallied piece by piece as its cells stream past.

Counts (cells compared, differing, pending), the largest differences, the worst cells and
the UTC days that hold a differing cell; only the worst few rows are kept, so a tally's
memory does not grow with the interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.reconcile.cells import RECONCILIATION

WORST = 10  # differing cells a summary names


@dataclass
class Tally:
    """Accumulates pieces of reconciliation rows (`RECONCILIATION`)."""

    cells: int = 0
    compared: int = 0
    differ: int = 0
    largest: int = 0
    largest_sum: float = 0.0
    days: set[date] = field(default_factory=set)
    worst: pa.Table = field(default_factory=RECONCILIATION.schema.empty_table)

    def add(self, piece: pa.Table) -> None:
        settled = piece.filter(piece["settled"])
        bad = differing(piece)
        self.cells += piece.num_rows
        self.compared += settled.num_rows
        self.differ += bad.num_rows
        self.largest = max(self.largest, pc.max(pc.abs(settled["difference"])).as_py() or 0)
        gap = pc.max(pc.abs(settled["sum_difference"])).as_py() or 0.0
        self.largest_sum = max(self.largest_sum, gap)
        self.days |= _days(bad)
        self.worst = differing(pa.concat_tables([self.worst, bad.slice(0, WORST)])).slice(0, WORST)

    def passing(self, pieces: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """The pieces, each tallied as it passes."""
        for piece in pieces:
            self.add(piece)
            yield piece

    def summary(self) -> dict[str, Any]:
        """Cells compared (settled), differing, pending; the largest differences; the worst
        cells (bucket, queue, media type, metric, both values)."""
        return {
            "cells_compared": self.compared,
            "cells_differ": self.differ,
            "cells_pending": self.cells - self.compared,
            "largest_difference": self.largest,
            "largest_sum_difference": self.largest_sum,
            "worst_cells": [_cell(row) for row in self.worst.to_pylist()],
        }


def summarize(table: pa.Table) -> dict[str, Any]:
    """The summary of a whole table of reconciliation rows."""
    tally = Tally()
    tally.add(table)
    return tally.summary()


def days_to_repair(table: pa.Table) -> list[date]:
    """The UTC days any differing cell's bucket touches, in order."""
    return sorted(_days(differing(table)))


def differing(table: pa.Table) -> pa.Table:
    """The settled cells that do not match, worst first (largest count, then sum gap)."""
    bad = table.filter(pc.invert(pc.fill_null(table["matched"], True)))
    ranked = bad.append_column("_count_gap", pc.abs(bad["difference"])).append_column(
        "_sum_gap", pc.fill_null(pc.abs(bad["sum_difference"]), 0.0)
    )
    ordered = ranked.sort_by([("_count_gap", "descending"), ("_sum_gap", "descending")])
    return ordered.drop_columns(["_count_gap", "_sum_gap"])


def _days(bad: pa.Table) -> set[date]:
    """Every UTC day the buckets of these cells touch (a few buckets: a loop over them)."""
    buckets = bad.select(["interval_start", "interval_end"]).group_by(
        ["interval_start", "interval_end"], use_threads=False
    )
    spans = buckets.aggregate([])
    days: set[date] = set()
    starts, ends = spans["interval_start"].to_pylist(), spans["interval_end"].to_pylist()
    for start, end in zip(starts, ends, strict=True):
        day = start.astimezone(UTC).date()
        while datetime.combine(day, datetime.min.time(), UTC) < end:
            days.add(day)
            day += timedelta(days=1)
    return days


def _cell(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "interval_start": row["interval_start"].isoformat(),
        "queue_id": row["queue_id"],
        "media_type": row["media_type"],
        "metric": row["metric"],
        "details_count": row["details_count"],
        "aggregates_count": row["aggregates_count"],
        "details_sum": row["details_sum"],
        "aggregates_sum": row["aggregates_sum"],
    }
