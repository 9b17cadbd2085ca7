"""Sinks: where tables go. `open_sink(uri)` picks one from a `--dest` URI.

| URI | sink |
|---|---|
| `duckdb:///relative.duckdb`, `duckdb:////abs/file.duckdb`, `duckdb:///:memory:` | DuckDBSink |
| `parquet:///abs/dir`, `file:///abs/dir`, `parquet:relative/dir` | ParquetSink, local |
| `s3://bucket/prefix` | ParquetSink on S3 (`AWS_*` variables, `AWS_ENDPOINT_URL[_S3]`) |
| `postgresql://user:pass@host:port/db?schema=genesys` (or `postgres://`) | PostgresSink |

DuckDB paths follow the SQLAlchemy convention (three slashes then a relative path, four
for an absolute one), so the default `duckdb:///genesys_export.duckdb` lands in the working
directory. Parquet and file URIs follow RFC 8089: `///` starts an absolute path.

This module also holds the few Arrow and locking helpers every sink shares.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.config import DEFAULT_DEST
from genesys_export.errors import ConfigError, LockHeld, SinkError

if TYPE_CHECKING:
    from genesys_export.sinks.base import Sink
    from genesys_export.transform.tables import TableSpec

__all__ = ["DEFAULT_DEST", "audit_path_for", "open_sink", "redact_uri"]

AUDIT_FILE = "genesys-export-audit.jsonl"
ACCEPTED_FORMS = (
    "duckdb:///file.duckdb (relative) or duckdb:////abs/file.duckdb, "
    "parquet:///abs/dir, file:///abs/dir, s3://bucket/prefix, "
    "postgresql://user:pass@host:port/db?schema=genesys"
)


@dataclass(frozen=True)
class Destination:
    """A parsed `--dest`: which sink, and where (`location` is a path, key prefix or DSN)."""

    kind: str  # "duckdb" | "parquet" | "s3" | "postgres"
    location: str


def parse_dest(uri: str) -> Destination:
    """Parse a `--dest` URI; a malformed one is a ConfigError listing the accepted forms."""
    scheme, sep, rest = uri.partition(":")
    scheme = scheme.lower()
    if sep and scheme == "duckdb" and rest.startswith("///") and len(rest) > 3:
        return Destination("duckdb", rest[3:])
    if sep and scheme in ("parquet", "file"):
        path = _file_path(rest)
        if path:
            return Destination("parquet", path)
    if sep and scheme == "s3":
        location = rest.removeprefix("//").strip("/")
        if rest.startswith("//") and location and "@" not in location:
            return Destination("s3", location)
    if sep and scheme in ("postgresql", "postgres") and rest.startswith("//"):
        return Destination("postgres", uri)
    raise ConfigError(
        f"--dest {redact_uri(uri)!r} is not a destination; use one of: {ACCEPTED_FORMS}"
    )


def open_sink(uri: str = DEFAULT_DEST, *, lock: bool = True) -> Sink:
    """The sink for a `--dest` URI, open and (with `lock`) holding the destination's lock.

    `lock=False` is for read-only callers (`status`, `audit show`) that must work while
    a run is writing; such a sink must not be written to.
    """
    dest = parse_dest(uri)
    # Imported here so that using one sink never loads the others' drivers.
    if dest.kind == "duckdb":
        from genesys_export.sinks.duckdb import MEMORY_LIMIT, DuckDBSink

        limit = environ_get(os.environ, "GENESYS_EXPORT_DUCKDB_MEMORY_LIMIT") or MEMORY_LIMIT
        return DuckDBSink(dest.location, lock=lock, memory_limit=limit)
    if dest.kind == "parquet":
        from genesys_export.sinks.parquet import ParquetSink

        return ParquetSink.local(dest.location, lock=lock)
    if dest.kind == "s3":
        from genesys_export.sinks.parquet import ParquetSink

        return ParquetSink.s3(dest.location, environ=os.environ)
    from genesys_export.sinks.postgres import PostgresSink

    return PostgresSink.from_uri(dest.location, lock=lock)


def audit_path_for(uri: str) -> Path | None:
    """Where the audit trail goes by default: beside a file destination, else the cwd.

    None for an in-memory DuckDB, which has no "beside".
    """
    dest = parse_dest(uri)
    if dest.kind == "duckdb":
        if dest.location == ":memory:":
            return None
        return Path(dest.location).absolute().parent / AUDIT_FILE
    if dest.kind == "parquet":
        return Path(dest.location).absolute() / AUDIT_FILE
    return Path.cwd() / AUDIT_FILE


def redact_uri(uri: str) -> str:
    """The URI without the password of its user info (`user:***@host`)."""
    return re.sub(r"(?<=://)([^/@:]*):[^/@]*@", r"\1:***@", uri)


def _file_path(rest: str) -> str | None:
    """The local path of a `parquet:`/`file:` URI body, or None if it has none."""
    if rest.startswith("//"):
        parts = urlsplit("x:" + rest)
        if parts.netloc not in ("", "localhost") or not parts.path.strip("/"):
            return None
        return unquote(parts.path)
    return rest or None


# --- helpers the sinks share -----------------------------------------------------------


def lock_file(path: Path, uri: str) -> int:
    """Take an exclusive, non-blocking `flock` on `path`; the returned fd holds it.

    flock (not fcntl record locks) because it is per open file: a second sink in the same
    process is refused too, and closing an unrelated descriptor does not drop it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise lock_held(uri) from None
    return fd


