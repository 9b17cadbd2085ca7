"""Comparing cells: null-aware keys, n* and t* rules, tolerance, pending buckets, repair days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from genesys_export.reconcile.cells import (
    CELLS,
    DERIVED,
    RECONCILIATION,
    Grid,
    Verdict,
    aggregate_cells,
    compare,
    compare_pieces,
    details_cells,
)
from genesys_export.reconcile.tally import Tally, days_to_repair, summarize
from genesys_export.transform.schemas import aggregate_spec

START = datetime(2024, 5, 8, tzinfo=UTC)
GRID = Grid(START, timedelta(minutes=30), "PT30M")
SETTLED = Verdict(datetime(2024, 5, 10, tzinfo=UTC))
CHECKED = datetime(2024, 6, 1, tzinfo=UTC)


def cells(*rows: tuple[Any, ...]) -> pa.Table:
    names = CELLS.names
    return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows], CELLS)


def judge(details: pa.Table, aggregates: pa.Table, verdict: Verdict = SETTLED) -> pa.Table:
    return compare(details, aggregates, GRID, verdict, run_id="r1", checked_at=CHECKED)


def rows(table: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in table.to_pylist()]


def test_derived_rows_become_cells_by_metric_family() -> None:
    """An n* metric counts by its values and has no sum; a t* metric counts occurrences
    and sums its values."""
    derived = pa.Table.from_pylist(
        [
            {
                "bucket": 0,
                "queue_id": "q",
                "media_type": "voice",
                "metric": "nOffered",
                "n": 3,
                "total": 2,
            },
            {
                "bucket": 0,
                "queue_id": "q",
                "media_type": "voice",
                "metric": "tHandle",
                "n": 3,
                "total": 900,
            },
        ],
        DERIVED,
    )
    assert rows(details_cells(derived), "metric", "count", "sum") == [
        ("nOffered", 2, None),
        ("tHandle", 3, 900.0),
    ]


def test_a_null_queue_is_a_cell_of_its_own_and_matches_null() -> None:
    """NULL queue matches NULL queue, never a queue; '' from the aggregates means NULL."""
    spec = aggregate_spec("a", ["queueId", "mediaType"])
    agg = pa.Table.from_pylist(
        [
            {
                "interval_start": START,
                "granularity": "PT30M",
                "queue_id": "",
                "media_type": "voice",
                "metric": "nOffered",
                "qualifier": "",
                "count": 2,
            },
            {
                "interval_start": START,
                "granularity": "PT30M",
                "queue_id": "q",
                "media_type": "voice",
                "metric": "nOffered",
                "qualifier": "",
                "count": 5,
            },
        ],
        pa.schema(
            [
                f
                for f in spec.schema
                if f.name
                in (
                    "interval_start",
                    "granularity",
                    "queue_id",
                    "media_type",
                    "metric",
                    "qualifier",
                    "count",
                    "sum",
                )
            ]
        ),
    )
    details = cells((0, None, "voice", "nOffered", 2, None), (0, "q", "voice", "nOffered", 4, None))
    table = judge(details, aggregate_cells(agg, GRID))
    assert rows(table, "queue_id", "details_count", "aggregates_count", "matched") == [
        ("q", 4, 5, False),
        (None, 2, 2, True),
    ]


def test_one_sided_cells_count_zero_and_sums_are_judged_when_counts_agree() -> None:
    """A cell on one side only counts 0 on the other; equal counts with unequal sums differ."""
    details = cells((1, "q", "chat", "tTalk", 2, 100.0), (2, "q", "chat", "tTalk", 1, 10.0))
    aggregates = cells((1, "q", "chat", "tTalk", 2, 130.0), (3, "q", "chat", "nOffered", 1, None))
    table = judge(details, aggregates)
    assert rows(table, "metric", "difference", "sum_difference", "matched") == [
        ("tTalk", 0, -30.0, False),
        ("tTalk", 1, 10.0, False),
        ("nOffered", -1, None, False),
    ]
    assert table.column("interval_start").to_pylist()[0] == START + timedelta(minutes=30)
    assert table.schema == RECONCILIATION.schema


def test_tolerance_accepts_count_differences_up_to_n() -> None:
    """With tolerance 1 a count off by one matches (its sum gap comes with it); off by two
    does not."""
    details = cells((0, "q", "voice", "tAcw", 4, 400.0), (1, "q", "voice", "tAcw", 4, 400.0))
    aggregates = cells((0, "q", "voice", "tAcw", 5, 480.0), (1, "q", "voice", "tAcw", 6, 600.0))
    table = judge(details, aggregates, Verdict(SETTLED.settled_before, tolerance=1))
    assert table.column("matched").to_pylist() == [True, False]


def test_buckets_past_the_cutoff_are_pending_not_differences() -> None:
    """A bucket ending after the settled cutoff lands with matched NULL and is counted as
    pending; the summary's differences come from settled buckets only."""
    cutoff = Verdict(START + timedelta(minutes=45))
    details = cells((0, "q", "voice", "nOffered", 1, None), (1, "q", "voice", "nOffered", 1, None))
    aggregates = cells(
        (0, "q", "voice", "nOffered", 1, None), (1, "q", "voice", "nOffered", 9, None)
    )
    table = judge(details, aggregates, cutoff)
    assert rows(table, "settled", "matched") == [(True, True), (False, None)]
    summary = summarize(table)
    assert (summary["cells_compared"], summary["cells_differ"], summary["cells_pending"]) == (
        1,
        0,
        1,
    )


