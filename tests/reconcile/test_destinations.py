"""The derivation on every destination that can be read back: DuckDB, Parquet, PostgreSQL
(SQL in the server) and Parquet on S3 (moto on loopback), all finding the same cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from genesys_export.errors import CellsDiffer
from genesys_export.reconcile.cells import RECONCILIATION
from tests.e2e import duckdb_dest, exporter_for, parquet_dest, read, simulator
from tests.sinks.builders import BUCKET

INTERVAL = "2024-05-08/2024-05-10"
DAMAGE = "drop_conversations:n=3,day=2024-05-08"


@pytest.fixture
def s3_dest(s3: object) -> str:
    """Parquet on moto's S3 (the shared `s3` fixture makes the bucket and sets AWS_*)."""
    return f"s3://{BUCKET}/reconcile"


@pytest.fixture
def pg_dest(uri: str) -> str:
    """A schema of its own on the test server (the shared `uri` fixture drops it after)."""
    return uri


def found(dest: str, tmp_path: Path, *, twice: bool = False) -> pa.Table:
    """Export the damaged interval, reconcile it (cells differ), return the cells landed."""
    with simulator(faults=DAMAGE) as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations(INTERVAL, dest=dest)
        for _ in range(2 if twice else 1):
            with pytest.raises(CellsDiffer):
                exporter.reconcile(INTERVAL, dest=dest)
    table = read(dest, "reconciliation").drop_columns(["_run_id", "_checked_at"])
    key = [(name, "ascending") for name in RECONCILIATION.key]
    return table.sort_by(key).combine_chunks()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """The cells DuckDB finds (the other destinations must find the same)."""
    tmp = tmp_path_factory.mktemp("reference")
    table = found(duckdb_dest(tmp), tmp)
    assert pc.sum(pc.invert(table["matched"])).as_py() > 0
    return table


def assert_same(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.num_rows == expected.num_rows
    assert actual.cast(expected.schema).to_pylist() == expected.to_pylist()


def test_parquet_finds_the_cells_duckdb_finds(tmp_path: Path, reference: pa.Table) -> None:
    """DuckDB over the Parquet files derives the same cells, NULL queues included."""
    assert_same(found(parquet_dest(tmp_path), tmp_path), reference)


@pytest.mark.postgres
def test_postgres_derives_the_same_cells_and_replaces_them(
    tmp_path: Path, pg_dest: str, reference: pa.Table
) -> None:
    """PostgreSQL runs the derivation and keeps one row per cell over two reconciliations,
    the NULL-queue cells included (a NULLS NOT DISTINCT key)."""
    assert_same(found(pg_dest, tmp_path, twice=True), reference)
    assert any(q is None for q in reference["queue_id"].to_pylist())


def test_s3_derives_the_same_cells(tmp_path: Path, s3_dest: str, reference: pa.Table) -> None:
    """Parquet on S3, read through Arrow datasets, derives the same cells."""
    assert_same(found(s3_dest, tmp_path), reference)


def test_a_destination_without_details_counts_zero_for_them(tmp_path: Path, reference: Any) -> None:
    """Reconciling an empty destination finds every aggregate cell missing from the
    details (nothing to derive from), rather than failing."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (_, running):
        with pytest.raises(CellsDiffer) as caught:
            exporter_for(running, tmp_path).reconcile(INTERVAL, dest=dest)
    table = read(dest, "reconciliation")
    assert caught.value.summary["cells_differ"] == table.num_rows > 0
    assert set(table["details_count"].to_pylist()) == {0}
