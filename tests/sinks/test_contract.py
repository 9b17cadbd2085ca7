"""The Sink contract (sinks/base.py), scenario by scenario, on every engine: DuckDB, Parquet
on a local directory, PostgreSQL, and Parquet on S3.

A scenario only some engines promise says which with `@engines(...)`; what one engine does
alone (row groups, partition files, COPY, objects) is tested in that engine's own file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from genesys_export.chunks import Replacement
from genesys_export.errors import LockHeld, SinkError
from genesys_export.sinks import open_sink
from genesys_export.sinks.base import Sink
from genesys_export.transform.tables import TableSpec
from tests.sinks.builders import (
    BUCKET,
    CONVERSATIONS,
    DAY1,
    DAY2,
    PARTICIPANTS,
    checkpoint,
    conversations,
    engines,
    keys,
    participants,
    rows_of,
    seed,
)


@pytest.fixture
def seeded(sink: Sink) -> Sink:
    """c1 (May 1) with participants p1, p2; c2 (May 2) with p1; and a checkpoint."""
    return seed(sink, c2_ms=201)


@pytest.fixture
def stored(engine: str, request: pytest.FixtureRequest) -> Callable[[str], bytes]:
    """The bytes of a file that `WriteStats.files` names (a local path or an s3:// URI)."""
    if engine == "s3":
        client = request.getfixturevalue("s3")

        def fetch(uri: str) -> bytes:
            key = uri.removeprefix(f"s3://{BUCKET}/")
            return bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())

        return fetch
    return lambda path: Path(path).read_bytes()


# --- reading back ------------------------------------------------------------------------


def test_rows_read_back_with_their_types(seeded: Sink) -> None:
    """A committed table reads back equal, in the exact Arrow schema it was written with."""
    table = seeded.read_table("conversations")

    assert table.schema == CONVERSATIONS.schema
    assert table.sort_by("conversation_id").equals(
        conversations(("c1", DAY1, 100), ("c2", DAY2, 201))
    )


def test_reads_see_committed_data_only(seeded: Sink) -> None:
    """read_table during a transaction shows the last commit, not the staged rows."""
    seeded.append(CONVERSATIONS, conversations(("c3", DAY1, 3)))

    assert seeded.read_table("conversations").num_rows == 2


def test_unknown_table_is_a_sink_error(sink: Sink) -> None:
    with pytest.raises(SinkError, match="no table 'nope'"):
        sink.read_table("nope")


# --- replacing and upserting -------------------------------------------------------------


def test_replacement_deletes_exactly_the_matched_rows_across_tables(seeded: Sink) -> None:
    """Re-exporting c1 replaces its rows everywhere, also where the new data has no child rows."""
    seeded.delete(CONVERSATIONS, keys("c1", days=(DAY1,)))
    seeded.append(CONVERSATIONS, conversations(("c1", DAY1, 111)))
    seeded.delete(PARTICIPANTS, keys("c1", days=(DAY1,)))
    seeded.append(PARTICIPANTS, participants())
    stats = seeded.commit()

    assert rows_of(seeded.read_table("conversations"), "conversation_id", "duration_ms") == [
        ("c1", 111),
        ("c2", 201),
    ]
    assert rows_of(seeded.read_table("participants"), "conversation_id", "participant_id") == [
        ("c2", "p1")
    ]
    assert stats.rows == {"conversations": 1, "participants": 0}
    assert stats.deleted == {"conversations": 1, "participants": 2}


def test_overlapping_commits_leave_no_duplicates(seeded: Sink) -> None:
    """Overlapping keys, staged twice, repeated within one table or already committed,
    end as one row each: the last."""
    seeded.delete(CONVERSATIONS, keys("c2", "c3", days=(DAY2,)))
    seeded.append(CONVERSATIONS, conversations(("c2", DAY2, 202), ("c3", DAY2, 300)))
    seeded.commit()
    seeded.append(CONVERSATIONS, conversations(("c3", DAY2, 301)))
    seeded.append(
        CONVERSATIONS, conversations(("c3", DAY2, 302), ("c3", DAY2, 303), ("c1", DAY1, 101))
    )
    seeded.append(PARTICIPANTS, participants(("c2", "p1", DAY2, "acd")))
    seeded.commit()

    assert rows_of(seeded.read_table("conversations"), "conversation_id", "duration_ms") == [
        ("c1", 101),
        ("c2", 202),
        ("c3", 303),
    ]
    assert rows_of(
        seeded.read_table("participants"), "conversation_id", "participant_id", "purpose"
    ) == [
        ("c1", "p1", "agent"),
        ("c1", "p2", "customer"),
        ("c2", "p1", "acd"),
    ]


def test_a_delete_and_an_upsert_in_one_commit(sink: Sink) -> None:
    """Deletes and overlapping keys in one commit: no stale rows, no duplicates."""
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1), ("c2", DAY2, 2), ("c3", DAY2, 3)))
    sink.commit()
    replaced = Replacement(pa.table({"conversation_id": ["c2"]}), frozenset({DAY2.date()}))
    sink.delete(CONVERSATIONS, replaced)
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 10), ("c4", DAY1, 40)))
    sink.commit()

    table = sink.read_table("conversations").sort_by("conversation_id")
    assert table.column("conversation_id").to_pylist() == ["c1", "c3", "c4"]
    assert table.column("duration_ms").to_pylist() == [10, 3, 40]


