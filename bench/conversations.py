"""Benchmark: conversation-details pages -> the six tables, into Parquet and into DuckDB.

    .venv/bin/python bench/conversations.py [--conversations 200000]

Pages of 1000 realistic conversations (`_pages.py`) are generated one at a time and streamed
to a temporary file (one compact page per line, as the API sends them), so every path reads
the same pages without paying for, or holding, their generation. Each path runs in its own
subprocess, reading one page at a time, so its peak RSS (ru_maxrss) is its own:

- parquet:           `conversation_tables`, then one `ParquetWriter` per table (a new file
                     every 20 pages, as a sink writes one per chunk), one thread
- parquet, 2 threads: the same, transforming page k+1 while page k is written
- duckdb:            `conversation_tables`, then INSERT of the Arrow tables into a DuckDB
                     file (memory_limit 64MB, 1 thread), one transaction per 5 pages
- parquet at N/10:   to show that peak RSS does not grow with N
- baseline at N/10:  the naive way, `json.loads` + `pandas.json_normalize` per table and
                     `pandas.to_datetime` on the time columns; ratios are per conversation.

Rates are given per second of wall time and per second of CPU time (time.process_time, all
threads): on a shared machine the second is steadier. Targets: >= 10,000 conversations/s,
>= 10x the baseline, peak RSS < 400 MB at 200,000 conversations.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from _pages import iter_pages  # bench/ is on sys.path: this file runs as a script
from genesys_export.transform import schemas
from genesys_export.transform.conversations import conversation_tables
from genesys_export.transform.tables import RunContext

PAGE_SIZE = 1000
_PAGES_PER_COMMIT = 5
_PAGES_PER_FILE = 20
CTX = RunContext("bench", datetime(2024, 5, 3, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
Tables = dict[str, Any]


def main() -> None:
    """Generate the pages once, run every path in a subprocess, print numbers and a summary."""
    args = _arguments()
    if args.run:
        print(json.dumps(_run_path(args.run, args.pages, args.conversations)))
        return
    n, small = args.conversations, max(args.conversations // 10, PAGE_SIZE)
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        pages = Path(tmp) / "pages.jsonl"
        started = time.perf_counter()
        with pages.open("wb") as out:
            for page in iter_pages(n, page_size=PAGE_SIZE):
                out.write(page + b"\n")
        print(f"generated {n:,} conversations in {time.perf_counter() - started:.1f} s")
        runs = {
            "parquet": _spawn("parquet", pages, n),
            "parquet, 2 threads": _spawn("parquet-2threads", pages, n),
            "duckdb": _spawn("duckdb", pages, n),
            f"parquet at N={small:,}": _spawn("parquet", pages, small),
            f"baseline at N={small:,}": _spawn("baseline", pages, small),
        }
    for name, run in runs.items():
        _print_run(name, run)
    _print_summary(list(runs.values()), n)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--pages", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def _spawn(path: str, pages: Path, conversations: int) -> dict[str, Any]:
    """One path in a fresh interpreter; its last stdout line is its measurements (JSON)."""
    print(f"running {path} on {conversations:,} conversations ...", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--run", path, "--pages", str(pages)]
    command += ["--conversations", str(conversations)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _read_pages(path: Path, conversations: int) -> Iterator[bytes]:
    """The first `conversations` worth of pages, one line (page) at a time."""
    with path.open("rb") as lines:
        yield from islice(lines, -(-conversations // PAGE_SIZE))


def _run_path(path: str, pages: Path, conversations: int) -> dict[str, Any]:
    source = _read_pages(pages, conversations)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        if path == "baseline":
            return _sequential(source, _baseline, lambda tables: None)
        if path == "duckdb":
            return _into_duckdb(source, Path(tmp) / "bench.duckdb")
        writers = _ParquetWriters(Path(tmp))
        run = _pipelined if path == "parquet-2threads" else _sequential
        result = run(source, _transform, writers.write)
        writers.close()
        return result


def _transform(page: bytes) -> Tables:
    return conversation_tables(page, CTX).tables


def _sequential(
    pages: Iterator[bytes], transform: Callable[[bytes], Tables], sink: Callable[[Tables], None]
) -> dict[str, Any]:
    """Transform then write, page after page, timing each half."""
    stats = _Stats()
    for page in pages:
        start, cpu_start = time.perf_counter(), time.process_time()
        tables = transform(page)
        middle, cpu_middle = time.perf_counter(), time.process_time()
        sink(tables)
        stats.add(page, tables, (middle - start, cpu_middle - cpu_start))
        stats.add_write(time.perf_counter() - middle, time.process_time() - cpu_middle)
    return stats.result()


def _pipelined(
    pages: Iterator[bytes], transform: Callable[[bytes], Tables], sink: Callable[[Tables], None]
) -> dict[str, Any]:
    """Transform page k+1 in a worker thread while page k is written (both release the GIL)."""
    stats = _Stats()
    started, cpu_started = time.perf_counter(), time.process_time()

    def write(page: bytes, tables: Future[Tables]) -> None:
        sink(tables.result())
        stats.add(page, tables.result(), None)

    with ThreadPoolExecutor(max_workers=1) as worker:
        pending: tuple[bytes, Future[Tables]] | None = None
        for page in pages:
            ahead = (page, worker.submit(transform, page))
            if pending is not None:
                write(*pending)
            pending = ahead
        if pending is not None:
            write(*pending)
    stats.add_write(time.perf_counter() - started, time.process_time() - cpu_started)
    return stats.result()


def _into_duckdb(pages: Iterator[bytes], path: Path) -> dict[str, Any]:
    """Transform, then INSERT each Arrow table; one transaction per `_PAGES_PER_COMMIT` pages."""
    import duckdb  # only this path pays for importing it

    with duckdb.connect(str(path), config={"memory_limit": "64MB", "threads": 1}) as con:
        for spec in schemas.CONVERSATION_TABLES:
            con.register("empty_table", spec.schema.empty_table())
            con.execute(f"CREATE TABLE {spec.name} AS SELECT * FROM empty_table")
            con.unregister("empty_table")
        inserted = 0

        def insert(tables: Tables) -> None:
            nonlocal inserted
            if inserted % _PAGES_PER_COMMIT == 0:
                con.execute("BEGIN")
            for name, table in tables.items():
                con.register("page_table", table)
                con.execute(f"INSERT INTO {name} SELECT * FROM page_table")
                con.unregister("page_table")
            inserted += 1
            if inserted % _PAGES_PER_COMMIT == 0:
                con.execute("COMMIT")

        result = _sequential(pages, _transform, insert)
        if inserted % _PAGES_PER_COMMIT:
            con.execute("COMMIT")
    return result


class _Stats:
    """Totals of a run: conversations, rows, JSON bytes; wall and CPU seconds per stage."""

    def __init__(self) -> None:
        self.conversations = self.rows = self.bytes = 0
        self.transform: list[float] | None = [0.0, 0.0]  # wall, cpu; None when overlapped
        self.total = [0.0, 0.0]

    def add(self, page: bytes, tables: Tables, transform: tuple[float, float] | None) -> None:
        """Count a page; `transform` is its (wall, cpu) seconds, None if not timed apart."""
        self.conversations += len(tables["conversations"])
        self.rows += sum(len(t) for t in tables.values())
        self.bytes += len(page)
        if transform is None or self.transform is None:
            self.transform = None
            return
        for i in (0, 1):
            self.transform[i] += transform[i]
            self.total[i] += transform[i]

    def add_write(self, wall: float, cpu: float) -> None:
        self.total[0] += wall
        self.total[1] += cpu

    def result(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "rows": self.rows,
            "bytes": self.bytes,
            "transform_s": self.transform,
            "total_s": self.total,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


class _ParquetWriters:
    """One ParquetWriter per table, rolled over to a new file every `_PAGES_PER_FILE` pages.

    A writer keeps every row group's metadata until it closes; rolling files the way a sink
    writes one file per chunk keeps that bounded.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.pages = 0

    def write(self, tables: Tables) -> None:
        for spec in schemas.CONVERSATION_TABLES:
            writer = self.writers.get(spec.name)
            if writer is None:
                path = self.directory / f"{spec.name}-{self.pages:07d}.parquet"
                writer = self.writers[spec.name] = pq.ParquetWriter(path, spec.schema)
            writer.write_table(tables[spec.name])
        self.pages += 1
        if self.pages % _PAGES_PER_FILE == 0:
            self.close()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


