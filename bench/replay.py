"""Benchmark: replay from a raw landing zone beside the live transform, into Parquet and DuckDB.

    .venv/bin/python bench/replay.py [--conversations 100000] [--chunk-pages 10] [--repeat 3]

Pages of 1000 realistic conversations (`_pages.py`) are generated once, written to a plain
file (one page per line) and kept in a local landing zone as `--landing` keeps them
(`RawStore`: one job per `--chunk-pages` pages, gzip level 1, a manifest per job). Each
path runs in its own subprocess (its own peak RSS) through the product's own code:

- live:    pages read from the plain file -> `park_page` -> `chunk_of` -> `write_chunk`,
           two chunks produced concurrently by `run_chunks`: what a live run does once
           the pages have arrived from the network
- replay:  `raw.replay.replay()` over the zone: listing, the sha256 check of every gzip
           file before anything is written, then per job gunzip + sha256 of each page and
           the same chunk code, also two chunks at a time

Rates are per second of wall time and of CPU time (all threads), medians of `--repeat`
interleaved rounds; replay / live is the cost of reading the zone instead of the network's
bytes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from itertools import count, islice
from pathlib import Path
from typing import Any

from _pages import iter_pages  # bench/ is on sys.path: this file runs as a script
from genesys_export.chunks import ChunkResult, ExportKind
from genesys_export.intervals import Interval
from genesys_export.jobs.conversations import chunk_of, park_page
from genesys_export.pipeline import Run, prefer_lean_allocator, run_chunks, write_chunk
from genesys_export.progress import QuietProgress
from genesys_export.raw import RawStore, RawZone
from genesys_export.raw.replay import ReplayRequest, replay
from genesys_export.sinks import open_sink
from genesys_export.transform.tables import RunContext

PAGE_SIZE = 1000
DAY0 = datetime(2024, 5, 1, tzinfo=UTC)
SETTLED = datetime(2024, 5, 31, tzinfo=UTC)
CTX = RunContext("bench", datetime(2024, 6, 1, tzinfo=UTC), SETTLED)
PATHS = ("live-parquet", "replay-parquet", "live-duckdb", "replay-duckdb")


def main() -> None:
    args = _arguments()
    if args.run:
        print(json.dumps(_run_path(args.run, Path(args.dir), args.chunk_pages)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        pages = _prepare(Path(tmp), args.conversations, args.chunk_pages)
        print(f"{args.conversations:,} conversations, {pages / 1e6:,.0f} MB of JSON kept")
        rounds = [
            {path: _spawn(path, Path(tmp), args.chunk_pages) for path in PATHS}
            for _ in range(args.repeat)
        ]
    runs = {path: _median([r[path] for r in rounds]) for path in PATHS}
    print(f"medians of {args.repeat} interleaved round(s):")
    for path, run in runs.items():
        wall, cpu = run["conversations"] / run["wall_s"], run["conversations"] / run["cpu_s"]
        print(f"  {path:<16} {wall:>8,.0f} conversations/s   ({cpu:>7,.0f} per CPU-second)"
              f"   peak RSS {run['peak_rss_mb']:,.0f} MB")  # fmt: skip
    for sink in ("parquet", "duckdb"):
        live, again = runs[f"live-{sink}"], runs[f"replay-{sink}"]
        print(f"  replay / live, {sink:<8} {live['wall_s'] / again['wall_s']:.2f} (wall)"
              f"   {live['cpu_s'] / again['cpu_s']:.2f} (CPU)")  # fmt: skip


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each measurement's median over the rounds (a shared machine varies run to run)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--chunk-pages", type=int, default=10, help="pages per job")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    return parser.parse_args()


def _prepare(tmp: Path, conversations: int, chunk_pages: int) -> int:
    """The plain pages file and the landing zone holding the same pages; returns bytes."""
    store = RawStore.open(
        RawZone.parse(f"file://{tmp}/raw"),
        run_id="bench",
        extracted_at=CTX.extracted_at,
        events=lambda name, **fields: None,
    )
    capture = store.bound(settled_before=SETTLED.isoformat())
    pages, size = iter_pages(conversations, page_size=PAGE_SIZE), 0
    with (tmp / "pages.jsonl").open("wb") as plain:
        for day in count():
            batch = list(islice(pages, chunk_pages))
            if not batch:
                break
            interval = Interval(DAY0 + timedelta(days=day), DAY0 + timedelta(days=day + 1))
            request = {"interval": interval.iso()}
            job = capture.job(ExportKind.CONVERSATION_DETAILS, f"job-{day}", request, ext="json")
            for page in batch:
                plain.write(page + b"\n")
                job.save(page)
                size += len(page)
            job.finish()
    store.close()
    return size


def _spawn(path: str, tmp: Path, chunk_pages: int) -> dict[str, Any]:
    print(f"running {path} ...", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--run", path, "--dir", str(tmp)]
    done = subprocess.run(
        [*command, "--chunk-pages", str(chunk_pages)], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _run_path(path: str, tmp: Path, chunk_pages: int) -> dict[str, Any]:
    prefer_lean_allocator()  # as the CLI does
    how, _, sink = path.partition("-")
    with tempfile.TemporaryDirectory(prefix="bench-dest-", dir=tmp) as dest_dir:
        dest = f"duckdb:///{dest_dir}/b.duckdb" if sink == "duckdb" else f"parquet://{dest_dir}"
        started, cpu = time.perf_counter(), time.process_time()
        if how == "replay":
            summary = replay(ReplayRequest(landing=f"file://{tmp}/raw", dest=dest))
            conversations = summary["rows"]["conversations"]
        else:
            conversations = _live(tmp / "pages.jsonl", dest, chunk_pages)
        return {
            "conversations": conversations,
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def _live(pages: Path, dest: str, chunk_pages: int) -> int:
    """Pages from the plain file through the live chunk code and pipeline, two at a time."""
    with pages.open("rb") as file:
        offsets, at = [], 0
        for line in file:
            offsets.append((at, len(line)))
            at += len(line)
    chunks = [offsets[i : i + chunk_pages] for i in range(0, len(offsets), chunk_pages)]

    def produce(chunk: list[tuple[int, int]]) -> ChunkResult:
        with pages.open("rb") as file:
            parked = []
            for offset, length in chunk:
                file.seek(offset)
                parked.append(park_page(file.read(length), CTX))
        return chunk_of(Interval(DAY0, DAY0 + timedelta(days=1)), parked)

    with open_sink(dest) as sink:
        run = Run(None, None, QuietProgress())

        def write(result: ChunkResult) -> None:
            write_chunk(run, sink, result, dataset="conversations",
                        export_kind=ExportKind.CONVERSATION_DETAILS, checkpoint=None)  # fmt: skip

        run_chunks(chunks, produce, write, concurrency=2)
    return run.rows["conversations"]


if __name__ == "__main__":
    main()
