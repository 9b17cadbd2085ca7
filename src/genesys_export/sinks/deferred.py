"""A sink opened when the first data is ready to write, and undone if nothing was.

A run checks its destination first (`preflight`) and then spends API budget; only the first
write opens the real sink, creating the file, directory or schema and taking the lock. A
run that fails before (credentials, a permission, a job) leaves nothing at the destination;
one that created the destination and fails before its first commit removes it again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from genesys_export.chunks import Replacement
from genesys_export.closing import Closing
from genesys_export.sinks import open_sink, parse_dest, sink_uri
from genesys_export.sinks.base import Sink, WriteStats
from genesys_export.sinks.preflight import Preflight
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec


class DeferredSink(Closing):
    """The `Sink` of `uri`, opened on first use by a write (or a read of what exists)."""

    def __init__(
        self,
        uri: str,
        found: Preflight,
        *,
        on_open: Callable[[], None] = lambda: None,
        lock: bool = True,
        opener: Callable[[str], Sink] | None = None,
    ) -> None:
        self._dest = uri
        self._opener = opener or (lambda target: open_sink(target, lock=lock))
        self._found = found
        self._on_open = on_open
        self._sink: Sink | None = None
        self._committed = False
        self.uri = sink_uri(uri)

    @property
    def opened(self) -> bool:
        return self._sink is not None

    def open(self) -> Sink:
        if self._sink is None:
            self._sink = self._opener(self._dest)
            self._on_open()
        return self._sink

    def delete(self, spec: TableSpec, replacement: Replacement) -> None:
        self.open().delete(spec, replacement)

    def append(self, spec: TableSpec, table: pa.Table) -> None:
        self.open().append(spec, table)

    def insert(self, spec: TableSpec, tables: Iterable[pa.Table]) -> int:
        return self.open().insert(spec, tables)

    def commit(self, checkpoints: Sequence[Checkpoint] = ()) -> WriteStats:
        stats = self.open().commit(checkpoints)
        self._committed = True
        return stats

    def rollback(self) -> None:
        if self._sink is not None:
            self._sink.rollback()

    def read_checkpoint(self, dataset: str) -> Checkpoint | None:
        if self._sink is None and not self._found.exists:
            return None  # a destination that does not exist yet holds no checkpoint
        return self.open().read_checkpoint(dataset)

    def count_rows(self, name: str, *, run_id: str) -> int:
        return self._sink.count_rows(name, run_id=run_id) if self._sink else 0

    def has_table(self, name: str) -> bool:
        if self._sink is None and not self._found.exists:
            return False
        return self.open().has_table(name)

    def read_table(self, name: str) -> pa.Table:
        return self.open().read_table(name)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if exc is not None and self._sink is not None and not self._committed:
            self._undo_creation()

    def _undo_creation(self) -> None:
        """Remove what this run created at a destination that did not exist before it."""
        if self._found.exists:
            return
        dest = parse_dest(self._dest)
        if dest.kind == "duckdb" and dest.location != ":memory:":
            for suffix in ("", ".wal", ".lock"):
                with suppress(FileNotFoundError):
                    Path(dest.location + suffix).unlink()
        elif dest.kind == "parquet":
            shutil.rmtree(dest.location, ignore_errors=True)
