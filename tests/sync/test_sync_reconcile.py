"""`reconcile = true` on a conversations dataset: each sync reconciles the days it settled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from genesys_export.sinks import open_sink
from tests.e2e import cli_env, invoke, read, simulator

QUERY = "/api/v2/analytics/conversations/aggregates/query"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, *, reconcile: bool = True) -> Path:
    path = tmp_path / "genesys-export.toml"
    path.write_text(
        f"""
[destination]
uri = "duckdb:///{tmp_path / "w.duckdb"}"

[run]
lookback = "P2D"

[datasets.conversations]
kind = "conversations"
start = "2024-05-06"
reconcile = {str(reconcile).lower()}
"""
    )
    return path


def sync(path: Path, running: Any) -> Any:
    return invoke(["sync", "--config", str(path), "--json"], cli_env(running))


def aggregate_queries(sim: Any, since: int = 0) -> list[str]:
    """The aggregate queries of reconciliation (not the request plan's conversation counts)."""
    bodies = [json.loads(r.body) for r in sim.requests[since:] if r.path == QUERY]
    return [b["interval"] for b in bodies if b["metrics"] != ["nConversations"]]


def test_each_sync_reconciles_the_days_it_settled(tmp_path: Path) -> None:
    """The first sync settles 05-06 up to the watermark (05-10 06:00) and reconciles the
    whole days 05-06..05-09, all matching; a second sync settles no new day and asks for
    no aggregates."""
    path = config(tmp_path)
    dest = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with simulator() as (sim, running):
        first = sync(path, running)
        asked_first, seen = aggregate_queries(sim), len(sim.requests)
        second = sync(path, running)
        asked_second = aggregate_queries(sim, seen)

    assert first.exit_code == 0, first.stderr
    found = json.loads(first.stdout)["datasets"]["conversations"]["reconcile"]
    assert found["interval"] == "2024-05-06T00:00:00.000Z/2024-05-10T00:00:00.000Z"
    assert found["cells_compared"] > 0 and found["cells_differ"] == 0
    rows = read(dest, "reconciliation").to_pylist()
    assert len(rows) == found["cells_compared"] and all(r["matched"] for r in rows)
    assert {r["interval_start"].date().isoformat() for r in rows} == {
        "2024-05-06",
        "2024-05-07",
        "2024-05-08",
        "2024-05-09",
    }
    assert len(asked_first) == 4
    assert second.exit_code == 0, second.stderr
    assert json.loads(second.stdout)["datasets"]["conversations"]["reconcile"]["interval"] is None
    assert asked_second == []


def test_a_sync_whose_details_differ_exits_6_with_data_committed(tmp_path: Path) -> None:
    """A details job that lost conversations of 05-07: the sync lands everything, saves its
    checkpoint, prints its summary, then exits 6 naming the dataset; without reconcile
    the same damage passes unnoticed."""
    with simulator(faults="drop_conversations:n=1,day=2024-05-07") as (_, running):
        damaged = sync(config(tmp_path), running)
    assert damaged.exit_code == 6
    assert damaged.stderr.strip().startswith("error: sync conversations: ")
    summary = json.loads(damaged.stdout)
    found = summary["datasets"]["conversations"]["reconcile"]
    assert found["cells_differ"] > 0
    assert all(c["interval_start"].startswith("2024-05-07") for c in found["worst_cells"])
    with open_sink(f"duckdb:///{tmp_path / 'w.duckdb'}", lock=False) as sink:
        checkpoint = sink.read_checkpoint("conversations")
    assert checkpoint is not None and checkpoint.settled_until.isoformat().startswith("2024-05-10")

    other = tmp_path / "plain"
    other.mkdir()
    with simulator(faults="drop_conversations:n=1,day=2024-05-07") as (sim, running):
        plain = sync(config(other, reconcile=False), running)
        assert aggregate_queries(sim) == []
    assert plain.exit_code == 0, plain.stderr
