"""Absent stays absent: null key columns (an aggregate group without a queue, a metric without
a qualifier) land as NULL and are matched null-aware, so a rerun replaces them, on every sink."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from genesys_export.chunks import Replacement, replacement_for
from genesys_export.sinks.base import Sink
from genesys_export.transform.schemas import aggregate_spec

SPEC = aggregate_spec("queue_stats", ["queueId", "mediaType"])
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)


def rows(*cells: tuple[datetime, str | None, str | None, str | None, int]) -> pa.Table:
    """Aggregate rows (interval_start, queue_id, media_type, qualifier, count) of the spec."""
    columns: dict[str, list[Any]] = {name: [] for name in SPEC.schema.names}
    for start, queue, media, qualifier, count in cells:
        for name in SPEC.schema.names:
            columns[name].append(None)
        columns["interval_start"][-1] = start
        columns["granularity"][-1] = "PT30M"
        columns["queue_id"][-1] = queue
        columns["media_type"][-1] = media
        columns["metric"][-1] = "nOffered"
        columns["qualifier"][-1] = qualifier
        columns["count"][-1] = count
        columns["_run_id"][-1] = "run"
        columns["_extracted_at"][-1] = T0
    return pa.table(columns, schema=SPEC.schema)


FIRST = rows(
    (T0, "q1", "voice", None, 3),
    (T0, None, "voice", None, 2),  # conversations in no queue
    (T1, None, None, None, 1),
)
AGAIN = rows(
    (T0, "q1", "voice", None, 4),
    (T0, None, "voice", None, 5),
    (T1, None, None, None, 6),
)


def landed(sink: Sink) -> list[tuple[Any, ...]]:
    table = sink.read_table(SPEC.name)
    cells = zip(
        *(table.column(c).to_pylist() for c in ("queue_id", "media_type", "qualifier", "count")),
        strict=True,
    )
    return sorted(cells, key=repr)


def test_absent_dimensions_land_as_null(sink: Sink) -> None:
    sink.append(SPEC, FIRST)
    sink.commit()
    assert landed(sink) == sorted(
        [("q1", "voice", None, 3), (None, "voice", None, 2), (None, None, None, 1)], key=repr
    )


def test_an_upsert_replaces_rows_whose_key_holds_nulls(sink: Sink) -> None:
    sink.append(SPEC, FIRST)
    sink.commit()
    sink.append(SPEC, AGAIN)  # same keys, nulls included: replaced, not added
    sink.commit()
    assert landed(sink) == sorted(
        [("q1", "voice", None, 4), (None, "voice", None, 5), (None, None, None, 6)], key=repr
    )


def test_a_replacement_by_null_keys_deletes_them(sink: Sink) -> None:
    sink.append(SPEC, FIRST)
    sink.commit()
    keys = FIRST.filter(pa.compute.is_null(FIRST.column("queue_id")))
    sink.delete(SPEC, replacement_for(keys, SPEC.key, SPEC.partition_by))
    sink.commit()
    assert landed(sink) == [("q1", "voice", None, 3)]


def test_a_rerun_of_the_interval_replaces_rather_than_duplicates(sink: Sink) -> None:
    """What an aggregates export does per chunk: delete its buckets, then upsert the rows."""
    buckets = Replacement(
        pa.table(
            {
                "interval_start": pa.array([T0, T1], SPEC.schema.field("interval_start").type),
                "granularity": ["PT30M", "PT30M"],
            }
        ),
        frozenset({T0.date()}),
    )
    for table in (FIRST, AGAIN):
        sink.delete(SPEC, buckets)
        sink.append(SPEC, table)
        sink.commit()
    assert len(sink.read_table(SPEC.name)) == 3
    assert landed(sink) == sorted(
        [("q1", "voice", None, 4), (None, "voice", None, 5), (None, None, None, 6)], key=repr
    )
