"""`plan export` prints the request plan a run then follows, asking Genesys read-only."""

from __future__ import annotations

import json
from pathlib import Path

from genesys_export.audit import read_events
from tests.e2e import cli_env, duckdb_dest, invoke, simulator

JOBS = "/api/v2/analytics/conversations/details/jobs"
INTERVAL = "2024-05-02/2024-05-09"


def test_the_run_follows_the_plan_and_the_second_estimate_is_close(tmp_path: Path) -> None:
    dest = duckdb_dest(tmp_path)
    audit = tmp_path / "genesys-export-audit.jsonl"
    plan_args = ["plan", "export", "conversations", "--interval", INTERVAL, "--dest", dest]
    export_args = ["export", "conversations", "--interval", INTERVAL, "--dest", dest, "--json"]
    with simulator(job_latency=0.5) as (sim, running):
        env = cli_env(running)
        first = invoke([*plan_args, "--json"], env)
        made_by_plan = list(sim.requests)
        ran = invoke(export_args, env)
        again = invoke([*plan_args, "--json"], env)
        seen = len(sim.requests)
        rerun = invoke(export_args, env)
        rerun_requests = len([r for r in sim.requests[seen:] if r.path != "/oauth/token"])

    assert first.exit_code == ran.exit_code == again.exit_code == rerun.exit_code == 0
    planned = json.loads(first.stdout)[0]
    # read-only: a token, limits, availability, the conversation counts; no job submitted
    assert {(r.method, r.path) for r in made_by_plan} <= {
        ("POST", "/oauth/token"),
        ("GET", "/api/v2/organizations/limits/namespaces/analytics"),
        ("GET", f"{JOBS}/availability"),
        ("POST", "/api/v2/analytics/conversations/aggregates/query"),
    }
    assert planned["plan"]["latency"]["source"] == "assumed"
    submitted = [e for e in read_events(audit) if e["event"] == "job.submitted"]
    first_run = [e for e in submitted if e["run_id"] == json.loads(ran.stdout)["run_id"]]
    assert len(first_run) == planned["plan"]["jobs"] == json.loads(ran.stdout)["plan"]["jobs"]

    learned = json.loads(again.stdout)[0]
    assert learned["plan"]["latency"]["source"].endswith("jobs of earlier runs")
    done = json.loads(rerun.stdout)
    assert done["plan"]["jobs"] == learned["plan"]["jobs"]
    assert abs(learned["requests"] - rerun_requests) <= 0.25 * rerun_requests
