"""The library's front door: everything the command line does, one call away.

exporter = Exporter.from_env()
result = exporter.export_conversations("2024-05-01/2024-05-08", dest="duckdb:///w.duckdb")
result.summary; result.table("conversations"); result.to_pandas("participants")
"""

from __future__ import annotations

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
from genesys_export.chunks import ChunkResult
from genesys_export.config import DEFAULT_DEST, Settings
from genesys_export.events import AuditEvent
from genesys_export.http_client import Api
from genesys_export.intervals import Interval, parse_interval
from genesys_export.jobs.aggregates import build_aggregate_query
from genesys_export.jobs.conversations import ConversationProducer
from genesys_export.jobs.lifecycle import CONVERSATION_DETAILS, USER_DETAILS, Polling
from genesys_export.jobs.users import UserProducer
from genesys_export.landing import Landing, Producer, land_aggregates, land_details, land_reports
from genesys_export.pipeline import Run, failed
from genesys_export.progress import Progress, QuietProgress
from genesys_export.reporting import build_report_request, csv_options_for, report_table_name
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.base import Sink
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

    @classmethod
    def from_env(cls, **options: Any) -> Exporter:
        """Settings from GENESYS_* variables and `.env`, as on the command line."""
        return cls(Settings.from_env(), **options)

    def api(self) -> Api:
        return Api(self.settings, transport=self.transport, rng=self.rng)

    def conversation_producer(self) -> Producer:
        def produce(run: Run, ctx: RunContext) -> Callable[[Interval], ChunkResult]:
            assert run.api is not None
            s = self.settings
            return ConversationProducer(
                run.api, run.event, ctx, s.page_size, s.max_job_attempts, self.polling, self.rng
            )

        return produce

    def user_producer(self, user_ids: Sequence[str] = ()) -> Producer:
        def produce(run: Run, ctx: RunContext) -> Callable[[Interval], ChunkResult]:
            assert run.api is not None
            s = self.settings
            return UserProducer(
                run.api,
                run.event,
                ctx,
                s.page_size,
                s.max_job_attempts,
                self.polling,
                self.rng,
                tuple(user_ids),
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
            )
            run.extra["table"] = table
        return ExportResult(run.final, sink.uri)

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
        open_dest: Callable[[str], Sink] = open_sink,
        **fields: Any,
    ) -> Iterator[tuple[Run, Sink]]:
        """Open the API, sink and audit trail; audit the start and the end of the run.

        `open_dest` opens the destination (default `open_sink`: at once, with its lock).
        """
        with self.api() as api, open_dest(dest) as sink:
            audit_path = audit or self.audit_path or audit_path_for(dest)
            run = Run(api, None, self.progress_factory(api))
            run.audit = AuditLog(audit_path, run.run_id) if audit_path else None
            run.event(AuditEvent.RUN_STARTED, command=command, dest=sink.uri, **fields)
            try:
                yield run, sink
            except BaseException as exc:
                run.progress.stop()
                failed(run, exc)
                raise
            run.progress.stop()
            run.landed = {
                name: sink.count_rows(name, run_id=run.run_id) if written else 0
                for name, written in run.rows.items()
            }
            run.final = run.summary(dest=sink.uri, **run.extra)
            finished = {k: v for k, v in run.final.items() if k != "run_id"}
            run.event(AuditEvent.RUN_FINISHED, **finished)


def _interval(interval: str | Interval) -> Interval:
    return parse_interval(interval) if isinstance(interval, str) else interval
