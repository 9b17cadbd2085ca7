"""Writing the raw landing zone: each body gzipped in the background, renamed into place.

A `RawStore` is one run's writer; it is the `capture.RawCapture` that producers receive.
Each file is compressed (ISA-L) and written on a background thread (both release the GIL,
so the export's own threads keep going) under a temporary name beside its final one, then
renamed (on S3, in place: an object appears only once its upload completes): a
crash leaves at most a `*.tmp-*` file, never half a file under its final name. At most
`pending` bodies wait for the writer, which bounds memory. A job's `manifest.json` is
written the same way, after all its files: it is what makes the job visible to replay and
retention.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from isal import isal_zlib

from genesys_export.errors import SinkError
from genesys_export.events import AuditEvent, Events
from genesys_export.raw.zone import (
    GZIP_WBITS,
    MANIFEST,
    READ_BLOCK,
    Manifest,
    RawFile,
    RawZone,
)

# ISA-L's level 1: about 1 GB/s of JSON per core at a 6.7x ratio (zlib's level 1: 120-200
# MB/s at 6.3x), so keeping the raw bodies costs a few percent of an export's CPU
# (bench/conversations.py). Any gzip reader reads the files.
GZIP_LEVEL = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class _Shared:
    """What every job of a run shares: the zone, the writer thread, the run's identity."""

    zone: RawZone
    run_id: str
    extracted_at: datetime
    events: Events
    level: int
    pending: int
    clock: Callable[[], datetime]
    pool: ThreadPoolExecutor = field(init=False)
    slots: threading.BoundedSemaphore = field(init=False)
    totals: dict[str, int] = field(init=False)
    lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw")
        self.slots = threading.BoundedSemaphore(self.pending)
        self.totals = {"jobs": 0, "files": 0, "bytes": 0, "stored_bytes": 0}

    def count(self, files: tuple[RawFile, ...]) -> None:
        with self.lock:
            self.totals["jobs"] += 1
            self.totals["files"] += len(files)
            self.totals["bytes"] += sum(f.bytes for f in files)
            self.totals["stored_bytes"] += sum(f.stored_bytes for f in files)

    def submit(self, work: Callable[[], RawFile]) -> Future[RawFile]:
        """Run `work` on the writer thread once a slot is free (blocks while all are taken)."""
        self.slots.acquire()
        try:
            future = self.pool.submit(work)
        except BaseException:
            self.slots.release()
            raise
        future.add_done_callback(lambda _: self.slots.release())
        return future