# --- the naive baseline ---------------------------------------------------------------------

_TIMES = ("conversationStart", "conversationEnd", "segmentStart", "segmentEnd", "emitDate")


def _baseline(page: bytes) -> Tables:
    """The six tables the naive way: json.loads + pandas.json_normalize + to_datetime."""
    import pandas as pd  # only the baseline pays for importing it

    conversations = json.loads(page)["conversations"]
    conv_meta = ["conversationId", "conversationStart"]
    part_meta = [*conv_meta, ["participants", "participantId"]]
    sess_meta = [*conv_meta, ["participants", "sessions", "sessionId"]]
    frames = {
        "conversations": pd.json_normalize(conversations).drop(columns=["participants"]),
        "participants": pd.json_normalize(conversations, "participants", conv_meta),
        "sessions": pd.json_normalize(conversations, ["participants", "sessions"], part_meta),
        "segments": pd.json_normalize(
            conversations, ["participants", "sessions", "segments"], sess_meta
        ),
        "session_metrics": pd.json_normalize(
            conversations, ["participants", "sessions", "metrics"], sess_meta
        ),
    }
    attributes = frames["participants"].filter(like="attributes.")
    keys = ["conversationId", "participantId"]
    melted = pd.concat([frames["participants"][keys], attributes], axis=1).melt(id_vars=keys)
    frames["participant_attributes"] = melted.dropna()
    for frame in frames.values():
        for column in frame.columns.intersection(_TIMES):
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frames


