"""Running an export: chunks produced concurrently, written in order, audited.

Workers turn chunks (intervals the API accepts) into tables concurrently; the calling
thread writes each chunk in interval order in one sink transaction together with the
dataset's checkpoint, so a crash leaves the destination as of the last whole chunk. At
most `2 x concurrency` chunks are in flight or waiting to be written, which bounds memory.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.audit import AuditEvent, AuditLog
from genesys_export.errors import GenesysExportError
from genesys_export.http_client import Api
from genesys_export.intervals import Interval
from genesys_export.progress import Progress
from genesys_export.sinks.base import Replacement, Sink, WriteStats
from genesys_export.spool import SpooledTable
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec
from genesys_export.validate import ValidationReport

log = logging.getLogger(__name__)


# A chunk's table: in memory, or spooled to disk and read back one page at a time.
ChunkTable: TypeAlias = pa.Table | SpooledTable


@dataclass(frozen=True)
class ChunkResult:
    """One chunk, ready to write: tables, what they replace, and their checks.

    `fresh_keys`: each table's replacement covers every key of its rows, and validation
    checks that no key repeats; the rows are then inserted, with no upsert work.
    """

    interval: Interval
    tables: list[tuple[TableSpec, ChunkTable, Replacement]]
    validation: ValidationReport
    extra: Mapping[str, Any] = field(default_factory=dict)
    fresh_keys: bool = False


@dataclass
class Run:
    """One invocation: its id, audit trail, progress display and counters."""

    api: Api | None
    audit: AuditLog | None
    progress: Progress
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    extracted_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)
    rows: dict[str, int] = field(default_factory=dict)  # rows written, rewrites included
    landed: dict[str, int] = field(default_factory=dict)  # rows in the destination from this run
    files: dict[str, str] = field(default_factory=dict)
    jobs: int = 0
    chunks_done: int = 0
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def event(self, name: str, **fields: Any) -> None:
        """Record an audit event and tell the progress display."""
        if name == "job.submitted":
            with self._lock:
                self.jobs += 1
        if self.audit is not None:
            self.audit.append(AuditEvent(name), **fields)
        self.progress.event(name, fields)

    def summary(self, **extra: Any) -> dict[str, Any]:
        api_stats = self.api.stats.as_dict() if self.api else {}
        waited = self.api.budget.waited if self.api else 0.0
        # What the run measured wins over what a step reported under the same name.
        return extra | {
            "run_id": self.run_id,
            "rows": dict(sorted((self.landed or self.rows).items())),
            "rows_written": dict(sorted(self.rows.items())),
            "chunks": self.chunks_done,
            "jobs": self.jobs,
            **api_stats,
            "budget_wait_s": round(waited, 3),
            "duration_s": round(time.monotonic() - self.started, 3),
            "warnings": list(self.warnings),
        }


def concat_pages(pages: Sequence[Any], specs: Iterable[TableSpec]) -> dict[str, pa.Table]:
    """One table per spec from the `tables` of every page of a chunk (empty when none).

    The pages' buffers are shared, not copied: a chunk costs its pages' memory once.
    """
    return {
        spec.name: pa.concat_tables([p.tables[spec.name] for p in pages])
        if pages
        else spec.schema.empty_table()
        for spec in specs
    }


def replacement_for(
    table: pa.Table, columns: Iterable[str], partition_by: str | None = None
) -> Replacement:
    """Replace existing rows sharing `columns` with `table`, in the partitions it touches."""
    names = list(columns)
    keys = table.select(names)
    keys = keys.group_by(names).aggregate([]) if keys.num_rows else keys
    return Replacement(keys=keys, partitions=partition_dates(table, partition_by))


def partition_dates(table: pa.Table, column: str | None) -> frozenset[date]:
    """UTC dates of a timestamp column's values (the Parquet partitions rows land in)."""
    if column is None or table.num_rows == 0:
        return frozenset()
    days = pc.unique(pc.cast(pc.floor_temporal(table.column(column), unit="day"), pa.date32()))
    return frozenset(d for d in days.to_pylist() if d is not None)


