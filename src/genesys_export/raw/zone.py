"""Where the raw landing zone is, what a job's manifest says, and how to read it back.

    <uri>/<kind>/<YYYY-MM-DD>/<run_id>/<job id>/<n>.<ext>.gz     what Genesys sent, gzipped
    <uri>/<kind>/<YYYY-MM-DD>/<run_id>/<job id>/manifest.json    written last

The date is the UTC day the run started. A job directory without a manifest is a job
that is still being written, failed, or whose process died: replay and retention ignore it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, cast
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
from isal import isal_zlib

from genesys_export.errors import ConfigError, RawDataError
from genesys_export.intervals import Interval, parse_interval
from genesys_export.sinks.objectstore import s3_filesystem

MANIFEST = "manifest.json"
FORMAT = 1
READ_BLOCK = 1 << 20
GZIP_WBITS = 31  # zlib's wbits for a gzip stream
# What reading a damaged file raises (ISA-L's error class is typed as an instance).
_UNREADABLE = (OSError, EOFError, pa.ArrowException, cast(type[Exception], isal_zlib.error))


@dataclass(frozen=True)
class RawFile:
    """One file of a job: its name in the job directory, and what it holds."""

    name: str
    bytes: int  # of the body as received
    sha256: str  # of the body as received
    stored_bytes: int  # of the gzip file
    stored_sha256: str  # of the gzip file: checked before replay writes anything


@dataclass(frozen=True)
class Manifest:
    """A complete job: what was asked, what came back, and where it lies."""

    kind: str
    job_id: str
    run_id: str
    extracted_at: datetime  # when the run started (its rows' `_extracted_at`)
    saved_at: datetime
    request: Mapping[str, Any]
    context: Mapping[str, Any]
    files: tuple[RawFile, ...]
    directory: str  # the job directory, relative to the zone's root

    @property
    def interval(self) -> Interval | None:
        text = self.request.get("interval")
        return parse_interval(text, name="interval") if isinstance(text, str) else None

    def replay_order(self) -> tuple[datetime, str, datetime, datetime]:
        """Oldest run first; within a run, in interval order, as the run wrote its chunks."""
        interval = self.interval
        start = interval.start if interval else self.saved_at
        return (self.extracted_at, self.run_id, start, self.saved_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "job_id": self.job_id,
            "run_id": self.run_id,
            "extracted_at": self.extracted_at.isoformat(),
            "saved_at": self.saved_at.isoformat(),
            "interval": self.request.get("interval"),
            "request": self.request,
            "context": self.context,
            "files": [vars(f) for f in self.files],
            "bytes": sum(f.bytes for f in self.files),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any], directory: str) -> Manifest:
        return cls(
            kind=str(value["kind"]),
            job_id=str(value["job_id"]),
            run_id=str(value["run_id"]),
            extracted_at=datetime.fromisoformat(value["extracted_at"]),
            saved_at=datetime.fromisoformat(value["saved_at"]),
            request=dict(value["request"]),
            context=dict(value.get("context") or {}),
            files=tuple(RawFile(**f) for f in value["files"]),
            directory=directory,
        )


Listed: TypeAlias = "tuple[Manifest, dict[str, int]]"  # a manifest and its files' sizes


@dataclass(frozen=True)
class RawZone:
    """A landing zone: a filesystem (local or S3) and the root path on it."""

    fs: pafs.FileSystem
    root: str
    uri: str

    @classmethod
    def parse(cls, uri: str, *, environ: Mapping[str, str] | None = None) -> RawZone:
        """`file:///abs/dir` or `s3://bucket/prefix`; anything else is a ConfigError."""
        parts = urlsplit(uri)
        if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path != "/":
            path = unquote(parts.path).rstrip("/")
            if path.startswith("/"):
                return cls(pafs.LocalFileSystem(), path, f"file://{path}")
        if parts.scheme == "s3" and parts.netloc and "@" not in parts.netloc:
            root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
            fs = s3_filesystem(os.environ if environ is None else environ)
            return cls(fs, root, f"s3://{root}")
        raise ConfigError(
            f"--landing {uri!r} is not a landing zone; use file:///absolute/dir or "
            "s3://bucket/prefix"
        )

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def display(self, relative: str) -> str:
        """A file's full URI, for messages."""
        return f"{self.uri}/{relative}"

    def manifests(self, kinds: Iterable[str] | None = None) -> Iterator[Listed]:
        """Every complete job of `kinds` (all when None), in directory order."""
        for kind in self.kinds() if kinds is None else kinds:
            yield from self.manifests_under(kind)

    def manifests_under(self, directory: str) -> Iterator[Listed]:
        """Every complete job under `directory` (relative), with the sizes of the files
        beside its manifest (name -> bytes), from one recursive listing."""
        sizes: dict[str, dict[str, int]] = {}
        selector = pafs.FileSelector(self.path(directory), allow_not_found=True, recursive=True)
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                parent, _, name = info.path.rpartition("/")
                sizes.setdefault(parent, {})[name] = info.size or 0
        for parent, files in sorted(sizes.items()):
            if MANIFEST in files:
                yield self.read_manifest(self._relative(parent)), files

    def kinds(self) -> list[str]:
        """The kinds the zone holds (its top-level directories)."""
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def read_manifest(self, directory: str) -> Manifest:
        relative = f"{directory}/{MANIFEST}"
        try:
            with self.fs.open_input_stream(self.path(relative), compression=None) as stream:
                return Manifest.from_json(json.loads(stream.read()), directory)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RawDataError(
                f"raw manifest {self.display(relative)} is unreadable ({type(exc).__name__}); "
                "restore it or remove its job directory"
            ) from exc

    def read_body(self, manifest: Manifest, file: RawFile) -> bytes:
        """A file's body as received, checked against the manifest's sha256 and size."""
        relative = f"{manifest.directory}/{file.name}"
        try:
            with self.fs.open_input_stream(self.path(relative), compression=None) as stream:
                body = isal_zlib.decompress(stream.read(), wbits=GZIP_WBITS)
        except _UNREADABLE as exc:
            raise corrupt(self.display(relative), exc) from exc
        if len(body) != file.bytes or hashlib.sha256(body).hexdigest() != file.sha256:
            raise corrupt(self.display(relative), None)
        return body

    def check_stored(self, manifest: Manifest, file: RawFile) -> None:
        """Raise unless the gzip file is the one written (sha256 of its bytes): cheap, as
        the compressed bytes are a sixth of the body's, and enough, as gunzip is exact."""
        relative = f"{manifest.directory}/{file.name}"
        digest, size = hashlib.sha256(), 0
        try:
            with self.fs.open_input_stream(self.path(relative), compression=None) as stream:
                while block := stream.read(READ_BLOCK):
                    digest.update(block)
                    size += len(block)
        except (OSError, pa.ArrowException) as exc:
            raise corrupt(self.display(relative), exc) from exc
        if size != file.stored_bytes:
            raise missing(self.display(relative))
        if digest.hexdigest() != file.stored_sha256:
            raise corrupt(self.display(relative), None)

    def copy_body(self, manifest: Manifest, file: RawFile, target: str) -> str:
        """Decompress a file to the local path `target`, checked; returns its sha256."""
        relative = f"{manifest.directory}/{file.name}"
        digest, size = hashlib.sha256(), 0
        unpacker = isal_zlib.decompressobj(wbits=GZIP_WBITS)
        try:
            with (
                self.fs.open_input_stream(self.path(relative), compression=None) as stream,
                open(target, "wb") as out,
            ):
                for block in _unpacked(stream, unpacker):
                    out.write(block)
                    digest.update(block)
                    size += len(block)
        except _UNREADABLE as exc:
            raise corrupt(self.display(relative), exc) from exc
        if size != file.bytes or digest.hexdigest() != file.sha256:
            raise corrupt(self.display(relative), None)
        return digest.hexdigest()

    def _relative(self, path: str) -> str:
        return path.removeprefix(self.root).lstrip("/")


def _unpacked(stream: Any, unpacker: Any) -> Iterator[bytes]:
    """The decompressed blocks of a gzip stream, read a block at a time."""
    while packed := stream.read(READ_BLOCK):
        yield unpacker.decompress(packed)
    yield unpacker.flush()


def corrupt(display: str, exc: BaseException | None) -> RawDataError:
    why = "does not match its manifest" if exc is None else f"is unreadable ({type(exc).__name__})"
    return RawDataError(
        f"raw file {display} {why}; restore it, or remove its job directory to replay without it"
    )


def missing(display: str) -> RawDataError:
    return RawDataError(
        f"raw file {display} is missing or short; restore it, or remove its job directory "
        "to replay without it"
    )
