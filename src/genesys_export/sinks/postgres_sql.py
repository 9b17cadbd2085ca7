"""PostgreSQL types, statements and COPY text for the PostgreSQL sink.

Arrow types map to PostgreSQL types (`pg_type`); rows travel to a temporary table as CSV
through COPY; a connection string is displayed with its password removed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from genesys_export.errors import ConfigError, SinkError
from genesys_export.sinks import redact_uri

DEFAULT_SCHEMA = "genesys"


@dataclass(frozen=True)
class Deletion:
    """A temp table of replacement keys for one target table."""

    table: str
    name: str
    columns: list[str]
    nullable: bool = False  # some key column may be null: match null-aware


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


def column_def(f: pa.Field, *, not_null: bool) -> sql.Composable:
    null = sql.SQL(" NOT NULL") if not_null else sql.SQL("")
    return sql.SQL("{} {}{}").format(sql.Identifier(f.name), sql.SQL(pg_type(f.type)), null)


def temp_table(name: str) -> sql.Composable:
    return sql.Identifier("pg_temp", name)


def delete_matching(target: sql.Composable, deletion: Deletion) -> sql.Composed:
    return delete_where_keys(target, temp_table(deletion.name), deletion.columns, deletion.nullable)


def delete_where_keys(
    target: sql.Composable, keys: sql.Composable, columns: Sequence[str], nullable: bool
) -> sql.Composed:
    """DELETE the `target` rows whose `columns` equal a row of `keys`: a plain IN, or where a
    key column may be null, IS NOT DISTINCT FROM (null equals null)."""
    if not nullable:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        return sql.SQL("DELETE FROM {} AS t WHERE ({}) IN (SELECT {} FROM {})").format(
            target, cols, cols, keys
        )
    same = sql.SQL(" AND ").join(
        sql.SQL("t.{} IS NOT DISTINCT FROM k.{}").format(sql.Identifier(c), sql.Identifier(c))
        for c in columns
    )
    return sql.SQL("DELETE FROM {} AS t WHERE EXISTS (SELECT 1 FROM {} AS k WHERE {})").format(
        target, keys, same
    )


def csv_text(batch: pa.RecordBatch) -> bytes:
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


def lock_key(schema: str) -> int:
    """A stable signed 64-bit advisory lock key for a schema name."""
    digest = hashlib.sha256(f"genesys-export:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def conninfo_params(conninfo: str) -> dict[str, str]:
    """libpq parameters of a DSN or URI; a malformed one is a ConfigError (password-free)."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        raise ConfigError(
            "--dest: the PostgreSQL connection string is malformed; expected "
            "postgresql://user:pass@host:port/db?schema=genesys"
        ) from exc
    return {k: str(v) for k, v in params.items() if v is not None}


def display_uri(params: dict[str, str], schema: str) -> str:
    """A password-free URI naming where the sink writes."""
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    host, db = params.get("host", ""), params.get("dbname", "")
    return f"postgresql://{user}{host}{port}/{db}?schema={schema}"


def split_uri(uri: str) -> tuple[str, str]:
    """A `--dest` URI as a libpq connection string and the schema it names."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not schema:
        raise ConfigError(f"--dest {redact_uri(uri)!r}: schema= is empty; name a schema")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema
