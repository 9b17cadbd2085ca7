"""The library's front door: everything the command line does, one call away.

exporter = Exporter.from_env()
result = exporter.export_conversations("2024-05-01/2024-05-08", dest="duckdb:///w.duckdb")
result.summary; result.table("conversations"); result.to_pandas("participants")
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyarrow as pa

from genesys_export.audit import AuditLog
from genesys_export.capture import RawCapture, bind
from genesys_export.config import DEFAULT_DEST, Settings
from genesys_export.events import AuditEvent
from genesys_export.http_client import Api
from genesys_export.intervals import Interval, parse_interval
from genesys_export.jobs.aggregates import build_aggregate_query
from genesys_export.jobs.conversations import ConversationProducer
from genesys_export.jobs.lifecycle import (
    CONVERSATION_DETAILS,
    USER_DETAILS,
    DetailsProducer,
)
from genesys_export.jobs.polling import Polling
from genesys_export.jobs.users import UserProducer
from genesys_export.landing import (
    Landing,
    Producer,
    Stream,
    land_aggregates,
    land_details,
    land_reference,
    land_reports,
)
from genesys_export.pipeline import Run, failed
from genesys_export.progress import Progress, QuietProgress
from genesys_export.raw import landing_zone, open_zone
from genesys_export.raw.replay import ReplayRequest, replay
from genesys_export.reconcile.reconciliation import (
    DEFAULT_GRANULARITY,
    DEFAULT_METRICS,
    check_tolerance,
    raise_if_differ,
    reconcile,
    reconcile_query,
)
from genesys_export.reporting import build_report_request, csv_options_for, report_table_name
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.base import Sink
from genesys_export.sinks.deferred import DeferredSink
from genesys_export.sinks.preflight import check_destination
from genesys_export.transform.dimensions import entities_named
from genesys_export.transform.tables import RunContext

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_LOOKBACK = timedelta(days=3)


@dataclass(frozen=True)
class ExportResult:
    """What a run did (`summary`) and where its tables are (`dest`)."""

    summary: dict[str, Any]
    dest: str

    def table(self, name: str) -> pa.Table:
        """A table as it now stands in the destination."""
        with open_sink(self.dest, lock=False) as sink:
            return sink.read_table(name)

    def to_pandas(self, name: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.table(name).to_pandas()
        return frame


@dataclass
class Exporter:
    """Runs exports against one Genesys Cloud org."""

    settings: Settings
    transport: httpx.BaseTransport | None = None
    progress_factory: Callable[[Api], Progress] = field(default=lambda api: QuietProgress())
    audit_path: Path | None = None
    polling: Polling = field(default_factory=Polling)
    lookback: timedelta = DEFAULT_LOOKBACK
    rng: random.Random = field(default_factory=random.Random)
    raw_landing: str | None = None  # --landing: file:///dir or s3://bucket/prefix
    raw_retention: timedelta | None = None  # --landing-retention: raw jobs older are deleted

    @classmethod
    def from_env(cls, **options: Any) -> Exporter:
        """Settings from GENESYS_* variables and `.env`, as on the command line."""
        return cls(Settings.from_env(), **options)

    def api(self) -> Api:
        return Api(self.settings, transport=self.transport, rng=self.rng)

    def conversation_producer(self) -> Producer:
        return self._details_producer(ConversationProducer)

    def user_producer(self, user_ids: Sequence[str] = ()) -> Producer:
        return self._details_producer(UserProducer, user_ids=tuple(user_ids))

    def _details_producer(self, kind: type[DetailsProducer], **extra: Any) -> Producer:
        def produce(run: Run, ctx: RunContext) -> Stream:
            assert run.api is not None
            return kind(
                api=run.api,
                events=run.event,
                ctx=ctx,
                page_size=self.settings.page_size,
                max_attempts=self.settings.max_job_attempts,
                polling=self.polling,
                rng=self.rng,
                slots=run.job_slots(),
                raw=_details_raw(run, ctx),
                **extra,
            )

        return produce

    def export_conversations(
        self, interval: str | Interval, *, dest: str = DEFAULT_DEST
    ) -> ExportResult:
        """Conversation details for `interval` into the six conversation tables of `dest`."""
        window = _interval(interval)
        with self.run("export conversations", dest, interval=window.iso()) as (run, sink):
            run.extra |= land_details(
                self.landing(run, sink, "conversations"),
                CONVERSATION_DETAILS,
                window,
                self.conversation_producer(),
                chunk_length=self.settings.chunk,
            )
        return ExportResult(run.final, sink.uri)

    def export_users(
        self, interval: str | Interval, *, dest: str = DEFAULT_DEST, user_ids: Sequence[str] = ()
    ) -> ExportResult:
        """Presence and routing status into user_presence and user_routing_status."""
        window = _interval(interval)
        with self.run("export users", dest, interval=window.iso()) as (run, sink):
            run.extra |= land_details(
                self.landing(run, sink, "users"),
                USER_DETAILS,
                window,
                self.user_producer(user_ids),
                chunk_length=self.settings.chunk,
            )
        return ExportResult(run.final, sink.uri)

    def export_aggregates(
        self,
        interval: str | Interval,
        *,
        granularity: str,
        group_by: Sequence[str],
        metrics: Sequence[str],
        filter_json: str | None = None,
        time_zone: str | None = None,
        name: str | None = None,
        dest: str = DEFAULT_DEST,
    ) -> ExportResult:
        """Conversation aggregates, long format, into `conversation_aggregates` (or `name`)."""
        query = build_aggregate_query(
            interval,
            granularity=granularity,
            group_by=group_by,
            metrics=metrics,
            filter_json=filter_json,
            time_zone=time_zone,
            name=name,
        )
        fields: dict[str, Any] = {
            "interval": query.interval.iso(),
            "query": query.body(query.interval),
        }
        with self.run("export aggregates", dest, **fields) as (run, sink):
            run.extra |= land_aggregates(
                self.landing(run, sink, query.name),
                query,
                chunk_length=self.settings.chunk,
                settled=query.interval.end,
            )
        return ExportResult(run.final, sink.uri)

    def export_report(
        self,
        view: str,
        interval: str,
        *,
        period: str = "P1D",
        time_zone: str = "UTC",
        filter_json: str | None = None,
        locale: str = "en-US",
        dest: str = DEFAULT_DEST,
        column_map: Mapping[str, str] | None = None,
        type_overrides: Mapping[str, str] | None = None,
        key_columns: Sequence[str] = (),
        **shape: Any,
    ) -> ExportResult:
        """A reporting (view) export, downloaded and normalized into `report_<view>`.

        `shape` pins CSV options of the request (csv_delimiter, has_format_durations,
        duration_format, has_summary_row); they are recorded with the data.
        """
        request = build_report_request(
            view, interval, period, time_zone, filter_json, locale, **shape
        )
        options = csv_options_for(
            request,
            column_map=column_map,
            type_overrides=type_overrides,
            key_columns=tuple(key_columns),
        )
        fields: dict[str, Any] = {
            "view_type": request.view_type,
            "interval": request.interval.iso(),
            "request_id": request.request_id,
        }
        table = report_table_name(request.view_type)
        with self.run("export report", dest, **fields) as (run, sink):
            run.extra |= land_reports(
                self.landing(run, sink, table),
                [request],
                options,
                polling=self.polling,
                rng=self.rng,
                settled=request.end,
                concurrency=self.settings.report_concurrency,
            )
            run.extra["table"] = table
        return ExportResult(run.final, sink.uri)

    def export_reference(
        self, entities: Sequence[str] = (), *, dest: str = DEFAULT_DEST
    ) -> ExportResult:
        """Reference data (queues, users, ...) into the `dim_*` tables, with history."""
        chosen = entities_named(entities)
        names = [e.name for e in chosen]
        with self.run("export reference", dest, entities=names) as (run, sink):
            run.extra |= land_reference(self.landing(run, sink, "reference"), chosen)
        return ExportResult(run.final, sink.uri)

    def reconcile(
        self,
        interval: str | Interval,
        *,
        granularity: str = DEFAULT_GRANULARITY,
        metrics: Sequence[str] = DEFAULT_METRICS,
        dest: str = DEFAULT_DEST,
        repair: bool = False,
        tolerance: int = 0,
    ) -> ExportResult:
        """Landed conversation details against Genesys' aggregates, into `reconciliation`.

        With `repair`, the UTC days holding a differing cell are exported again first.
        Raises CellsDiffer (exit 6) when settled cells still differ; its `.summary` and the
        `reconciliation` table name them.
        """
        query = reconcile_query(interval, granularity=granularity, metrics=metrics)
        check_tolerance(tolerance)
        fields: dict[str, Any] = {
            "interval": query.interval.iso(),
            "granularity": query.granularity,
        }
        with self.run("reconcile", dest, **fields) as (run, sink):
            run.extra |= reconcile(
                self.landing(run, sink, "conversations"),
                query,
                tolerance=tolerance,
                repair=self.conversation_producer() if repair else None,
                chunk_length=self.settings.chunk,
            )
        raise_if_differ(run.final)
        return ExportResult(run.final, sink.uri)

    def replay(
        self,
        landing: str,
        *,
        dest: str = DEFAULT_DEST,
        kind: str | None = None,
        interval: str | Interval | None = None,
    ) -> ExportResult:
        """The tables again from a raw landing zone alone: no credentials, no network.

        `kind` (conversations, users, aggregates, report) and `interval` narrow which kept
        jobs are replayed. Without credentials at hand, call
        `genesys_export.raw.replay.replay(ReplayRequest(...))`, as the command line does.
        """
        request = ReplayRequest(
            landing=landing,
            dest=dest,
            kind=kind,
            interval=_interval(interval) if interval is not None else None,
            concurrency=self.settings.concurrency,
            audit_path=self.audit_path,
        )
        summary = replay(request)
        return ExportResult(summary, str(summary["dest"]))

    def landing(self, run: Run, sink: Sink, dataset: str, *, checkpointed: bool = False) -> Landing:
        return Landing(
            run=run,
            sink=sink,
            dataset=dataset,
            concurrency=self.settings.concurrency,
            lookback=self.lookback,
            checkpointed=checkpointed,
        )

    @contextmanager
    def run(
        self,
        command: str,
        dest: str,
        *,
        audit: Path | None = None,
        open_dest: Callable[[str], Sink] | None = None,
        **fields: Any,
    ) -> Iterator[tuple[Run, Sink]]:
        """Open the API, sink and audit trail; audit the start and the end of the run.

        Nothing is created before the first data is ready to write: the destination is
        checked, the token fetched, and only then does the sink open, on its first write
        (the audit trail waits for it); a destination this run created and never
        committed to is removed when the run fails. `open_dest` opens the destination
        when it is first used (default: `open_sink`, with its lock).
        """
        found = check_destination(dest, os.environ)
        zone = open_zone(self.raw_landing)
        with self.api() as api:
            api.auth.current()  # refused credentials end the run here (exit 3)
            audit_path = audit or self.audit_path or audit_path_for(dest)
            run = Run(api, None, self.progress_factory(api))
            run.audit = AuditLog(audit_path, run.run_id) if audit_path else None
            if run.audit is not None:
                run.audit.hold()
            release = run.audit.release if run.audit is not None else (lambda: None)
            with DeferredSink(dest, found, on_open=release, opener=open_dest) as sink:
                landing = {"landing": zone.uri} if zone else {}
                started = {"command": command, "dest": sink.uri, **fields, **landing}
                run.event(AuditEvent.RUN_STARTED, **started)
                try:
                    with landing_zone(run, zone, self.raw_retention):
                        yield run, sink
                except BaseException as exc:
                    run.progress.stop()
                    failed(run, exc)
                    if run.jobs:  # the trail keeps every job the run submitted
                        release()
                    raise
                run.progress.stop()
                run.landed = {
                    name: sink.count_rows(name, run_id=run.run_id) if written else 0
                    for name, written in run.rows.items()
                }
                run.final = run.summary(dest=sink.uri, **run.extra)
                finished = {k: v for k, v in run.final.items() if k != "run_id"}
                run.event(AuditEvent.RUN_FINISHED, **finished)
                release()


def _details_raw(run: Run, ctx: RunContext) -> RawCapture | None:
    """The run's landing zone for a details job, recording what replay needs to stamp rows."""
    settled = ctx.settled_before.isoformat() if ctx.settled_before else None
    return bind(run.raw, settled_before=settled)


def _interval(interval: str | Interval) -> Interval:
    return parse_interval(interval) if isinstance(interval, str) else interval