def test_summary_and_repair_days_name_the_worst_cells() -> None:
    """Worst first by count difference; the days to repair are those of differing cells,
    every UTC day a bucket touches."""
    day = Grid(START, timedelta(days=1), "P1D")
    details = cells((0, "q", "voice", "nOffered", 1, None), (2, "q", "voice", "nOffered", 3, None))
    aggregates = cells(
        (0, "q", "voice", "nOffered", 4, None), (2, "q", "voice", "nOffered", 2, None)
    )
    later = Verdict(datetime(2024, 6, 1, tzinfo=UTC))
    table = compare(details, aggregates, day, later, run_id="r", checked_at=CHECKED)
    summary = summarize(table)
    assert [c["details_count"] for c in summary["worst_cells"]] == [1, 3]
    assert summary["largest_difference"] == 3
    assert days_to_repair(table) == [date(2024, 5, 8), date(2024, 5, 10)]
    two_days = Grid(START, timedelta(days=2), "P2D")
    table = compare(details, aggregates, two_days, later, run_id="r", checked_at=CHECKED)
    assert days_to_repair(table) == [
        date(2024, 5, 8),
        date(2024, 5, 9),
        date(2024, 5, 12),
        date(2024, 5, 13),
    ]


def test_a_tally_of_pieces_equals_the_summary_of_the_whole() -> None:
    """Tallied a day at a time (as cells stream into the sink), the counts, largest
    differences, worst cells and repair days equal those of the whole table."""
    details = cells(
        *((b, "q", "voice", "tTalk", b % 5, float(b)) for b in range(0, 200, 3)),
        (150, None, "chat", "nOffered", 1, None),
    )
    aggregates = cells(*((b, "q", "voice", "tTalk", b % 7, float(b)) for b in range(0, 200, 2)))
    later = Verdict(datetime(2024, 6, 1, tzinfo=UTC), tolerance=1)
    pieces = list(compare_pieces(details, aggregates, GRID, later, run_id="r", checked_at=CHECKED))
    tally = Tally()
    assert list(tally.passing(pieces)) == pieces and len(pieces) == 5
    whole = pa.concat_tables(pieces)
    assert whole.equals(compare(details, aggregates, GRID, later, run_id="r", checked_at=CHECKED))
    assert tally.summary() == summarize(whole)
    assert tally.summary()["cells_differ"] > 10 == len(tally.summary()["worst_cells"])
    assert sorted(tally.days) == days_to_repair(whole)
