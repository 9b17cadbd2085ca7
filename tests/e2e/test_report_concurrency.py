"""Reporting exports in flight together: one poll loop, request order, the org's limit.

These runs sleep for real (the poll waits are what is measured), with a short poll ladder;
what they assert comes from the simulator's timeline (`max_in_flight`, each export's
creation and end), its recorded requests and the landed tables, never from wall time.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from genesys_export.datasets import load_sync_config
from genesys_export.errors import JobTimedOut
from genesys_export.exporter import Exporter, ExportResult
from genesys_export.jobs.polling import Polling
from genesys_export.simulator import Simulator
from genesys_export.simulator.exports import Export, max_in_flight
from genesys_export.sync import run_sync
from tests.conftest import settings_for
from tests.e2e import BUDGET, cli_env, duckdb_dest, invoke, read, simulator

VIEW = "AGENT_PERFORMANCE_SUMMARY_VIEW"
TABLE = "report_agent_performance_summary_view"
EXPORTS = "/api/v2/analytics/reporting/exports"
BUSY = "TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION"
DAYS = 12  # 2024-04-28 .. 2024-05-09: the whole days before the simulator's watermark
POLLING = Polling(first=0.05, factor=1.4, cap=0.2, jitter=0.2)
ROW_KEY = ["_interval_start", "interval_start", "agent_id", "media_type"]


def write_config(directory: Path, *, report_concurrency: int, start: str = "2024-04-28") -> Path:
    config = directory / "genesys-export.toml"
    config.write_text(
        f'[destination]\nuri = "{duckdb_dest(directory)}"\n'
        f'audit = "{directory / "audit.jsonl"}"\n'
        f"[run]\nbudget_per_minute = {BUDGET}\nreport_concurrency = {report_concurrency}\n"
        f'[datasets.perf]\nkind = "report"\nstart = "{start}"\nview = "{VIEW}"\n'
    )
    return config


def sync_reports(
    running: Any, directory: Path, *, report_concurrency: int, **options: Any
) -> ExportResult:
    """A sync of the daily report dataset with a real-sleeping exporter."""
    config = write_config(directory, report_concurrency=report_concurrency, **options)
    exporter = Exporter(
        settings_for(running, budget_per_minute=BUDGET),
        polling=POLLING,
        audit_path=directory / "audit.jsonl",
    )
    return run_sync(exporter, load_sync_config(config))


def events(directory: Path, name: str) -> list[dict[str, Any]]:
    lines = (directory / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == name]


def mine(sim: Simulator) -> list[Export]:
    """The exports the client created (the seeded history never moves), in creation order."""
    exports = [e for e in sim.state.exports.values() if e.frozen_status is None]
    return sorted(exports, key=lambda e: e.created)


def listings(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.method == "GET" and r.path == EXPORTS)


def polls_if_sequential(latency: float, polling: Polling) -> int:
    """The fewest listing polls one export of `latency` s costs waited for on its own: its
    ladder of waits at their longest (+jitter), until they add up to the latency."""
    waited, wait, polls = 0.0, polling.first, 0
    while waited < latency:
        waited += wait * (1 + polling.jitter)
        wait = min(polling.cap, wait * polling.factor)
        polls += 1
    return polls


def data(table: pa.Table) -> pa.Table:
    """The table without the run's own columns, in key order."""
    kept = [c for c in table.column_names if c not in ("_run_id", "_extracted_at")]
    return table.select(kept).sort_by([(k, "ascending") for k in ROW_KEY])


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """What a run of one export at a time lands for the twelve days."""
    directory = tmp_path_factory.mktemp("sequential")
    with simulator() as (sim, running):
        sync_reports(running, directory, report_concurrency=1)
    assert max_in_flight(sim.state.exports.values(), sim.export_latency) == 1
    return data(read(duckdb_dest(directory), TABLE))


