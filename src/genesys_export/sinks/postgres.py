"""PostgresSink: one table per dataset table in a schema, merged by key in one transaction.

While a transaction is staged, rows are COPYed (CSV streamed from Arrow) into session
TEMP tables, outside any transaction, so nothing in the target is locked during a long
run. `commit()` then runs one short transaction: create or widen the tables, delete the
rows each staged replacement names, delete the rows the staged keys replace, INSERT the
staged rows (the last one of a key wins), upsert the checkpoints, COMMIT. A crash or a
failed statement leaves the target as of the previous commit; temp tables die with the
session.

Tables get a PRIMARY KEY on the spec's key (its index makes the merge's deletes cheap),
types mapped from Arrow (nested values as jsonb), and the Arrow schema itself is kept in
`<schema>._genesys_export_tables` so `read_table` returns the types that were written.

Locking: `pg_try_advisory_lock` on a hash of the schema name, held by the session for the
sink's life, so two runs into one schema refuse each other even across hosts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from genesys_export.chunks import Replacement
from genesys_export.errors import ConfigError, SinkError
from genesys_export.sinks import conform, conform_keys, lock_held, redact_uri
from genesys_export.sinks.base import WriteStats
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec

DEFAULT_SCHEMA = "genesys"
TABLES = "_genesys_export_tables"
CHECKPOINTS = "_genesys_export_checkpoints"
ORD = "_genesys_export_ord"  # staging column: the order rows were appended in
_COPY_ROWS = 50_000
Query = sql.SQL | sql.Composed


@dataclass
class _Stage:
    """A temp table holding one target table's appended rows."""

    spec: TableSpec
    name: str
    columns: list[str]


@dataclass(frozen=True)
class _Deletion:
    """A temp table of replacement keys for one target table."""

    table: str
    name: str
    columns: list[str]


