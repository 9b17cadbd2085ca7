"""`reconcile` end to end: a clean export matches Genesys' aggregates, a damaged one exits 6
naming exactly the damaged cells, `--repair` re-exports only the damaged days."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from genesys_export.audit import read_events
from genesys_export.errors import CellsDiffer
from genesys_export.simulator import Simulator
from genesys_export.sinks import audit_path_for
from tests.e2e import SINKS, cli_env, duckdb_dest, exporter_for, invoke, read, simulator

INTERVAL = "2024-05-08/2024-05-10"
DAMAGED_DAY = "2024-05-09"
DAMAGE = f"drop_conversations:n=2,day={DAMAGED_DAY}"
METRICS = ("nOffered", "nConnected", "tHandle", "tTalk", "tAcw", "tAnswered")
JOBS = "/api/v2/analytics/conversations/details/jobs"
QUERY = "/api/v2/analytics/conversations/aggregates/query"
Cell = tuple[datetime, str | None, str, str]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def dropped(sim: Simulator, day: str = DAMAGED_DAY, n: int = 2) -> list[dict[str, Any]]:
    """The conversations the fault leaves out: the first n that start and end in the day."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    end = start + timedelta(days=1)
    records = sim.dataset.conversation_records(ms(start), ms(end))
    inside = [r for r in records if r.start_ms >= ms(start) and r.end_ms and r.end_ms < ms(end)]
    return [json.loads(r.raw) for r in inside[:n]]


