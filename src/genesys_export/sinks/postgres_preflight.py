"""Is a PostgreSQL destination writable? Asked before a run, creating nothing (see `preflight`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from genesys_export.errors import SinkError
from genesys_export.sinks import redact_uri
from genesys_export.sinks.locks import lock_held
from genesys_export.sinks.postgres_sql import conninfo_params, lock_key, split_uri
from genesys_export.sinks.preflight import Preflight


def check_postgres(uri: str) -> Preflight:
    """The server answers, the schema can be written and no run holds it; creates nothing."""
    conninfo, schema = split_uri(uri)
    with _preflight_errors(uri, conninfo), _connection(conninfo) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
        exists = found.fetchone() is not None
        allowed = (
            conn.execute("SELECT has_schema_privilege(%s, 'CREATE')", [schema])
            if exists
            else conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')")
        ).fetchone()
        free = conn.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(schema)]).fetchone()
        if free and free[0]:
            conn.execute("SELECT pg_advisory_unlock(%s)", [lock_key(schema)])
    if not (allowed and allowed[0]):
        raise SinkError(
            f"{redact_uri(uri)}: no CREATE privilege on schema {schema}; grant it or pick one"
        )
    if not (free and free[0]):
        raise lock_held(redact_uri(uri))
    return Preflight(exists=exists)


def _connection(conninfo: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        conninfo, autocommit=True, application_name="genesys-export", connect_timeout=10
    )


@contextmanager
def _preflight_errors(uri: str, conninfo: str) -> Iterator[None]:
    """Driver errors as one SinkError line naming the destination, password cut out."""
    password = conninfo_params(conninfo).get("password")
    try:
        yield
    except psycopg.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = text.replace(password, "***") if password else text
        raise SinkError(f"{redact_uri(uri)}: cannot connect ({text})") from None


def find_schema(uri: str) -> Preflight:
    """Whether the schema of a `--dest` exists (SinkError when the server cannot be reached)."""
    conninfo, schema = split_uri(uri)
    with _preflight_errors(uri, conninfo), _connection(conninfo) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
        return Preflight(exists=found.fetchone() is not None)