def lock_held(uri: str) -> LockHeld:
    """The one message for a destination another run is writing to."""
    return LockHeld(
        f"destination {uri} is in use by another genesys-export run; "
        "wait for it or use another --dest"
    )


def conform(spec: TableSpec, table: pa.Table) -> pa.Table:
    """`table` with exactly the spec's columns, in its order and types.

    Columns are matched by name; a missing column, an impossible cast or a null in a
    non-nullable column is a SinkError naming the table.
    """
    present = set(table.column_names)  # a fresh list per access: look it up once
    missing = [name for name in spec.schema.names if name not in present]
    if missing:
        raise SinkError(f"table {spec.name}: columns {missing} are missing from the rows written")
    if table.schema.equals(spec.schema) and not any(
        table.column(f.name).null_count for f in spec.schema if not f.nullable
    ):
        return table  # the usual case; casting would copy nothing but still cost a pass
    try:
        return table.select(spec.schema.names).cast(spec.schema)
    except (pa.ArrowException, ValueError) as exc:
        raise SinkError(f"table {spec.name}: rows do not fit its schema ({exc})") from exc


def conform_keys(spec: TableSpec, keys: pa.Table) -> pa.Table:
    """Replacement keys cast to the types of the spec's columns of the same names."""
    unknown = [name for name in keys.column_names if name not in spec.schema.names]
    if unknown or not keys.column_names:
        raise SinkError(
            f"table {spec.name}: replacement keys {unknown or '[]'} are not its columns"
        )
    schema = pa.schema([spec.schema.field(name) for name in keys.column_names])
    try:
        return keys.cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise SinkError(f"table {spec.name}: replacement keys do not fit ({exc})") from exc


def keep_last(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Rows of `table` with the last occurrence of each key kept (an upsert within a batch)."""
    if table.num_rows < 2:
        return table
    index = pa.array(range(table.num_rows), pa.int64())
    probe = table.select(list(key)).append_column("__row", index)
    last = probe.group_by(list(key), use_threads=False).aggregate([("__row", "max")])
    if last.num_rows == table.num_rows:
        return table
    rows = last.column("__row_max")
    return table.take(pc.take(rows, pc.sort_indices(rows)))  # rows stay in table order


def environ_get(environ: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` set (non-empty) in `environ`."""
    return next((environ[n] for n in names if environ.get(n)), None)
