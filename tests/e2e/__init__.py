"""End-to-end tests: the library and the CLI against the simulator on loopback, read back.

Helpers shared by the e2e modules live here (fixtures are in tests/conftest.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner, Result

from genesys_export.cli import cli
from genesys_export.exporter import Exporter, ExportResult
from genesys_export.http_client import Api
from genesys_export.jobs.polling import Polling
from genesys_export.simulator import Simulator
from genesys_export.sinks import open_sink
from genesys_export.transform.schemas import CONVERSATION_TABLES
from genesys_export.transform.tables import TableSpec
from tests.conftest import running_simulator, settings_for

# High enough that neither the client's request budget nor the simulator's per-token
# budget paces a test; faults, not pacing, are what these tests inject.
BUDGET = 100_000
RUN_COLUMNS = ("_run_id", "_extracted_at")
CONVERSATION_SPECS: dict[str, TableSpec] = {spec.name: spec for spec in CONVERSATION_TABLES}


def short_sleep(seconds: float) -> None:
    """Retry backoffs and poll waits, capped at 10 ms so a run with faults stays fast."""
    time.sleep(min(seconds, 0.01))


class FastExporter(Exporter):
    """An Exporter whose Api waits at most 10 ms between retries and polls."""

    def api(self) -> Api:
        return Api(self.settings, transport=self.transport, rng=self.rng, sleep=short_sleep)


@contextmanager
def simulator(**options: Any) -> Iterator[tuple[Simulator, Any]]:
    """A served simulator (tests/conftest.py defaults) whose budget never paces a test."""
    with running_simulator(**({"budget_per_minute": BUDGET} | options)) as (sim, running):
        yield sim, running


def exporter_for(running: Any, tmp_path: Path, **options: Any) -> FastExporter:
    """A fast exporter against `running`; `options` are Settings options (page_size, chunk)."""
    lookback = options.pop("lookback", None)
    extra = {"lookback": lookback} if lookback is not None else {}
    settings = settings_for(running, **({"budget_per_minute": BUDGET, "page_size": 10} | options))
    return FastExporter(
        settings,
        polling=Polling(first=0.01, cap=0.05),
        audit_path=tmp_path / "audit.jsonl",
        **extra,
    )


def duckdb_dest(directory: Path, name: str = "w") -> str:
    """`duckdb:////abs/path/name.duckdb` (four slashes: an absolute path)."""
    return "duckdb:///" + str(directory / f"{name}.duckdb")


def parquet_dest(directory: Path, name: str = "lake") -> str:
    return "parquet://" + str(directory / name)


# Parametrize over both local sinks: `dest_in(directory)` gives a destination URI.
SINKS = [pytest.param(duckdb_dest, id="duckdb"), pytest.param(parquet_dest, id="parquet")]


def read(dest: str, name: str) -> pa.Table:
    """A table as it stands in `dest`, read with a fresh sink."""
    return ExportResult({}, dest).table(name)


def read_all(dest: str, names: Iterable[str]) -> dict[str, pa.Table]:
    """Several tables of `dest`, read through one sink (opening DuckDB is the slow part)."""
    with open_sink(dest, lock=False) as sink:
        return {name: sink.read_table(name) for name in names}


def data_rows(table: pa.Table, key: tuple[str, ...]) -> list[dict[str, Any]]:
    """The table's rows without `_run_id` / `_extracted_at`, ordered by `key`."""
    kept = [name for name in table.column_names if name not in RUN_COLUMNS]
    ordered = table.select(kept).sort_by([(name, "ascending") for name in key])
    return ordered.to_pylist()  # type: ignore[no-any-return]


def conversation_data(dest: str) -> dict[str, list[dict[str, Any]]]:
    """Every conversation table of `dest` as data rows (see `data_rows`)."""
    return {
        name: data_rows(read(dest, name), spec.key) for name, spec in CONVERSATION_SPECS.items()
    }


def instant(text: str | None) -> datetime | None:
    """An instant of the contract (`2024-05-01T10:00:00.000Z`) as an aware datetime."""
    return None if text is None else datetime.fromisoformat(text)


def cli_env(running: Any, *, secret: str = "sim-secret") -> dict[str, str | None]:
    """Environment for `genesys-export` against `running` (GENESYS_REGION unset)."""
    return {
        "GENESYS_CLIENT_ID": "sim-client",
        "GENESYS_CLIENT_SECRET": secret,
        "GENESYS_API_URL": running.api_url,
        "GENESYS_LOGIN_URL": running.login_url,
        "GENESYS_REGION": None,
        "GENESYS_EXPORT_BUDGET_PER_MINUTE": str(BUDGET),
    }


def invoke(args: list[str], env: dict[str, str | None]) -> Result:
    """Run the command line in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
