"""Benchmark: a 30-day conversation export against the simulator at its defaults.

Not a test. The simulator answers with its default job latency (2 s from submit to
FULFILLED) and request budget (300 requests a minute per token). Those two set a lower
bound on wall time:

    jobs     one wave of jobs x job latency (the simulator's latency does not grow with
             the interval, so one 30-day job would do)
    requests the fewest requests the export can make (availability, and per job of at
             most 31 days: submit, one status poll, its result pages, delete) at the
             budget's rate

The script prints the wall time, the bound (the larger of the two) and their ratio;
the target is within 1.2x.

    python bench/sync_30_days.py [--days 30] [--per-day 200] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from genesys_export.config import Credentials, Secret, Settings
from genesys_export.exporter import Exporter
from genesys_export.intervals import Interval
from genesys_export.simulator import Simulator, serve

START = datetime(2024, 5, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=200, help="conversations per day")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    interval = Interval(START, START + timedelta(days=args.days))
    sim = Simulator(
        seed=7,
        conversations_per_day=args.per_day,
        data_availability=interval.end + timedelta(hours=6),
    )
    latency, budget = sim.job_config.latency, sim.budget_per_minute
    with serve(sim) as running, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            credentials=Credentials(client_id="sim-client", client_secret=Secret("sim-secret")),
            api_url=running.api_url,
            login_url=running.login_url,
            concurrency=args.concurrency,
            budget_per_minute=budget,
        )
        exporter = Exporter(settings, audit_path=Path(tmp) / "audit.jsonl")
        started = time.perf_counter()
        result = exporter.export_conversations(interval, dest=f"duckdb:///{Path(tmp) / 'b.duckdb'}")
        wall = time.perf_counter() - started

    chunks = interval.split(settings.chunk)
    jobs = math.ceil(interval.length / timedelta(days=31))  # the longest job: 31 days
    found = len(sim.dataset.conversations(interval.start, interval.end))
    pages = max(1, math.ceil(found / settings.page_size))
    fewest = 1 + jobs * 3 + pages
    job_bound = latency  # one wave of jobs: the fixed latency does not grow with days
    request_bound = fewest / (budget / 60)
    bound = max(job_bound, request_bound)
    summary = result.summary
    plan = result.summary.get("plan", {})
    print(f"interval            {interval.iso()} ({len(chunks)} days)")
    print(f"plan                {plan.get('jobs')} job(s) of {plan.get('job_days')} day(s)")
    print(f"concurrency         {args.concurrency}")
    print(f"simulator           job latency {latency:.1f} s, budget {budget} requests/min")
    print(f"conversations       {summary['rows']['conversations']:,} rows written")
    print(
        f"requests            {summary['requests']} made, {fewest} at the fewest, "
        f"{summary['rate_limited']} answered 429"
    )
    print(f"lower bound         jobs {job_bound:.1f} s, requests {request_bound:.1f} s")
    print(f"                    -> the larger, {bound:.1f} s")
    print(f"wall time           {wall:.1f} s")
    print(f"ratio to bound      {wall / bound:.2f}x (target <= 1.20x)")


if __name__ == "__main__":
    main()
