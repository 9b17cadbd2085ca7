"""DuckDBSink: one DuckDB table per dataset table, upserted by key in one transaction.

Tables are created from the spec's Arrow schema (DuckDB's own Arrow type mapping). The
Arrow schema of each table is kept in `_genesys_export_tables`, so `read_table` returns
exactly the types that were written (DuckDB stores `timestamp[ms]` as microseconds) and a
later, wider schema is detected and added with `ALTER TABLE ... ADD COLUMN`. Checkpoints
live in `_genesys_export_checkpoints` and are written in the data's transaction.

Memory: the connection's `memory_limit` (64 MB unless given; the environment variable
GENESYS_EXPORT_DUCKDB_MEMORY_LIMIT sets it for `open_sink`) bounds DuckDB's buffer pool;
beyond it DuckDB spills to `<file>.tmp`. A chunk loads as fast with 64 MB as with more,
at a lower peak RSS (bench/conversations.py; figures in the README). `insert` loads a
whole stream in ONE statement: DuckDB keeps memory flat across one streaming INSERT, while
many INSERTs in one transaction hold memory until the COMMIT.

Locking: DuckDB's own file lock keeps a second process out (its error becomes ForeignLock,
exit 5).
Within one process DuckDB shares the database between connections, so the sink also holds
an exclusive flock on `<file>.lock` beside the database file.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from genesys_export.chunks import Replacement
from genesys_export.closing import Closing
from genesys_export.errors import ConfigError, ForeignLock, SinkError
from genesys_export.sinks.base import WriteStats
from genesys_export.sinks.columns import conform, conform_keys, keep_last, widened
from genesys_export.sinks.locks import lock_file
from genesys_export.sinks.views import view_sql
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec

MEMORY = ":memory:"
MEMORY_LIMIT = "64MB"
# Rows per row group (DuckDB's default is 122,880). A single INSERT of at least a row group
# is written straight to the database file at insert time ("optimistic write"); smaller
# ones go through the WAL and are written again, compressed, by the checkpoint that most
# chunk commits then trigger. At 16,384 a day of a mid-size org (10,000 conversations,
# 40,000 to 160,000 rows per child table) mostly skips the WAL: loading it costs less than
# half the CPU, for a file of about the same size (measured with bench/conversations.py).
ROW_GROUP_SIZE = 16_384
# DuckDB's own worker threads. A run transforms the next chunk on one core while DuckDB
# loads this one; with DuckDB's default of a thread per core the two contend, and a load
# costs more CPU (measured with bench/conversations.py). Alone, one thread loads about as
# fast as two.
THREADS = 1
CATALOG = "genesys_export"
TABLES = "_genesys_export_tables"
CHECKPOINTS = "_genesys_export_checkpoints"
_META_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLES} "
    "(name VARCHAR PRIMARY KEY, arrow_schema BLOB NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} "
    "(dataset VARCHAR PRIMARY KEY, body JSON NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
)


class DuckDBSink(Closing):
    """A DuckDB database file (or `:memory:`) as a sink."""

    dialect = "duckdb"  # the SQL `query` speaks

    def __init__(
        self, path: str | Path, *, lock: bool = True, memory_limit: str = MEMORY_LIMIT
    ) -> None:
        self.path = str(path)
        self._memory_limit = memory_limit
        self.uri = f"duckdb:///{self.path}"
        self._names = itertools.count()
        self._lock_fd: int | None = None
        self._con: Any = None
        if lock and self.path != MEMORY:
            self._lock_fd = lock_file(Path(f"{self.path}.lock"), self.uri)
        try:
            self._con = self._connect()
        except BaseException:
            self._release_lock()
            raise
        self._schemas = self._load_schemas()  # committed: table name -> Arrow schema
        self._reset()

    # --- the Sink protocol ---------------------------------------------------------------

    def delete(self, spec: TableSpec, replacement: Replacement) -> None:
        """Stage `DELETE ... WHERE (cols) IN (replacement keys)`."""
        keys = conform_keys(spec, replacement.keys)
        if keys.num_rows == 0:
            return
        with self._errors(f"delete from {spec.name}"):
            self._prepare(spec)
            self._deleted[spec.name] += self._delete_matching(spec.name, keys)

    def append(self, spec: TableSpec, table: pa.Table) -> None:
        """Stage an upsert of `table`: rows with the same key go, then INSERT BY NAME."""
        rows = keep_last(conform(table, spec.schema, name=spec.name), spec.key)
        with self._errors(f"append to {spec.name}"):
            self._prepare(spec)
            if rows.num_rows == 0:
                return
            self._deleted[spec.name] += self._delete_matching(spec.name, rows.select(spec.key))
            with self._registered(rows) as view:
                self._con.execute(f"INSERT INTO {_ident(spec.name)} BY NAME SELECT * FROM {view}")
            self._rows[spec.name] += rows.num_rows

    def insert(self, spec: TableSpec, tables: Iterable[pa.Table]) -> int:
        """Stage rows with new keys, streamed in one INSERT; the number of rows.

        An exception raised while iterating `tables` (a failed validation, a malformed
        file) propagates as itself, and the transaction is rolled back.
        """
        with self._errors(f"insert into {spec.name}"):
            self._prepare(spec)
        source = _Source(spec, tables)
        reader = pa.RecordBatchReader.from_batches(spec.schema, source)
        try:
            with self._errors(f"insert into {spec.name}"), self._registered(reader) as view:
                self._con.execute(f"INSERT INTO {_ident(spec.name)} BY NAME SELECT * FROM {view}")
        except SinkError:
            if source.failure is not None:
                raise source.failure from None
            raise
        self._rows[spec.name] += source.rows
        return source.rows

    def commit(self, checkpoints: Sequence[Checkpoint] = ()) -> WriteStats:
        """Write the checkpoints in the open transaction and COMMIT it."""
        with self._errors("commit"):
            self._begin()
            for checkpoint in checkpoints:
                self._con.execute(
                    f"INSERT OR REPLACE INTO {CHECKPOINTS} VALUES (?, ?, ?)",
                    [checkpoint.dataset, checkpoint.to_json(), checkpoint.updated_at],
                )
            if self._pending_schemas:  # a table was created or widened: views follow it
                self._refresh_views(self._schemas | self._pending_schemas)
            self._con.commit()
        stats = WriteStats(rows=dict(self._rows), deleted=dict(self._deleted), files={})
        self._schemas.update(self._pending_schemas)
        self._reset()
        return stats

    def rollback(self) -> None:
        """Discard everything staged since the last commit."""
        if self._in_transaction:
            with self._errors("rollback"):
                self._con.rollback()
        self._reset()

    def read_checkpoint(self, dataset: str) -> Checkpoint | None:
        """The committed checkpoint of `dataset`, or None."""
        with self._errors("read checkpoint"), self._reader() as cur:
            found = cur.execute(
                f"SELECT body FROM {CHECKPOINTS} WHERE dataset = ?", [dataset]
            ).fetchall()
        return Checkpoint.from_json(str(found[0][0]), dataset=dataset) if found else None

    def count_rows(self, name: str, *, run_id: str) -> int:
        """Committed rows of `name` whose `_run_id` is `run_id`."""
        with self._errors(f"count {name}"), self._reader() as cur:
            query = f"SELECT count(*) FROM {_ident(name)} WHERE _run_id = ?"
            return int(cur.execute(query, [run_id]).fetchone()[0])

    def has_table(self, name: str) -> bool:
        return name in self._schemas

    def read_table(self, name: str) -> pa.Table:
        """The whole committed table, in the Arrow types it was written with."""
        with self._errors(f"read {name}"), self._reader() as cur:
            found = cur.execute(
                f"SELECT arrow_schema FROM {TABLES} WHERE name = ?", [name]
            ).fetchall()
            if not found:
                raise SinkError(f"{self.uri} has no table {name!r}")
            table = cur.sql(f"SELECT * FROM {_ident(name)}").to_arrow_table()
        schema = _schema_from(found[0][0])
        return table.select(schema.names).cast(schema)

    def query(self, statement: str, *, tables: Sequence[str] = ()) -> pa.Table:
        """A read-only query (DuckDB SQL) over committed tables; `tables` names those it reads.

        The answer comes back as Arrow; the work runs in DuckDB within its memory limit.
        """
        with self._errors("query"), self._reader() as cur:
            return cur.sql(statement).to_arrow_table()

    def close(self) -> None:
        """Discard anything uncommitted, close the database and release the lock."""
        if self._con is not None:
            with suppress(duckdb.Error):
                self.rollback()
            self._con.close()
            self._con = None
        self._release_lock()

    # --- opening -------------------------------------------------------------------------

    def _connect(self) -> Any:
        """Open the database with UTC sessions and the bookkeeping tables in place."""
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # The row group size is an ATTACH option, so the file is attached to an in-memory
        # host connection and made the default catalog.
        try:
            con = duckdb.connect(config={"memory_limit": self._memory_limit, "threads": THREADS})
        except duckdb.Error as exc:
            raise ConfigError(
                f"DuckDB memory limit {self._memory_limit!r} is not a size ({exc}); "
                "set GENESYS_EXPORT_DUCKDB_MEMORY_LIMIT to one such as 128MB"
            ) from None
        try:
            con.execute(
                f"ATTACH {_literal(self.path)} AS {CATALOG} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
            )
            con.execute(f"USE {CATALOG}")
        except duckdb.IOException as exc:
            con.close()
            if "lock" in str(exc).lower():
                raise ForeignLock(
                    f"destination {self.uri} is locked by another process; "
                    "wait for it or use another --dest"
                ) from exc
            raise SinkError(f"{self.uri}: cannot open the database ({exc})") from exc
        except duckdb.Error as exc:
            con.close()
            raise SinkError(f"{self.uri}: cannot open the database ({exc})") from exc
        try:
            # TIMESTAMPTZ values come back in the session time zone; ours is UTC.
            con.execute("SET TimeZone = 'UTC'")
            for ddl in _META_DDL:
                con.execute(ddl)
        except duckdb.Error as exc:
            con.close()
            raise SinkError(f"{self.uri}: cannot prepare the database ({exc})") from exc
        return con

    def _load_schemas(self) -> dict[str, pa.Schema]:
        """The Arrow schema of every table this tool created."""
        rows = self._con.execute(f"SELECT name, arrow_schema FROM {TABLES}").fetchall()
        return {name: _schema_from(blob) for name, blob in rows}

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    # --- the transaction -----------------------------------------------------------------

    def _reset(self) -> None:
        """Forget the staged transaction (after commit or rollback)."""
        self._in_transaction = False
        self._pending_schemas: dict[str, pa.Schema] = {}
        self._rows: dict[str, int] = {}
        self._deleted: dict[str, int] = {}

    def _begin(self) -> None:
        if not self._in_transaction:
            self._con.begin()
            self._in_transaction = True

    def _prepare(self, spec: TableSpec) -> None:
        """Open the transaction; create or widen the table for `spec` inside it."""
        self._begin()
        self._rows.setdefault(spec.name, 0)
        self._deleted.setdefault(spec.name, 0)
        current = self._pending_schemas.get(spec.name) or self._schemas.get(spec.name)
        if current is None:
            self._create(spec)
        else:
            self._widen(spec, current)

    def _create(self, spec: TableSpec) -> None:
        with self._registered(spec.schema.empty_table()) as view:
            self._con.execute(f"CREATE TABLE {_ident(spec.name)} AS SELECT * FROM {view}")
        self._record_schema(spec.name, spec.schema)

    def _widen(self, spec: TableSpec, current: pa.Schema) -> None:
        """Add the spec's columns the table lacks, nullable because old rows have none."""
        present = set(current.names)
        new = [f for f in spec.schema if f.name not in present]
        if not new:
            return
        empty = pa.schema(new).empty_table()
        with self._registered(empty) as view:
            types = dict(
                self._con.execute(
                    f"SELECT column_name, column_type FROM (DESCRIBE {view})"
                ).fetchall()
            )
        for f in new:
            self._con.execute(
                f"ALTER TABLE {_ident(spec.name)} ADD COLUMN {_ident(f.name)} {types[f.name]}"
            )
        self._record_schema(spec.name, widened(current, spec.schema))

    def _refresh_views(self, schemas: dict[str, pa.Schema]) -> None:
        """Create or replace the named views over the tables in `schemas` (views.py)."""
        for view, select in view_sql(schemas, _ident, "VARCHAR").items():
            self._con.execute(f"DROP VIEW IF EXISTS {_ident(view)}")
            self._con.execute(f"CREATE VIEW {_ident(view)} AS {select}")

    def _record_schema(self, name: str, schema: pa.Schema) -> None:
        self._con.execute(
            f"INSERT OR REPLACE INTO {TABLES} VALUES (?, ?, ?)",
            [name, schema.serialize().to_pybytes(), datetime.now(UTC)],
        )
        self._pending_schemas[name] = schema

    def _delete_matching(self, name: str, keys: pa.Table) -> int:
        """DELETE rows whose `keys.column_names` values are among `keys`; the count."""
        target = _ident(name)
        with self._registered(keys) as view:
            found = self._con.execute(f"DELETE FROM {target} WHERE {_matching(keys, view, target)}")
            found = found.fetchall()
        return int(found[0][0]) if found else 0

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _registered(self, table: pa.Table) -> Iterator[str]:
        """`table` visible to SQL under a fresh view name while the block runs."""
        view = f"_genesys_export_arrow_{next(self._names)}"
        self._con.register(view, table)
        try:
            yield view
        finally:
            self._con.unregister(view)

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        """A cursor of its own, so reads see committed data, not the staged transaction."""
        cur = self._con.cursor()
        try:
            cur.execute(f"USE {CATALOG}")
            cur.execute("SET TimeZone = 'UTC'")
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Driver errors become SinkError; a failed statement aborts the transaction."""
        if self._con is None:
            raise SinkError(f"{self.uri}: {action} on a closed sink")
        try:
            yield
        except duckdb.Error as exc:
            if self._in_transaction:
                with suppress(duckdb.Error):
                    self._con.rollback()
                self._reset()
            raise SinkError(f"{self.uri}: {action} failed ({exc})") from exc


class _Source:
    """The record batches of `tables`, conformed to the spec; remembers what went wrong."""

    def __init__(self, spec: TableSpec, tables: Iterable[pa.Table]) -> None:
        self._spec, self._tables = spec, tables
        self.rows = 0
        self.failure: BaseException | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for table in self._tables:
                rows = conform(table, self._spec.schema, name=self._spec.name)
                self.rows += rows.num_rows
                yield from rows.to_batches()
        except BaseException as exc:
            self.failure = exc
            raise


def _schema_from(blob: bytes) -> pa.Schema:
    """An Arrow schema stored with `Schema.serialize()`."""
    return pa.ipc.read_schema(pa.py_buffer(blob))


def _literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def _matching(keys: pa.Table, view: str, target: str) -> str:
    """`target` rows whose key columns equal a row of `view`; null-aware where keys may be
    null (IS NOT DISTINCT FROM), a plain IN otherwise."""
    names = keys.column_names
    if not any(f.nullable for f in keys.schema):
        cols = ", ".join(_ident(c) for c in names)
        return f"({cols}) IN (SELECT {cols} FROM {view})"
    same = " AND ".join(f"{target}.{_ident(c)} IS NOT DISTINCT FROM k.{_ident(c)}" for c in names)
    return f"EXISTS (SELECT 1 FROM {view} AS k WHERE {same})"


def _ident(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'
