"""Benchmark: normalizing a reporting-export CSV, against the naive pandas way.

Generates a realistic queue-performance export (local timestamps across DST changes,
uuids, names with quotes and commas, counts with thousands separators, millisecond and
h:mm:ss durations, decimals), then runs each path in its own process so each peak RSS
(ru_maxrss of that process) stands alone:

  parquet          read_report -> ParquetWriter (writer thread), natural key columns
  parquet-rowhash  the same without key columns: every row gets a sha256 `_row_hash`
  duckdb           read_report -> a DuckDB file (writer thread), natural key columns
  baseline         text = file.read(); pandas.read_csv(io.StringIO(text)); astype per column

The baseline can run on a smaller file (`--baseline-mb`) so it doesn't exhaust memory;
speeds are compared per MB.

    .venv/bin/python bench/report_csv.py --size-mb 1024 --baseline-mb 256 [--keep /tmp/bench]

Measured on the 2-core VM while other jobs ran (load average ~2.7), 1 GiB (6.18M rows):
parquet 134 MiB/s, 367 MB peak RSS; duckdb 109 MiB/s, 491 MB; parquet-rowhash 45 MiB/s,
518 MB; baseline (256 MiB) 23 MiB/s, 1832 MB. At 2 GiB: parquet 401 MB, duckdb 515 MB
(flat: the stream holds ~240 MB whatever the size), parquet-rowhash 570 MB (8 B/row).
"""

from __future__ import annotations

import argparse
import io
import json
import queue
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
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
GROUP_ROWS = 128_000  # rows per Parquet row group / DuckDB insert


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


def stream(path: Path, *, keyed: bool) -> Any:
    from genesys_export.transform.report_csv import CsvOptions, read_report
    from genesys_export.transform.tables import RunContext

    ctx = RunContext(run_id="bench", extracted_at=datetime.now(UTC))
    options = CsvOptions(time_zone=ZONE, locale="en-US", key_columns=KEY if keyed else ())
    extras = {"_request_id": pa.scalar("bench-request")}
    return read_report(path, options, ctx, extra_columns=extras)


def write_behind(
    batches: Iterator[pa.RecordBatch], write: Callable[[list[pa.RecordBatch]], None]
) -> int:
    """Write groups of ~GROUP_ROWS rows on a thread while later batches are normalized.

    Blocks are ~6k rows; Parquet row groups and DuckDB inserts want more. Returns rows.
    """
    pending: queue.Queue[list[pa.RecordBatch] | None] = queue.Queue(maxsize=1)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (group := pending.get()) is not None:
                write(group)
        except BaseException as exc:
            failure.append(exc)
            while pending.get() is not None:  # drain so the producer never blocks
                pass

    thread = threading.Thread(target=writer)
    thread.start()
    rows, group = 0, []
    try:
        for batch in batches:
            rows += batch.num_rows
            group.append(batch)
            if sum(b.num_rows for b in group) >= GROUP_ROWS:
                pending.put(group)
                group = []
        if group:
            pending.put(group)
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return rows


def run_parquet(path: Path, out: Path, *, keyed: bool) -> dict[str, Any]:
    import pyarrow.parquet as pq

    report = stream(path, keyed=keyed)
    with pq.ParquetWriter(out / "report.parquet", report.schema) as writer:

        def write(group: list[pa.RecordBatch]) -> None:
            writer.write_table(pa.Table.from_batches(group, schema=report.schema))

        rows = write_behind(iter(report), write)
    return {"rows": rows, "stats": report.stats.__dict__}


def run_duckdb(path: Path, out: Path) -> dict[str, Any]:
    """One streaming CREATE TABLE AS over the batches: half the CPU of repeated INSERTs."""
    import duckdb

    report = stream(path, keyed=True)
    db = duckdb.connect(str(out / "report.duckdb"))
    db.execute("SET memory_limit = '256MB'")  # the buffer pool would otherwise keep pages
    db.execute("SET preserve_insertion_order = false")
    batches = pa.RecordBatchReader.from_batches(report.schema, iter(report))
    db.register("batches", batches)
    db.execute("CREATE TABLE report AS SELECT * FROM batches")
    db.execute("CHECKPOINT")
    stored = db.execute("SELECT count(*) FROM report").fetchone()
    db.close()
    rows = stored[0] if stored else 0
    return {"rows": rows, "stats": report.stats.__dict__}


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
    "parquet": lambda path, out: run_parquet(path, out, keyed=True),
    "parquet-rowhash": lambda path, out: run_parquet(path, out, keyed=False),
    "duckdb": run_duckdb,
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
    out.mkdir()
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
        results = {}
        for name in args.paths.split(","):
            size = args.baseline_mb if name == "baseline" else args.size_mb
            results[name] = measure(name, csv_file(folder, size), workdir)
            print(f"{name}: {json.dumps(results[name])}", flush=True)
        report(results)


if __name__ == "__main__":
    main()