def test_twelve_days_run_four_at_a_time_with_one_poll_for_all(
    tmp_path: Path, sequential: pa.Table
) -> None:
    """report_concurrency 4, exports of 1 s: the simulator sees at most 4 in flight and at
    least 3 at once (so the run is far shorter than 12 latencies), the listing is polled
    far fewer times than 12 exports waited for one by one would poll it, every day is
    checkpointed in order, and the table is the one the sequential run lands."""
    with simulator(export_latency=1.0) as (sim, running):
        result = sync_reports(running, tmp_path, report_concurrency=4)
    created = mine(sim)
    assert len(created) == DAYS and not any(e.refused for e in created)
    overlap = max_in_flight(created, sim.export_latency)
    assert 3 <= overlap <= 4
    span = max(e.ends(sim.export_latency) for e in created) - created[0].created
    assert span < DAYS * sim.export_latency / 2  # the timeline, not the wall clock
    assert listings(sim) < DAYS * polls_if_sequential(1.0, POLLING) / 3
    saved = [e["written_until"] for e in events(tmp_path, "checkpoint.saved")]
    assert len(saved) == DAYS and saved == sorted(saved)
    assert result.summary["warnings"] == []
    assert result.summary["datasets"]["perf"]["report_exports_in_flight_max"] == 4
    assert data(read(duckdb_dest(tmp_path), TABLE)).equals(sequential)


def test_a_busy_org_refuses_exports_and_the_run_waits_its_turn(
    tmp_path: Path, sequential: pa.Table
) -> None:
    """The org takes 2 exports at once, the run asks for 5: the refused ones are submitted
    again (audited as job.finished state retry, not as failures), the run's cap comes down
    to 2 so refusals stay few, the org never had more than 2 in flight, and every day
    lands exactly once, as a sequential run lands it."""
    with simulator(export_latency=0.3, max_exports_in_flight=2) as (sim, running):
        result = sync_reports(running, tmp_path, report_concurrency=5)
    created = mine(sim)
    refused = [e for e in created if e.refused]
    assert 1 <= len(refused) <= 5  # one at first, then a probe every 4 successes at most
    assert len(created) == DAYS + len(refused)
    assert max_in_flight(created, sim.export_latency) == 2
    accepted_days = sorted(e.fields["interval"] for e in created if not e.refused)
    assert len(set(accepted_days)) == DAYS == len(accepted_days)
    assert {e.fields["interval"] for e in refused} <= set(accepted_days)
    retries = [e for e in events(tmp_path, "job.finished") if e["state"] == "retry"]
    assert sorted(e["job_id"] for e in retries) == sorted(e.id for e in refused)
    assert all(BUSY in e["error"] for e in retries)
    assert result.summary["warnings"] == []
    perf = result.summary["datasets"]["perf"]
    assert perf["report_exports_resubmitted"] == len(refused)
    assert perf["report_exports_in_flight_max"] == 2
    assert data(read(duckdb_dest(tmp_path), TABLE)).equals(sequential)


def test_a_later_day_finishing_first_is_still_checkpointed_after_the_earlier(
    tmp_path: Path,
) -> None:
    """The first day's export takes a second longer than the next three: those finish and
    are downloaded first, but days are written and checkpointed in order, each once."""
    with simulator(export_latency=0.1, faults="slow_export:seconds=1,n=1") as (sim, running):
        sync_reports(running, tmp_path, report_concurrency=4, start="2024-05-06")
    created = mine(sim)
    first, *later = created
    assert len(created) == 4 and first.fields["interval"].startswith("2024-05-06")
    assert all(e.ends(sim.export_latency) < first.ends(sim.export_latency) for e in later)
    downloads = [e["job_id"] for e in events(tmp_path, "download.finished")]
    assert downloads[-1] == first.id  # the later days' files were fetched while it ran
    written = [e["interval"] for e in events(tmp_path, "table.written")]
    assert written == sorted(written) and len(written) == 4
    saved = [e["written_until"] for e in events(tmp_path, "checkpoint.saved")]
    assert saved == [f"2024-05-{day:02d}T00:00:00+00:00" for day in (7, 8, 9, 10)]


