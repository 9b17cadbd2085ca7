"""Pages of a chunk parked on disk until the chunk is written, so memory stays flat.

A chunk (one UTC day by default) is written in one transaction once all its pages are in,
and a busy day is millions of rows: held in memory, a chunk would make memory grow with the
org's traffic. Instead each page's tables go, as Arrow IPC streams, to an anonymous
temporary file (in TMPDIR; the OS removes it when it is closed, when the page is dropped,
or when the process dies), and the chunk is written by reading them back one page at a time.

Uncompressed: a spooled page costs a write and a read of its Arrow buffers (page cache
speed), no CPU for codecs. Disk use is about what the tables take in memory (about 9 KB
per conversation across the six conversation tables).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa


class SpooledTables:
    """Named tables in one anonymous temporary file, each read back whole on demand."""

    def __init__(self, tables: Mapping[str, pa.Table]) -> None:
        # Lives as long as the object: closed (and gone from disk) when it is collected.
        self._file = tempfile.TemporaryFile(prefix="genesys-export-spool-")  # noqa: SIM115
        weakref.finalize(self, self._file.close)
        self._where: dict[str, tuple[int, int, int]] = {}  # name -> offset, bytes, rows
        offset = 0
        for name, table in tables.items():
            stream = pa.BufferOutputStream()
            with pa.ipc.new_stream(stream, table.schema) as writer:
                writer.write_table(table)
            data = stream.getvalue()
            self._file.write(data)
            self._where[name] = (offset, data.size, table.num_rows)
            offset += data.size
        self._file.flush()

    def num_rows(self, name: str) -> int:
        """Rows of one table, without reading it."""
        return self._where[name][2]

    def read(self, name: str) -> pa.Table:
        """One table, read back from disk (safe from any thread: positional reads)."""
        offset, size, _ = self._where[name]
        data = os.pread(self._file.fileno(), size, offset)
        if len(data) != size:
            raise OSError(f"spool file is short: {len(data)} of {size} bytes")
        return pa.ipc.open_stream(data).read_all()


@dataclass(frozen=True)
class SpooledTable:
    """One table of a chunk: its part of each spooled page, yielded one page at a time."""

    pages: Sequence[SpooledTables]
    name: str

    @property
    def num_rows(self) -> int:
        return sum(page.num_rows(self.name) for page in self.pages)

    def __iter__(self) -> Iterator[pa.Table]:
        for page in self.pages:
            yield page.read(self.name)
