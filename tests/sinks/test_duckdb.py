"""DuckDBSink on a real DuckDB file: what DuckDB alone does (its own file lock, URIs, the
in-memory database, its memory limit, row groups that skip the WAL, its driver errors).
The Sink contract, on every engine, is in test_contract.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from genesys_export.errors import ConfigError, LockHeld, SinkError
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.duckdb import ROW_GROUP_SIZE, DuckDBSink
from genesys_export.transform.tables import UTC_MS, TableSpec
from tests.sinks.builders import (
    CONVERSATIONS,
    DAY1,
    conversations,
    keys,
    rows_of,
    seed,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "w.duckdb"


@pytest.fixture
def sink(path: Path):  # type: ignore[no-untyped-def]
    with DuckDBSink(path) as s:
        yield s


@pytest.fixture
def seeded(sink: DuckDBSink) -> DuckDBSink:
    """Two conversations: c1 with participants p1, p2; c2 with p1."""
    return seed(sink)


def test_duckdbs_own_lock_from_another_process_becomes_lock_held(path: Path) -> None:
    """A database held open elsewhere (DuckDB's file lock) is reported as LockHeld."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, duckdb
                con = duckdb.connect({str(path)!r})
                print("ready", flush=True)
                sys.stdin.read()
                con.close()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(LockHeld, match="wait for it or use another --dest"):
            DuckDBSink(path)
    finally:
        holder.communicate("")
    with DuckDBSink(path) as sink:  # the lock file was released after the failure
        assert sink.read_checkpoint("x") is None


def test_open_sink_resolves_duckdb_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """duckdb:/// plus a relative path lands in the cwd; four slashes mean an absolute path."""
    monkeypatch.chdir(tmp_path)
    with open_sink("duckdb:///rel.duckdb") as sink:
        assert sink.uri == "duckdb:///rel.duckdb"
    with open_sink(f"duckdb:///{tmp_path}/abs.duckdb") as sink:
        assert sink.uri == f"duckdb:///{tmp_path}/abs.duckdb"
    with open_sink() as sink:
        assert isinstance(sink, DuckDBSink)

    assert sorted(p.name for p in tmp_path.glob("*.duckdb")) == [
        "abs.duckdb",
        "genesys_export.duckdb",
        "rel.duckdb",
    ]
    assert audit_path_for("duckdb:///rel.duckdb") == tmp_path / "genesys-export-audit.jsonl"
    assert audit_path_for("duckdb:///:memory:") is None


def test_in_memory_database_works_without_a_lock() -> None:
    with open_sink("duckdb:///:memory:") as sink:
        sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)))
        sink.commit()
        assert sink.read_table("conversations").num_rows == 1


@pytest.mark.parametrize(
    "uri",
    ["duckdb://x.duckdb", "mysql://u:pw@h/db", "parquet://", "s3://", "nonsense", "duckdb:///"],
)
def test_bad_uris_name_dest_and_the_accepted_forms(uri: str) -> None:
    """A URI no sink accepts is a ConfigError that names --dest, without any password."""
    with pytest.raises(ConfigError, match="--dest") as caught:
        open_sink(uri)

    assert "postgresql://user:pass@host" in str(caught.value)
    assert "pw" not in str(caught.value).replace("pass", "")


def test_driver_errors_become_sink_errors_and_abort_the_transaction(seeded: DuckDBSink) -> None:
    """A statement DuckDB refuses is a SinkError chaining its error; nothing staged lands."""
    clash = TableSpec(
        "conversations",
        pa.schema(
            [
                pa.field("conversation_id", pa.string(), nullable=False),
                pa.field("conversation_start", UTC_MS, nullable=False),
                pa.field("duration_ms", pa.struct([("x", pa.int64())])),
            ]
        ),
        key=("conversation_id",),
        partition_by="conversation_start",
    )
    seeded.delete(CONVERSATIONS, keys("c1"))
    bad = pa.table(
        {"conversation_id": ["c3"], "conversation_start": [DAY1], "duration_ms": [{"x": 1}]},
        schema=clash.schema,
    )

    with pytest.raises(SinkError, match="append to conversations failed") as caught:
        seeded.append(clash, bad)

    assert caught.value.__cause__ is not None
    seeded.commit()
    assert rows_of(seeded.read_table("conversations"), "conversation_id") == [("c1",), ("c2",)]


def test_the_memory_limit_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def limit(sink: DuckDBSink) -> str:
        return str(sink._con.execute("SELECT current_setting('memory_limit')").fetchone()[0])

    with open_sink(f"duckdb:///{tmp_path}/a.duckdb") as default:
        assert isinstance(default, DuckDBSink)
        assert limit(default) == "61.0 MiB"  # 64 MB
    monkeypatch.setenv("GENESYS_EXPORT_DUCKDB_MEMORY_LIMIT", "1GB")
    with open_sink(f"duckdb:///{tmp_path}/b.duckdb") as configured:
        assert isinstance(configured, DuckDBSink)
        assert limit(configured) == "953.6 MiB"  # 1 GB


def test_a_large_insert_goes_to_the_database_file_not_the_wal(tmp_path: Path) -> None:
    """A day's child table (50,000 rows) skips the WAL; the rows are there after reopening."""
    n = 50_000
    assert n > 2 * ROW_GROUP_SIZE
    table = conversations(*((f"c{i}", DAY1, i) for i in range(n)))
    path = tmp_path / "big.duckdb"
    with DuckDBSink(path) as sink:
        sink.insert(CONVERSATIONS, [table])
        sink.commit([])
        wal = Path(f"{path}.wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0

    assert wal_bytes < table.nbytes / 20
    with DuckDBSink(path) as sink:
        assert sink.read_table("conversations").num_rows == n


def test_a_memory_limit_that_is_not_a_size_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line naming the variable and a valid value; no database left, the lock released."""
    monkeypatch.setenv("GENESYS_EXPORT_DUCKDB_MEMORY_LIMIT", "lots")
    path = tmp_path / "bad.duckdb"

    with pytest.raises(ConfigError, match=r"GENESYS_EXPORT_DUCKDB_MEMORY_LIMIT .* 128MB"):
        open_sink(f"duckdb:///{path}")

    assert not path.exists()
    with DuckDBSink(path) as sink:  # would raise LockHeld had the failed open kept the lock
        assert sink.read_checkpoint("conversations") is None
