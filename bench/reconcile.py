"""Benchmark: reconciling 30 days of 200,000 conversations at PT30M, in DuckDB and Parquet.

    .venv/bin/python bench/reconcile.py [--days 30] [--conversations 200000]

Not a test. Setup (not timed): the simulator generates the conversations (seed 7, evenly
over the days, watermark 6 h after the interval) and keeps them; the destinations are
built straight from its results pages through the product's transform and sinks (per UTC
day: `park_page` per page of 1000, `chunk_of`, `commit_tables`), no HTTP, as a details
export of each day would land them. The simulator is then served on loopback.

Timed, each in its own interpreter so its peak RSS (VmHWM) is its own, without pandas
(an optional extra; pyarrow would import it) except for the baseline:

- duckdb / parquet:  `Exporter.reconcile` over the 30 days, as the CLI runs it: the
  availability request, 30 aggregates queries (one per day, 4 at a time) answered by the
  simulator, the derivation in the destination's engine, the comparison, and the
  `reconciliation` table landed;
- baseline:          the derivation done naively, for the ratio: the three tables read
  back whole into pandas, the first queue per session by sort and drop_duplicates, the
  metrics bucketed, joined and grouped there. Its time is set against the product's
  derivation alone, run once more after the timed reconciliation.

Wall time includes the simulator computing the aggregates (in this script's process, on
the other core): about half of it.

Targets: under 10 s and under 400 MB for the reconciliation.
"""

from __future__ import annotations

import argparse
import importlib.abc
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.config import Credentials, Secret, Settings
from genesys_export.exporter import Exporter
from genesys_export.intervals import Interval
from genesys_export.jobs.conversations import chunk_of, park_page
from genesys_export.pipeline import commit_tables, prefer_lean_allocator
from genesys_export.reconcile.cells import Grid
from genesys_export.reconcile.derive import Window, derive_details
from genesys_export.reconcile.reconciliation import DEFAULT_METRICS
from genesys_export.simulator import Simulator, serve
from genesys_export.sinks import open_sink
from genesys_export.transform.tables import RunContext

START = datetime(2024, 5, 1, tzinfo=UTC)
PAGE_SIZE = 1000
BUDGET = 100_000


