"""What an export produces for one chunk, in the words every layer shares.

A chunk is an interval the API accepts, the unit of work of a run. Its producer (a job
module) turns it into a `ChunkResult`: tables, the rows each replaces, and their checks;
the pipeline writes it. Producers report what happens on the way through an `Events`
callback, so they need neither the pipeline nor the sinks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.intervals import Interval
from genesys_export.spool import SpooledTable
from genesys_export.transform.tables import TableSpec
from genesys_export.validate import ValidationReport

# A chunk's table: in memory, spooled to disk (read back a page at a time), or a stream
# whose rows arrive while it is written (a report CSV, read batch by batch).
ChunkTable: TypeAlias = pa.Table | SpooledTable | Iterable[pa.Table]


class ExportKind(StrEnum):
    """What we export: one kind per Genesys export, the key of a dataset's checkpoint."""

    CONVERSATION_DETAILS = "conversation_details"
    USER_DETAILS = "user_details"
    CONVERSATION_AGGREGATES = "conversation_aggregates"
    REPORTING_EXPORT = "reporting_export"
    REFERENCE = "reference"


@dataclass(frozen=True)
class Replacement:
    """Existing rows that new data replaces.

    A row of the target is deleted when its values in `keys.column_names` equal those of
    any row of `keys` (a tuple match, like `WHERE (a, b) IN (...)`; a null matches a null).
    `partitions` names the UTC dates of the Parquet partitions such rows can live in, so a
    file sink knows which partitions to rewrite even where no new row lands.
    """

    keys: pa.Table
    partitions: frozenset[date] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PlannedJob:
    """One details job of a request plan: its interval, and the pieces (UTC days by
    default) it commits one at a time as its results pass them."""

    interval: Interval
    pieces: tuple[Interval, ...]
    first_poll: float = 0.0  # seconds before its first status poll (0: the polling ladder)


@dataclass(frozen=True)
class StreamChecks:
    """What the checks of a streamed table found, known once all its rows were read.

    Each batch is checked as it streams (a failed check raises and the chunk is rolled
    back); `fields` describe the whole stream for the `validation.finished` event.
    """

    fields: Mapping[str, Any]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChunkResult:
    """One chunk, ready to write: tables, what they replace, and their checks.

    `validation` is a report made before writing or, for streamed tables, a call that
    tells what was checked while they were written. `fresh_keys`: each table's
    replacement covers every key of its rows, and validation checks that no key repeats;
    the rows are then inserted, with no upsert work. `written` adds fields to the chunk's
    `table.written` event.
    """

    interval: Interval
    tables: list[tuple[TableSpec, ChunkTable, Replacement]]
    validation: ValidationReport | Callable[[], StreamChecks]
    written: Mapping[str, Any] = field(default_factory=dict)
    fresh_keys: bool = False


def concat_pages(pages: Sequence[Any], specs: Iterable[TableSpec]) -> dict[str, pa.Table]:
    """One table per spec from the `tables` of every page of a chunk (empty when none).

    The pages' buffers are shared, not copied: a chunk costs its pages' memory once.
    """
    return {
        spec.name: pa.concat_tables([p.tables[spec.name] for p in pages])
        if pages
        else spec.schema.empty_table()
        for spec in specs
    }


def replacement_for(
    table: pa.Table, columns: Iterable[str], partition_by: str | None = None
) -> Replacement:
    """Replace existing rows sharing `columns` with `table`, in the partitions it touches."""
    names = list(columns)
    keys = table.select(names)
    keys = keys.group_by(names).aggregate([]) if keys.num_rows else keys
    return Replacement(keys=keys, partitions=partition_dates(table, partition_by))


def partition_dates(table: pa.Table, column: str | None) -> frozenset[date]:
    """UTC dates of a timestamp column's values (the Parquet partitions rows land in)."""
    if column is None or table.num_rows == 0:
        return frozenset()
    days = pc.unique(pc.cast(pc.floor_temporal(table.column(column), unit="day"), pa.date32()))
    return frozenset(d for d in days.to_pylist() if d is not None)