def run_chunks(
    chunks: list[Interval],
    produce: Callable[[Interval], ChunkResult],
    write: Callable[[ChunkResult], None],
    *,
    concurrency: int,
    stop: Callable[[], None] = lambda: None,
) -> None:
    """Produce chunks concurrently and write each, in interval order, as soon as it can be.

    When anything fails (or Ctrl-C arrives), `stop()` ends the other workers' waits so the
    error surfaces at once; chunks already written stay committed.
    """
    window = max(1, 2 * concurrency)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chunk") as pool:
        pending: list[Future[ChunkResult]] = []
        todo = iter(chunks)
        try:
            for future in _ordered(pool, todo, produce, pending, window):
                write(future.result())
        except BaseException:
            stop()
            for f in pending:
                f.cancel()
            raise


def _ordered(
    pool: ThreadPoolExecutor,
    todo: Iterator[Interval],
    produce: Callable[[Interval], ChunkResult],
    pending: list[Future[ChunkResult]],
    window: int,
) -> Iterator[Future[ChunkResult]]:
    while True:
        while len(pending) < window and (chunk := next(todo, None)) is not None:
            pending.append(pool.submit(produce, chunk))
        if not pending:
            return
        yield pending.pop(0)


def write_chunk(
    run: Run,
    sink: Sink,
    result: ChunkResult,
    *,
    dataset: str,
    export_kind: str,
    checkpoint: Checkpoint | None,
) -> None:
    """Validate, then write one chunk and its checkpoint in one sink transaction."""
    run.event(
        "validation.finished",
        interval=result.interval.iso(),
        ok=result.validation.ok,
        checks=[asdict(check) for check in result.validation.checks],
    )
    result.validation.raise_if_failed()
    checkpoints = [checkpoint] if checkpoint else []
    stats = commit_tables(sink, result.tables, checkpoints, fresh_keys=result.fresh_keys)
    for spec, table, _ in result.tables:
        run.rows[spec.name] = run.rows.get(spec.name, 0) + table.num_rows
    run.files.update(stats.files)
    run.chunks_done += 1
    run.event(
        "table.written",
        dataset=dataset,
        interval=result.interval.iso(),
        rows={spec.name: t.num_rows for spec, t, _ in result.tables},
        deleted=stats.deleted,
        files=stats.files,
    )
    if checkpoint is not None:
        run.event(
            "checkpoint.saved",
            dataset=dataset,
            export_kind=export_kind,
            written_until=checkpoint.written_until.isoformat(),
            settled_until=checkpoint.settled_until.isoformat(),
        )
    run.progress.chunk_done(result.interval, {s.name: t.num_rows for s, t, _ in result.tables})


def commit_tables(
    sink: Sink,
    tables: Sequence[tuple[TableSpec, ChunkTable, Replacement]],
    checkpoints: Sequence[Checkpoint] = (),
    *,
    fresh_keys: bool = False,
) -> WriteStats:
    """One transaction: each table replaces what its replacement names, then commit.

    With `fresh_keys` (see ChunkResult) rows are inserted, else upserted. A spooled table
    is read and written one page at a time.
    """
    try:
        for spec, table, replacement in tables:
            sink.delete(spec, replacement)
            parts = [table] if isinstance(table, pa.Table) else table
            if fresh_keys:
                sink.insert(spec, parts)
            else:
                for part in parts:
                    sink.append(spec, part)
        return sink.commit(checkpoints)
    except BaseException:
        sink.rollback()
        raise


def prefer_lean_allocator() -> None:
    """Arrow buffers from jemalloc (where pyarrow has it, else malloc), not mimalloc.

    A run allocates and frees about a page of Arrow buffers per results page. Over a
    200,000-conversation run mimalloc's and malloc's footprints keep growing (fragmentation)
    while jemalloc's stays flat, about 100 MB lower, at the same speed
    (bench/conversations.py). The CLI calls this at start; ARROW_DEFAULT_MEMORY_POOL, when
    set, wins.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc (Windows)
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)


def failed(run: Run, exc: BaseException) -> None:
    """Audit a run that ended in an error (never with a traceback or a secret)."""
    message = str(exc) if isinstance(exc, GenesysExportError) else type(exc).__name__
    summary = {k: v for k, v in run.summary().items() if k != "run_id"}
    run.event("run.failed", error=type(exc).__name__, message=message, **summary)


def settled_cutoff(availability: datetime, extracted_at: datetime, lookback: timedelta) -> datetime:
    """Activity ending before this is final: inside neither the watermark nor the lookback."""
    return min(availability, extracted_at - lookback)
