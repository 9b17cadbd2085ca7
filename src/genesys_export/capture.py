"""Raw capture: how producers hand what Genesys sent to the raw landing zone.

The raw landing zone (`genesys_export.raw`) keeps every data-bearing response body as it
was received. Producers (job modules, `landing`) sit below it in the layers, so they see
it only through these protocols: a `RawCapture` for the run, a `RawJob` per server-side
job (or export, or query). A run without `--landing` passes None, and every helper here
then does nothing.

A job's files become visible to replay only when `finish()` writes its manifest; a job
that fails is discarded, so a resubmitted job never leaves half of its attempt behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)
P = TypeVar("P")


class RawJob(Protocol):
    """The files of one job: saved in order, then finished (manifest) or discarded."""

    def save(self, body: bytes) -> None:
        """Keep one response body (a results page, a query answer) as the next file."""

    def save_file(self, path: Path) -> None:
        """Keep a downloaded file (a report CSV) as the next file; `path` must stay until
        `finish()` returns."""

    def finish(self) -> None:
        """Wait for the files, then write the job's manifest and audit `raw.saved`."""

    def discard(self) -> None:
        """Forget the job: its files are removed and no manifest is written."""


class RawCapture(Protocol):
    """A run's raw landing zone, as producers see it."""

    def job(self, kind: str, job_id: str, request: Mapping[str, Any], *, ext: str) -> RawJob:
        """A new job of `kind` (an export kind, or any other name) asked by `request`."""

    def bound(self, **context: Any) -> RawCapture:
        """The same zone, recording `context` (JSON values replay needs) in each manifest."""


class _NoJob:
    """What a run without a landing zone keeps: nothing."""

    def save(self, body: bytes) -> None:
        pass

    def save_file(self, path: Path) -> None:
        pass

    def finish(self) -> None:
        pass

    def discard(self) -> None:
        pass


def bind(raw: RawCapture | None, **context: Any) -> RawCapture | None:
    """`raw.bound(**context)`, or None without a landing zone."""
    return raw.bound(**context) if raw is not None else None


@contextmanager
def capturing(
    raw: RawCapture | None,
    kind: str,
    job_id: str,
    request: Mapping[str, Any],
    *,
    ext: str,
    keep: Callable[[], bool] = lambda: False,
) -> Iterator[RawJob]:
    """A job's files for the `with` body: finished when it ends, discarded when it raises,
    unless `keep()` says what was received is already in use (a streamed job whose first
    days were written): then those files are kept, as received, for replay."""
    job: RawJob = raw.job(kind, job_id, request, ext=ext) if raw is not None else _NoJob()
    try:
        yield job
    except BaseException:
        if not keep():
            _discard(job)
        else:
            try:
                job.finish()
            except Exception:  # the job's own error is the one to report
                log.warning("raw files of %s %s not kept", kind, job_id, exc_info=True)
        raise
    job.finish()


@contextmanager
def keeping_file(
    raw: RawCapture | None, kind: str, job_id: str, request: Mapping[str, Any], path: Path
) -> Iterator[None]:
    """Keep a downloaded file while the `with` body uses it (it is what Genesys sent, so it
    is kept even when the body fails); the file is compressed in the background."""
    if raw is None:
        yield
        return
    job = raw.job(kind, job_id, request, ext=path.suffix.lstrip(".") or "bin")
    job.save_file(path)
    try:
        yield
    except BaseException:
        try:
            job.finish()
        except Exception:  # the body's error is the one to report
            log.warning("raw file of %s %s not kept", kind, job_id, exc_info=True)
        raise
    job.finish()


def saving(job: RawJob, read_page: Callable[[bytes], P]) -> Callable[[bytes], P]:
    """`read_page` that first hands each body to `job`."""

    def read(body: bytes) -> P:
        job.save(body)
        return read_page(body)

    return read


def save_response(
    raw: RawCapture | None, kind: str, job_id: str, request: Mapping[str, Any], body: bytes
) -> None:
    """Keep a one-response job (a query's answer, a listing) in one call."""
    with capturing(raw, kind, job_id, request, ext="json") as job:
        job.save(body)


def _discard(job: RawJob) -> None:
    try:
        job.discard()
    except Exception:  # the job's own error is the one to report
        log.warning("raw files of a failed job were not removed", exc_info=True)