class PostgresSink:
    """A PostgreSQL schema as a sink (psycopg 3)."""

    dialect = "postgres"  # the SQL `query` speaks

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        lock: bool = True,
        uri: str | None = None,
    ) -> None:
        self.schema = schema
        params = _conninfo_params(conninfo)
        self.uri = uri or _display_uri(params, schema)
        self._password = params.get("password") or None
        self._names = itertools.count()
        self._conn: psycopg.Connection[Any] | None = None
        self._conn = self._connect(conninfo)
        try:
            if lock:
                self._lock()
            self._prepare_schema()
        except BaseException:
            self.close()
            raise
        self._reset()

    @classmethod
    def from_uri(cls, uri: str, *, lock: bool = True) -> PostgresSink:
        """A sink from `postgresql://user:pass@host:port/db?schema=genesys&sslmode=...`."""
        parts = urlsplit(uri)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        schema = schemas[-1] if schemas else DEFAULT_SCHEMA
        if not schema:
            raise ConfigError(f"--dest {redact_uri(uri)!r}: schema= is empty; name a schema")
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        conninfo = urlunsplit(parts._replace(query=rest))
        return cls(conninfo, schema=schema, lock=lock, uri=redact_uri(uri))

    # --- the Sink protocol ---------------------------------------------------------------

    def delete(self, spec: TableSpec, replacement: Replacement) -> None:
        """Stage the keys; staged rows they match go now, committed ones at commit."""
        keys = conform_keys(spec, replacement.keys)
        if keys.num_rows == 0:
            return
        with self._errors(f"delete from {spec.name}"):
            self._specs[spec.name] = spec
            deletion = _Deletion(spec.name, self._temp_name("keys"), keys.column_names)
            self._create_temp(deletion.name, keys.schema)
            self._copy(deletion.name, keys)
            self._deletions.append(deletion)
            stage = self._stages.get(spec.name)
            if stage is not None:
                self._execute(_delete_matching(_temp(stage.name), deletion))

    def append(self, spec: TableSpec, table: pa.Table) -> None:
        """COPY rows into the table's staging temp table."""
        rows = conform(spec, table)
        with self._errors(f"append to {spec.name}"):
            self._specs[spec.name] = spec
            stage = self._stage_for(spec)
            self._copy(stage.name, rows)

    def insert(self, spec: TableSpec, tables: Iterable[pa.Table]) -> int:
        """COPY rows with new keys into staging, table by table; the number of rows.

        Staging streams already, and the merge at commit upserts: nothing to skip.
        """
        count = 0
        for table in tables:
            self.append(spec, table)
            count += table.num_rows
        return count

    def commit(self, checkpoints: Sequence[Checkpoint] = ()) -> WriteStats:
        """Merge everything staged and upsert the checkpoints, in one transaction."""
        conn = self._open_conn()
        specs = dict(self._specs)
        stats = WriteStats(rows={}, deleted={}, files={})
        try:
            with self._errors("commit"), conn.transaction():
                self._merge(stats)
                for checkpoint in checkpoints:
                    self._save_checkpoint(checkpoint)
        finally:
            self.rollback()  # the temp tables: merged now, or to be discarded
        for name, spec in specs.items():
            self._schemas[name] = _widened(self._schemas.get(name), spec.schema)
        return stats

    def rollback(self) -> None:
        """Drop the staged temp tables; the target was not touched."""
        # A broken or closed session has lost its temp tables already.
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            with self._errors("rollback"):
                self._execute(sql.SQL("DISCARD TEMP"))
        self._reset()

    def read_checkpoint(self, dataset: str) -> Checkpoint | None:
        """The committed checkpoint of `dataset`, or None."""
        with self._errors("read checkpoint"):
            found = self._fetch(
                sql.SQL("SELECT body::text FROM {} WHERE dataset = %s").format(
                    self._ident(CHECKPOINTS)
                ),
                [dataset],
            )
        return Checkpoint.from_json(found[0][0], dataset=dataset) if found else None

    def count_rows(self, name: str, *, run_id: str) -> int:
        """Committed rows of `name` whose `_run_id` is `run_id`."""
        with self._errors(f"count {name}"):
            query = sql.SQL("SELECT count(*) FROM {} WHERE _run_id = %s").format(self._ident(name))
            return int(self._fetch(query, [run_id])[0][0])

    def read_table(self, name: str) -> pa.Table:
        """The whole committed table, in the Arrow types it was written with."""
        with self._errors(f"read {name}"):
            found = self._fetch(
                sql.SQL("SELECT arrow_schema FROM {} WHERE name = %s").format(self._ident(TABLES)),
                [name],
            )
            if not found:
                raise SinkError(f"{self.uri} has no table {name!r}")
            schema = pa.ipc.read_schema(pa.py_buffer(found[0][0]))
            columns = sql.SQL(", ").join(sql.Identifier(n) for n in schema.names)
            rows = self._fetch(sql.SQL("SELECT {} FROM {}").format(columns, self._ident(name)))
        values = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
        arrays = [pa.array(list(v), type=f.type) for v, f in zip(values, schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=schema)

    def has_table(self, name: str) -> bool:
        """Whether a committed table `name` exists."""
        return name in self._schemas

    def query(self, statement: str, *, tables: Sequence[str] = ()) -> pa.Table:
        """A read-only query (PostgreSQL SQL) over committed tables of the schema, which
        `statement` names unqualified; `tables` names those it reads.

        The work runs in PostgreSQL; only the answer travels, into Arrow.
        """
        conn = self._open_conn()
        path = sql.SQL("SET LOCAL search_path TO {}, pg_temp").format(sql.Identifier(self.schema))
        with self._errors("query"), conn.transaction(), conn.cursor() as cur:
            cur.execute(path)
            cur.execute(sql.SQL(statement))
            rows = cur.fetchall()
            names = [column.name for column in cur.description or ()]
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        return pa.table({name: pa.array(list(v)) for name, v in zip(names, columns, strict=True)})

    def close(self) -> None:
        """Close the session: uncommitted rows and the advisory lock go with it."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- opening -------------------------------------------------------------------------

    def _connect(self, conninfo: str) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                conninfo, autocommit=True, application_name="genesys-export", connect_timeout=10
            )
        except psycopg.Error as exc:
            raise SinkError(f"{self.uri}: cannot connect ({self._scrub(exc)})") from exc
        try:
            # timestamptz values come back in the session time zone; ours is UTC.
            conn.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as exc:
            conn.close()
            raise SinkError(f"{self.uri}: cannot set up the session ({self._scrub(exc)})") from exc
        return conn

    def _lock(self) -> None:
        """Take the schema's advisory lock for this session, or raise LockHeld."""
        with self._errors("lock"):
            found = self._fetch(
                sql.SQL("SELECT pg_try_advisory_lock(%s)"), [_lock_key(self.schema)]
            )
        if not found[0][0]:
            raise lock_held(self.uri)

    def _prepare_schema(self) -> None:
        """The schema and the bookkeeping tables, created if missing."""
        with self._errors("prepare schema"):
            self._execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            self._execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, "
                    "arrow_schema bytea NOT NULL, updated_at timestamptz NOT NULL)"
                ).format(self._ident(TABLES))
            )
            self._execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (dataset text PRIMARY KEY, "
                    "body jsonb NOT NULL, updated_at timestamptz NOT NULL)"
                ).format(self._ident(CHECKPOINTS))
            )
            rows = self._fetch(
                sql.SQL("SELECT name, arrow_schema FROM {}").format(self._ident(TABLES))
            )
        self._schemas = {name: pa.ipc.read_schema(pa.py_buffer(blob)) for name, blob in rows}

    # --- staging -------------------------------------------------------------------------

    def _reset(self) -> None:
        self._stages: dict[str, _Stage] = {}
        self._deletions: list[_Deletion] = []
        self._specs: dict[str, TableSpec] = {}

    def _stage_for(self, spec: TableSpec) -> _Stage:
        """The staging temp table of `spec`, created or widened to its columns."""
        stage = self._stages.get(spec.name)
        if stage is None:
            stage = _Stage(spec, self._temp_name("stage"), list(spec.schema.names))
            ordinal = sql.SQL("{} bigint GENERATED ALWAYS AS IDENTITY").format(sql.Identifier(ORD))
            self._create_temp(stage.name, spec.schema, extra=[ordinal])
            self._stages[spec.name] = stage
        for f in spec.schema:
            if f.name not in stage.columns:
                self._execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        _temp(stage.name), sql.Identifier(f.name), sql.SQL(pg_type(f.type))
                    )
                )
                stage.columns.append(f.name)
        stage.spec = spec
        return stage

    def _create_temp(
        self, name: str, schema: pa.Schema, *, extra: Sequence[sql.Composable] = ()
    ) -> None:
        columns = [*extra, *(_column_def(f, not_null=False) for f in schema)]
        self._execute(
            sql.SQL("CREATE TEMP TABLE {} ({})").format(_temp(name), sql.SQL(", ").join(columns))
        )

    def _copy(self, name: str, rows: pa.Table) -> None:
        """Stream `rows` into a temp table as CSV (nested values as JSON text)."""
        columns = sql.SQL(", ").join(sql.Identifier(n) for n in rows.column_names)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(_temp(name), columns)
        cur = self._open_conn().cursor()
        with cur, cur.copy(statement) as copy:
            for batch in rows.to_batches(max_chunksize=_COPY_ROWS):
                copy.write(_csv(batch))

    # --- commit --------------------------------------------------------------------------

    def _merge(self, stats: WriteStats) -> None:
        """Inside the commit transaction: DDL, replacement deletes, upserts."""
        for spec in self._specs.values():
            self._ensure_table(spec)
            stats.rows[spec.name] = 0
            stats.deleted[spec.name] = 0
        for deletion in self._deletions:
            target = self._ident(deletion.table)
            stats.deleted[deletion.table] += self._execute(_delete_matching(target, deletion))
        for stage in self._stages.values():
            deleted, inserted = self._upsert(stage)
            stats.deleted[stage.spec.name] += deleted
            stats.rows[stage.spec.name] += inserted

    def _upsert(self, stage: _Stage) -> tuple[int, int]:
        """Replace target rows by the staged rows' keys; insert the last row of each key."""
        self._execute(
            sql.SQL("ANALYZE {}").format(_temp(stage.name))
        )  # temp tables get no autovacuum
        key = sql.SQL(", ").join(sql.Identifier(k) for k in stage.spec.key)
        target = self._ident(stage.spec.name)
        deleted = self._execute(
            sql.SQL("DELETE FROM {} WHERE ({}) IN (SELECT {} FROM {})").format(
                target, key, key, _temp(stage.name)
            )
        )
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in stage.columns)
        inserted = self._execute(
            sql.SQL(
                "INSERT INTO {} ({}) SELECT DISTINCT ON ({}) {} FROM {} ORDER BY {}, {} DESC"
            ).format(target, columns, key, columns, _temp(stage.name), key, sql.Identifier(ORD))
        )
        return deleted, inserted

    def _ensure_table(self, spec: TableSpec) -> None:
        """Create the table, or add the columns it lacks; record its Arrow schema."""
        current = self._schemas.get(spec.name)
        if current is None:
            self._create_table(spec)
        else:
            for f in spec.schema:
                if f.name not in current.names:
                    self._execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {}").format(
                            self._ident(spec.name), _column_def(f, not_null=False)
                        )
                    )
        self._execute(
            sql.SQL(
                "INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
                "SET arrow_schema = EXCLUDED.arrow_schema, updated_at = EXCLUDED.updated_at"
            ).format(self._ident(TABLES)),
            [spec.name, _widened(current, spec.schema).serialize().to_pybytes(), datetime.now(UTC)],
        )

    def _create_table(self, spec: TableSpec) -> None:
        """CREATE TABLE with the spec's columns and its key as PRIMARY KEY.

        A key with a nullable column (absent stays NULL) is a UNIQUE NULLS NOT DISTINCT
        constraint instead, as a primary key would refuse the NULL.
        """
        nullable = {f.name for f in spec.schema if f.nullable and f.name in spec.key}
        columns = [
            _column_def(f, not_null=f.name in spec.key and f.name not in nullable)
            for f in spec.schema
        ]
        key = sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)
        constraint = "UNIQUE NULLS NOT DISTINCT ({})" if nullable else "PRIMARY KEY ({})"
        columns.append(sql.SQL(constraint).format(key))
        self._execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                self._ident(spec.name), sql.SQL(", ").join(columns)
            )
        )

    def _save_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._execute(
            sql.SQL(
                "INSERT INTO {} VALUES (%s, %s::jsonb, %s) ON CONFLICT (dataset) DO UPDATE "
                "SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at"
            ).format(self._ident(CHECKPOINTS)),
            [checkpoint.dataset, checkpoint.to_json(), checkpoint.updated_at],
        )

    # --- plumbing ------------------------------------------------------------------------

    def _open_conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            raise SinkError(f"{self.uri}: the sink is closed")
        return self._conn

    def _execute(self, statement: Query, params: Sequence[Any] | None = None) -> int:
        """Run one statement; the number of rows it touched."""
        with self._open_conn().cursor() as cur:
            cur.execute(statement, params)
            return max(cur.rowcount, 0)

    def _fetch(
        self, statement: Query, params: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with self._open_conn().cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()

    def _ident(self, name: str) -> sql.Composable:
        return sql.Identifier(self.schema, name)

    def _temp_name(self, kind: str) -> str:
        return f"_genesys_export_{kind}_{next(self._names)}"

    def _scrub(self, exc: BaseException) -> str:
        """An error's text with the password cut out, should a driver ever echo it."""
        text = str(exc).strip()
        return text.replace(self._password, "***") if self._password else text

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise SinkError(f"{self.uri}: {action} failed ({self._scrub(exc)})") from exc


# --- SQL and types -----------------------------------------------------------------------


def pg_type(t: pa.DataType) -> str:
    """The PostgreSQL type a column of Arrow type `t` is stored as."""
    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision}, {t.scale})"
    if pa.types.is_nested(t):
        return "jsonb"
    for test, name in _SCALAR_TYPES:
        if test(t):
            return name
    raise SinkError(f"Arrow type {t} has no PostgreSQL mapping")


