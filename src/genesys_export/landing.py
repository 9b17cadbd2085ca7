"""Landing a dataset: chunks -> tables -> sink, optionally checkpointed per chunk.

Shared by the one-off `export` commands (no checkpoint) and `sync` (a checkpoint committed
in the same transaction as each chunk's data, so a crash at any instant leaves both
consistent and a rerun resumes after the last whole chunk).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.audit import recent_events
from genesys_export.capture import bind, keeping_file
from genesys_export.chunks import ChunkResult, ExportKind, PlannedJob, Replacement
from genesys_export.events import AuditEvent
from genesys_export.http_client import Api
from genesys_export.intervals import Interval
from genesys_export.jobs.aggregates import (
    AggregateProducer,
    AggregateQuery,
    check_complexity,
    plan_chunks,
)
from genesys_export.jobs.lifecycle import JobEndpoint, data_availability
from genesys_export.jobs.limits import AnalyticsLimits
from genesys_export.jobs.polling import Polling
from genesys_export.jobs.reference import list_entity
from genesys_export.jobs.report_flights import ExportFlights, Finished
from genesys_export.jobs.reports import file_options, read_metadata, report_chunk, scratch_dir
from genesys_export.jobs.volume import conversation_volumes
from genesys_export.pipeline import Run, run_chunks, run_streams, settled_cutoff, write_chunk
from genesys_export.reporting import ReportRequest, check_required_filters
from genesys_export.request_plan import (
    ASSUMED,
    Capacity,
    DetailsPlan,
    LatencyModel,
    fit_latency,
    plan_details,
)
from genesys_export.sinks.base import Sink
from genesys_export.state import Checkpoint
from genesys_export.transform.dimensions import Entity, rows_of
from genesys_export.transform.history import versions
from genesys_export.transform.report_csv import CsvOptions
from genesys_export.transform.tables import RunContext
from genesys_export.validate import validate_table

# A details producer: for a job and its turn (see jobs.lifecycle.stream_job), its chunks.
Stream = Callable[[PlannedJob, Callable[[], None]], Iterator[ChunkResult]]
Producer = Callable[[Run, RunContext], Stream]
DAY = timedelta(days=1)
HISTORY = 50  # finished jobs of earlier runs the latency model is fitted on


@dataclass(frozen=True)
class Landing:
    """Where and how a dataset lands in this run."""

    run: Run
    sink: Sink
    dataset: str
    concurrency: int
    lookback: timedelta
    checkpointed: bool  # sync: commit a checkpoint with every chunk

    @property
    def api(self) -> Api:
        assert self.run.api is not None
        return self.run.api

    def checkpoint(
        self, export_kind: ExportKind, interval: Interval, settled: datetime
    ) -> Checkpoint | None:
        if not self.checkpointed:
            return None
        return Checkpoint(
            dataset=self.dataset,
            export_kind=export_kind,
            written_until=interval.end,
            settled_until=min(interval.end, settled),
            run_id=self.run.run_id,
            updated_at=datetime.now(UTC),
        )

    def write(self, export_kind: ExportKind, settled: datetime) -> Callable[[ChunkResult], None]:
        def write(result: ChunkResult) -> None:
            write_chunk(
                self.run,
                self.sink,
                result,
                dataset=self.dataset,
                export_kind=export_kind,
                checkpoint=self.checkpoint(export_kind, result.interval, settled),
            )

        return write


def land_details(
    landing: Landing,
    endpoint: JobEndpoint,
    interval: Interval,
    producer: Producer,
    *,
    chunk_length: timedelta,
) -> dict[str, Any]:
    """A details export up to the data-availability date, in the jobs of its request plan
    (see `request_plan`), each piece of `chunk_length` committed on its own; returns what
    it covered and the plan."""
    run = landing.run
    availability = data_availability(landing.api, endpoint)
    clipped = interval.clip(availability)
    if clipped is None or clipped.end < interval.end:
        run.warnings.append(not_available(landing.dataset, interval, availability))
    pieces = clipped.split(chunk_length) if clipped else []
    latency = latency_history(run.audit.path if run.audit else None, endpoint.export_kind)
    plan = details_plan(landing.api, run.limits(), endpoint, pieces, latency, fixed=1)
    settled = settled_cutoff(availability, run.extracted_at, landing.lookback)
    ctx = RunContext(run.run_id, run.extracted_at, settled_before=settled)
    per_job = endpoint.export_kind is ExportKind.USER_DETAILS  # one chunk per job
    run.progress.start(landing.dataset, len(plan.jobs) if per_job else len(pieces))
    run_streams(
        plan.jobs,
        producer(run, ctx),
        landing.write(endpoint.export_kind, settled),
        concurrency=plan.concurrency,
        stop=landing.api.stop,
        in_turn=plan.gated,
    )
    return {
        "interval": clipped.iso() if clipped else None,
        "data_availability": availability.isoformat(),
        "settled_until": min(settled, clipped.end).isoformat() if clipped else None,
        "planned_chunks": len(pieces),
        "plan": plan_fields(plan),
    }


def details_plan(
    api: Api,
    limits: AnalyticsLimits,
    endpoint: JobEndpoint,
    pieces: list[Interval],
    latency: LatencyModel,
    *,
    fixed: int,
) -> DetailsPlan:
    """The request plan for `pieces`: conversation counts asked first (one query), user
    details planned at one results page per job. `fixed`: requests made before it."""
    volumes, probes = None, 0
    if endpoint.export_kind is ExportKind.CONVERSATION_DETAILS:
        volumes, probes = conversation_volumes(api, pieces, limits)
    settings = api.settings
    capacity = capacity_for(
        limits, settings.budget_per_minute, settings.concurrency, settings.page_size
    )
    return plan_details(pieces, volumes, capacity, latency, fixed_requests=fixed + probes)


def capacity_for(
    limits: AnalyticsLimits, budget_per_minute: int, concurrency: int, page_size: int
) -> Capacity:
    """What a run may use of the org: its budget, `concurrency` of the org's job slots,
    jobs as long as the org allows."""
    return Capacity(
        budget_per_minute=budget_per_minute,
        job_slots=min(limits.concurrent_jobs, concurrency),
        max_job_interval=limits.max_interval,
        page_size=page_size,
    )


def latency_history(audit: Path | None, export_kind: ExportKind) -> LatencyModel:
    """How long this org's jobs of `export_kind` took in the last runs of this destination
    (the audit trail's `job.finished` events), else the assumed model."""
    if audit is None or not audit.exists():
        return ASSUMED
    samples = [
        (float(e["days"]), float(e["job_latency_s"]))
        for e in recent_events(audit)
        if e.get("event") == AuditEvent.JOB_FINISHED
        and e.get("export_kind") == export_kind
        and e.get("job_latency_s") is not None
        and e.get("days")
    ]
    return fit_latency(samples[-HISTORY:])


def plan_fields(plan: DetailsPlan) -> dict[str, Any]:
    """A plan as the run's summary (and so `run.finished`) and `plan --json` show it."""
    return {
        "jobs": len(plan.jobs),
        "job_days": sorted({round(job.interval.length / DAY, 3) for job in plan.jobs}),
        "concurrency": plan.concurrency,
        "requests": plan.requests,
        "seconds": round(plan.seconds, 1),
        "binds": plan.binds,
        "latency": {
            "base_s": round(plan.latency.base, 2),
            "per_day_s": round(plan.latency.per_day, 2),
            "source": plan.latency.source,
        },
        "counts_known": plan.volume_known,
    }


def land_aggregates(
    landing: Landing, query: AggregateQuery, *, chunk_length: timedelta, settled: datetime
) -> dict[str, Any]:
    run = landing.run
    limits = run.limits()
    check_complexity(query, limits)
    chunks = plan_chunks(query, limits, chunk_length)
    ctx = RunContext(run.run_id, run.extracted_at)
    produce = AggregateProducer(
        landing.api, run.event, ctx, query, raw=bind(run.raw, table=query.name)
    )
    write = landing.write(ExportKind.CONVERSATION_AGGREGATES, settled)
    run.progress.start(landing.dataset, len(chunks))
    # The first chunk's answer tells how many cells a bucket holds; the rest is asked in
    # chunks as large as the org's limits allow (fewer requests than a query per chunk).
    first, rest = chunks[:1], chunks[1:]
    run_chunks(first, produce, write, concurrency=1, stop=landing.api.stop)
    if rest:
        span = Interval(rest[0].start, rest[-1].end)
        rest = plan_chunks(
            query, limits, chunk_length, within=span, cells_per_bucket=produce.cells_per_bucket
        )
        run_chunks(rest, produce, write, concurrency=landing.concurrency, stop=landing.api.stop)
    return {"interval": query.interval.iso(), "planned_chunks": len(first) + len(rest)}


def land_reports(
    landing: Landing,
    requests: list[ReportRequest],
    options: CsvOptions,
    *,
    polling: Polling,
    rng: random.Random,
    settled: datetime,
    concurrency: int,
) -> dict[str, Any]:
    """One reporting export per request, up to `concurrency` in flight at once; each
    request landed in its own transaction (and checkpoint), in request order."""
    run, api = landing.run, landing.api
    if requests:
        metadata = read_metadata(api)
        for request in requests:
            check_required_filters(request, metadata)
    run.progress.start(landing.dataset, len(requests))
    with scratch_dir() as tmp:
        flights = ExportFlights(
            api,
            requests,
            tmp,
            concurrency=concurrency,
            polling=polling,
            events=run.event,
            rng=rng,
        )
        for done in flights:
            _land_report(landing, done, options, settled)
    return {
        "report_exports": len(requests),
        "report_exports_resubmitted": flights.resubmitted,
        "report_exports_in_flight_max": flights.max_in_flight,
    }


def _land_report(landing: Landing, done: Finished, options: CsvOptions, settled: datetime) -> None:
    run, record, export_id = landing.run, done.record, done.export_id
    partial = record.get("status") == "COMPLETED_WITH_PARTIAL_RESULTS"
    if partial:
        run.warnings.append(
            f"export {export_id} has partial results; its rows are flagged _partial"
        )
    read_as, shape, disagreements = file_options(record, done.file, options)
    run.warnings.extend(disagreements)
    ctx = RunContext(run.run_id, run.extracted_at)
    raw = bind(run.raw, csv=asdict(read_as), partial=partial)
    kind, request = ExportKind.REPORTING_EXPORT, done.request
    with (
        keeping_file(raw, kind, export_id, request.body(), done.file.path),
        report_chunk(request, done.file, read_as, ctx, partial=partial, shape=shape) as result,
    ):
        landing.write(kind, settled)(result)


def not_available(dataset: str, interval: Interval, availability: datetime) -> str:
    rest = Interval(max(interval.start, availability), interval.end)
    return (
        f"{dataset}: {rest.iso()} is past the data-availability date "
        f"{availability.isoformat()} and was not exported; rerun later for it"
    )


def land_reference(landing: Landing, entities: Sequence[Entity]) -> dict[str, Any]:
    """Each entity listed completely, then its versions written in one transaction.

    A listing that cannot be completed raises before anything of that entity is
    written, so an incomplete listing never marks an entity deleted.
    """
    run = landing.run
    run.progress.start(landing.dataset, len(entities))
    versions_written = {}
    for entity in entities:
        records, deleted = list_entity(landing.api, entity, run.event, run.raw)
        written = write_versions(landing, entity, records, deleted, run.extracted_at)
        versions_written[entity.table] = written
    return {"entities": [e.name for e in entities], "versions": versions_written}


def write_versions(
    landing: Landing, entity: Entity, records: list[Any], deleted: set[str], at: datetime
) -> int:
    """The versions a complete listing of `entity` made `at` opens and closes, in one
    transaction (a live run's, or a replay's from the raw listing); how many."""
    run, sink = landing.run, landing.sink
    ctx = RunContext(run.run_id, at)
    spec = entity.spec
    current = sink.read_table(spec.name) if sink.has_table(spec.name) else None
    table = versions(spec, current, rows_of(entity, records), deleted, entity.tracked, ctx)
    nothing = Replacement(spec.schema.empty_table().select(["id"]))
    result = ChunkResult(Interval(at, at), [(spec, table, nothing)], validate_table(spec, table))
    landing.write(ExportKind.REFERENCE, at)(result)
    return int(table.num_rows)
