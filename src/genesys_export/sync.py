"""`sync`: every configured dataset, incrementally and crash-safe.

Each dataset resumes from its checkpoint minus its lookback (Genesys reprocesses
conversations for days after they end), or from its configured start on the first run,
up to the data-availability date. Each chunk is committed with the dataset's checkpoint in
one transaction, so a crash at any instant leaves data and checkpoint consistent, and the
same command run again finishes the job without losing or duplicating a row. Rows inside
the lookback or past the watermark land with `_settled = false` and are read again next
time. After a dataset lands, its webhooks get a signed manifest.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.chunks import ExportKind
from genesys_export.config import Secret
from genesys_export.datasets import (
    AggregatesDataset,
    ConversationsDataset,
    Dataset,
    IntervalDataset,
    ReferenceDataset,
    ReportDataset,
    SyncConfig,
    UsersDataset,
)
from genesys_export.errors import CheckpointError, ConfigError, NotifyFailed
from genesys_export.events import AuditEvent
from genesys_export.exporter import Exporter, ExportResult
from genesys_export.intervals import Interval, bucket_edges, parse_duration
from genesys_export.jobs.aggregates import AggregateQuery, build_aggregate_query
from genesys_export.jobs.lifecycle import (
    CONVERSATION_DETAILS,
    USER_DETAILS,
    JobEndpoint,
    data_availability,
)
from genesys_export.jobs.limits import AnalyticsLimits
from genesys_export.landing import (
    Landing,
    capacity_for,
    land_aggregates,
    land_details,
    land_reference,
    land_reports,
    plan_fields,
)
from genesys_export.notify import Webhook, notify_all
from genesys_export.pipeline import Run, settled_cutoff
from genesys_export.reconcile.reconciliation import (
    newly_settled,
    raise_if_differ,
    reconcile,
    reconcile_query,
)
from genesys_export.reporting import build_report_request, csv_options_for
from genesys_export.request_plan import ASSUMED, LatencyModel, plan_details
from genesys_export.sinks.base import Sink
from genesys_export.state import Checkpoint
from genesys_export.transform.dimensions import entities_named

log = logging.getLogger(__name__)

EXPORT_KINDS = {
    "conversations": ExportKind.CONVERSATION_DETAILS,
    "users": ExportKind.USER_DETAILS,
    "aggregates": ExportKind.CONVERSATION_AGGREGATES,
    "report": ExportKind.REPORTING_EXPORT,
}


def configured(exporter: Exporter, config: SyncConfig) -> Exporter:
    """The exporter with the TOML file's [run] options applied."""
    opts = config.run
    settings = exporter.settings.with_options(
        concurrency=opts.concurrency,
        report_concurrency=opts.report_concurrency,
        budget_per_minute=opts.budget_per_minute,
        chunk=opts.chunk,
        page_size=opts.page_size,
    )
    polling = replace(exporter.polling, deadline=opts.poll_deadline)
    return replace(
        exporter,
        settings=settings,
        lookback=opts.lookback,
        polling=polling,
        raw_landing=exporter.raw_landing or config.landing.uri,
        raw_retention=exporter.raw_retention or config.landing.retention,
    )


def resume_from(start: datetime, checkpoint: Checkpoint | None, lookback: timedelta) -> datetime:
    """Where a dataset's next run begins: the unsettled part and the lookback re-read."""
    if checkpoint is None:
        return start
    return max(start, min(checkpoint.settled_until, checkpoint.written_until - lookback))


def run_sync(
    exporter: Exporter, config: SyncConfig, *, strict_notify: bool = False
) -> ExportResult:
    """Bring every configured dataset up to date in `config.destination`."""
    ex = configured(exporter, config)
    audit = Path(config.destination.audit) if config.destination.audit else None
    names = list(config.datasets)
    with ex.run("sync", config.destination.uri, audit=audit, datasets=names) as (run, sink):
        results: dict[str, Any] = {}
        for name, dataset in config.datasets.items():
            results[name] = _sync_dataset(ex, run, sink, name, dataset)
        run.extra["datasets"] = results
        failed = [d for r in results.values() for d in r.get("notifications", []) if not d["ok"]]
        if failed and strict_notify:
            raise NotifyFailed(
                f"{len(failed)} notification(s) failed (first: {failed[0]['url']}); "
                "data and checkpoints are committed"
            )
    for name, info in results.items():
        if "reconcile" in info:
            raise_if_differ(info["reconcile"], what=f"sync {name}", summary=run.final)
    return ExportResult(run.final, sink.uri)


