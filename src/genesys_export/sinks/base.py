"""The sink protocol: where tables go, transactionally, with their checkpoint.

A sink is used as one transaction at a time:

    sink.delete(spec, replacement)   # rows the new data replaces (staged)
    sink.append(spec, table)         # new rows (staged; may be called many times)
    sink.insert(spec, tables)        # a stream of rows with new keys (staged)
    sink.commit(checkpoints)         # data and checkpoints become durable together
    sink.rollback()                  # or: nothing staged since the last commit lands

Staged operations apply in call order, as if each ran at once:
- `delete` removes committed rows and rows appended earlier in the same transaction
  whose columns match a row of `replacement.keys`.
- `append` is an upsert on `spec.key`: a row replaces any committed or earlier-staged row
  with the same key; within one table the last row of a key wins. (The Parquet sink sees
  committed rows only in the partitions it rewrites: the new rows' partitions and the
  `replacement.partitions` of deletes.)
- `insert` stages rows whose keys the caller knows to be new: it deleted what they
  replace, and no key repeats among them (a reporting export after its replacement
  delete). No upsert work, memory flat however long the stream: the DuckDB sink loads
  it in one statement. An exception raised by the iterable propagates as itself.
- Tables are created from `spec.schema` on first use; a later spec with more columns adds
  them (nullable; old rows read as null). Rows must fit the spec: a missing column or a
  null in a non-nullable column is a `SinkError` at `append`.
- `close()` (and `__exit__`, error or not) discards whatever is not committed.

A crash at any instant leaves the destination as of the last commit (DuckDB, PostgreSQL),
or each partition either old or new with the checkpoint manifest written last (Parquet),
so a rerun from the old checkpoint replaces the same rows again. Driver errors become
`SinkError`; a destination held by another run raises `LockHeld` when the sink is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

import pyarrow as pa

from genesys_export.chunks import Replacement
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec


@dataclass(frozen=True)
class WriteStats:
    """What a commit wrote, per table: rows appended and rows deleted; files with sha256.

    `files` and `sizes` list every file a file sink wrote (partitions and checkpoint
    manifests); database sinks leave them empty.
    """

    rows: dict[str, int]
    deleted: dict[str, int]
    files: dict[str, str]  # path or URI -> sha256 of the file written
    sizes: dict[str, int] = field(default_factory=dict)  # path or URI -> bytes


class Sink(Protocol):
    uri: str  # redacted: never carries a password

    def delete(self, spec: TableSpec, replacement: Replacement) -> None: ...

    def append(self, spec: TableSpec, table: pa.Table) -> None: ...

    def insert(self, spec: TableSpec, tables: Iterable[pa.Table]) -> int:
        """Stage a stream of rows with new keys; the number of rows."""
        ...

    def commit(self, checkpoints: Sequence[Checkpoint] = ()) -> WriteStats: ...

    def rollback(self) -> None: ...

    def read_checkpoint(self, dataset: str) -> Checkpoint | None: ...

    def count_rows(self, name: str, *, run_id: str) -> int:
        """Committed rows of `name` last written by run `run_id`."""
        ...

    def has_table(self, name: str) -> bool:
        """Whether a table of that name was ever committed."""
        ...

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
