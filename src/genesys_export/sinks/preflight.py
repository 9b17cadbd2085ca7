"""Is a destination writable? Asked before a run spends any API budget, creating nothing.

A run checks its destination first and opens it only when it has data to write (see
`deferred.DeferredSink`), so a run that fails earlier (credentials, permissions, bad input,
an unwritable destination) leaves no file, table or lock behind. Each failure is one line
that names the destination, the cause and the fix (exit 5).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from genesys_export.errors import ForeignLock, SinkError
from genesys_export.sinks.locks import lock_held


@dataclass(frozen=True)
class Preflight:
    """What the check found: whether the destination already exists."""

    exists: bool


def check_path(path: Path, uri: str, *, directory: bool) -> Preflight:
    """A local file (DuckDB) or directory (Parquet) can be created or written at `path`."""
    if path.exists():
        if directory and not path.is_dir():
            raise SinkError(f"{uri}: {path} is a file, not a directory; choose another --dest")
        if not directory and path.is_dir():
            raise SinkError(f"{uri}: {path} is a directory, not a database file")
        _writable(path if directory else path.parent, uri)
        if not directory:
            _writable(path, uri)
        return Preflight(exists=True)
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SinkError(f"{uri}: {parent} is a file, not a directory; choose another --dest")
    _writable(parent, uri)
    return Preflight(exists=False)


def _writable(path: Path, uri: str) -> None:
    if not os.access(path, os.W_OK):
        raise SinkError(f"{uri}: cannot write to {path} (read-only or no permission)")


def check_lock_free(lock: Path, uri: str) -> None:
    """Another run's flock on an existing lock file (nothing is created to test it)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SinkError(f"{uri}: cannot open its lock file {lock} ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise lock_held(uri) from None
    finally:
        os.close(fd)


def check_destination(uri: str, environ: Mapping[str, str]) -> Preflight:
    """Check the `--dest` a run will write, without creating anything (SinkError, exit 5)."""
    from genesys_export.sinks import parse_dest, redact_uri

    dest, shown = parse_dest(uri), redact_uri(uri)
    if dest.kind == "duckdb":
        return check_duckdb(dest.location, shown)
    if dest.kind == "parquet":
        return check_parquet(dest.location, shown)
    if dest.kind == "s3":
        return check_s3(dest.location, shown, environ)
    from genesys_export.sinks.postgres_preflight import check_postgres

    return check_postgres(dest.location)


def find_destination(uri: str) -> Preflight:
    """Whether the `--dest` exists, for readers (`plan`, `status`) that must create nothing."""
    from genesys_export.sinks import parse_dest

    dest = parse_dest(uri)
    if dest.kind in ("duckdb", "parquet"):
        return Preflight(exists=dest.location != ":memory:" and Path(dest.location).exists())
    if dest.kind == "s3":
        return Preflight(exists=True)  # reading a missing prefix finds nothing, creates nothing
    from genesys_export.sinks.postgres_preflight import find_schema

    return find_schema(dest.location)


def check_duckdb(path: str, uri: str) -> Preflight:
    if path == ":memory:":
        return Preflight(exists=False)
    found = check_path(Path(path).absolute(), uri, directory=False)
    check_lock_free(Path(f"{path}.lock"), uri)
    if found.exists:
        _duckdb_not_held(path, uri)
    return found


def _duckdb_not_held(path: str, uri: str) -> None:
    """A database another process holds open (DuckDB's own file lock) cannot be written."""
    import duckdb

    try:
        duckdb.connect(path, read_only=True).close()
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise ForeignLock(
                f"destination {uri} is locked by another process; wait for it or use another --dest"
            ) from None
        raise SinkError(f"{uri}: cannot open the database ({exc})") from None
    except duckdb.Error as exc:
        raise SinkError(f"{uri}: not a DuckDB database ({exc})") from None


def check_parquet(path: str, uri: str) -> Preflight:
    found = check_path(Path(path).absolute(), uri, directory=True)
    check_lock_free(Path(path, ".genesys-export.lock"), uri)
    return found


def check_s3(location: str, uri: str, environ: Mapping[str, str]) -> Preflight:
    """The bucket exists and its prefix can be listed with these credentials."""
    import pyarrow.fs as pafs

    from genesys_export.sinks.objectstore import s3_filesystem

    bucket = location.split("/", 1)[0]
    fs = s3_filesystem(environ)
    try:
        info = fs.get_file_info(bucket)
        if info.type == pafs.FileType.NotFound:
            raise SinkError(f"{uri}: bucket {bucket!r} does not exist; create it or fix --dest")
        fs.get_file_info(pafs.FileSelector(location, allow_not_found=True))
    except OSError as exc:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SinkError(f"{uri}: cannot list the bucket ({cause})") from None
    return Preflight(exists=True)