def test_an_export_failing_otherwise_fails_the_sync_with_exit_4(tmp_path: Path) -> None:
    """export_fail: the first day's export ends FAILED_GETTING_DATA_FROM_SERVICE while the
    next days' are in flight: the sync exits 4 naming it, nothing is downloaded or written,
    and no checkpoint is saved."""
    config = write_config(tmp_path, report_concurrency=4, start="2024-05-06")
    with simulator(faults="export_fail:n=1") as (sim, running):
        result = invoke(["sync", "--config", str(config)], cli_env(running))
    assert result.exit_code == 4
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "FAILED_GETTING_DATA_FROM_SERVICE" in errors[0], result.stderr
    assert len(mine(sim)) == 4  # the others were in flight
    assert sim.stats.downloads == 0
    assert events(tmp_path, "checkpoint.saved") == []
    assert not any(e["state"] == "retry" for e in events(tmp_path, "job.finished"))


def test_the_command_line_report_concurrency_wins_over_the_file(tmp_path: Path) -> None:
    """The file says one export at a time; `sync --report-concurrency 3` runs the three
    days' exports at once."""
    config = write_config(tmp_path, report_concurrency=1, start="2024-05-07")
    with simulator(export_latency=0.5) as (sim, running):
        args = ["sync", "--config", str(config), "--report-concurrency", "3"]
        result = invoke(args, cli_env(running))
    assert result.exit_code == 0, result.stderr
    assert max_in_flight(mine(sim), sim.export_latency) == 3
    assert len(events(tmp_path, "checkpoint.saved")) == 3


def foreign_export(running: Any) -> None:
    """Another user of the org submits an export (the simulator's first, so slow_export
    makes it the long one)."""
    with httpx.Client(timeout=10) as client:
        token = client.post(
            running.login_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("sim-client", "sim-secret"),
        ).json()["access_token"]
        body = {
            "name": "someone else's",
            "timeZone": "UTC",
            "exportFormat": "CSV",
            "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
            "period": "P1D",
            "viewType": VIEW,
            "filter": {},
            "locale": "en-US",
        }
        answer = client.post(
            running.api_url + EXPORTS, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.json()["status"] == "SUBMITTED"


def test_with_none_of_ours_in_flight_a_refusal_waits_with_backoff(tmp_path: Path) -> None:
    """The org's one place is taken by another user's export: the run's export is refused
    while none of its own is in flight, so it is submitted again after waits that grow,
    and lands once the other export is done."""
    options = {"max_exports_in_flight": 1, "faults": "slow_export:seconds=0.6,n=1"}
    with simulator(**options) as (sim, running):
        foreign_export(running)
        exporter = Exporter(
            settings_for(running, budget_per_minute=BUDGET),
            polling=POLLING,
            audit_path=tmp_path / "audit.jsonl",
        )
        result = exporter.export_report(VIEW, "2024-05-06/2024-05-07", dest=duckdb_dest(tmp_path))
    _, *ours = mine(sim)
    refused = [e for e in ours if e.refused]
    assert len(refused) >= 2 and not ours[-1].refused
    gaps = [b.created - a.created for a, b in pairwise(ours)]
    assert gaps == sorted(gaps)  # the waits grow
    assert result.summary["report_exports_resubmitted"] == len(refused)
    assert result.summary["warnings"] == []
    assert read(duckdb_dest(tmp_path), TABLE).num_rows > 0


def test_a_refusal_past_the_poll_deadline_fails_the_run(tmp_path: Path) -> None:
    """If the org stays full of others' exports past the poll deadline, the run gives up
    with JobTimedOut naming the refusal, having written nothing."""
    options = {"max_exports_in_flight": 1, "faults": "slow_export:seconds=30,n=1"}
    with simulator(**options) as (sim, running):
        foreign_export(running)
        exporter = Exporter(
            settings_for(running, budget_per_minute=BUDGET),
            polling=Polling(first=0.05, cap=0.2, deadline=0.5),
            audit_path=tmp_path / "audit.jsonl",
        )
        with pytest.raises(JobTimedOut, match=BUSY):
            exporter.export_report(VIEW, "2024-05-06/2024-05-07", dest=duckdb_dest(tmp_path))
    assert all(e.refused for e in mine(sim)[1:])
    assert sim.stats.downloads == 0
