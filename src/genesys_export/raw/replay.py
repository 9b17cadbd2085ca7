"""`replay`: rebuild tables from a landing zone alone, with no credentials and no network.

Each kept job becomes one chunk through the same code a live export runs: `park_page` and
`chunk_of` for conversations, `user_chunk` for users, `aggregate_table` and
`aggregate_chunk` for aggregates, `report_chunk` for reports, each written by
`pipeline.write_chunk`. So the tables equal those of the exports that fetched the data,
but for `_run_id` (this run's) and `_extracted_at` (the fetching run's).

Jobs are replayed oldest run first and, within a run, in interval order, as the run wrote
them; where a conversation was fetched several times, its latest fetch is written last and
replaces the others whole. Before anything is written, every file the chosen manifests name
must be there as it was written (size and sha256 of its gzip bytes, a sixth of the
body's), so a damaged zone leaves the destination as it was; each body's own sha256 is
checked again as it is read. Chunks stream as in a live export: one page at a time, parked
on disk.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.audit import AuditLog
from genesys_export.chunks import ChunkResult, ExportKind
from genesys_export.errors import ConfigError, RawDataError
from genesys_export.events import AuditEvent
from genesys_export.intervals import Interval
from genesys_export.jobs.aggregates import aggregate_chunk, build_aggregate_query
from genesys_export.jobs.conversations import chunk_of, park_page
from genesys_export.jobs.reports import Download, report_chunk
from genesys_export.jobs.users import user_chunk
from genesys_export.landing import Landing
from genesys_export.pipeline import Run, failed, run_chunks, write_chunk
from genesys_export.progress import Progress, QuietProgress
from genesys_export.raw.reference import replay_reference
from genesys_export.raw.reports import csv_options, report_request
from genesys_export.raw.zone import Manifest, RawZone, missing
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.base import Sink
from genesys_export.transform.aggregates import aggregate_table
from genesys_export.transform.tables import RunContext
from genesys_export.transform.users import user_tables

# `--kind` names, as in a sync dataset's `kind`.
KINDS: dict[str, ExportKind] = {
    "conversations": ExportKind.CONVERSATION_DETAILS,
    "users": ExportKind.USER_DETAILS,
    "aggregates": ExportKind.CONVERSATION_AGGREGATES,
    "report": ExportKind.REPORTING_EXPORT,
    "reference": ExportKind.REFERENCE,
}
DATASETS = {kind: name for name, kind in KINDS.items()}


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay: from where, which kind and interval, into which destination."""

    landing: str
    dest: str
    kind: str | None = None
    interval: Interval | None = None
    concurrency: int = 2
    audit_path: Path | None = None


def replay(request: ReplayRequest, *, progress: Progress | None = None) -> dict[str, Any]:
    """Replay the matching jobs into `request.dest`; returns the run summary."""
    zone = RawZone.parse(request.landing)
    if request.kind is not None and request.kind not in KINDS:
        raise ConfigError(f"--kind {request.kind!r}: use one of {', '.join(KINDS)}")
    jobs = select(zone, request.kind, request.interval)
    if not jobs:
        raise ConfigError(
            f"nothing in {zone.uri} matches {_what(request)}; check --landing, --kind and "
            "--interval"
        )
    check_files(zone, jobs)
    with open_sink(request.dest) as sink:
        run = Run(None, None, progress or QuietProgress())
        audit = request.audit_path or audit_path_for(request.dest)
        run.audit = AuditLog(audit, run.run_id) if audit else None
        run.event(
            AuditEvent.RUN_STARTED,
            command="replay",
            dest=sink.uri,
            landing=zone.uri,
            kind=request.kind,
            interval=_iso(request.interval),
            replayed_jobs=len(jobs),
        )
        try:
            for kind, group in _by_kind(jobs).items():
                _replay_kind(run, sink, zone, kind, group, request.concurrency)
        except BaseException as exc:
            run.progress.stop()
            failed(run, exc)
            raise
        run.progress.stop()
        run.landed = {name: sink.count_rows(name, run_id=run.run_id) for name in run.rows}
        run.final = run.summary(dest=sink.uri, landing=zone.uri, replayed_jobs=len(jobs))
        run.event(AuditEvent.RUN_FINISHED, **{k: v for k, v in run.final.items() if k != "run_id"})
    return run.final


def select(zone: RawZone, kind: str | None, interval: Interval | None) -> list[Manifest]:
    """Complete jobs of `kind` overlapping `interval`, in replay order, their files checked
    present with their recorded sizes."""
    kinds = [KINDS[kind]] if kind else list(KINDS.values())
    chosen = []
    for manifest, sizes in zone.manifests(kinds):
        if interval is not None and not _overlaps(manifest.interval, interval):
            continue
        for file in manifest.files:
            if sizes.get(file.name) != file.stored_bytes:
                raise missing(zone.display(f"{manifest.directory}/{file.name}"))
        chosen.append(manifest)
    return sorted(chosen, key=Manifest.replay_order)


