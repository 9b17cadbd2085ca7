"""Running an export: chunks produced concurrently, written in order, audited.

Workers turn chunks (intervals the API accepts) into tables concurrently; the calling
thread writes each chunk in interval order in one sink transaction together with the
dataset's checkpoint, so a crash leaves the destination as of the last whole chunk. At
most `2 x concurrency` chunks are in flight or waiting to be written, which bounds memory.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pyarrow as pa

from genesys_export.audit import AuditLog
from genesys_export.capture import RawCapture
from genesys_export.chunks import ChunkResult, ChunkTable, ExportKind, Replacement
from genesys_export.errors import GenesysExportError
from genesys_export.events import AuditEvent
from genesys_export.http_client import Api
from genesys_export.intervals import Interval
from genesys_export.jobs.limits import AnalyticsLimits, JobSlots, read_limits
from genesys_export.progress import Progress
from genesys_export.sinks.base import Sink, WriteStats
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec
from genesys_export.validate import ValidationReport

log = logging.getLogger(__name__)
T = TypeVar("T")  # what a chunk is made from: an interval, or a job kept in a landing zone


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
    raw: RawCapture | None = None  # the raw landing zone, with --landing
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _limits: AnalyticsLimits | None = field(default=None, repr=False)
    _slots: JobSlots | None = field(default=None, repr=False)

    def limits(self) -> AnalyticsLimits:
        """The org's analytics limits, read once per run (aggregates and details share them)."""
        with self._lock:
            if self._limits is None:
                assert self.api is not None
                self._limits = read_limits(self.api)
            return self._limits

    def job_slots(self) -> JobSlots:
        """The run's details-job slots: every chunk of every dataset draws from them."""
        limits = self.limits()
        with self._lock:
            if self._slots is None:
                self._slots = JobSlots(limits)
            return self._slots

    def event(self, name: AuditEvent, /, **fields: Any) -> None:
        """Record an audit event and tell the progress display."""
        if name == AuditEvent.JOB_SUBMITTED:
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


def run_chunks(
    chunks: Sequence[T],
    produce: Callable[[T], ChunkResult],
    write: Callable[[ChunkResult], None],
    *,
    concurrency: int,
    stop: Callable[[], None] = lambda: None,
) -> None:
    """Produce chunks concurrently and write each, in interval order, as soon as it can be.

    When anything fails (or Ctrl-C arrives), `stop()` ends the other workers' waits so the
    error surfaces at once; chunks already written stay committed.
    """
    run_streams(
        chunks,
        lambda chunk, turn: iter([produce(chunk)]),
        write,
        concurrency=concurrency,
        stop=stop,
    )


def run_streams(
    items: Sequence[T],
    produce: Callable[[T, Callable[[], None]], Iterator[ChunkResult]],
    write: Callable[[ChunkResult], None],
    *,
    concurrency: int,
    stop: Callable[[], None] = lambda: None,
    in_turn: bool = True,
) -> None:
    """Like `run_chunks`, for items that each yield several chunks (a long job's days).

    Workers run items concurrently; each chunk an item yields is written as soon as every
    chunk before it is, so the checkpoint advances in order while later items wait on
    disk. `produce(item, turn)` may call `turn()` to wait until the items before it have
    yielded their last chunk (a job waiting behind others need not poll meanwhile); with
    `in_turn` False, `turn()` returns at once.
    """
    in_flight = max(1, 2 * concurrency)
    turns = [threading.Event() for _ in items]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chunk") as pool:
        pending: list[tuple[Future[None], queue.SimpleQueue[ChunkResult | None]]] = []
        todo = iter(enumerate(items))

        def work(index: int, item: T, out: queue.SimpleQueue[ChunkResult | None]) -> None:
            def turn() -> None:
                if index and in_turn:
                    _wait(turns[index - 1])

            try:
                for result in produce(item, turn):
                    out.put(result)
            finally:
                turns[index].set()
                out.put(None)

        try:
            while True:
                while len(pending) < in_flight and (next_item := next(todo, None)) is not None:
                    out: queue.SimpleQueue[ChunkResult | None] = queue.SimpleQueue()
                    pending.append((pool.submit(work, *next_item, out), out))
                if not pending:
                    return
                future, out = pending.pop(0)
                while (result := _next(out)) is not None:
                    write(result)
                future.result()  # the item's error, once its good chunks are written
        except BaseException:
            stop()
            for f, _ in pending:
                f.cancel()
            for event in turns:
                event.set()
            raise


