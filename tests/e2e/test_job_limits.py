"""The org's analytics limits: read once per run, and respected by the details jobs."""

from __future__ import annotations

from pathlib import Path

from genesys_export.datasets import load_sync_config
from genesys_export.sync import run_sync
from tests.e2e import duckdb_dest, exporter_for, simulator

LIMITS = "/api/v2/organizations/limits/namespaces/analytics"
JOBS = "/api/v2/analytics/conversations/details/jobs"


def test_concurrent_jobs_stay_within_the_orgs_limit(tmp_path: Path) -> None:
    """The org allows 2 details jobs at once; a run with 4 chunks in flight never has a
    third running, and no job is refused."""
    with simulator(max_concurrent_jobs=2, job_latency=0.3, max_job_interval_days=1) as (
        sim,
        running,
    ):
        exporter = exporter_for(running, tmp_path, concurrency=4)
        exporter.export_conversations("2024-05-06/2024-05-10", dest=duckdb_dest(tmp_path))
        submitted = [r for r in sim.requests if r.method == "POST" and r.path == JOBS]
    assert len(submitted) == 4
    assert sim.max_jobs_running == 2  # the limit was reached, never passed
    assert sim.stats.jobs_refused == 0 and sim.stats.too_many_requests == 0


def test_submissions_are_paced_to_the_orgs_rate(tmp_path: Path) -> None:
    with simulator(job_submits_per_second=2) as (sim, running):
        exporter = exporter_for(running, tmp_path, concurrency=4)
        exporter.export_conversations("2024-05-06/2024-05-10", dest=duckdb_dest(tmp_path))
        times = [r.time for r in sim.requests if r.method == "POST" and r.path == JOBS]
    assert sim.stats.jobs_refused == 0
    # the org's rule: at most 2 submissions in any second
    assert max(sum(1 for u in times if t - 1.0 < u <= t) for t in times) <= 2, times
    assert times[-1] - times[0] >= 1.0  # 4 jobs at 2 a second span over a second


def test_the_limits_are_read_once_per_run(tmp_path: Path) -> None:
    """A sync of conversations (several chunks, each job within the limits) and two
    aggregates datasets reads the limits once."""
    config = tmp_path / "genesys-export.toml"
    config.write_text(
        f'[destination]\nuri = "{duckdb_dest(tmp_path)}"\n'
        '[datasets.conversations]\nkind = "conversations"\nstart = "2024-05-06"\n'
        '[datasets.stats]\nkind = "aggregates"\nstart = "2024-05-06"\n'
        '[datasets.hourly]\nkind = "aggregates"\nstart = "2024-05-06"\ngranularity = "PT1H"\n'
    )
    with simulator() as (sim, running):
        run_sync(exporter_for(running, tmp_path), load_sync_config(config))
        reads = [r for r in sim.requests if r.path == LIMITS]
        jobs = [r for r in sim.requests if r.method == "POST" and r.path == JOBS]
        queries = [r for r in sim.requests if r.path.endswith("/aggregates/query")]
    assert len(jobs) > 1 and len(queries) >= 2
    assert len(reads) == 1


def test_the_simulator_refuses_a_job_past_the_concurrent_limit(tmp_path: Path) -> None:
    import httpx

    from tests.conftest import settings_for

    body = {"interval": "2024-05-06T00:00:00.000Z/2024-05-07T00:00:00.000Z"}
    with simulator(max_concurrent_jobs=2, job_latency=30) as (_, running):
        settings = settings_for(running)
        token = httpx.post(
            running.login_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("sim-client", "sim-secret"),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        answers = [
            httpx.post(settings.api_url + JOBS, json=body, headers=headers) for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    refusal = answers[2].json()
    assert refusal["code"] == "too.many.requests"
    assert "details.jobs.concurrent.access.max" in refusal["message"]
