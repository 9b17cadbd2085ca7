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

What every sink shares lives beside: `columns` (Arrow work), `locks`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from genesys_export.config import DEFAULT_DEST
from genesys_export.errors import ConfigError

if TYPE_CHECKING:
    from genesys_export.sinks.base import Sink

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


def sink_uri(uri: str) -> str:
    """How the sink of a `--dest` names itself (its `uri`), without opening it."""
    dest = parse_dest(uri)
    if dest.kind == "duckdb":
        return f"duckdb:///{dest.location}"
    if dest.kind == "parquet":
        return f"parquet://{Path(dest.location).absolute()}"
    if dest.kind == "s3":
        return f"s3://{dest.location}"
    return redact_uri(uri)


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


def environ_get(environ: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` set (non-empty) in `environ`."""
    return next((environ[n] for n in names if environ.get(n)), None)
