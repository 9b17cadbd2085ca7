"""The files of a Parquet transaction: spools per partition, their writers, and durability.

A spool collects a partition's new content beside its target (or in a local temp file for
object storage); closing it gives the file's sha256 and size, and `fsync_dir` makes a rename
durable. Spools of a crashed run carry TMP_MARK in their name and are removed on open.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

TMP_MARK = ".tmp-"


COPY_BLOCK = 8 * 1024 * 1024


@dataclass
class Spool:
    """One partition being rewritten: its target, the file collecting its new content."""

    target: str  # filesystem path of <table>/date=D/part-0.parquet
    path: str  # local path of the spool file
    schema: pa.Schema  # file schema: the spec's columns plus any the old file had
    writer: pq.ParquetWriter | None  # None while parked (closed to save memory)
    keys: list[pa.Table] = field(default_factory=list)  # spec.key of appended rows
    rows: int = 0  # rows in the spool
    inserted: int = 0  # rows in the spool whose keys `keys` does not hold (from `insert`)
    survivors: int = 0  # rows carried over from the old file at commit


@dataclass(frozen=True)
class Finished:
    """A partition ready to publish: its spool (None: remove the partition) and checksum."""

    target: str
    spool: str | None
    sha256: str = ""
    size: int = 0


def parquet_writer(path: str, schema: pa.Schema) -> pq.ParquetWriter:
    """A writer that dictionary-encodes text columns only: ids, names and enums repeat,
    while numbers and times mostly don't, and trying costs a hash per value."""
    text = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    return pq.ParquetWriter(path, schema, use_dictionary=text)


def park(spool: Spool) -> None:
    """Close the spool's writer (if open); the file keeps what was written."""
    writer, spool.writer = spool.writer, None
    if writer is not None:
        try:
            writer.close()
        finally:  # closed or failed (a full disk): never again, not even when collected
            writer.is_open = False


def close_spool(spool: Spool) -> Finished:
    """Close the writer and make the spool durable; an empty partition is removed instead."""
    park(spool)
    if spool.rows + spool.survivors == 0:
        Path(spool.path).unlink(missing_ok=True)
        return Finished(spool.target, None)
    digest = hashlib.sha256()
    with open(spool.path, "rb") as f:
        while block := f.read(COPY_BLOCK):
            digest.update(block)
        os.fsync(f.fileno())  # fsync flushes the file's pages, whichever fd asks
    return Finished(spool.target, spool.path, digest.hexdigest(), os.path.getsize(spool.path))


def discard(spool: Spool) -> None:
    """Throw the spool away: a writer that cannot even close (a full disk) is let go."""
    with suppress(OSError, pa.ArrowException):
        park(spool)
    Path(spool.path).unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_spools(root: Path) -> None:
    """Delete spools and manifest temps a crashed run left (`.<name>.tmp-<uuid>`)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") and TMP_MARK in name:
                Path(dirpath, name).unlink(missing_ok=True)


def file_schema(spec: pa.Schema, old: pa.Schema) -> pa.Schema:
    """Schema of a rewritten partition: the spec's columns, then the old file's others.

    Columns only one side has are nullable: the other side's rows have nulls there.
    """
    fields = [
        _widest(f, old.field(f.name)) if f.name in old.names else f.with_nullable(True)
        for f in spec
    ]
    fields += [f.with_nullable(True) for f in old if f.name not in spec.names]
    return pa.schema(fields)


def _widest(new: pa.Field, old: pa.Field) -> pa.Field:
    """A column typed int64 by one export and float64 by another (a report's averages in
    milliseconds vs hh:mm:ss) is stored as float64, which holds both exactly."""
    if {new.type, old.type} == {pa.int64(), pa.float64()}:
        return new.with_type(pa.float64())
    return new


def unified(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema over files written at different times; partial columns are nullable."""
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    everywhere = set.intersection(*(set(s.names) for s in schemas))
    return pa.schema([f if f.name in everywhere else f.with_nullable(True) for f in unified])


def batches_of(
    fs: pafs.FileSystem, path: str, *, columns: list[str] | None = None
) -> Iterator[pa.Table]:
    """A Parquet file as tables of a bounded number of rows."""
    with fs.open_input_file(path) as f, pq.ParquetFile(f) as pf:
        for batch in pf.iter_batches(columns=columns):
            yield pa.Table.from_batches([batch])
