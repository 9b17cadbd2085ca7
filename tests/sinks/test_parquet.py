"""ParquetSink on a local directory: hive partitions replaced atomically, manifests last,
spools cleaned up, the directory's lock. The Sink contract, on every engine, is in
test_contract.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genesys_export.errors import SinkError
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.parquet import ParquetSink
from genesys_export.transform.tables import UTC_MS, TableSpec
from tests.sinks.builders import (
    CONVERSATIONS,
    DAY1,
    DAY2,
    PARTICIPANTS,
    checkpoint,
    conversations,
    keys,
    participants,
    rows_of,
    seed,
)

# 23:30 UTC on May 2 is May 3 in Asia: the partition must follow the UTC date.


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def sink(root: Path):  # type: ignore[no-untyped-def]
    with ParquetSink.local(root) as s:
        yield s


@pytest.fixture
def seeded(sink: ParquetSink) -> ParquetSink:
    """c1 (May 1) with participants p1, p2; c2 (May 2) with p1."""
    return seed(sink)


def test_partitions_are_hive_directories_by_utc_date(seeded: ParquetSink, root: Path) -> None:
    """One part file per table and UTC date, a manifest, and nothing else but the lock."""
    assert files_under(root) == [
        ".genesys-export.lock",
        "_checkpoints/conversations.json",
        "conversations/date=2024-05-01/part-0.parquet",
        "conversations/date=2024-05-02/part-0.parquet",
        "participants/date=2024-05-01/part-0.parquet",
        "participants/date=2024-05-02/part-0.parquet",
    ]
    day2 = pq.read_table(root / "conversations/date=2024-05-02/part-0.parquet")
    assert day2.column("conversation_id").to_pylist() == ["c2"]
    assert day2.schema == CONVERSATIONS.schema


def test_emptied_partition_is_removed(seeded: ParquetSink, root: Path) -> None:
    """A partition whose last rows are deleted disappears instead of holding an empty file."""
    seeded.delete(PARTICIPANTS, keys("c2", days=(DAY2,)))
    seeded.commit()

    assert not (root / "participants/date=2024-05-02").exists()
    assert rows_of(seeded.read_table("participants"), "conversation_id") == [("c1",), ("c1",)]


def test_delete_without_partitions_looks_everywhere(seeded: ParquetSink, root: Path) -> None:
    """A replacement naming no partition finds its rows in any partition; others stay untouched."""
    day1_file = root / "conversations/date=2024-05-01/part-0.parquet"
    before = day1_file.stat().st_ino

    seeded.delete(CONVERSATIONS, keys("c2"))
    stats = seeded.commit()

    assert rows_of(seeded.read_table("conversations"), "conversation_id") == [("c1",)]
    assert day1_file.stat().st_ino == before  # not rewritten: nothing matched there
    assert list(stats.files) == []


def test_rollback_leaves_no_spools(seeded: ParquetSink, root: Path) -> None:
    """Rolled-back rows' temp files are gone: the directory is as the last commit left it.
    (That the rows and the checkpoint stay as they were is in test_contract.py.)"""
    before = files_under(root)
    seeded.delete(CONVERSATIONS, keys("c1", "c2", days=(DAY1, DAY2)))
    seeded.append(CONVERSATIONS, conversations(("c9", DAY1, 900)))
    assert any(".tmp-" in f for f in files_under(root))

    seeded.rollback()

    assert files_under(root) == before


def test_a_crash_before_commit_leaves_old_files_and_spools_are_cleaned(
    seeded: ParquetSink, root: Path
) -> None:
    """A process killed mid-transaction leaves the old data readable; the next open cleans up."""
    seeded.close()
    committed = files_under(root)
    crash = textwrap.dedent(
        f"""
        import os
        from tests.sinks.builders import CONVERSATIONS, DAY1, DAY2, conversations, keys
        from genesys_export.sinks.parquet import ParquetSink
        sink = ParquetSink.local({str(root)!r})
        sink.delete(CONVERSATIONS, keys("c1", "c2", days=(DAY1, DAY2)))
        sink.append(CONVERSATIONS, conversations(("c7", DAY1, 7), ("c8", DAY2, 8)))
        os._exit(9)  # no commit, no close: as if killed
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    assert subprocess.run([sys.executable, "-c", crash], env=env, check=False).returncode == 9
    spools = [f for f in files_under(root) if ".tmp-" in f]
    assert len(spools) == 2

    with ParquetSink.local(root) as sink:
        assert files_under(root) == committed
        assert rows_of(sink.read_table("conversations"), "conversation_id") == [("c1",), ("c2",)]
        assert sink.read_checkpoint("conversations") == checkpoint(DAY2)