class RawStore:
    """One run's writer into a landing zone; `bound()` views add manifest context."""

    def __init__(self, shared: _Shared, context: Mapping[str, Any]) -> None:
        self._shared = shared
        self._context = dict(context)

    @classmethod
    def open(
        cls,
        zone: RawZone,
        *,
        run_id: str,
        extracted_at: datetime,
        events: Events,
        level: int = GZIP_LEVEL,
        pending: int = 8,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> RawStore:
        """`clock` stamps each manifest's `saved_at`, which retention compares."""
        return cls(_Shared(zone, run_id, extracted_at, events, level, pending, clock), {})

    def job(self, kind: str, job_id: str, request: Mapping[str, Any], *, ext: str) -> JobWriter:
        return JobWriter(self._shared, kind, job_id, request, ext=ext, context=self._context)

    def bound(self, **context: Any) -> RawStore:
        return RawStore(self._shared, self._context | context)

    def totals(self) -> dict[str, int]:
        """Jobs, files and bytes (as received, and stored) kept so far by the run."""
        with self._shared.lock:
            return dict(self._shared.totals)

    def close(self) -> None:
        """Wait for the writer thread to finish what it was given."""
        self._shared.pool.shutdown(wait=True)


class JobWriter:
    """The files of one job, written in the background; see `capture.RawJob`."""

    def __init__(
        self,
        shared: _Shared,
        kind: str,
        job_id: str,
        request: Mapping[str, Any],
        *,
        ext: str,
        context: Mapping[str, Any],
    ) -> None:
        self._shared, self._kind, self._job_id = shared, kind, job_id
        self._request, self._ext, self._context = dict(request), ext, dict(context)
        day = shared.extracted_at.astimezone(UTC).date().isoformat()
        self.directory = "/".join((kind, day, shared.run_id, _UNSAFE.sub("_", job_id)))
        self._files: list[Future[RawFile]] = []

    def save(self, body: bytes) -> None:
        name = self._next_name()
        self._files.append(self._shared.submit(lambda: self._put_body(name, body)))

    def save_file(self, path: Path) -> None:
        name = self._next_name()
        self._files.append(self._shared.submit(lambda: self._put_file(name, path)))

    def finish(self) -> None:
        files = tuple(f.result() for f in self._files)
        manifest = Manifest(
            kind=self._kind,
            job_id=self._job_id,
            run_id=self._shared.run_id,
            extracted_at=self._shared.extracted_at,
            saved_at=self._shared.clock(),
            request=self._request,
            context=self._context,
            files=files,
            directory=self.directory,
        )
        data = json.dumps(manifest.to_json(), indent=1, default=str).encode()
        relative = f"{self.directory}/{MANIFEST}"
        _write(self._shared.zone, relative, [data])
        self._shared.count(files)
        self._shared.events(
            AuditEvent.RAW_SAVED,
            export_kind=self._kind,
            job_id=self._job_id,
            files=len(files),
            bytes=sum(f.bytes for f in files),
            stored_bytes=sum(f.stored_bytes for f in files),
            manifest=self._shared.zone.display(relative),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def discard(self) -> None:
        for future in self._files:
            if not future.cancel():
                future.exception()  # wait: a file being written must not outlive its directory
        zone = self._shared.zone
        with _errors(zone, self.directory):
            if zone.fs.get_file_info(zone.path(self.directory)).type != pafs.FileType.NotFound:
                zone.fs.delete_dir(zone.path(self.directory))

    def _next_name(self) -> str:
        return f"{len(self._files) + 1}.{self._ext}.gz"

    def _put_body(self, name: str, body: bytes) -> RawFile:
        packed = isal_zlib.compress(body, self._shared.level, GZIP_WBITS)
        _write(self._shared.zone, f"{self.directory}/{name}", [packed])
        body_sha, packed_sha = hashlib.sha256(body), hashlib.sha256(packed)
        return RawFile(name, len(body), body_sha.hexdigest(), len(packed), packed_sha.hexdigest())

    def _put_file(self, name: str, path: Path) -> RawFile:
        digest, packed_digest, size, stored = hashlib.sha256(), hashlib.sha256(), 0, 0

        def packed(block: bytes) -> bytes:
            nonlocal stored
            packed_digest.update(block)
            stored += len(block)
            return block

        def blocks() -> Iterator[bytes]:
            nonlocal size
            packer = isal_zlib.compressobj(self._shared.level, isal_zlib.DEFLATED, GZIP_WBITS)
            with path.open("rb") as source:
                while block := source.read(READ_BLOCK):
                    digest.update(block)
                    size += len(block)
                    yield packed(packer.compress(block))
            yield packed(packer.flush())

        _write(self._shared.zone, f"{self.directory}/{name}", blocks())
        return RawFile(name, size, digest.hexdigest(), stored, packed_digest.hexdigest())


def _write(zone: RawZone, relative: str, blocks: Iterable[bytes]) -> None:
    """Write `blocks` to `relative` so that no reader ever sees half of them there.

    Locally: under a temporary name beside it, then renamed. On S3 an object appears only
    once its upload completes (a process that dies mid-upload leaves none), so it is
    written in place; a renamed object would cost a copy and leave a directory marker.
    """
    final = zone.path(relative)
    target = f"{final}.tmp-{uuid.uuid4().hex[:12]}" if zone.is_local else final
    with _errors(zone, relative):
        if zone.is_local:
            zone.fs.create_dir(final.rpartition("/")[0], recursive=True)
        try:
            with zone.fs.open_output_stream(target, compression=None) as out:
                for block in blocks:
                    out.write(block)
            if target != final:
                zone.fs.move(target, final)
        except BaseException:
            _remove_quietly(zone, target)  # the upload the stream completed when it closed
            raise


def _remove_quietly(zone: RawZone, path: str) -> None:
    with suppress(OSError, pa.ArrowException):
        zone.fs.delete_file(path)


@contextmanager
def _errors(zone: RawZone, relative: str) -> Iterator[None]:
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise SinkError(
            f"raw landing zone: cannot write {zone.display(relative)} ({exc}); check that "
            "--landing is writable"
        ) from exc


def check_writable(zone: RawZone) -> None:
    """Refuse a local zone whose nearest existing directory we cannot write (before a run)."""
    if not zone.is_local:
        return
    path = Path(zone.root)
    while not path.exists() and path != path.parent:
        path = path.parent
    if not (path.is_dir() and os.access(path, os.W_OK | os.X_OK)):
        raise SinkError(f"raw landing zone {zone.uri}: {path} is not a writable directory")
