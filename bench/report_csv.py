"""Benchmark: normalizing a reporting-export CSV, against the naive pandas way.

Generates a realistic queue-performance export (local timestamps across DST changes,
uuids, names with quotes and commas, counts with thousands separators, millisecond and
h:mm:ss durations, decimals), then runs each path in its own process so each peak RSS
(ru_maxrss of that process) stands alone. Every path but the baseline is the product's
own: `read_report` -> `jobs.reports.validated_batches` (per-batch validation) staged
by `pipeline.stage_tables` (replacement delete, `Sink.insert`) -> commit, into the real
sink.

  parquet          ParquetSink, keyed by the view's natural key columns
  parquet-default  ParquetSink, no key columns: keyed by (_request_id, _row_number)
  duckdb           DuckDBSink, natural key columns
  duckdb-default   DuckDBSink, (_request_id, _row_number)
  baseline         text = file.read(); pandas.read_csv(io.StringIO(text)); astype per column

The baseline can run on a smaller file (`--baseline-mb`) so it doesn't exhaust memory;
speeds are compared per MB.

    .venv/bin/python bench/report_csv.py --size-mb 1024 --baseline-mb 256 [--repeat 3] [--keep DIR]

Targets: >= 4x the baseline's MiB/s; peak RSS < 600 MB at 1 GiB, no higher at 2 GiB.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

HEADER = (
    "Interval Start,Interval End,Queue Id,Queue Name,Media Type,Direction,Offer,Answer,"
    "Abandon,Avg Handle,Total Talk,Total Hold,Avg Wait,% Answered,Service Level,Notes\n"
)
KEY = ("interval_start", "queue_id", "media_type", "direction")
ZONE = "Europe/London"
QUEUE_NAMES = ["Support, Tier 1", 'Sales "EU"', "Billing", "Onboarding; new", 'O"Brien desk']
NOTES = ["", "", "", "escalated, see ticket", 'said "call back"', "line one\nline two"]
MIB = 1 << 20
REQUEST = "bench-request"


# -- generating ---------------------------------------------------------------------------


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',;"\n') else text


def clock(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def interval_rows(start: datetime, queues: list[tuple[str, str]], rng: random.Random) -> str:
    """One 30-minute interval: a row per queue x media x direction, times local to ZONE."""
    local = start.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")
    end = (start + timedelta(minutes=30)).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")
    lines = []
    for queue_id, name in queues:
        for media in ("voice", "chat", "email", "message"):
            for direction in ("inbound", "outbound"):
                offer = rng.randint(0, 5000)
                lines.append(
                    f"{local},{end},{queue_id},{name},{media},{direction},{offer},"
                    f'"{rng.randint(0, offer):,}",{rng.randint(0, 50)},'
                    f"{rng.uniform(0, 900000):.2f},{rng.randint(0, 10**8)},"
                    f"{clock(rng.randint(0, 100000))},{clock(rng.randint(0, 4000))},"
                    f"{rng.uniform(0, 100):.1f},{rng.random():.4f},{quoted(rng.choice(NOTES))}\n"
                )
    return "".join(lines)


def generate(path: Path, size_mb: int, *, seed: int = 7) -> int:
    """Write about size_mb MiB of export CSV; intervals start 2024-03-30 (DST both ways)."""
    rng = random.Random(seed)
    queues = [(str(uuid.UUID(int=rng.getrandbits(128))), quoted(rng.choice(QUEUE_NAMES)))]
    queues += [(str(uuid.UUID(int=rng.getrandbits(128))), f"Queue {i}") for i in range(1, 25)]
    start, written, limit = datetime(2024, 3, 30, tzinfo=UTC), 0, size_mb * MIB
    with path.open("w", encoding="utf-8", newline="") as out:
        written += out.write("\ufeff" + HEADER)
        while written < limit:
            written += out.write(interval_rows(start, queues, rng))
            start += timedelta(minutes=30)
    return path.stat().st_size


# -- the paths (each in its own process) --------------------------------------------------


def land(path: Path, out: Path, *, sink_kind: str, keyed: bool) -> dict[str, Any]:
    """The product's path: read_report -> validated batches staged in a real sink -> commit."""
    from genesys_export.chunks import Replacement
    from genesys_export.jobs.reports import validated_batches
    from genesys_export.pipeline import stage_tables
    from genesys_export.sinks.duckdb import DuckDBSink
    from genesys_export.sinks.parquet import ParquetSink
    from genesys_export.transform.report_csv import CsvOptions, read_report
    from genesys_export.transform.tables import RunContext

    ctx = RunContext(run_id="bench", extracted_at=datetime.now(UTC))
    options = CsvOptions(time_zone=ZONE, locale="en-US", key_columns=KEY if keyed else ())
    extras = {"_request_id": pa.scalar(REQUEST)}
    replacement = Replacement(pa.table({"_request_id": pa.array([REQUEST])}))
    sink = DuckDBSink(out / "report.duckdb") if sink_kind == "duckdb" else ParquetSink.local(out)
    with sink, read_report(path, options, ctx, extra_columns=extras) as report:
        spec = report.spec("report_queue_performance")
        tables = [(spec, validated_batches(spec, report), replacement)]
        rows = stage_tables(sink, tables, fresh_keys=True)[spec.name]
        written = sink.commit().rows[spec.name]
    return {"rows": rows, "written": written, "stats": report.stats.__dict__}