def _sync_dataset(ex: Exporter, run: Run, sink: Sink, name: str, ds: Dataset) -> dict[str, Any]:
    if isinstance(ds, ReferenceDataset):  # no interval: every listing read whole each run
        landing = Landing(run, sink, name, ex.settings.concurrency, ex.lookback, False)
        return land_reference(landing, entities_named(ds.entities))
    checkpoint = sink.read_checkpoint(name)
    kind = EXPORT_KINDS[ds.kind]
    if checkpoint is not None and checkpoint.export_kind != kind:
        raise CheckpointError(
            f"dataset {name!r} has a checkpoint of kind {checkpoint.export_kind}, but is now "
            f"configured as {kind}; rename the dataset or remove its checkpoint"
        )
    lookback = ds.lookback or ex.lookback
    start = resume_from(ds.start, checkpoint, lookback)
    landing = Landing(
        run=run,
        sink=sink,
        dataset=name,
        concurrency=ex.settings.concurrency,
        lookback=lookback,
        checkpointed=True,
    )
    rows_before, files_before = dict(run.rows), dict(run.files)
    info = _land(ex, landing, ds, start, chunk_length=ds.chunk or ex.settings.chunk)
    info |= {
        "resumed_from": start.isoformat(),
        "checkpoint_before": checkpoint.written_until.isoformat() if checkpoint else None,
        "rows": {
            k: v - rows_before.get(k, 0) for k, v in run.rows.items() if v != rows_before.get(k, 0)
        },
    }
    after = sink.read_checkpoint(name)
    if after is not None:
        info["written_until"] = after.written_until.isoformat()
        info["settled_until"] = after.settled_until.isoformat()
    if isinstance(ds, ConversationsDataset) and ds.reconcile and after is not None:
        before = checkpoint.settled_until if checkpoint else ds.start
        info["reconcile"] = _reconcile(ex, replace(landing, checkpointed=False), before, after)
    if ds.webhooks:
        files = {k: v for k, v in run.files.items() if files_before.get(k) != v}
        info["notifications"] = _notify(run, name, ds, info, files)
    return info


def _land(
    ex: Exporter,
    landing: Landing,
    ds: IntervalDataset,
    start: datetime,
    *,
    chunk_length: timedelta,
) -> dict[str, Any]:
    api = landing.api
    if isinstance(ds, ConversationsDataset | UsersDataset):
        endpoint: JobEndpoint = CONVERSATION_DETAILS if ds.kind == "conversations" else USER_DETAILS
        availability = data_availability(api, endpoint)
        if start >= availability:
            return {"up_to_date": True, "data_availability": availability.isoformat()}
        producer = (
            ex.conversation_producer()
            if isinstance(ds, ConversationsDataset)
            else ex.user_producer(ds.user_ids)
        )
        return land_details(
            landing, endpoint, Interval(start, availability), producer, chunk_length=chunk_length
        )
    availability = data_availability(api, CONVERSATION_DETAILS)
    settled = settled_cutoff(availability, landing.run.extracted_at, landing.lookback)
    if isinstance(ds, AggregatesDataset):
        return _land_aggregates(landing, ds, start, availability, settled, chunk_length)
    return _land_reports(ex, landing, ds, start, availability, settled, chunk_length)


def _reconcile(
    ex: Exporter, landing: Landing, before: datetime, after: Checkpoint
) -> dict[str, Any]:
    """Reconcile the days this run settled (none: nothing to do, no request)."""
    days = newly_settled(before, after.settled_until)
    if days is None:
        return {"cells_compared": 0, "cells_differ": 0, "interval": None}
    return reconcile(landing, reconcile_query(days), chunk_length=ex.settings.chunk)