def count_gaps(conversations: list[dict[str, Any]]) -> dict[Cell, int]:
    """Details minus aggregates per PT30M cell when these conversations are missing,
    computed from their JSON: emitDate bucket, session mediaType, first segment queueId."""
    gaps: dict[Cell, int] = {}
    for conversation in conversations:
        for participant in conversation["participants"]:
            for session in participant["sessions"]:
                queues = [s["queueId"] for s in session["segments"] if "queueId" in s]
                for metric in session.get("metrics", []):
                    if metric["name"] not in METRICS:
                        continue
                    emitted = datetime.fromisoformat(metric["emitDate"])
                    bucket = emitted.replace(minute=emitted.minute // 30 * 30, second=0)
                    key = (
                        bucket.replace(microsecond=0),
                        queues[0] if queues else None,
                        session["mediaType"],
                        metric["name"],
                    )
                    count = metric["value"] if metric["name"].startswith("n") else 1
                    gaps[key] = gaps.get(key, 0) - count
    return {key: gap for key, gap in gaps.items() if gap}


def landed_gaps(dest: str) -> dict[Cell, int]:
    rows = read(dest, "reconciliation").to_pylist()
    return {
        (r["interval_start"], r["queue_id"], r["media_type"], r["metric"]): r["difference"]
        for r in rows
        if r["matched"] is False
    }


def export(dest: str, running: Any) -> None:
    done = invoke(
        ["export", "conversations", "--interval", INTERVAL, "--dest", dest], cli_env(running)
    )
    assert done.exit_code == 0, done.stderr


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_clean_export_reconciles_with_exit_0(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """Every settled cell matches, NULL-queue cells included; each lands in
    `reconciliation` with both counts; the audit gets reconcile.finished with the counts."""
    dest = dest_in(tmp_path)
    with simulator() as (_, running):
        export(dest, running)
        result = invoke(
            ["reconcile", "--interval", INTERVAL, "--dest", dest, "--json"], cli_env(running)
        )

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    table = read(dest, "reconciliation").to_pylist()
    assert summary["cells_compared"] == len(table) > 100
    assert summary["cells_differ"] == 0 and summary["cells_pending"] == 0
    assert all(r["matched"] and r["settled"] and r["difference"] == 0 for r in table)
    assert {r["metric"] for r in table} == set(METRICS)
    assert any(r["queue_id"] is None for r in table)  # sessions with no queue: own cells
    assert all(r["details_count"] > 0 for r in table)
    assert {r["_run_id"] for r in table} == {summary["run_id"]}
    audit = audit_path_for(dest)
    assert audit is not None
    events = read_events(audit)
    finished = [e for e in events if e["event"] == "reconcile.finished"]
    assert len(finished) == 1
    assert finished[0]["cells_compared"] == len(table) and finished[0]["cells_differ"] == 0


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_damaged_export_exits_6_naming_the_damaged_cells(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """Two conversations missing from one details job: exactly the cells their metrics
    fall in differ, by what they carried; exit 6 with one line naming the worst cell."""
    dest = dest_in(tmp_path)
    with simulator(faults=DAMAGE) as (sim, running):
        export(dest, running)
        result = invoke(
            ["reconcile", "--interval", INTERVAL, "--dest", dest, "--json"], cli_env(running)
        )
        expected = count_gaps(dropped(sim))

    assert result.exit_code == 6, result.stderr
    summary = json.loads(result.stdout)
    assert landed_gaps(dest) == expected
    assert summary["cells_differ"] == len(expected)
    assert summary["largest_difference"] == max(abs(gap) for gap in expected.values())
    line = result.stderr.strip().splitlines()
    assert len(line) == 1 and line[0].startswith("error: reconcile: ")
    worst = summary["worst_cells"][0]
    assert f"{worst['metric']}: details {worst['details_count']}" in line[0]
    assert worst["interval_start"].startswith(DAMAGED_DAY)


def test_repair_exports_only_the_damaged_day_again(tmp_path: Path) -> None:
    """--repair submits one details job, for the damaged UTC day only, then every cell
    matches: exit 0, the summary says which days it repaired and how many cells it fixed."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults=DAMAGE) as (sim, running):
        export(dest, running)
        seen = len(sim.requests)
        result = invoke(
            ["reconcile", "--interval", INTERVAL, "--dest", dest, "--repair", "--json"],
            cli_env(running),
        )
        later = sim.requests[seen:]
        expected = count_gaps(dropped(sim))
        truth = {
            c["conversationId"]
            for c in sim.dataset.conversations(
                datetime(2024, 5, 8, tzinfo=UTC), datetime(2024, 5, 10, tzinfo=UTC)
            )
        }

    assert result.exit_code == 0, result.stderr
    jobs = [json.loads(r.body)["interval"] for r in later if r.method == "POST" and r.path == JOBS]
    assert jobs == ["2024-05-09T00:00:00.000Z/2024-05-10T00:00:00.000Z"]
    queries = [json.loads(r.body) for r in later if r.path == QUERY]
    counts = [q for q in queries if q["metrics"] == ["nConversations"]]  # the repair's plan
    assert len(queries) - len(counts) == 2  # one per day, asked once
    assert [q["interval"] for q in counts] == jobs
    summary = json.loads(result.stdout)
    assert summary["repaired_days"] == [DAMAGED_DAY]
    assert summary["cells_fixed"] == len(expected) and summary["cells_differ"] == 0
    assert all(r["matched"] for r in read(dest, "reconciliation").to_pylist())
    assert set(read(dest, "conversations").column("conversation_id").to_pylist()) == truth


def test_unsettled_buckets_are_pending_not_differences(tmp_path: Path) -> None:
    """With the lookback reaching back to the damaged day, its cells are pending: they
    land unjudged (matched NULL) and the reconciliation passes on the settled day."""
    dest = duckdb_dest(tmp_path)
    lookback = datetime.now(UTC) - datetime(2024, 5, 9, tzinfo=UTC)
    with simulator(faults=DAMAGE) as (sim, running):
        exporter = exporter_for(running, tmp_path, lookback=lookback)
        exporter.export_conversations(INTERVAL, dest=dest)
        summary = exporter.reconcile(INTERVAL, dest=dest).summary
        expected = count_gaps(dropped(sim))

    rows = read(dest, "reconciliation").to_pylist()
    pending = [r for r in rows if not r["settled"]]
    assert {r["interval_start"].date().isoformat() for r in pending} == {DAMAGED_DAY}
    assert all(r["matched"] is None for r in pending)
    assert {
        (r["interval_start"], r["queue_id"], r["media_type"], r["metric"]): r["difference"]
        for r in pending
        if r["difference"]
    } == expected
    assert summary["cells_differ"] == 0
    assert summary["cells_pending"] == len(pending)
    assert summary["cells_compared"] == len(rows) - len(pending) > 0
    assert summary["settled_until"] < "2024-05-09T00:01"


def test_library_raises_cells_differ_with_the_summary(tmp_path: Path) -> None:
    """Exporter.reconcile raises CellsDiffer (exit code 6) carrying the run summary; a
    tolerance as large as the largest difference accepts every cell."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults=DAMAGE) as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations(INTERVAL, dest=dest)
        with pytest.raises(CellsDiffer) as caught:
            exporter.reconcile(INTERVAL, dest=dest)
        largest = caught.value.summary["largest_difference"]
        tolerant = exporter.reconcile(INTERVAL, dest=dest, tolerance=largest).summary

    assert caught.value.exit_code == 6 and caught.value.summary["cells_differ"] > 0
    assert tolerant["cells_differ"] == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--metrics", "nOffered,oServiceLevel"], "--metrics"),
        (["--metrics", "nOfferd"], "--metrics"),
        (["--granularity", "PT7M"], "--granularity"),
        (["--tolerance", "-1"], "--tolerance"),
    ],
)
def test_bad_options_exit_2_naming_the_option(tmp_path: Path, args: list[str], named: str) -> None:
    """A wrong option exits 2 with a line naming it, before any request or file."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        result = invoke(
            ["reconcile", "--interval", INTERVAL, "--dest", dest, *args], cli_env(running)
        )
        requests = len(sim.requests)

    assert result.exit_code == 2
    assert named in result.stderr + result.stdout
    assert requests == 0
    assert not (tmp_path / "w.duckdb").exists()


def test_on_a_terminal_the_worst_cells_are_a_table(tmp_path: Path) -> None:
    """Without --json, exit 6 still prints the counts and a table of the worst cells
    before the one error line."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults=DAMAGE) as (_, running):
        export(dest, running)
        result = invoke(["reconcile", "--interval", INTERVAL, "--dest", dest], cli_env(running))

    assert result.exit_code == 6
    assert "cells compared" in result.stdout and "differ" in result.stdout
    assert "worst cells" in result.stdout and f"  {DAMAGED_DAY} " in result.stdout
    assert result.stderr.count("error:") == 1
