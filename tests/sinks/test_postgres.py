"""PostgresSink on a real server: what PostgreSQL alone does (COPY staging, column types
and keys, the one-transaction merge, the advisory lock per schema, passwords kept out).
The Sink contract, on every engine, is in test_contract.py.

The server comes from GENESYS_EXPORT_TEST_POSTGRES_DSN (default: the local test server).
Without a server the tests skip, unless CI is set: there a missing server is a failure.
Each test gets its own schema, dropped afterwards (fixtures in conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from genesys_export.errors import LockHeld, SinkError
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.postgres import PostgresSink
from tests.sinks.builders import (
    CONVERSATIONS,
    DAY1,
    DAY2,
    DSN,
    PARTICIPANTS,
    PASSWORD,
    checkpoint,
    conversations,
    keys,
    participants,
    rows_of,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def sink(uri: str) -> Iterator[PostgresSink]:
    with PostgresSink.from_uri(uri) as s:
        yield s


@pytest.fixture
def seeded(sink: PostgresSink) -> PostgresSink:
    """c1 with participants p1, p2; c2 with p1; and a checkpoint."""
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 100), ("c2", DAY2, 201)))
    sink.append(
        PARTICIPANTS,
        participants(
            ("c1", "p1", DAY1, "agent"),
            ("c1", "p2", DAY1, "customer"),
            ("c2", "p1", DAY2, "agent"),
        ),
    )
    sink.commit([checkpoint(DAY2)])
    return sink


def test_awkward_values_survive_copy(sink: PostgresSink) -> None:
    """CSV staging keeps nulls apart from empty strings, and quotes, newlines and floats exact."""
    table = conversations(("a", DAY1, 1), ("b", DAY1, 2), ("c", DAY1, 3))
    table = table.set_column(5, "note", pa.array(['x,"y"\nz', "", None]))
    table = table.set_column(3, "score", pa.array([0.1 + 0.2, -1e-300, None]))
    sink.append(CONVERSATIONS, table)
    sink.commit()

    back = sink.read_table("conversations").sort_by("conversation_id")
    assert back.column("note").to_pylist() == ['x,"y"\nz', "", None]
    assert back.column("score").to_pylist() == [0.1 + 0.2, -1e-300, None]


def test_tables_are_typed_and_keyed_in_the_schema(
    seeded: PostgresSink, admin: psycopg.Connection, schema: str
) -> None:
    """Columns get PostgreSQL types from the Arrow types, and the key is the primary key."""
    types = dict(
        admin.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'conversations'",
            [schema],
        ).fetchall()
    )
    assert types == {
        "conversation_id": "text",
        "conversation_start": "timestamp with time zone",
        "duration_ms": "bigint",
        "score": "double precision",
        "answered": "boolean",
        "note": "text",
        "tags": "jsonb",
        "wrapup": "jsonb",
    }
    pk = admin.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        [f"{schema}.participants"],
    ).fetchall()
    assert sorted(r[0] for r in pk) == ["conversation_id", "participant_id"]


def test_a_failure_inside_commit_lands_neither_data_nor_checkpoint(
    seeded: PostgresSink, admin: psycopg.Connection, schema: str
) -> None:
    """When the checkpoint upsert fails after the merge ran, the data is rolled back with it."""
    admin.execute(
        sql.SQL(
            "CREATE FUNCTION {}.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'checkpoint refused by test'; END $$"
        ).format(sql.Identifier(schema))
    )
    admin.execute(
        sql.SQL(
            "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {} "
            "FOR EACH ROW EXECUTE FUNCTION {}.refuse()"
        ).format(sql.Identifier(schema, "_genesys_export_checkpoints"), sql.Identifier(schema))
    )
    seeded.delete(CONVERSATIONS, keys("c1", "c2"))
    seeded.append(CONVERSATIONS, conversations(("c3", DAY1, 3)))

    with pytest.raises(SinkError, match="checkpoint refused by test") as caught:
        seeded.commit([checkpoint(DAY2 + timedelta(days=1))])

    assert PASSWORD not in str(caught.value)
    assert rows_of(seeded.read_table("conversations"), "conversation_id") == [("c1",), ("c2",)]
    assert seeded.read_checkpoint("conversations") == checkpoint(DAY2)
    seeded.commit()  # the failed transaction's staging is gone: nothing lands now either
    assert rows_of(seeded.read_table("conversations"), "conversation_id") == [("c1",), ("c2",)]


def test_the_lock_is_per_schema_and_its_refusal_shows_no_password(
    sink: PostgresSink, uri: str, schema: str
) -> None:
    """The advisory lock keeps a second run out of the schema, with no password in the
    error, but not out of another schema."""
    with pytest.raises(LockHeld, match="in use by another genesys-export run") as caught:
        PostgresSink.from_uri(uri)
    assert PASSWORD not in str(caught.value)

    other = uri.replace(f"schema={schema}", f"schema={schema}_b")
    try:
        with PostgresSink.from_uri(other):
            pass
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(f"{schema}_b"))
            )


def test_uri_and_errors_never_show_the_password(uri: str, schema: str) -> None:
    """sink.uri is redacted; a refused connection's error does not echo the password."""
    with open_sink(uri) as sink:
        assert PASSWORD not in sink.uri
        assert sink.uri.endswith(f"?schema={schema}")

    bad = uri.replace("/test?", "/no_such_database_xyz?")
    with pytest.raises(SinkError) as caught:
        open_sink(bad)
    assert PASSWORD not in str(caught.value)
    assert caught.value.exit_code == 5


def test_audit_trail_of_a_postgres_destination_is_in_the_cwd(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    assert audit_path_for(uri) == tmp_path / "genesys-export-audit.jsonl"  # type: ignore[operator]
