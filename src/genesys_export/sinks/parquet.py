"""ParquetSink: hive-partitioned Parquet datasets on a local disk or object storage.

Layout under the root (a directory, or an S3 bucket/prefix):

    <table>/date=YYYY-MM-DD/part-0.parquet    one file per UTC date of spec.partition_by
    _checkpoints/<dataset>.json               checkpoint manifests, written last
    .genesys-export.lock                      local only: flock held while a sink is open

One file per partition makes replacing a partition a single atomic step. A transaction
streams, with bounded memory, into a spool file per partition it touches: appended rows
as they come, then at commit the surviving rows of the existing file (those matching no
staged delete and no appended key). Then each spool replaces its target: `os.replace`
after fsync on a local disk (the spool sits beside the target as
`.part-0.parquet.tmp-<uuid>`); on S3 the spool is a local temp file uploaded straight to
the final key, and a completed upload is atomic. Manifests go last, so a crash mid-commit
leaves each partition old or new and the old checkpoint, and the rerun replaces the same
rows again. Spools of a crashed run are removed when the next sink opens the directory.

S3 has no lock (see `objectstore`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from genesys_export.chunks import Replacement
from genesys_export.closing import Closing
from genesys_export.errors import SinkError
from genesys_export.sinks.base import WriteStats
from genesys_export.sinks.columns import (
    any_true,
    conform,
    conform_keys,
    deletion_mask,
    keep_last,
    matches_any,
    row_dates,
)
from genesys_export.sinks.locks import lock_file
from genesys_export.sinks.objectstore import s3_filesystem, upload
from genesys_export.sinks.parquet_files import (
    TMP_MARK,
    Finished,
    Spool,
    batches_of,
    close_spool,
    discard,
    file_schema,
    fsync_dir,
    park,
    parquet_writer,
    remove_stale_spools,
    unified,
)
from genesys_export.state import Checkpoint
from genesys_export.transform.tables import TableSpec

PART_FILE = "part-0.parquet"
CHECKPOINT_DIR = "_checkpoints"
LOCK_FILE = ".genesys-export.lock"
_PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Spools with an open writer at once (each holds ~200 KB of buffers). A report over years
# touches a partition per day; older ones are parked, and reopened by a copy if needed.
_OPEN_SPOOLS = 16


@dataclass
class _TableWork:
    """What a transaction does to one table."""

    spec: TableSpec
    deletes: list[pa.Table] = field(default_factory=list)  # replacement keys, in order
    days: set[date] = field(default_factory=set)  # partitions the deletes name
    all_days: bool = False  # a delete named no partition: look in every one
    spools: dict[date, Spool] = field(default_factory=dict)
    deleted: int = 0


class ParquetSink(Closing):
    """Parquet datasets under `root` on any `pyarrow.fs.FileSystem`."""

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        root: str,
        *,
        uri: str | None = None,
        lock: bool = True,
    ) -> None:
        self.fs = filesystem
        self.root = root.rstrip("/")
        self.uri = uri or self.root
        self._local = isinstance(filesystem, pafs.LocalFileSystem)
        self._spool_dir: str | None = None  # object storage: local dir for spools
        self._lock_fd: int | None = None
        self._work: dict[str, _TableWork] = {}
        self._open: OrderedDict[str, Spool] = OrderedDict()  # spools with a writer, LRU
        if self._local:
            Path(self.root).mkdir(parents=True, exist_ok=True)
            if lock:
                self._lock_fd = lock_file(Path(self.root, LOCK_FILE), self.uri)
                # Only the lock holder may remove spools: without it they may be live.
                remove_stale_spools(Path(self.root))

    @classmethod
    def local(cls, path: str | Path, *, lock: bool = True) -> ParquetSink:
        """A sink on a local directory (created if missing)."""
        root = Path(path).absolute()
        return cls(pafs.LocalFileSystem(), str(root), uri=f"parquet://{root}", lock=lock)

    @classmethod
    def s3(cls, location: str, *, environ: Mapping[str, str]) -> ParquetSink:
        """A sink on `s3://<location>` (bucket/prefix), configured from AWS variables."""
        return cls(s3_filesystem(environ), location.strip("/"), uri=f"s3://{location.strip('/')}")

    # --- the Sink protocol ---------------------------------------------------------------

    def delete(self, spec: TableSpec, replacement: Replacement) -> None:
        """Stage a delete; rows already appended in this transaction that match go now."""
        keys = conform_keys(spec, replacement.keys)
        if keys.num_rows == 0:
            return
        work = self._table_work(spec)
        work.deletes.append(keys)
        work.days.update(replacement.partitions)
        work.all_days = work.all_days or not replacement.partitions
        with self._errors(f"delete from {spec.name}"):
            for spool in work.spools.values():
                self._drop_from_spool(spool, spec, keys)

    def append(self, spec: TableSpec, table: pa.Table) -> None:
        """Stream rows into their partitions' spools (upsert on `spec.key`)."""
        rows = keep_last(conform(table, spec.schema, name=spec.name), spec.key)
        work = self._table_work(spec)
        with self._errors(f"append to {spec.name}"):
            for day, part in _by_day(rows, spec):
                self._append_to_partition(work, day, part)

    def insert(self, spec: TableSpec, tables: Iterable[pa.Table]) -> int:
        """Stream rows with new keys into their partitions' spools; the number of rows.

        Unlike `append`, their keys are neither checked against earlier rows nor kept
        (memory stays flat); a later delete or append in the transaction scans the spool.
        """
        work = self._table_work(spec)

        def write(rows: pa.Table) -> None:
            with self._errors(f"insert into {spec.name}"):
                for day, part in _by_day(rows, spec):
                    self._append_to_partition(work, day, part, keyed=False)

        # Writing (encoding, compressing) runs on a thread of its own while the caller's
        # iterable produces the next tables; at most two wait, so memory stays bounded.
        count, pending = 0, deque[Future[None]]()
        with ThreadPoolExecutor(1, thread_name_prefix="parquet-insert") as writer:
            for table in tables:
                rows = conform(table, spec.schema, name=spec.name)
                pending.append(writer.submit(write, rows))
                count += rows.num_rows
                if len(pending) > 2:
                    pending.popleft().result()
            while pending:
                pending.popleft().result()
        return count

    def commit(self, checkpoints: Sequence[Checkpoint] = ()) -> WriteStats:
        """Finish every touched partition, publish them, then write the manifests."""
        try:
            with self._errors("commit"):
                finished = [f for work in self._work.values() for f in self._finish_table(work)]
                stats = self._stats(finished)
                self._publish(finished)
                for checkpoint in checkpoints:
                    self._write_checkpoint(checkpoint, stats)
        except BaseException:
            self.rollback()  # spools not yet published go; published partitions stay
            raise
        self._work = {}
        self._open.clear()
        return stats

    def rollback(self) -> None:
        """Discard the spools; the committed files were never touched."""
        for work in self._work.values():
            for spool in work.spools.values():
                discard(spool)
        self._work = {}
        self._open.clear()

    def read_checkpoint(self, dataset: str) -> Checkpoint | None:
        """The checkpoint manifest of `dataset`, or None."""
        path = self._checkpoint_path(dataset)
        with self._errors("read checkpoint"):
            if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
                return None
            with self.fs.open_input_stream(path) as f:
                text = f.read().decode()
        return Checkpoint.from_json(text, dataset=dataset)

    def count_rows(self, name: str, *, run_id: str) -> int:
        """Committed rows of `name` whose `_run_id` is `run_id` (reads that column only)."""
        with self._errors(f"count {name}"):
            files = sorted(self._partitions(name).values())
            dataset = ds.dataset(files, format="parquet", filesystem=self.fs)
            return int(dataset.count_rows(filter=pc.field("_run_id") == run_id))

    def has_table(self, name: str) -> bool:
        with self._errors(f"list {name}"):
            return bool(self._partitions(name))

    def read_table(self, name: str) -> pa.Table:
        """Every committed partition of `name`, without the `date` partition column."""
        with self._errors(f"read {name}"):
            files = sorted(self._partitions(name).values())
            if not files:
                raise SinkError(f"{self.uri} has no table {name!r}")
            schema = unified([pq.read_schema(f, filesystem=self.fs) for f in files])
            dataset = ds.dataset(files, schema=schema, format="parquet", filesystem=self.fs)
            return dataset.to_table()

    def partition_files(self, name: str) -> dict[date, str]:
        """The committed partition files of table `name` (paths on `self.fs`), by UTC date."""
        with self._errors(f"list {name}"):
            return self._partitions(name)

    def close(self) -> None:
        """Discard anything uncommitted and release the lock."""
        self.rollback()
        if self._spool_dir is not None:
            shutil.rmtree(self._spool_dir, ignore_errors=True)
            self._spool_dir = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    # --- staging -------------------------------------------------------------------------

    def _table_work(self, spec: TableSpec) -> _TableWork:
        work = self._work.get(spec.name)
        if work is None:
            work = self._work[spec.name] = _TableWork(spec)
        work.spec = spec  # the latest spec wins: it may have grown a column
        return work

    def _append_to_partition(
        self, work: _TableWork, day: date, rows: pa.Table, *, keyed: bool = True
    ) -> None:
        """Write `rows` to the day's spool; `keyed`: first drop earlier rows with their keys."""
        spool = work.spools.get(day) or self._open_spool(work.spec, day)
        work.spools[day] = spool
        spooled = set(spool.schema.names)
        grown = [n for n in work.spec.schema.names if n not in spooled]
        if grown:
            # The spool's schema is fixed when it opens; a rewrite to widen it is not worth
            # it for a case that needs a code change between two appends of one transaction.
            raise SinkError(
                f"table {work.spec.name}: columns {grown} appeared within one transaction; "
                "commit before widening the schema"
            )
        if keyed:
            keys = rows.select(list(work.spec.key))
            self._drop_from_spool(spool, work.spec, keys)
            spool.keys.append(keys)
        else:
            spool.inserted += rows.num_rows
        self._writer(spool).write_table(conform(rows, spool.schema, name=spool.target, fill=True))
        spool.rows += rows.num_rows

    def _open_spool(self, spec: TableSpec, day: date) -> Spool:
        """A new spool for a partition; its schema keeps the old file's extra columns."""
        target = self._partition_path(spec.name, day)
        old = self._schema_of(target)
        schema = spec.schema if old is None else file_schema(spec.schema, old)
        path = self._new_spool_path(target)
        return Spool(target, path, schema, None)

    def _writer(self, spool: Spool) -> pq.ParquetWriter:
        """The spool's writer, opened if new or parked; parks the least recently used."""
        if spool.writer is None:
            if Path(spool.path).exists():  # parked: a closed Parquet file takes no appends
                self._rewrite(spool)
            else:
                spool.writer = parquet_writer(spool.path, spool.schema)
        self._open.pop(spool.path, None)
        self._open[spool.path] = spool
        while len(self._open) > _OPEN_SPOOLS:
            park(self._open.popitem(last=False)[1])
        assert spool.writer is not None
        return spool.writer

    def _rewrite(self, spool: Spool, drop: tuple[TableSpec, pa.Table] | None = None) -> None:
        """Copy the spool into a fresh file left open for writing. With `drop` = (spec,
        keys), rows matching `keys` stay out and `spool.keys` and counts are recomputed."""
        self._open.pop(spool.path, None)
        park(spool)
        old, spool.path = spool.path, self._new_spool_path(spool.target)
        spool.writer = parquet_writer(spool.path, spool.schema)
        if drop is not None:
            spool.keys, spool.rows, spool.inserted = [], 0, 0
        for batch in batches_of(pafs.LocalFileSystem(), old):
            if drop is not None:
                spec, keys = drop
                batch = batch.filter(pc.invert(matches_any(batch, keys)))
                spool.keys.append(batch.select(list(spec.key)))
                spool.rows += batch.num_rows
            spool.writer.write_table(batch)
        os.remove(old)

    def _new_spool_path(self, target: str) -> str:
        """Beside the target on a local disk (same filesystem for os.replace), else in TMPDIR."""
        name = f".{PART_FILE}{TMP_MARK}{uuid.uuid4().hex}"
        if self._local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            return str(Path(target).with_name(name))
        if self._spool_dir is None:
            self._spool_dir = tempfile.mkdtemp(prefix="genesys-export-spool-")
        return str(Path(self._spool_dir, name))

    def _drop_from_spool(self, spool: Spool, spec: TableSpec, keys: pa.Table) -> None:
        """Rewrite the spool without rows matching `keys`, if any may match (rare: overlaps)."""
        if not spool.inserted and (
            not spool.keys or not any_true(matches_any(pa.concat_tables(spool.keys), keys))
        ):
            return
        self._rewrite(spool, drop=(spec, keys))
        self._writer(spool)  # counts it as recently used

    # --- commit --------------------------------------------------------------------------

    def _finish_table(self, work: _TableWork) -> Iterator[Finished]:
        """Carry surviving old rows into each partition's spool and close it."""
        days = set(work.spools) | work.days
        if work.all_days and work.deletes:
            days |= set(self._partitions(work.spec.name))
        for day in sorted(days):
            spool = work.spools.get(day)
            target = self._partition_path(work.spec.name, day)
            if spool is None:
                if not self._has_deletions(target, work):
                    continue
                spool = work.spools[day] = self._open_spool(work.spec, day)
            work.deleted += self._carry_over(spool, work)
            yield close_spool(spool)

    def _has_deletions(self, target: str, work: _TableWork) -> bool:
        """Whether the partition file exists and holds a row some delete matches."""
        if self._schema_of(target) is None:
            return False
        columns = sorted({c for keys in work.deletes for c in keys.column_names})
        return any(
            any_true(deletion_mask(batch, work.deletes))
            for batch in batches_of(self.fs, target, columns=columns)
        )

    def _carry_over(self, spool: Spool, work: _TableWork) -> int:
        """Copy old rows that no delete or appended key replaces; return how many went."""
        if self._schema_of(spool.target) is None:
            return 0
        appended = pa.concat_tables(spool.keys) if spool.keys else None
        dropped = 0
        for batch in batches_of(self.fs, spool.target):
            gone = deletion_mask(batch, [*work.deletes, *([appended] if appended else [])])
            kept = batch.filter(pc.invert(gone))
            self._writer(spool).write_table(
                conform(kept, spool.schema, name=spool.target, fill=True)
            )
            spool.survivors += kept.num_rows
            dropped += batch.num_rows - kept.num_rows
        return dropped

    def _stats(self, finished: list[Finished]) -> WriteStats:
        rows = {name: sum(s.rows for s in w.spools.values()) for name, w in self._work.items()}
        deleted = {name: w.deleted for name, w in self._work.items()}
        published = [f for f in finished if f.spool is not None]
        files = {self._display(f.target): f.sha256 for f in published}
        sizes = {self._display(f.target): f.size for f in published}
        return WriteStats(rows=rows, deleted=deleted, files=files, sizes=sizes)

    def _publish(self, finished: list[Finished]) -> None:
        """Each spool replaces its target (one atomic step each); empty partitions go."""
        for item in finished:
            if item.spool is None:
                self._remove_partition(item.target)
            elif self._local:
                os.replace(item.spool, item.target)
                fsync_dir(Path(item.target).parent)
            else:
                upload(item.spool, self.fs, item.target)
                os.remove(item.spool)

    def _remove_partition(self, target: str) -> None:
        if self._schema_of(target) is None:
            return
        self.fs.delete_file(target)
        if self._local:
            fsync_dir(Path(target).parent)
            # Best effort: a non-empty directory (a stray file) stays; readers ignore it.
            with suppress(OSError):
                os.rmdir(Path(target).parent)

    def _write_checkpoint(self, checkpoint: Checkpoint, stats: WriteStats) -> None:
        """The manifest, atomically: temp + os.replace locally, a single PUT on S3."""
        path = self._checkpoint_path(checkpoint.dataset)
        body = checkpoint.to_json().encode()
        if self._local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            temp = Path(path).with_name(f".{Path(path).name}{TMP_MARK}{uuid.uuid4().hex}")
            with temp.open("wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, path)
            fsync_dir(Path(path).parent)
        else:
            with self.fs.open_output_stream(path) as out:
                out.write(body)
        stats.files[self._display(path)] = hashlib.sha256(body).hexdigest()
        stats.sizes[self._display(path)] = len(body)

    # --- paths and listing ---------------------------------------------------------------

    def _partition_path(self, table: str, day: date) -> str:
        return f"{self.root}/{table}/date={day.isoformat()}/{PART_FILE}"

    def _checkpoint_path(self, dataset: str) -> str:
        if not _DATASET.match(dataset):
            raise SinkError(f"dataset name {dataset!r} cannot name a checkpoint file")
        return f"{self.root}/{CHECKPOINT_DIR}/{dataset}.json"

    def _display(self, path: str) -> str:
        return path if self._local else f"s3://{path}"

    def _partitions(self, table: str) -> dict[date, str]:
        """The committed partition files of a table, by date (one listing, even on S3)."""
        selector = pafs.FileSelector(f"{self.root}/{table}", allow_not_found=True, recursive=True)
        found = {}
        for info in self.fs.get_file_info(selector):
            parent, _, name = info.path.rpartition("/")
            match = _PARTITION.match(parent.rpartition("/")[2])
            if name == PART_FILE and match and info.type == pafs.FileType.File:
                found[date.fromisoformat(match.group(1))] = info.path
        return found

    def _schema_of(self, path: str) -> pa.Schema | None:
        """The Arrow schema of a committed file, or None if there is none."""
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        return pq.read_schema(path, filesystem=self.fs)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Arrow and OS errors become SinkError, chained."""
        try:
            yield
        except (pa.ArrowException, OSError) as exc:
            raise SinkError(f"{self.uri}: {action} failed ({exc})") from exc


def _by_day(rows: pa.Table, spec: TableSpec) -> Iterator[tuple[date, pa.Table]]:
    """`rows` split by the UTC date of `spec.partition_by`, in date order."""
    if rows.num_rows == 0:
        return
    days = row_dates(rows, spec)
    low, high = pc.min_max(days).values()
    if low == high:  # the usual case: one day, no filtering
        yield low.as_py(), rows
        return
    for day in sorted(pc.unique(days).to_pylist()):
        yield day, rows.filter(pc.equal(days, pa.scalar(day, pa.date32())))
