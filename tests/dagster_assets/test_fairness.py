"""Per-org fairness: concurrent days of one org share its request budget."""

from __future__ import annotations

import bisect
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

pytest.importorskip("dagster")

from genesys_export.config import Settings
from genesys_export.dagster.definitions import load_project
from genesys_export.exporter import Exporter
from genesys_export.jobs.polling import Polling
from tests.conftest import running_simulator
from tests.e2e import duckdb_dest, read

BUDGET = 480  # the org's requests per minute
RUNS = 8  # runs of the org at once: each takes BUDGET / RUNS = 60 a minute
JOB_LATENCY = 6.0  # seconds a job takes: each run polls it as fast as its share allows


def eager_exporter(settings: Settings) -> Exporter:
    """Polls every 50 ms: without the budget, each run would send ~120 polls a job."""
    return Exporter(settings, polling=Polling(first=0.05, factor=1.0, cap=0.05))


def busiest_minute(times: list[float]) -> int:
    """The most requests in any 60 s window."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 60) - i for i, t in enumerate(times)), default=0)


@pytest.mark.slow
def test_concurrent_days_of_one_org_stay_within_its_budget(tmp_path: Path) -> None:
    """Eight days of one org run at once, each with its eighth of a 480/min budget: the
    simulator sees no 60 s window over 480 requests nor any run's token over 60, and
    every day lands in the org's one destination (the runs take turns at its lock)."""
    with running_simulator(
        budget_per_minute=100_000, conversations_per_day=5, job_latency=JOB_LATENCY
    ) as (sim, running):
        config = tmp_path / "genesys-export.toml"
        config.write_text(
            f"""
[run]
budget_per_minute = {BUDGET}

[dagster]
runs_per_org = {RUNS}

[datasets.conversations]
kind = "conversations"
start = "2024-05-01"

[orgs.acme]
client_id_env = "ACME_ID"
client_secret_env = "ACME_SECRET"
destination = "{duckdb_dest(tmp_path, "acme")}"
api_url = "{running.api_url}"
login_url = "{running.login_url}"
"""
        )
        project = load_project(
            config,
            environ={"ACME_ID": "sim-client", "ACME_SECRET": "sim-secret"},
            exporter_for=eager_exporter,
        )
        days = [date(2024, 5, 1) + timedelta(days=n) for n in range(RUNS)]
        with ThreadPoolExecutor(RUNS) as pool:
            results = list(pool.map(lambda d: project.export("conversations", "acme", d), days))

        api = [r.time for r in sim.requests if r.path.startswith("/api/v2/")]
        per_token = sim.stats.max_requests_per_minute_by_token

    assert busiest_minute(api) <= BUDGET
    assert len(per_token) == RUNS and max(per_token.values()) <= BUDGET // RUNS
    assert all(r.summary["budget_wait_s"] > 0 for r in results)  # the budget paced them
    landed = read(duckdb_dest(tmp_path, "acme"), "conversations")
    starts = {t.date() for t in landed.column("conversation_start").to_pylist()}
    assert set(days) <= starts
