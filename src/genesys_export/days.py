"""One dataset's UTC day for one org: what an orchestrator's daily partition materializes.

A day lands like a one-off export: each conversation (user, bucket, report row) replaces
what the destination held for it, so running a day again, or backfilling it, never
duplicates a row; no checkpoint is written (sync's checkpoints stay sync's). The API work
happens before the destination is opened: several days of one org can run at once and
meet only to write, each waiting its turn for the destination's lock. Each run takes
`budget_per_minute / runs_per_org` of the org's budget, so as many concurrent runs as the
orchestrator allows per org never exceed the org's budget together.

A day is settled when it ends before both the data-availability date and the lookback
(Genesys reprocesses conversations for days after they end); until then its rows land
with `_settled = false` and `settles_at` says when to run it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

from genesys_export.datasets import (
    AggregatesDataset,
    ConversationsDataset,
    IntervalDataset,
    ReferenceDataset,
    ReportDataset,
    SyncConfig,
    UsersDataset,
)
from genesys_export.errors import ConfigError, LockHeld
from genesys_export.events import AuditEvent
from genesys_export.exporter import Exporter
from genesys_export.intervals import Interval, bucket_edges, parse_duration
from genesys_export.jobs.lifecycle import CONVERSATION_DETAILS, USER_DETAILS, data_availability
from genesys_export.landing import Landing, land_aggregates, land_details
from genesys_export.pipeline import settled_cutoff
from genesys_export.progress import QuietProgress
from genesys_export.reconcile.reconciliation import reconcile, reconcile_query
from genesys_export.sinks import open_sink
from genesys_export.sinks.base import Sink
from genesys_export.sync import aggregates_query, configured, land_dataset_reports

DAY = timedelta(days=1)
RECHECK = timedelta(hours=1)  # a provisional day is run again no sooner than this
LOCK_POLL = 0.5  # seconds between tries for a destination another run is writing


def budget_share(budget_per_minute: int, runs_per_org: int) -> int:
    """One run's part of the org's budget when `runs_per_org` run at once."""
    return max(1, budget_per_minute // max(1, runs_per_org))


@dataclass(frozen=True)
class DayResult:
    """What landing a day did: the run summary (rows per table, requests, 429s, ...),
    whether the day is settled, when to run it again if not, and the checks of its rows."""

    summary: dict[str, Any]
    settled: bool
    settles_at: datetime | None  # None once settled
    checks: tuple[Mapping[str, Any], ...]
    reconciliation: Mapping[str, Any] | None = None  # `reconcile = true`, once settled


def export_day(
    exporter: Exporter,
    config: SyncConfig,
    dataset: str,
    day: date,
    *,
    runs_per_org: int = 1,
    lock_wait: float = 3600.0,
) -> DayResult:
    """Land `dataset`'s UTC `day` into `config`'s destination (the org's view of the file)."""
    ds = config.datasets[dataset]
    if isinstance(ds, ReferenceDataset):
        raise ConfigError(f"dataset {dataset!r}: reference data has no day; sync it instead")
    checks = ChecksSeen()
    ex = configured(exporter, config)
    ex = replace(
        ex,
        settings=ex.settings.with_options(
            budget_per_minute=budget_share(ex.settings.budget_per_minute, runs_per_org)
        ),
        lookback=ds.lookback or ex.lookback,
        progress_factory=lambda api: checks,
    )
    start = datetime.combine(day, day_time(), tzinfo=UTC)
    interval = Interval(start, start + DAY)
    audit = Path(config.destination.audit) if config.destination.audit else None
    opener = _opener(lock_wait)
    with ex.run(
        "materialize", config.destination.uri, audit=audit, open_dest=opener, dataset=dataset
    ) as (run, sink):
        landing = ex.landing(run, sink, dataset)
        run.extra |= land_day(ex, landing, ds, interval)
        settled_until = run.extra.get("settled_until")
        settled = (
            settled_until is not None and datetime.fromisoformat(settled_until) >= interval.end
        )
        reconciled = None
        if settled and isinstance(ds, ConversationsDataset) and ds.reconcile:
            reconciled = reconcile(landing, reconcile_query(interval), chunk_length=DAY)
            run.extra["reconcile"] = reconciled
    summary = run.final
    settles_at = max(interval.end + ex.lookback, run.extracted_at + RECHECK)
    return DayResult(
        summary, settled, None if settled else settles_at, tuple(checks.seen), reconciled
    )


def land_day(ex: Exporter, landing: Landing, ds: IntervalDataset, day: Interval) -> dict[str, Any]:
    """Export one day of a dataset, clipped to the data-availability date."""
    if isinstance(ds, ConversationsDataset | UsersDataset):
        if isinstance(ds, ConversationsDataset):
            endpoint, producer = CONVERSATION_DETAILS, ex.conversation_producer()
        else:
            endpoint, producer = USER_DETAILS, ex.user_producer(ds.user_ids)
        return land_details(landing, endpoint, day, producer, chunk_length=DAY)
    availability = data_availability(landing.api, CONVERSATION_DETAILS)
    settled = settled_cutoff(availability, landing.run.extracted_at, landing.lookback)
    if isinstance(ds, AggregatesDataset):
        info = _aggregates_day(landing, ds, day, availability, settled)
    else:
        info = _report_day(ex, landing, ds, day, availability, settled)
    return info | {"data_availability": availability.isoformat()}


def _aggregates_day(
    landing: Landing,
    ds: AggregatesDataset,
    day: Interval,
    availability: datetime,
    settled: datetime,
) -> dict[str, Any]:
    step = parse_duration(ds.granularity, name=f"datasets.{landing.dataset}.granularity")
    edges = [e for e in bucket_edges(day, step, ds.time_zone) if e <= min(day.end, availability)]
    if len(edges) < 2:
        return {"interval": None, "settled_until": None}
    covered = Interval(edges[0], edges[-1])
    query = aggregates_query(ds, covered, landing.dataset)
    land_aggregates(landing, query, chunk_length=DAY, settled=settled)
    return {"interval": covered.iso(), "settled_until": min(settled, covered.end).isoformat()}


def _report_day(
    ex: Exporter,
    landing: Landing,
    ds: ReportDataset,
    day: Interval,
    availability: datetime,
    settled: datetime,
) -> dict[str, Any]:
    """A report covers whole days: a day not yet available is left for a later run."""
    if day.end > availability:
        landing.run.warnings.append(
            f"{landing.dataset}: {day.iso()} ends after the data-availability date "
            f"{availability.isoformat()}; run it again later"
        )
        return {"interval": None, "settled_until": None}
    land_dataset_reports(ex, landing, ds, [day], settled)
    return {"interval": day.iso(), "settled_until": min(settled, day.end).isoformat()}


@dataclass
class ChecksSeen(QuietProgress):
    """A progress display that keeps the fields of every `validation.finished` event."""

    seen: list[Mapping[str, Any]] = field(default_factory=list)

    def event(self, name: str, fields: Mapping[str, Any]) -> None:
        if name == AuditEvent.VALIDATION_FINISHED:
            self.seen.append(dict(fields))


def _opener(lock_wait: float) -> Callable[[str], Sink]:
    """Open the destination at its first use, waiting up to `lock_wait` s for its lock: a
    run holds the lock only while it writes, never while its jobs run."""

    def open_late(uri: str) -> Sink:
        return open_when_free(uri, lock_wait, time.sleep, time.monotonic)

    return open_late


def open_when_free(
    uri: str, wait: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> Sink:
    """`open_sink(uri)`, trying again while another run holds the lock, up to `wait` s."""
    deadline = clock() + wait
    while True:
        try:
            return open_sink(uri)
        except LockHeld:
            if clock() >= deadline:
                raise
        sleep(LOCK_POLL)
