"""Long jobs commit a UTC day at a time: SIGKILL between (or inside) those commits, and the
rerun resumes with one job for the rest and ends with the uninterrupted tables."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from genesys_export.audit import read_events
from genesys_export.simulator import serve
from tests.conftest import make_simulator
from tests.sync.test_sync import assert_same_tables, destination, snapshot, sync

CONVERSATION_TABLES = (
    "conversations",
    "participants",
    "participant_attributes",
    "sessions",
    "segments",
    "session_metrics",
)


@pytest.fixture(scope="module")
def simulator() -> Iterator[Any]:
    sim = make_simulator(budget_per_minute=6000, conversations_per_day=30, users=6)
    with serve(sim, host="127.0.0.1", port=0) as running:
        yield sim, running


def config_for(tmp_path: Path, uri: str) -> Path:
    """One job slot, so the plan asks one job for the whole range (05-06 to the watermark
    05-10T06:00), read in pages of 20 conversations at 3 requests a second (a day spans
    several pages, so the days are committed while the job is still read), and a one-hour
    lookback, so a rerun starts right at the checkpoint."""
    path = tmp_path / "genesys-export.toml"
    path.write_text(
        f"""
[destination]
uri = "{uri}"
audit = "{tmp_path / "audit.jsonl"}"

[run]
concurrency = 1
budget_per_minute = 180
lookback = "PT1H"
page_size = 20

[datasets.conversations]
kind = "conversations"
start = "2024-05-06"
"""
    )
    return path


def conversation_tables(uri: str) -> dict[str, pa.Table]:
    return snapshot(uri, CONVERSATION_TABLES)


def jobs_by_run(audit: Path) -> list[list[str]]:
    runs: dict[str, list[str]] = {}
    for event in read_events(audit):
        if event["event"] == "job.submitted" and event.get("export_kind") == "conversation_details":
            runs.setdefault(event["run_id"], []).append(event["interval"])
    return list(runs.values())


@pytest.fixture(scope="module")
def uninterrupted(simulator: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _, running = simulator
    tmp = tmp_path_factory.mktemp("uninterrupted")
    uri = destination("duckdb", tmp)
    done = sync(config_for(tmp, uri), running)
    assert done.returncode == 0, done.stderr
    return {"tables": conversation_tables(uri), "jobs": jobs_by_run(tmp / "audit.jsonl")}


def test_the_plan_asks_one_job_for_the_whole_range(uninterrupted: dict[str, Any]) -> None:
    assert uninterrupted["jobs"] == [["2024-05-06T00:00:00.000Z/2024-05-10T06:00:00.000Z"]]
    assert uninterrupted["tables"]["conversations"].num_rows > 100


# (crash point, occasion): after the 2nd day's commit; inside the 3rd day's inserts (each
# day inserts into six tables); after a Parquet partition file is published mid-job.
CRASHES = [
    ("duckdb", ("commit", 2)),
    ("duckdb", ("append", 15)),
    ("parquet", ("commit", 3)),
    ("parquet", ("replace", 14)),
    ("postgres", ("commit", 2)),
]


@pytest.mark.parametrize(("kind", "crash"), CRASHES, ids=[f"{k}-{p}{n}" for k, (p, n) in CRASHES])
def test_sigkill_inside_a_long_job_loses_at_most_a_day_and_resumes(
    simulator: Any,
    uninterrupted: dict[str, Any],
    tmp_path: Path,
    kind: str,
    crash: tuple[str, int],
) -> None:
    _, running = simulator
    uri = destination(kind, tmp_path)
    config = config_for(tmp_path, uri)
    killed = sync(config, running, crash=crash)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    events = read_events(tmp_path / "audit.jsonl")
    saved = [e["written_until"] for e in events if e["event"] == "checkpoint.saved"]
    assert saved and all(s.endswith("T00:00:00+00:00") for s in saved)  # whole UTC days
    assert not [e for e in events if e["event"] == "job.finished"]  # killed inside the job

    rerun = sync(config, running)
    assert rerun.returncode == 0, rerun.stderr
    first, second = jobs_by_run(tmp_path / "audit.jsonl")
    assert first == ["2024-05-06T00:00:00.000Z/2024-05-10T06:00:00.000Z"]
    # the rerun asks one job for the rest: from the last day committed (minus the 1 h
    # lookback), which the killed run had reached in its one long job
    resumed = second[0].split("/")[0]
    assert resumed > "2024-05-06T00:00:00.000Z" and len(second) == 1
    assert_same_tables(conversation_tables(uri), uninterrupted["tables"], CONVERSATION_TABLES)