_SCALAR_TYPES = (
    (pa.types.is_string, "text"),
    (pa.types.is_large_string, "text"),
    (pa.types.is_boolean, "boolean"),
    (lambda t: pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t), "smallint"),
    (lambda t: pa.types.is_int32(t) or pa.types.is_uint16(t), "integer"),
    (lambda t: pa.types.is_int64(t) or pa.types.is_uint32(t), "bigint"),
    (pa.types.is_uint64, "numeric(20)"),
    (lambda t: pa.types.is_float16(t) or pa.types.is_float32(t), "real"),
    (pa.types.is_float64, "double precision"),
    (pa.types.is_date, "date"),
)


def _column_def(f: pa.Field, *, not_null: bool) -> sql.Composable:
    null = sql.SQL(" NOT NULL") if not_null else sql.SQL("")
    return sql.SQL("{} {}{}").format(sql.Identifier(f.name), sql.SQL(pg_type(f.type)), null)


def _temp(name: str) -> sql.Composable:
    return sql.Identifier("pg_temp", name)


def _delete_matching(target: sql.Composable, deletion: _Deletion) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in deletion.columns)
    return sql.SQL("DELETE FROM {} WHERE ({}) IN (SELECT {} FROM {})").format(
        target, cols, cols, _temp(deletion.name)
    )