def main() -> None:
    args = _arguments()
    if args.run:
        print(json.dumps(_timed(args)))
        return
    interval = Interval(START, START + timedelta(days=args.days))
    per_day = -(-args.conversations // args.days)
    sim = Simulator(
        seed=7,
        conversations_per_day=per_day,
        data_availability=interval.end + timedelta(hours=6),
        budget_per_minute=BUDGET,
        cached_days=args.days + 2,
    )
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        dests = {"duckdb": f"duckdb:///{tmp}/r.duckdb", "parquet": f"parquet://{tmp}/lake"}
        started = time.perf_counter()
        conversations = _build(sim, interval, list(dests.values()))
        print(
            f"built {len(dests)} destinations of {conversations:,} conversations "
            f"in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        with serve(sim) as running:
            runs = {name: _spawn(name, dest, running, args) for name, dest in dests.items()}
            runs["baseline"] = _spawn("baseline", dests["duckdb"], running, args)
    _report(runs, conversations, args.days)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--login", help=argparse.SUPPRESS)
    return parser.parse_args()


def _build(sim: Simulator, interval: Interval, dests: list[str]) -> int:
    """Each day's conversations, as a details job over the day returns them, into `dests`."""
    ctx = RunContext("bench-build", datetime.now(UTC), interval.end)
    seen: set[str] = set()
    sinks = [open_sink(dest) for dest in dests]
    try:
        for day in interval.split(timedelta(days=1)):
            start, end = (int(t.timestamp() * 1000) for t in (day.start, day.end))
            records = sim.dataset.conversation_records(start, end)
            seen.update(r.conversation_id for r in records)
            pages = [
                park_page(_page([r.raw for r in records[i : i + PAGE_SIZE]]), ctx)
                for i in range(0, len(records), PAGE_SIZE)
            ]
            chunk = chunk_of(day, pages)
            for sink in sinks:
                commit_tables(sink, chunk.tables, fresh_keys=True)
    finally:
        for sink in sinks:
            sink.close()
    return len(seen)


def _page(conversations: list[bytes]) -> bytes:
    return b'{"conversations":[' + b",".join(conversations) + b"]}"


def _spawn(name: str, dest: str, running: Any, args: argparse.Namespace) -> dict[str, Any]:
    print(f"running {name} ...", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--run", name, "--dest", dest, "--days", str(args.days)]
    command += ["--api", running.api_url, "--login", running.login_url]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _timed(args: argparse.Namespace) -> dict[str, Any]:
    if args.run != "baseline":
        # As the product runs from a default install: pandas is an optional extra, here
        # only for the baseline, and pyarrow imports it (34 MB) when it can.
        sys.meta_path.insert(0, _NoPandas())
    prefer_lean_allocator()  # as the CLI does
    interval = Interval(START, START + timedelta(days=args.days))
    started, cpu = time.perf_counter(), time.process_time()
    if args.run == "baseline":
        found: dict[str, Any] = {"cells": _baseline(args.dest, interval)}
    else:
        settings = Settings(
            credentials=Credentials(client_id="sim-client", client_secret=Secret("sim-secret")),
            api_url=args.api,
            login_url=args.login,
            budget_per_minute=BUDGET,
        )
        summary = Exporter(settings).reconcile(interval, dest=args.dest).summary
        found = {k: summary[k] for k in ("cells_compared", "cells_differ", "requests")}
    found |= {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
    found["rss_mb"] = _peak_rss_mb()
    if args.run != "baseline":
        found["derive_s"] = _derive_only(args.dest, interval)
    return found


def _peak_rss_mb() -> float:
    """This interpreter's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    exec from the forking parent, which here holds the simulator's conversations."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _NoPandas(importlib.abc.MetaPathFinder):
    """Imports of pandas fail, as where it is not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _derive_only(dest: str, interval: Interval) -> float:
    """The derivation alone, again (after the timed run), for the ratio to the baseline."""
    grid = Grid(interval.start, timedelta(minutes=30), "PT30M")
    window = Window(grid, interval.start, interval.end, DEFAULT_METRICS)
    with open_sink(dest, lock=False) as sink:
        started = time.perf_counter()
        derive_details(sink, window)
        return time.perf_counter() - started


def _baseline(dest: str, interval: Interval) -> int:
    """The derivation as one would write it first: whole tables into pandas."""
    import pandas as pd

    with open_sink(dest, lock=False) as sink:
        metrics = sink.read_table("session_metrics").to_pandas()
        sessions = sink.read_table("sessions").to_pandas()
        segments = sink.read_table("segments").to_pandas()
    key = ["conversation_id", "session_id"]
    metrics = metrics[
        (metrics.emit_date >= pd.Timestamp(interval.start))
        & (metrics.emit_date < pd.Timestamp(interval.end))
        & metrics.name.isin(DEFAULT_METRICS)
    ]
    queues = (
        segments.dropna(subset=["queue_id"])
        .sort_values([*key, "segment_index"])
        .drop_duplicates(key)[[*key, "queue_id"]]
    )
    joined = metrics.merge(sessions[[*key, "media_type"]], on=key, how="left").merge(
        queues, on=key, how="left"
    )
    joined["bucket"] = (joined.emit_date - pd.Timestamp(interval.start)) // pd.Timedelta("30min")
    cells = joined.groupby(["bucket", "queue_id", "media_type", "name"], dropna=False).agg(
        n=("value", "size"), total=("value", "sum")
    )
    return len(cells)


def _report(runs: dict[str, dict[str, Any]], conversations: int, days: int) -> None:
    print(f"reconciling {days} days of {conversations:,} conversations at PT30M")
    for name in ("duckdb", "parquet"):
        run = runs[name]
        ratio = runs["baseline"]["wall_s"] / run["derive_s"]
        print(
            f"  {name:8} wall {run['wall_s']:5.2f} s  cpu {run['cpu_s']:5.2f} s  "
            f"peak RSS {run['rss_mb']:4.0f} MB  cells {run['cells_compared']:,} "
            f"(differ {run['cells_differ']})  requests {run['requests']}  "
            f"derivation {run['derive_s']:.2f} s = {ratio:.0f}x faster than the baseline"
        )
    base = runs["baseline"]
    print(
        f"  baseline (pandas derivation over the DuckDB file) wall {base['wall_s']:5.2f} s  "
        f"peak RSS {base['rss_mb']:4.0f} MB"
    )
    ok = all(runs[n]["wall_s"] < 10 and runs[n]["rss_mb"] < 400 for n in ("duckdb", "parquet"))
    print(f"targets (< 10 s, < 400 MB): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
