"""Benchmark: the request plan against its bounds, on the simulator over loopback.

Not a test. Three settings:

  (a) budget-bound   31 days, 200,000 conversations, 150 requests/min, jobs of 2 s
  (b) latency-bound  30 days, 200 conversations a day, 300 requests/min, a job takes
                     10 s per day of interval (a daily job 10 s, a 3-day job 30 s)
  (c) reports        90 daily report exports of 10 s each, 300 requests/min, the org
                     taking 5 exports at once (the simulator's limit)

For each it prints the plan's estimate (what `genesys-export plan export` prints), then
the run: wall time, requests, 429s, the share of wall time the simulator spent serving,
and the ratio to the bound

    bound = max(job latency x sequential jobs, fewest requests / budget)

where sequential jobs are the jobs that cannot overlap (the daily jobs beyond the slots the
run may use, or the exports beyond what the org takes at once) and the fewest requests
are what any client must send (availability; per job a submit, one status poll, its
result pages and a delete; per report export a submit, a download, and a listing poll per
wave). Targets: within 1.3x of the bound, no 429 in (a) and (b).

(a) and (b) run twice: first as a new user does (the plan assumes a job latency), then
the same month again into a new destination sharing the first run's audit trail, so the
plan uses the job latency the first run recorded there.

    python bench/request_plan.py [--only a,b,c] [--concurrency-b 10] [--report-concurrency 5]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.config import Credentials, Secret, Settings
from genesys_export.datasets import load_sync_config
from genesys_export.exporter import Exporter
from genesys_export.intervals import Interval
from genesys_export.planning import plan_details_export
from genesys_export.simulator import Simulator, serve
from genesys_export.sync import run_sync

START = datetime(2024, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass
class Outcome:
    name: str
    wall: float
    requests: int
    rate_limited: int
    busy: float
    bound: float
    fewest: int
    estimate: dict[str, Any] | None = None

    def show(self) -> None:
        print(f"  wall time        {self.wall:7.1f} s")
        print(f"  requests         {self.requests:7d} (the fewest possible: {self.fewest})")
        print(f"  429s             {self.rate_limited:7d}")
        share = self.busy / self.wall if self.wall else 0.0
        print(f"  simulator busy   {self.busy:7.1f} s ({share:.1%} of the wall time)")
        print(f"  bound            {self.bound:7.1f} s")
        print(f"  ratio to bound   {self.wall / self.bound:7.2f}x (target <= 1.30x)")
        if self.estimate:
            est_s, est_r = self.estimate["seconds"], self.estimate["requests"]
            print(
                f"  plan estimate    {est_s:7.1f} s, {est_r} requests "
                f"(off by {est_s / self.wall - 1:+.0%} in time, "
                f"{est_r / self.requests - 1:+.0%} in requests; target within 25%)"
            )


def settings(running: Any, *, budget: int, concurrency: int = 4, **more: Any) -> Settings:
    return Settings(
        credentials=Credentials(client_id="sim-client", client_secret=Secret("sim-secret")),
        api_url=running.api_url,
        login_url=running.login_url,
        concurrency=concurrency,
        budget_per_minute=budget,
        **more,
    )


def details_run(
    name: str,
    sim: Simulator,
    exporter: Exporter,
    interval: Interval,
    dest: str,
    *,
    latency_of: Any,
    slots: int,
) -> Outcome:
    """Plan, run and measure one conversations export; the bound for the run."""
    plan = plan_details_export(exporter, "conversations", interval, dest)
    assert plan.details is not None
    print(
        f"  plan             {plan.details['jobs']} job(s) of {plan.details['job_days']} day(s), "
        f"{plan.details['concurrency']} at once, bound by {plan.details['binds']}, latency "
        f"{plan.details['latency']['base_s']} s + {plan.details['latency']['per_day_s']} s/day "
        f"({plan.details['latency']['source']})"
    )
    seen, busy = len(sim.requests), sim.stats.busy_seconds
    started = time.perf_counter()
    summary = exporter.export_conversations(interval, dest=dest).summary
    wall = time.perf_counter() - started
    made = sim.requests[seen:]
    conversations = len(sim.dataset.conversations(interval.start, interval.end))
    jobs_needed = math.ceil(interval.length / timedelta(days=31))
    pages = math.ceil(conversations / exporter.settings.page_size)
    fewest = 1 + 3 * jobs_needed + pages
    days = interval.length / DAY
    sequential = math.ceil(days / slots)  # daily jobs beyond the slots wait for a slot
    job_bound = latency_of(DAY) * sequential if latency_of(DAY) else latency_of(interval.length)
    bound = max(job_bound, fewest / (sim.budget_per_minute / 60))
    return Outcome(
        name,
        wall,
        len(made),
        summary["rate_limited"],
        sim.stats.busy_seconds - busy,
        bound,
        fewest,
        plan_estimate(plan),
    )


def plan_estimate(plan: Any) -> dict[str, Any]:
    return {"seconds": plan.seconds, "requests": plan.requests}


def setting_a() -> list[Outcome]:
    print("(a) budget-bound: 31 days, 200,000 conversations, 150 requests/min")
    per_day = math.ceil(200_000 / 31)
    month = Interval(START, START + 31 * DAY)
    periods = [month, month]
    sim = Simulator(
        seed=7,
        conversations_per_day=per_day,
        budget_per_minute=150,
        job_latency=2.0,
        data_availability=periods[-1].end + timedelta(hours=6),
    )
    began = time.perf_counter()
    sim.prerender(periods[0].start, periods[-1].end)
    print(f"  (pages rendered ahead in {time.perf_counter() - began:.1f} s, outside the timing)")
    return run_periods("a", sim, periods, budget=150, concurrency=4, latency_of=lambda _: 2.0)


def setting_b(concurrency: int) -> list[Outcome]:
    print(
        f"(b) latency-bound: 30 days, 200 conversations a day, 300 requests/min, "
        f"jobs 10 s per day of interval, concurrency {concurrency}"
    )
    month = Interval(START, START + 30 * DAY)
    periods = [month, month]
    sim = Simulator(
        seed=7,
        conversations_per_day=200,
        budget_per_minute=300,
        job_latency=0.0,
        job_latency_per_day=10.0,
        data_availability=periods[-1].end + timedelta(hours=6),
    )
    return run_periods(
        "b",
        sim,
        periods,
        budget=300,
        concurrency=concurrency,
        latency_of=lambda length: 10.0 * (length / DAY),
    )


def run_periods(
    name: str,
    sim: Simulator,
    periods: list[Interval],
    *,
    budget: int,
    concurrency: int,
    latency_of: Any,
) -> list[Outcome]:
    outcomes = []
    with serve(sim) as running, tempfile.TemporaryDirectory() as tmp:
        slots = min(concurrency, sim.job_config.max_concurrent)
        for number, period in enumerate(periods, 1):
            # a new destination each time, one audit trail: the second plan learns from it
            dest = f"duckdb:///{Path(tmp) / f'bench-{number}.duckdb'}"
            label = "first run, latency assumed" if number == 1 else "again, latency known"
            print(f" {name}{number}: {period.iso()} ({label})")
            exporter = Exporter(
                settings(running, budget=budget, concurrency=concurrency),
                audit_path=Path(tmp) / "audit.jsonl",
            )
            outcome = details_run(
                f"{name}{number}",
                sim,
                exporter,
                period,
                dest,
                latency_of=latency_of,
                slots=slots,
            )
            outcome.show()
            outcomes.append(outcome)
    return outcomes


def setting_c(report_concurrency: int) -> list[Outcome]:
    print(
        "(c) 90 daily report exports of 10 s each, 300 requests/min, 5 at once in the org, "
        f"report_concurrency {report_concurrency}"
    )
    interval = Interval(START, START + 90 * DAY)
    sim = Simulator(
        seed=7,
        export_latency=10.0,
        budget_per_minute=300,
        max_exports_in_flight=5,
        data_availability=interval.end,  # exactly 90 whole days are available
    )
    with serve(sim) as running, tempfile.TemporaryDirectory() as tmp:
        dest = f"duckdb:///{Path(tmp) / 'reports.duckdb'}"
        config = Path(tmp) / "genesys-export.toml"
        config.write_text(
            f'[destination]\nuri = "{dest}"\n'
            f"[run]\nbudget_per_minute = 300\nreport_concurrency = {report_concurrency}\n"
            "[datasets.agents]\n"
            'kind = "report"\nview = "AGENT_PERFORMANCE_SUMMARY_VIEW"\n'
            f'start = "{interval.start.date().isoformat()}"\n'
        )
        sim_config = load_sync_config(config)
        exporter = Exporter(
            settings(running, budget=300, report_concurrency=report_concurrency),
            audit_path=Path(tmp) / "audit.jsonl",
        )
        seen, busy = len(sim.requests), sim.stats.busy_seconds
        started = time.perf_counter()
        summary = run_sync(exporter, sim_config).summary
        wall = time.perf_counter() - started
        made = sim.requests[seen:]
    exports = 90
    waves = math.ceil(exports / 5)
    fewest = 2 + exports * 2 + waves  # availability, metadata; submit + download; polls
    bound = max(10.0 * waves, fewest / (300 / 60))
    outcome = Outcome(
        "c", wall, len(made), summary["rate_limited"], sim.stats.busy_seconds - busy, bound, fewest
    )
    submitted = sum(1 for r in made if r.method == "POST" and r.path.endswith("/exports"))
    print(f"  exports          {exports} ({submitted - exports} refused and sent again)")
    outcome.show()
    return [outcome]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="a,b,c")
    parser.add_argument("--concurrency-b", type=int, default=10)
    parser.add_argument("--report-concurrency", type=int, default=5, help="(c); the org takes 5")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    outcomes: list[Outcome] = []
    if "a" in chosen:
        outcomes += setting_a()
    if "b" in chosen:
        outcomes += setting_b(args.concurrency_b)
    if "c" in chosen:
        outcomes += setting_c(args.report_concurrency)
    print("\nSUMMARY")
    for o in outcomes:
        est = ""
        if o.estimate:
            est = f", estimate off by {o.estimate['seconds'] / o.wall - 1:+.0%}"
        print(
            f"  {o.name:3} wall {o.wall:6.1f} s  bound {o.bound:6.1f} s  "
            f"ratio {o.wall / o.bound:4.2f}x  requests {o.requests:4d} (fewest {o.fewest})  "
            f"429s {o.rate_limited}  simulator {o.busy / o.wall:.1%}{est}"
        )
    print(json.dumps([o.__dict__ for o in outcomes], default=str))


if __name__ == "__main__":
    main()