def _aligned(origin: datetime, instant: datetime, step: timedelta) -> datetime:
    """The last multiple of `step` from `origin` at or before `instant`."""
    return origin + step * ((instant - origin) // step)


def _land_aggregates(
    landing: Landing,
    ds: AggregatesDataset,
    start: datetime,
    availability: datetime,
    settled: datetime,
    chunk_length: timedelta,
) -> dict[str, Any]:
    step = parse_duration(ds.granularity, name=f"datasets.{landing.dataset}.granularity")
    if availability <= ds.start:
        return {"up_to_date": True, "data_availability": availability.isoformat()}
    edges = bucket_edges(Interval(ds.start, availability), step, ds.time_zone)
    edges = [e for e in edges if e <= availability]
    begin = max(e for e in edges if e <= start)
    end = edges[-1]
    if end <= begin:
        return {"up_to_date": True, "data_availability": availability.isoformat()}
    query = aggregates_query(ds, Interval(begin, end), landing.dataset)
    info = land_aggregates(landing, query, chunk_length=chunk_length, settled=settled)
    return info | {"data_availability": availability.isoformat()}


def aggregates_query(ds: AggregatesDataset, interval: Interval, name: str) -> AggregateQuery:
    """The aggregate query of dataset `name` over `interval` (sync and a Dagster day)."""
    return build_aggregate_query(
        interval,
        granularity=ds.granularity,
        group_by=ds.group_by,
        metrics=ds.metrics,
        filter_json=json.dumps(ds.filter) if ds.filter else None,
        time_zone=ds.time_zone,
        name=name,
    )


def land_dataset_reports(
    ex: Exporter,
    landing: Landing,
    ds: ReportDataset,
    pieces: list[Interval],
    settled: datetime,
) -> dict[str, Any]:
    """One reporting export per piece of a report dataset, landed in order (sync and a
    Dagster day)."""
    filter_json = json.dumps(ds.filter) if ds.filter else None
    requests = [
        build_report_request(ds.view, piece.iso(), ds.period, ds.time_zone, filter_json, ds.locale)
        for piece in pieces
    ]
    options = csv_options_for(
        requests[0],
        column_map=ds.column_map,
        type_overrides=ds.type_overrides,
        key_columns=tuple(ds.key_columns),
    )
    return land_reports(
        landing,
        requests,
        options,
        polling=ex.polling,
        rng=ex.rng,
        settled=settled,
        concurrency=ex.settings.report_concurrency,
    )


def _land_reports(
    ex: Exporter,
    landing: Landing,
    ds: ReportDataset,
    start: datetime,
    availability: datetime,
    settled: datetime,
    chunk_length: timedelta,
) -> dict[str, Any]:
    """One export per chunk (a day by default): a rerun of a day replaces that day's rows."""
    begin = _aligned(ds.start, start, chunk_length)
    end = _aligned(ds.start, availability, chunk_length)
    if end <= begin:
        return {"up_to_date": True, "data_availability": availability.isoformat()}
    pieces = Interval(begin, end).split_from_start(chunk_length)
    info = land_dataset_reports(ex, landing, ds, pieces, settled)
    return info | {
        "interval": Interval(begin, end).iso(),
        "data_availability": availability.isoformat(),
    }


def _notify(
    run: Run, name: str, ds: IntervalDataset, info: dict[str, Any], files: dict[str, str]
) -> list[dict[str, Any]]:
    """Tell downstream pipelines what landed; a failure is reported, never rolled back."""
    webhooks = [Webhook(url=w.url, secret=_secret(w.secret_env)) for w in ds.webhooks]
    manifest = {
        "run_id": run.run_id,
        "dataset": name,
        "kind": ds.kind,
        "tables": info.get("rows", {}),
        "interval": info.get("interval"),
        "settled_until": info.get("settled_until"),
        "written_until": info.get("written_until"),
        "files": files,
        "extracted_at": run.extracted_at.isoformat(),
    }
    deliveries = notify_all(webhooks, manifest, events=run.event)
    for delivery in deliveries:
        if not delivery.ok:
            run.warnings.append(f"notification to {delivery.url} failed: {delivery.error}")
    return [
        {"url": d.url, "ok": d.ok, "attempts": d.attempts, "status": d.status} for d in deliveries
    ]


def _secret(variable: str) -> Secret:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"{variable} is not set; it holds a webhook's HMAC secret (secret_env)")
    return Secret(value)