def check_files(zone: RawZone, jobs: list[Manifest]) -> None:
    """Every file of `jobs` as written (sha256 of its gzip bytes), before anything is."""
    for job in jobs:
        for file in job.files:
            zone.check_stored(job, file)


def _replay_kind(
    run: Run, sink: Sink, zone: RawZone, kind: str, jobs: list[Manifest], concurrency: int
) -> None:
    dataset = DATASETS[ExportKind(kind)]
    run.progress.start(f"replay {dataset}", len(jobs))

    def write(result: ChunkResult) -> None:
        write_chunk(
            run, sink, result, dataset=dataset, export_kind=ExportKind(kind), checkpoint=None
        )

    if kind == ExportKind.REFERENCE:
        replay_reference(Landing(run, sink, dataset, 1, timedelta(0), False), zone, jobs)
        return
    if kind == ExportKind.REPORTING_EXPORT:
        for job in jobs:  # a report streams from its file while it is written
            _replay_report(zone, job, _ctx(run, job), write)
        return
    produce = _PRODUCERS[ExportKind(kind)]
    run_chunks(jobs, lambda job: produce(zone, job, _ctx(run, job)), write, concurrency=concurrency)


def _conversations(zone: RawZone, job: Manifest, ctx: RunContext) -> ChunkResult:
    pages = [park_page(body, ctx) for body in _bodies(zone, job)]
    return chunk_of(_interval(job), pages)


def _users(zone: RawZone, job: Manifest, ctx: RunContext) -> ChunkResult:
    return user_chunk(_interval(job), [user_tables(body, ctx) for body in _bodies(zone, job)])


def _aggregates(zone: RawZone, job: Manifest, ctx: RunContext) -> ChunkResult:
    body = job.request
    interval = _interval(job)
    try:
        query = build_aggregate_query(
            interval,
            granularity=body["granularity"],
            group_by=body["groupBy"],
            metrics=body["metrics"],
            filter_json=json.dumps(body["filter"]) if body.get("filter") else None,
            time_zone=body.get("timeZone"),
            name=job.context["table"],
        )
    except KeyError as exc:
        raise _incomplete(zone, job, str(exc)) from None
    (answer,) = _bodies(zone, job)
    table = aggregate_table(
        answer, query.spec, granularity=query.granularity, group_by=query.group_by, ctx=ctx
    )
    return aggregate_chunk(query, interval, table)


_PRODUCERS: dict[ExportKind, Callable[[RawZone, Manifest, RunContext], ChunkResult]] = {
    ExportKind.CONVERSATION_DETAILS: _conversations,
    ExportKind.USER_DETAILS: _users,
    ExportKind.CONVERSATION_AGGREGATES: _aggregates,
}


def _replay_report(
    zone: RawZone, job: Manifest, ctx: RunContext, write: Callable[[ChunkResult], None]
) -> None:
    try:
        request = report_request(job.request)
        options = csv_options(job.context["csv"])
        partial = bool(job.context["partial"])
    except (KeyError, TypeError) as exc:
        raise _incomplete(zone, job, str(exc)) from None
    (file,) = job.files
    with tempfile.TemporaryDirectory(prefix="genesys-export-replay-") as tmp:
        path = Path(tmp) / "export.csv"
        sha256 = zone.copy_body(job, file, str(path))
        download = Download(path, sha256, file.bytes)
        with report_chunk(request, download, options, ctx, partial=partial) as result:
            write(result)


def _bodies(zone: RawZone, job: Manifest) -> Iterator[bytes]:
    """The job's bodies as received, one at a time, each checked against the manifest."""
    for file in job.files:
        yield zone.read_body(job, file)


def _ctx(run: Run, job: Manifest) -> RunContext:
    settled = job.context.get("settled_before")
    before = datetime.fromisoformat(settled) if isinstance(settled, str) else None
    return RunContext(run.run_id, job.extracted_at, settled_before=before)


def _interval(job: Manifest) -> Interval:
    interval = job.interval
    if interval is None:
        raise RawDataError(f"raw job {job.directory} has no interval in its request")
    return interval


def _incomplete(zone: RawZone, job: Manifest, what: str) -> RawDataError:
    return RawDataError(
        f"raw manifest {zone.display(job.directory)}/manifest.json lacks {what}; "
        "it was not written by this version of genesys-export"
    )


def _by_kind(jobs: Iterable[Manifest]) -> dict[str, list[Manifest]]:
    groups: dict[str, list[Manifest]] = {}
    for job in jobs:
        groups.setdefault(job.kind, []).append(job)
    return groups


def _overlaps(job: Interval | None, wanted: Interval) -> bool:
    return job is not None and job.start < wanted.end and wanted.start < job.end


def _what(request: ReplayRequest) -> str:
    parts = [f"--kind {request.kind}" if request.kind else "any kind"]
    if request.interval is not None:
        parts.append(f"--interval {request.interval.iso()}")
    return ", ".join(parts)


def _iso(interval: Interval | None) -> str | None:
    return interval.iso() if interval else None
