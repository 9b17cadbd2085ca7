"""The command line against the simulator: exports, exit codes, and `check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e import CONVERSATION_SPECS, cli_env, duckdb_dest, invoke, read_all, simulator

DAY = "2024-05-08/2024-05-09"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI reads `.env` and writes defaults in the working directory: keep it in tmp.
    monkeypatch.chdir(tmp_path)


def test_export_conversations_json_prints_rows_per_table(tmp_path: Path) -> None:
    """`export conversations --json` exits 0 and prints the run summary as JSON, whose rows
    per table match what landed in the destination."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (_, running):
        result = invoke(
            ["export", "conversations", "--interval", DAY, "--dest", dest, "--json"],
            cli_env(running),
        )

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    tables = read_all(dest, CONVERSATION_SPECS)
    assert summary["rows"] == {name: t.num_rows for name, t in tables.items()}
    assert all(summary["rows"].values())
    assert summary["chunks"] == 1 and summary["warnings"] == []
    for table in tables.values():
        assert set(table.column("_run_id").to_pylist()) == {summary["run_id"]}


def test_refused_credentials_exit_3_with_one_line(tmp_path: Path) -> None:
    """A secret the token endpoint refuses ends the export with exit 3 and one `error:` line
    that does not repeat the secret."""
    with simulator() as (sim, running):
        result = invoke(
            ["export", "conversations", "--interval", DAY, "--dest", duckdb_dest(tmp_path)],
            cli_env(running, secret="not-the-secret"),
        )

    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "not-the-secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert sim.stats.jobs_submitted == 0


def test_a_repeated_cursor_exits_4_with_one_line(tmp_path: Path) -> None:
    """A server that repeats a results cursor stops the export with exit 4 and a line that
    says so, rather than paging forever."""
    with simulator(faults="repeat_cursor:n=1") as (sim, running):
        result = invoke(
            ["export", "conversations", "--interval", DAY, "--dest", duckdb_dest(tmp_path)],
            cli_env(running) | {"GENESYS_EXPORT_PAGE_SIZE": "10"},
        )

    assert result.exit_code == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "repeated cursor" in lines[0], result.stderr
    assert sim.stats.faults_injected == {"repeat_cursor": 1}


def test_check_prints_a_table_and_exits_0(tmp_path: Path) -> None:
    """`check` against the simulator prints one row per probe, all ok, and exits 0."""
    with simulator() as (_, running):
        result = invoke(["check"], cli_env(running))

    assert result.exit_code == 0, result.stdout + result.stderr
    for probe in ("token", "conversation details", "user details", "aggregates", "reporting"):
        assert probe in result.stdout
    assert "failed" not in result.stdout and "refused" not in result.stdout


def test_check_with_a_bad_secret_exits_3(tmp_path: Path) -> None:
    """`check` with a refused secret marks the token refused and exits 3."""
    with simulator() as (_, running):
        result = invoke(["check"], cli_env(running, secret="not-the-secret"))

    assert result.exit_code == 3
    assert "refused" in result.stdout
    assert "not-the-secret" not in result.stdout + result.stderr