def test_readers_without_the_lock_leave_spools_alone(seeded: ParquetSink, root: Path) -> None:
    """A lock-free reader (status, result.table) can read while a run is writing."""
    seeded.append(CONVERSATIONS, conversations(("c3", DAY1, 3)))

    with open_sink(f"parquet://{root}", lock=False) as reader:
        assert reader.read_table("conversations").num_rows == 2
    assert any(".tmp-" in f for f in files_under(root))
    seeded.commit()
    assert seeded.read_table("conversations").num_rows == 3


def test_a_wider_schema_is_unified_with_older_partitions(seeded: ParquetSink, root: Path) -> None:
    """New columns land in rewritten partitions, nullable; old partitions read them as null."""
    wider = TableSpec(
        "conversations",
        CONVERSATIONS.schema.append(pa.field("division_id", pa.string(), nullable=False)),
        key=CONVERSATIONS.key,
        partition_by=CONVERSATIONS.partition_by,
    )
    new = conversations(("c3", DAY1, 3)).append_column("division_id", pa.array(["d1"]))
    seeded.append(wider, new)
    seeded.commit()

    table = seeded.read_table("conversations")  # day 2's partition was not rewritten
    assert rows_of(table, "conversation_id", "division_id") == [
        ("c1", None),
        ("c2", None),
        ("c3", "d1"),
    ]
    day1 = pq.read_schema(root / "conversations/date=2024-05-01/part-0.parquet")
    assert day1.field("division_id").nullable


def test_rows_without_a_partition_value_are_refused(sink: ParquetSink) -> None:
    """A null in the partition column could never be replaced later: SinkError, not a guess."""
    schema = CONVERSATIONS.schema.set(1, pa.field("conversation_start", UTC_MS))
    spec = TableSpec("loose", schema, ("conversation_id",), "conversation_start")
    table = conversations(("x", DAY1, 1)).set_column(1, schema.field(1), pa.array([None], UTC_MS))

    with pytest.raises(SinkError, match="conversation_start"):
        sink.append(spec, table)


def test_open_sink_accepts_parquet_and_file_uris(root: Path) -> None:
    """parquet:/// and file:/// name the same local dataset; the audit file sits inside."""
    with open_sink(f"parquet://{root}") as sink:
        sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)))
        sink.commit()
        assert sink.uri == f"parquet://{root}"
    with open_sink(f"file://{root}") as sink:
        assert sink.read_table("conversations").num_rows == 1

    assert audit_path_for(f"file://{root}") == root / "genesys-export-audit.jsonl"


def test_partition_dates_are_utc_even_for_zoned_timestamps(sink: ParquetSink, root: Path) -> None:
    """A timestamp in another zone lands in the partition of its UTC date."""
    zoned = pa.timestamp("ms", tz="Asia/Tokyo")
    schema = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("at", zoned)])
    spec = TableSpec("events", schema, ("id",), "at")
    sink.append(spec, pa.table({"id": ["e"], "at": pa.array([DAY2], zoned)}, schema=schema))
    sink.commit()

    assert (root / "events" / f"date={date(2024, 5, 2)}" / "part-0.parquet").exists()


def test_many_partitions_keep_few_writers_open_and_lose_no_row(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the open-writer cap, spools are parked; a parked day written again reopens."""
    import genesys_export.sinks.parquet as module

    monkeypatch.setattr(module, "_OPEN_SPOOLS", 2)
    days = [datetime(2024, 5, d, 12, tzinfo=DAY1.tzinfo) for d in range(1, 7)]
    with ParquetSink.local(root) as sink:
        sink.append(PARTICIPANTS, participants(("old", "p1", days[0], "agent")))
        sink.commit()
        for i, day in enumerate(days):  # six partitions, then day 1 and day 2 again
            sink.insert(PARTICIPANTS, [participants((f"c{i}", "p1", day, "agent"))])
            assert len(sink._open) <= 2
        sink.insert(PARTICIPANTS, [participants(("late", "p1", days[0], "agent"))])
        sink.append(PARTICIPANTS, participants(("c1", "p1", days[1], "supervisor")))
        assert len(sink._open) <= 2
        sink.commit()
        table = sink.read_table("participants")
    assert rows_of(table, "conversation_id", "purpose") == [
        ("c0", "agent"), ("c1", "supervisor"), ("c2", "agent"), ("c3", "agent"),
        ("c4", "agent"), ("c5", "agent"), ("late", "agent"), ("old", "agent"),
    ]  # fmt: skip
    assert len(files_under(root / "participants")) == 6
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name]
