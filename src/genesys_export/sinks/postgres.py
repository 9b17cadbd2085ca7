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

import itertools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from genesys_export.chunks import Replacement
from genesys_export.closing import Closing
from genesys_export.errors import SinkError
from genesys_export.sinks import redact_uri
from genesys_export.sinks.base import WriteStats
from genesys_export.sinks.columns import conform, conform_keys, widened
from genesys_export.sinks.locks import lock_held
from genesys_export.sinks.postgres_sql import (
    DEFAULT_SCHEMA,
    Deletion,
    column_def,
    conninfo_params,
    csv_text,
    delete_matching,
    delete_where_keys,
    display_uri,
    lock_key,
    pg_type,
    split_uri,
    temp_table,
)
from genesys_export.sinks.views import view_sql
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec

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


class PostgresSink(Closing):
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
        params = conninfo_params(conninfo)
        self.uri = uri or display_uri(params, schema)
        self._password = params.get("password") or None
        self._names = itertools.count()
        self._conn: psycopg.Connection[Any] | None = None
        self._schemas: dict[str, pa.Schema] = {}  # committed tables' Arrow schemas
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
        conninfo, schema = split_uri(uri)
        return cls(conninfo, schema=schema, lock=lock, uri=redact_uri(uri))

    # --- the Sink protocol ---------------------------------------------------------------

    def delete(self, spec: TableSpec, replacement: Replacement) -> None:
        """Stage the keys; staged rows they match go now, committed ones at commit."""
        keys = conform_keys(spec, replacement.keys)
        if keys.num_rows == 0:
            return
        with self._errors(f"delete from {spec.name}"):
            self._specs[spec.name] = spec
            nullable = any(f.nullable for f in keys.schema)
            deletion = Deletion(spec.name, self._temp_name("keys"), keys.column_names, nullable)
            self._create_temp(deletion.name, keys.schema)
            self._copy(deletion.name, keys)
            self._deletions.append(deletion)
            stage = self._stages.get(spec.name)
            if stage is not None:
                self._execute(delete_matching(temp_table(stage.name), deletion))

    def append(self, spec: TableSpec, table: pa.Table) -> None:
        """COPY rows into the table's staging temp table."""
        rows = conform(table, spec.schema, name=spec.name)
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
                after: dict[str, pa.Schema] = self._schemas | {
                    name: widened(self._schemas.get(name), spec.schema)
                    for name, spec in specs.items()
                }
                if after != self._schemas:  # a table was created or widened: views follow
                    self._refresh_views(after)
        finally:
            self.rollback()  # the temp tables: merged now, or to be discarded
        self._schemas = after
        return stats

    def _refresh_views(self, schemas: dict[str, pa.Schema]) -> None:
        """Create or replace the named views over the tables in `schemas` (views.py)."""
        for view, select in view_sql(schemas, self._qualified, "text").items():
            self._execute(sql.SQL("DROP VIEW IF EXISTS {}").format(self._ident(view)))
            self._execute(sql.SQL("CREATE VIEW {} AS ").format(self._ident(view)) + sql.SQL(select))

    def _qualified(self, name: str) -> str:
        return ".".join('"' + part.replace('"', '""') + '"' for part in (self.schema, name))

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

    def has_table(self, name: str) -> bool:
        return name in self._schemas

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
            found = self._fetch(sql.SQL("SELECT pg_try_advisory_lock(%s)"), [lock_key(self.schema)])
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
        self._deletions: list[Deletion] = []
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
                        temp_table(stage.name), sql.Identifier(f.name), sql.SQL(pg_type(f.type))
                    )
                )
                stage.columns.append(f.name)
        stage.spec = spec
        return stage

    def _create_temp(
        self, name: str, schema: pa.Schema, *, extra: Sequence[sql.Composable] = ()
    ) -> None:
        columns = [*extra, *(column_def(f, not_null=False) for f in schema)]
        self._execute(
            sql.SQL("CREATE TEMP TABLE {} ({})").format(
                temp_table(name), sql.SQL(", ").join(columns)
            )
        )

    def _copy(self, name: str, rows: pa.Table) -> None:
        """Stream `rows` into a temp table as CSV (nested values as JSON text)."""
        columns = sql.SQL(", ").join(sql.Identifier(n) for n in rows.column_names)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            temp_table(name), columns
        )
        cur = self._open_conn().cursor()
        with cur, cur.copy(statement) as copy:
            for batch in rows.to_batches(max_chunksize=_COPY_ROWS):
                copy.write(csv_text(batch))

    # --- commit --------------------------------------------------------------------------

    def _merge(self, stats: WriteStats) -> None:
        """Inside the commit transaction: DDL, replacement deletes, upserts."""
        for spec in self._specs.values():
            self._ensure_table(spec)
            stats.rows[spec.name] = 0
            stats.deleted[spec.name] = 0
        for deletion in self._deletions:
            target = self._ident(deletion.table)
            stats.deleted[deletion.table] += self._execute(delete_matching(target, deletion))
        for stage in self._stages.values():
            deleted, inserted = self._upsert(stage)
            stats.deleted[stage.spec.name] += deleted
            stats.rows[stage.spec.name] += inserted

    def _upsert(self, stage: _Stage) -> tuple[int, int]:
        """Replace target rows by the staged rows' keys; insert the last row of each key."""
        self._execute(
            sql.SQL("ANALYZE {}").format(temp_table(stage.name))
        )  # temp tables get no autovacuum
        key = sql.SQL(", ").join(sql.Identifier(k) for k in stage.spec.key)
        target = self._ident(stage.spec.name)
        nullable = any(stage.spec.schema.field(k).nullable for k in stage.spec.key)
        deleted = self._execute(
            delete_where_keys(target, temp_table(stage.name), stage.spec.key, nullable)
        )
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in stage.columns)
        inserted = self._execute(
            sql.SQL(
                "INSERT INTO {} ({}) SELECT DISTINCT ON ({}) {} FROM {} ORDER BY {}, {} DESC"
            ).format(
                target, columns, key, columns, temp_table(stage.name), key, sql.Identifier(ORD)
            )
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
                            self._ident(spec.name), column_def(f, not_null=False)
                        )
                    )
        self._execute(
            sql.SQL(
                "INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
                "SET arrow_schema = EXCLUDED.arrow_schema, updated_at = EXCLUDED.updated_at"
            ).format(self._ident(TABLES)),
            [spec.name, widened(current, spec.schema).serialize().to_pybytes(), datetime.now(UTC)],
        )

    def _create_table(self, spec: TableSpec) -> None:
        """CREATE TABLE with the spec's columns and its key as PRIMARY KEY.

        A key with columns that may be null (an absent aggregate dimension) cannot be a
        primary key: it is UNIQUE NULLS NOT DISTINCT instead (PostgreSQL 15+; older servers
        get no constraint, the merge keeps keys unique all the same).
        """
        required = {k for k in spec.key if not spec.schema.field(k).nullable}
        columns = [column_def(f, not_null=f.name in required) for f in spec.schema]
        key = sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)
        if len(required) == len(spec.key):
            columns.append(sql.SQL("PRIMARY KEY ({})").format(key))
        elif self._server_version() >= 150000:
            columns.append(sql.SQL("UNIQUE NULLS NOT DISTINCT ({})").format(key))
        self._execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                self._ident(spec.name), sql.SQL(", ").join(columns)
            )
        )

    def _server_version(self) -> int:
        return int(self._fetch(sql.SQL("SHOW server_version_num"))[0][0])

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