def run_baseline(path: Path, out: Path) -> dict[str, Any]:
    import pandas as pd

    text = path.read_text(encoding="utf-8-sig")
    frame = pd.read_csv(io.StringIO(text))
    for name in ("Interval Start", "Interval End"):
        local = pd.to_datetime(frame[name])
        frame[name] = local.dt.tz_localize(ZONE, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(
            "UTC"
        )
    frame["Answer"] = frame["Answer"].str.replace(",", "").astype("int64")
    for name in ("Total Hold", "Avg Wait"):
        frame[name] = (pd.to_timedelta(frame[name]).dt.total_seconds() * 1000).astype("int64")
    for name in ("Offer", "Abandon", "Total Talk"):
        frame[name] = frame[name].astype("int64")
    for name in ("Avg Handle", "% Answered", "Service Level"):
        frame[name] = frame[name].astype("float64")
    for name in ("Queue Id", "Queue Name", "Media Type", "Direction", "Notes"):
        frame[name] = frame[name].astype("string")
    return {"rows": len(frame)}


PATHS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "parquet": lambda path, out: land(path, out, sink_kind="parquet", keyed=True),
    "parquet-default": lambda path, out: land(path, out, sink_kind="parquet", keyed=False),
    "duckdb": lambda path, out: land(path, out, sink_kind="duckdb", keyed=True),
    "duckdb-default": lambda path, out: land(path, out, sink_kind="duckdb", keyed=False),
    "baseline": run_baseline,
}


def child(name: str, path: Path, out: Path) -> None:
    """Run one path and print its measurements as JSON (peak RSS of this process)."""
    started = time.perf_counter()
    result = PATHS[name](path, out)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# -- the parent ---------------------------------------------------------------------------


def measure(name: str, path: Path, workdir: Path) -> dict[str, Any]:
    out = workdir / name
    out.mkdir(parents=True)
    command = [sys.executable, __file__, "--child", name, "--file", str(path), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    size = path.stat().st_size / MIB
    result["mb"] = size
    result["mb_per_s"] = size / result["seconds"]
    result["rows_per_s"] = result["rows"] / result["seconds"]
    return result


def report(results: dict[str, dict[str, Any]]) -> None:
    base = results.get("baseline")
    print(
        f"{'path':16} {'MiB':>7} {'s':>7} {'MiB/s':>7} {'rows/s':>10} {'peak RSS':>9} {'x base':>7}"
    )
    for name, r in results.items():
        ratio = f"{r['mb_per_s'] / base['mb_per_s']:.1f}" if base else "-"
        print(
            f"{name:16} {r['mb']:7.0f} {r['seconds']:7.1f} {r['mb_per_s']:7.0f} "
            f"{r['rows_per_s']:10.0f} {r['peak_rss_mb']:7.0f}MB {ratio:>7}"
        )
    print("\nTARGETS")
    for name, r in results.items():
        if name == "baseline":
            continue
        if base:
            fast = r["mb_per_s"] >= 4 * base["mb_per_s"]
            print(f"  {name + ' >= 4x baseline':<40} {'met' if fast else 'NOT MET'}")
        lean = r["peak_rss_mb"] < 600
        print(f"  {name + ' peak RSS < 600 MB':<40} {'met' if lean else 'NOT MET'}")


def csv_file(folder: Path, size_mb: int) -> Path:
    """The generated CSV of that size in folder, made once (generating 1 GiB takes ~1 min)."""
    path = folder / f"report-{size_mb}mb.csv"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        generate(partial, size_mb)
        partial.rename(path)
        print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="CSV size for our paths")
    parser.add_argument("--baseline-mb", type=int, default=256, help="CSV size for pandas")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) generated CSVs here")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every path, in turn; medians reported"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        folder = args.keep or workdir
        folder.mkdir(parents=True, exist_ok=True)
        rounds: dict[str, list[dict[str, Any]]] = {}
        for round_ in range(args.repeat):
            for name in args.paths.split(","):
                size = args.baseline_mb if name == "baseline" else args.size_mb
                run = measure(name, csv_file(folder, size), workdir / f"{round_}")
                rounds.setdefault(name, []).append(run)
                print(f"{name}: {json.dumps(run)}", flush=True)
        report({name: _median(runs) for name, runs in rounds.items()})


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median speed, with the highest peak RSS of all rounds.

    The machine is shared: rounds interleave the paths, so a slow minute hits them all.
    """
    middle = dict(sorted(runs, key=lambda run: run["mb_per_s"])[len(runs) // 2])
    middle["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    return middle


if __name__ == "__main__":
    main()
