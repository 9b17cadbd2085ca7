"""`Sink.insert`: a stream of rows with new keys, on every sink (PostgreSQL for real)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from genesys_export.sinks.base import Sink
from genesys_export.sinks.duckdb import DuckDBSink
from genesys_export.sinks.parquet import ParquetSink
from genesys_export.sinks.postgres import PostgresSink
from tests.sinks.builders import DAY1, DAY2, PARTICIPANTS, keys, participants, rows_of
from tests.sinks.test_postgres import admin, schema, uri  # noqa: F401  (fixtures)


@pytest.fixture(params=["duckdb", "parquet", pytest.param("postgres", marks=pytest.mark.postgres)])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sink]:
    opened: Sink
    if request.param == "duckdb":
        opened = DuckDBSink(tmp_path / "db.duckdb")
    elif request.param == "parquet":
        opened = ParquetSink.local(tmp_path / "lake")
    else:
        opened = PostgresSink.from_uri(request.getfixturevalue("uri"))
    with opened:
        yield opened


def batches(count: int) -> Iterator[pa.Table]:
    """`count` tables of two participants each, over two days: keys c<i>/p1, c<i>/p2."""
    for i in range(count):
        day = DAY1 if i % 2 else DAY2
        yield participants((f"c{i}", "p1", day, "agent"), (f"c{i}", "p2", day, "customer"))


class Broken(Exception):
    pass


def test_a_stream_lands_whole_at_commit(sink: Sink) -> None:
    assert sink.insert(PARTICIPANTS, batches(50)) == 100
    stats = sink.commit()
    assert stats.rows["participants"] == 100
    table = sink.read_table("participants")
    assert rows_of(table, "conversation_id", "participant_id") == sorted(
        (f"c{i}", p) for i in range(50) for p in ("p1", "p2")
    )


def test_an_error_in_the_stream_propagates_as_itself_and_nothing_lands(sink: Sink) -> None:
    sink.append(PARTICIPANTS, participants(("old", "p1", DAY1, "agent")))
    sink.commit()

    def failing() -> Iterator[pa.Table]:
        yield from batches(3)
        raise Broken("line 7 has 3 fields, expected 4")

    with pytest.raises(Broken, match="line 7"):
        sink.insert(PARTICIPANTS, failing())
    sink.rollback()
    assert rows_of(sink.read_table("participants"), "conversation_id") == [("old",)]
    sink.insert(PARTICIPANTS, batches(1))  # the sink is usable again
    sink.commit()
    assert len(sink.read_table("participants")) == 3


def test_a_later_delete_or_append_in_the_transaction_sees_inserted_rows(sink: Sink) -> None:
    sink.insert(PARTICIPANTS, batches(4))
    sink.delete(PARTICIPANTS, keys("c1", days=(DAY1,)))
    sink.append(PARTICIPANTS, participants(("c2", "p1", DAY2, "supervisor")))
    sink.commit()
    table = sink.read_table("participants")
    assert rows_of(table, "conversation_id", "participant_id", "purpose") == [
        ("c0", "p1", "agent"),
        ("c0", "p2", "customer"),
        ("c2", "p1", "supervisor"),
        ("c2", "p2", "customer"),
        ("c3", "p1", "agent"),
        ("c3", "p2", "customer"),
    ]
