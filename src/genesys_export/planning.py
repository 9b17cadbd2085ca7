"""`plan` and `status`: what a run would do, and where each dataset stands.

`plan sync` and `status` call nothing: they read checkpoints from the destination (without
its lock, so they work while a sync runs) and assume the data-availability date is now.
`plan export conversations|users` with credentials set asks Genesys what a run would
(read-only: the data-availability date, the org's limits and the conversation counts) and
returns the run's own request plan (`landing.details_plan`), with the latency this
destination's audit trail has seen; without credentials it plans the same way from what
it can know offline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.audit import read_events
from genesys_export.config import DEFAULT_DEST, Settings
from genesys_export.datasets import (
    AggregatesDataset,
    ConversationsDataset,
    ReportDataset,
    SyncConfig,
    UsersDataset,
)
from genesys_export.errors import ConfigError
from genesys_export.exporter import Exporter
from genesys_export.intervals import Interval, parse_duration, parse_interval
from genesys_export.jobs.lifecycle import CONVERSATION_DETAILS, USER_DETAILS, data_availability
from genesys_export.jobs.limits import read_limits
from genesys_export.landing import details_plan, latency_history, plan_fields
from genesys_export.request_plan import ASSUMED
from genesys_export.sinks import audit_path_for
from genesys_export.sinks.deferred import DeferredSink
from genesys_export.sinks.preflight import find_destination
from genesys_export.sync import EXPORT_KINDS, DatasetPlan, plan_dataset, sync_status


def plan_for_config(config: SyncConfig, *, now: datetime | None = None) -> list[DatasetPlan]:
    moment = now or datetime.now(UTC)
    audit = (
        Path(config.destination.audit)
        if config.destination.audit
        else audit_path_for(config.destination.uri)
    )
    with _reader(config.destination.uri) as sink:
        return [
            plan_dataset(
                name,
                ds,
                sink.read_checkpoint(name),
                lookback=config.run.lookback,
                chunk_length=config.run.chunk,
                now=moment,
                budget_per_minute=config.run.budget_per_minute,
                concurrency=config.run.concurrency,
                latency=latency_history(audit, EXPORT_KINDS[ds.kind])
                if ds.kind in EXPORT_KINDS
                else ASSUMED,
                report_concurrency=config.run.report_concurrency,
                page_size=config.run.page_size,
            )
            for name, ds in config.datasets.items()
        ]


def plan_details_export(
    exporter: Exporter, kind: str, interval: str | Interval, dest: str = DEFAULT_DEST
) -> DatasetPlan:
    """The request plan `exporter.export_conversations/users(interval, dest=dest)` would
    follow, asked of Genesys without changing anything there."""
    endpoint = CONVERSATION_DETAILS if kind == "conversations" else USER_DETAILS
    window = parse_interval(interval) if isinstance(interval, str) else interval
    audit = exporter.audit_path or audit_path_for(dest)
    with exporter.api() as api:
        availability = data_availability(api, endpoint)
        limits = read_limits(api)
        clipped = window.clip(availability)
        pieces = clipped.split(exporter.settings.chunk) if clipped else []
        latency = latency_history(audit, endpoint.export_kind)
        plan = details_plan(api, limits, endpoint, pieces, latency, fixed=2)
    return DatasetPlan(
        kind,
        kind,
        clipped,
        len(plan.jobs),
        plan.requests,
        plan.seconds,
        plan_fields(plan),
    )


def plan_export_command(
    kind: str,
    interval: str,
    granularity: str,
    concurrency: int,
    budget_per_minute: int,
    dest: str | None,
) -> DatasetPlan:
    """`plan export`: details asked of Genesys when credentials are set, else offline."""
    if kind in ("conversations", "users"):
        try:
            settings = Settings.from_env().with_options(
                concurrency=concurrency, budget_per_minute=budget_per_minute
            )
        except ConfigError:
            settings = None  # no credentials: the offline estimate
        if settings is not None:
            return plan_details_export(Exporter(settings), kind, interval, dest or DEFAULT_DEST)
    return plan_for_export(kind, interval, granularity, concurrency, budget_per_minute)


def plan_for_export(
    kind: str, interval: str, granularity: str, concurrency: int, budget_per_minute: int
) -> DatasetPlan:
    window = parse_interval(interval)
    step = timedelta(days=1)
    if kind == "aggregates":
        parse_duration(granularity, name="--granularity")
    models: dict[str, Any] = {
        "conversations": ConversationsDataset,
        "users": UsersDataset,
        "aggregates": AggregatesDataset,
        "report": ReportDataset,
    }
    extra = {"view": "AGENT_PERFORMANCE_SUMMARY_VIEW"} if kind == "report" else {}
    ds = models[kind](kind=kind, start=window.start, **extra)
    return plan_dataset(
        kind,
        ds,
        None,
        lookback=timedelta(0),
        chunk_length=step,
        now=window.end,
        budget_per_minute=budget_per_minute,
        concurrency=concurrency,
    )


def plan_rows(plans: list[DatasetPlan]) -> list[dict[str, Any]]:
    return [
        {
            "dataset": p.name,
            "kind": p.kind,
            "interval": p.interval.iso() if p.interval else None,
            "chunks": p.chunks,
            "requests": p.requests,
            "seconds": round(p.seconds, 1),
            **({"plan": p.details} if p.details else {}),
        }
        for p in plans
    ]


def status_for_config(config: SyncConfig) -> list[dict[str, Any]]:
    audit = (
        Path(config.destination.audit)
        if config.destination.audit
        else audit_path_for(config.destination.uri)
    )
    events = read_events(audit) if audit is not None and audit.exists() else []
    with _reader(config.destination.uri) as sink:
        return sync_status(sink, config, events)


def _reader(uri: str) -> DeferredSink:
    """The destination for reading checkpoints: nothing is created where none exists."""
    return DeferredSink(uri, find_destination(uri), lock=False)