@dataclass(frozen=True)
class DatasetPlan:
    name: str
    kind: str
    interval: Interval | None
    chunks: int  # jobs (details), queries or exports
    requests: int
    seconds: float
    details: dict[str, Any] | None = None  # a details export's request plan (plan_fields)


def plan_dataset(
    name: str,
    ds: Dataset,
    checkpoint: Checkpoint | None,
    *,
    lookback: timedelta,
    chunk_length: timedelta,
    now: datetime,
    budget_per_minute: int,
    concurrency: int,
    job_latency: float = 10.0,
    latency: LatencyModel = ASSUMED,
    report_concurrency: int = 5,
    page_size: int = 1000,
) -> DatasetPlan:
    """What a sync of this dataset would do, computed without calling the API.

    Details datasets get the run's own request plan, with `latency` (this destination's
    audit trail, see `landing.latency_history`), the default org limits and one results
    page per job (the conversation counts need the API: `plan export` asks for them).
    """
    if isinstance(ds, ReferenceDataset):
        listings = sum(len(e.listings) for e in entities_named(ds.entities))
        return DatasetPlan(
            name, ds.kind, None, listings, listings, listings / budget_per_minute * 60
        )
    start = resume_from(ds.start, checkpoint, ds.lookback or lookback)
    step = ds.chunk or chunk_length
    if start >= now:
        return DatasetPlan(name, ds.kind, None, 0, 0, 0.0)
    interval = Interval(start, now)
    if isinstance(ds, ConversationsDataset | UsersDataset):
        capacity = capacity_for(AnalyticsLimits(), budget_per_minute, concurrency, page_size)
        plan = plan_details(interval.split(step), None, capacity, latency, fixed_requests=2)
        fields = plan_fields(plan)
        return DatasetPlan(
            name, ds.kind, interval, len(plan.jobs), plan.requests, plan.seconds, fields
        )
    chunks = len(interval.split(step))
    per_chunk = {"aggregates": 1, "report": 10}[ds.kind]
    requests = chunks * per_chunk + 1
    waves = -(-chunks // (1 if ds.kind == "aggregates" else report_concurrency))
    seconds = max(
        waves * (1.0 if ds.kind == "aggregates" else job_latency), requests / budget_per_minute * 60
    )
    return DatasetPlan(name, ds.kind, interval, chunks, requests, seconds)


def sync_status(
    sink: Sink, config: SyncConfig, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per dataset: checkpoint, watermark, provisional range and the last runs' outcomes."""
    runs = _runs(events)
    rows = []
    for name in config.datasets:
        checkpoint = sink.read_checkpoint(name)
        mine = [r for r in runs if name in r.get("datasets", [])][-3:]
        rows.append(
            {
                "dataset": name,
                "kind": config.datasets[name].kind,
                "written_until": checkpoint.written_until.isoformat() if checkpoint else None,
                "settled_until": checkpoint.settled_until.isoformat() if checkpoint else None,
                "provisional": (
                    f"{checkpoint.settled_until.isoformat()}/{checkpoint.written_until.isoformat()}"
                    if checkpoint and checkpoint.settled_until < checkpoint.written_until
                    else None
                ),
                "last_runs": mine,
            }
        )
    return rows


def _runs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        run = by_id.setdefault(event["run_id"], {"run_id": event["run_id"]})
        if event["event"] == AuditEvent.RUN_STARTED:
            run |= {
                "started": event["ts"],
                "command": event.get("command"),
                "datasets": event.get("datasets", []),
            }
        elif event["event"] in (AuditEvent.RUN_FINISHED, AuditEvent.RUN_FAILED):
            run |= {
                "ended": event["ts"],
                "outcome": "ok" if event["event"] == AuditEvent.RUN_FINISHED else "failed",
            }
            if event["event"] == AuditEvent.RUN_FAILED:
                run["error"] = event.get("message")
    return [r for r in by_id.values() if r.get("command") == "sync"]