def _next(out: queue.SimpleQueue[ChunkResult | None]) -> ChunkResult | None:
    """The next chunk (None: the item is done), waiting in short steps for Ctrl-C."""
    while True:
        try:
            return out.get(timeout=0.5)
        except queue.Empty:
            continue


def _wait(event: threading.Event) -> None:
    """Wait for `event` in short steps, so Ctrl-C reaches the main thread's waits."""
    while not event.wait(0.5):
        pass


def write_chunk(
    run: Run,
    sink: Sink,
    result: ChunkResult,
    *,
    dataset: str,
    export_kind: ExportKind,
    checkpoint: Checkpoint | None,
) -> None:
    """Validate, then write one chunk and its checkpoint in one sink transaction.

    A report made before writing is audited and enforced first; the checks of a streamed
    table run while it is written, and are audited before the commit.
    """
    if isinstance(result.validation, ValidationReport):
        _validated(run, result.interval, result.validation)
    checkpoints = [checkpoint] if checkpoint else []
    try:
        rows = stage_tables(sink, result.tables, fresh_keys=result.fresh_keys)
        if not isinstance(result.validation, ValidationReport):
            checks = result.validation()
            run.warnings.extend(checks.warnings)
            run.event(AuditEvent.VALIDATION_FINISHED, ok=True, **checks.fields)
        stats = sink.commit(checkpoints)
    except BaseException:
        sink.rollback()
        raise
    for name, count in rows.items():
        run.rows[name] = run.rows.get(name, 0) + count
    run.files.update(stats.files)
    run.chunks_done += 1
    written = {
        "dataset": dataset,
        "interval": result.interval.iso(),
        "rows": rows,
        "deleted": stats.deleted,
        "files": stats.files,
    }
    run.event(AuditEvent.TABLE_WRITTEN, **(written | dict(result.written)))
    if checkpoint is not None:
        run.event(
            AuditEvent.CHECKPOINT_SAVED,
            dataset=dataset,
            export_kind=export_kind,
            written_until=checkpoint.written_until.isoformat(),
            settled_until=checkpoint.settled_until.isoformat(),
        )
    run.progress.chunk_done(result.interval, rows)


def _validated(run: Run, interval: Interval, report: ValidationReport) -> None:
    run.event(
        AuditEvent.VALIDATION_FINISHED,
        interval=interval.iso(),
        ok=report.ok,
        checks=[asdict(check) for check in report.checks],
    )
    report.raise_if_failed()


def commit_tables(
    sink: Sink,
    tables: Sequence[tuple[TableSpec, ChunkTable, Replacement]],
    checkpoints: Sequence[Checkpoint] = (),
    *,
    fresh_keys: bool = False,
) -> WriteStats:
    """One transaction: each table replaces what its replacement names, then commit."""
    try:
        stage_tables(sink, tables, fresh_keys=fresh_keys)
        return sink.commit(checkpoints)
    except BaseException:
        sink.rollback()
        raise


def stage_tables(
    sink: Sink,
    tables: Sequence[tuple[TableSpec, ChunkTable, Replacement]],
    *,
    fresh_keys: bool = False,
) -> dict[str, int]:
    """Stage each table in the sink's open transaction after what it replaces; rows per table.

    With `fresh_keys` (see ChunkResult) rows are inserted, else upserted. A spooled or
    streamed table is read and written one part at a time.
    """
    rows: dict[str, int] = {}
    for spec, table, replacement in tables:
        sink.delete(spec, replacement)
        parts: Iterable[pa.Table] = [table] if isinstance(table, pa.Table) else table
        if fresh_keys:
            count = sink.insert(spec, parts)
        else:
            count = 0
            for part in parts:
                sink.append(spec, part)
                count += part.num_rows
        rows[spec.name] = rows.get(spec.name, 0) + count
    return rows


def prefer_lean_allocator() -> None:
    """Arrow buffers from jemalloc (where pyarrow has it, else malloc), not mimalloc.

    A run allocates and frees about a page of Arrow buffers per results page. Over a long
    run mimalloc's and malloc's footprints keep growing (fragmentation) while jemalloc's
    stays flat at the same speed (measured with bench/conversations.py; figures in the
    README). The CLI calls this at start; ARROW_DEFAULT_MEMORY_POOL, when set, wins.
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
    run.event(AuditEvent.RUN_FAILED, error=type(exc).__name__, message=message, **summary)


def settled_cutoff(availability: datetime, extracted_at: datetime, lookback: timedelta) -> datetime:
    """Activity ending before this is final: inside neither the watermark nor the lookback."""
    return min(availability, extracted_at - lookback)