# --- printing -------------------------------------------------------------------------------


def _rate(run: dict[str, Any], stage: str = "total_s", clock: int = 0) -> tuple[float, float]:
    """(conversations/s, rows/s) of a stage by wall (clock 0) or CPU (clock 1) seconds."""
    seconds = run[stage][clock]
    return run["conversations"] / seconds, run["rows"] / seconds


def _print_run(name: str, run: dict[str, Any]) -> None:
    size = f"{run['conversations']:,} conversations, {run['rows']:,} rows"
    print(f"\n{name}: {size}, {run['bytes'] / 1e6:,.0f} MB of JSON")
    stages = [("transform only", "transform_s"), ("transform+write", "total_s")]
    for label, stage in stages[:1] if name.startswith("baseline") else stages:
        if run[stage] is None:
            continue
        (conv, rows), (cpu, _) = _rate(run, stage), _rate(run, stage, clock=1)
        print(f"  {label:<16} {conv:>8,.0f} conversations/s {rows:>10,.0f} rows/s"
              f"   ({cpu:,.0f} conversations per CPU-second)")  # fmt: skip
    print(f"  peak RSS         {run['peak_rss_mb']:>8,.0f} MB")


def _print_summary(runs: list[dict[str, Any]], n: int) -> None:
    parquet, threaded, duck, small, baseline = runs
    lines = [("conversations", f"{n:,} (pages of {PAGE_SIZE})")]
    for clock, unit in ((0, "s"), (1, "CPU-s")):
        base = _rate(baseline, "transform_s", clock)[0]
        transform = _rate(parquet, "transform_s", clock)[0]
        into_parquet, into_duckdb = _rate(parquet, clock=clock), _rate(duck, clock=clock)
        lines += [
            (f"transform, per {unit}", f"{transform:,.0f} conversations"),
            (f"transform -> Parquet, per {unit}", _both(into_parquet)),
            (f"  2 threads, per {unit}", _both(_rate(threaded, clock=clock))),
            (f"transform -> DuckDB, per {unit}", _both(into_duckdb)),
            (f"baseline json_normalize, per {unit}", f"{base:,.0f} conversations"),
            (f"transform / baseline ({unit})", f"{transform / base:,.1f}x"),
            (f"-> Parquet / baseline ({unit})", f"{into_parquet[0] / base:,.1f}x"),
        ]
    lines += [
        ("peak RSS Parquet, 2 threads, DuckDB", _mb(parquet, threaded, duck)),
        (f"peak RSS Parquet at N={small['conversations']:,}", _mb(small)),
        ("peak RSS baseline", _mb(baseline)),
    ]
    print("\nSUMMARY")
    for label, value in lines:
        print(f"  {label:<38} {value}")
    print("\nTARGETS (wall clock)")
    for label, met in _targets(parquet, threaded, duck, baseline):
        print(f"  {label:<58} {'met' if met else 'NOT MET'}")


def _targets(*runs: dict[str, Any]) -> list[tuple[str, bool]]:
    parquet, threaded, duck, baseline = runs
    base = _rate(baseline, "transform_s")[0]
    return [
        ("transform >= 10,000 conversations/s", _rate(parquet, "transform_s")[0] >= 10_000),
        ("transform -> Parquet >= 10,000 conversations/s", _rate(parquet)[0] >= 10_000),
        ("transform -> Parquet, 2 threads >= 10,000 conversations/s", _rate(threaded)[0] >= 10_000),
        ("transform >= 10x baseline", _rate(parquet, "transform_s")[0] >= 10 * base),
        ("transform -> Parquet >= 10x baseline", _rate(parquet)[0] >= 10 * base),
        ("peak RSS < 400 MB, Parquet", parquet["peak_rss_mb"] < 400),
        ("peak RSS < 400 MB, DuckDB", duck["peak_rss_mb"] < 400),
    ]


def _both(rates: tuple[float, float]) -> str:
    return f"{rates[0]:,.0f} conversations, {rates[1]:,.0f} rows"


def _mb(*runs: dict[str, Any]) -> str:
    return " / ".join(f"{run['peak_rss_mb']:,.0f}" for run in runs) + " MB"


if __name__ == "__main__":
    main()