def test_a_delete_after_an_append_removes_the_staged_rows(seeded: Sink) -> None:
    """Staged operations apply in call order: a later delete also removes rows staged (or
    already streamed to a spool) before it."""
    seeded.append(CONVERSATIONS, conversations(("c3", DAY1, 300), ("c4", DAY1, 400)))
    seeded.delete(CONVERSATIONS, keys("c3", "c1", days=(DAY1,)))
    seeded.append(CONVERSATIONS, conversations(("c5", DAY1, 500)))
    seeded.commit()

    assert rows_of(seeded.read_table("conversations"), "conversation_id") == [
        ("c2",),
        ("c4",),
        ("c5",),
    ]


# --- transactions and checkpoints --------------------------------------------------------


def test_rollback_leaves_the_previous_state(seeded: Sink) -> None:
    """Nothing staged before a rollback lands, and the old checkpoint stays."""
    seeded.delete(CONVERSATIONS, keys("c1", "c2", days=(DAY1, DAY2)))
    seeded.append(CONVERSATIONS, conversations(("c9", DAY1, 900)))
    seeded.rollback()
    seeded.commit()

    assert rows_of(seeded.read_table("conversations"), "conversation_id") == [("c1",), ("c2",)]
    assert seeded.read_checkpoint("conversations") == checkpoint(DAY2)


def test_close_without_commit_discards_the_transaction(dest: str) -> None:
    """Leaving the `with` block (say, on an error) commits nothing."""
    with open_sink(dest) as sink:
        sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)))
        sink.commit([checkpoint(DAY1)])
    with pytest.raises(RuntimeError), open_sink(dest) as sink:
        sink.append(CONVERSATIONS, conversations(("c2", DAY1, 2)))
        raise RuntimeError("boom")

    with open_sink(dest) as sink:
        assert rows_of(sink.read_table("conversations"), "conversation_id") == [("c1",)]


def test_checkpoint_commits_with_the_data(dest: str) -> None:
    """A checkpoint is None before its commit, readable after it, from a new sink too, and
    a later commit replaces it."""
    with open_sink(dest) as sink:
        assert sink.read_checkpoint("conversations") is None
        assert sink.read_checkpoint("users") is None
        sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)))
        assert sink.read_checkpoint("conversations") is None
        sink.commit([checkpoint(DAY1), checkpoint(DAY2, "users")])
        sink.append(CONVERSATIONS, conversations(("c2", DAY1, 2)))
        assert sink.read_checkpoint("conversations") == checkpoint(DAY1)

    with open_sink(dest) as sink:
        assert sink.read_checkpoint("conversations") == checkpoint(DAY1)
        assert sink.read_checkpoint("users") == checkpoint(DAY2, "users")
        sink.commit([checkpoint(DAY2)])
    with open_sink(dest) as sink:
        assert sink.read_checkpoint("conversations") == checkpoint(DAY2)


@engines("parquet", "s3")
def test_write_stats_hold_each_files_sha256_and_size(
    sink: Sink, stored: Callable[[str], bytes]
) -> None:
    """A file sink lists every file a commit wrote, with the sha256 and size of what is
    stored (partitions and the manifest)."""
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1), ("c2", DAY2, 2)))
    stats = sink.commit([checkpoint(DAY2)])

    assert len(stats.files) == 3
    for path, digest in stats.files.items():
        data = stored(path)
        assert hashlib.sha256(data).hexdigest() == digest
        assert stats.sizes[path] == len(data)
    assert stats.rows == {"conversations": 2}


# --- schemas -----------------------------------------------------------------------------


def test_a_wider_schema_adds_nullable_columns(seeded: Sink) -> None:
    """A later spec with a new column widens the table; old rows read it as null."""
    wider = TableSpec(
        "conversations",
        CONVERSATIONS.schema.append(pa.field("division_id", pa.string(), nullable=False)),
        key=CONVERSATIONS.key,
        partition_by=CONVERSATIONS.partition_by,
    )
    new = conversations(("c3", DAY1, 3)).append_column("division_id", pa.array(["d1"]))
    seeded.append(wider, new)
    seeded.commit()

    table = seeded.read_table("conversations")
    assert table.schema.field("division_id").nullable
    assert rows_of(table, "conversation_id", "division_id") == [
        ("c1", None),
        ("c2", None),
        ("c3", "d1"),
    ]


def test_rows_that_do_not_fit_are_refused(sink: Sink) -> None:
    """A null in a non-nullable column or a missing column is a SinkError naming the table."""
    bad = conversations(("c1", DAY1, 1)).set_column(
        0, "conversation_id", pa.array([None], pa.string())
    )
    with pytest.raises(SinkError, match="conversations"):
        sink.append(CONVERSATIONS, bad)
    with pytest.raises(SinkError, match="duration_ms"):
        sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)).drop_columns(["duration_ms"]))


# --- locking -----------------------------------------------------------------------------


@engines("duckdb", "parquet", "postgres")  # object storage has no lock a crash releases
def test_a_second_sink_on_the_same_destination_is_refused(sink: Sink, dest: str) -> None:
    """Two runs into one destination would interleave: the second gets LockHeld until the
    first closes."""
    with pytest.raises(LockHeld, match="in use by another genesys-export run"):
        open_sink(dest)
    sink.close()
    with open_sink(dest):
        pass


# --- insert: a stream of rows with new keys ----------------------------------------------


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