def _csv(batch: pa.RecordBatch) -> bytes:
    """A batch as header-less CSV for COPY: nested values JSON, dictionaries decoded."""
    columns = [_csv_column(column) for column in batch.columns]
    batch = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    out = pa.BufferOutputStream()
    pacsv.write_csv(batch, out, write_options=pacsv.WriteOptions(include_header=False))
    return bytes(out.getvalue().to_pybytes())


def _csv_column(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.dictionary_decode()
    if pa.types.is_nested(column.type):
        return pa.array(
            [
                None if v is None else json.dumps(v, default=_json_default)
                for v in column.to_pylist()
            ],
            pa.string(),
        )
    return column


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _widened(current: pa.Schema | None, spec: pa.Schema) -> pa.Schema:
    """The table's schema after `spec` was written: columns added later are nullable."""
    if current is None:
        return spec
    return pa.schema(
        [*current, *(f.with_nullable(True) for f in spec if f.name not in current.names)]
    )


def _lock_key(schema: str) -> int:
    """A stable signed 64-bit advisory lock key for a schema name."""
    digest = hashlib.sha256(f"genesys-export:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _conninfo_params(conninfo: str) -> dict[str, str]:
    """libpq parameters of a DSN or URI; a malformed one is a ConfigError (password-free)."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        raise ConfigError(
            "--dest: the PostgreSQL connection string is malformed; expected "
            "postgresql://user:pass@host:port/db?schema=genesys"
        ) from exc
    return {k: str(v) for k, v in params.items() if v is not None}


def _display_uri(params: dict[str, str], schema: str) -> str:
    """A password-free URI naming where the sink writes."""
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    host, db = params.get("host", ""), params.get("dbname", "")
    return f"postgresql://{user}{host}{port}/{db}?schema={schema}"
