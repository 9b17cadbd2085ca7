"""The sink protocol: where tables go, transactionally, with their checkpoint.

A sink is used as one transaction at a time:

    sink.delete(spec, replacement)   # rows the new data replaces (staged)
    sink.append(spec, table)         # new rows (staged; may be called many times)
    sink.commit(checkpoints)         # data and checkpoints become durable together
    sink.rollback()                  # or: nothing staged since the last commit lands

A crash at any instant leaves the destination as of the last commit (DuckDB, PostgreSQL),
or each partition either old or new with the checkpoint manifest written last (Parquet).
Driver errors become `SinkError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from types import TracebackType
from typing import Protocol, Self

import pyarrow as pa

from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec


@dataclass(frozen=True)
class Replacement:
    """Existing rows that new data replaces.

    A row of the target is deleted when its values in `keys.column_names` equal those of
    any row of `keys` (a tuple match, like `WHERE (a, b) IN (...)`). `partitions` names the
    UTC dates of the Parquet partitions such rows can live in, so a file sink knows which
    partitions to rewrite even where no new row lands.
    """

    keys: pa.Table
    partitions: frozenset[date] = field(default_factory=frozenset)


@dataclass(frozen=True)
class WriteStats:
    """What a commit wrote, per table: rows appended and rows deleted; files with sha256."""

    rows: dict[str, int]
    deleted: dict[str, int]
    files: dict[str, str]  # path or URI -> sha256 of the file written


class Sink(Protocol):
    uri: str  # redacted: never carries a password

    def delete(self, spec: TableSpec, replacement: Replacement) -> None: ...

    def append(self, spec: TableSpec, table: pa.Table) -> None: ...

    def commit(self, checkpoints: Sequence[Checkpoint] = ()) -> WriteStats: ...

    def rollback(self) -> None: ...

    def read_checkpoint(self, dataset: str) -> Checkpoint | None: ...

    def read_table(self, name: str) -> pa.Table:
        """The whole committed table (for tests, `result.table()` and the demo)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
