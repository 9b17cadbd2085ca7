"""`plan` and `status`: what a run would do, and where each dataset stands.

Neither calls the Genesys API: `plan` reads checkpoints from the destination (without its
lock, so it works while a sync runs) and assumes the data-availability date is now; the
estimate of time is the larger of the job waves at a typical job latency and the requests
at the request budget.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.audit import read_events
from genesys_export.datasets import (
    AggregatesDataset,
    ConversationsDataset,
    ReportDataset,
    SyncConfig,
    UsersDataset,
)
from genesys_export.intervals import parse_duration, parse_interval
from genesys_export.sinks import audit_path_for
from genesys_export.sinks.deferred import DeferredSink
from genesys_export.sinks.preflight import find_destination
from genesys_export.sync import DatasetPlan, plan_dataset, sync_status


def plan_for_config(config: SyncConfig, *, now: datetime | None = None) -> list[DatasetPlan]:
    moment = now or datetime.now(UTC)
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
            )
            for name, ds in config.datasets.items()
        ]


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
