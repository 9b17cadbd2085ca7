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
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyarrow as pa

from genesys_export.audit import AuditLog
from genesys_export.config import Settings
from genesys_export.http_client import Api
from genesys_export.intervals import Interval, parse_interval
from genesys_export.jobs.aggregates import (
    AggregateChunks,
    build_aggregate_query,
    check_complexity,
    plan_chunks,
    read_limits,
)
from genesys_export.jobs.conversations import ConversationChunks
from genesys_export.jobs.lifecycle import (
    CONVERSATION_DETAILS,
    USER_DETAILS,
    JobEndpoint,
    Polling,
    data_availability,
)
from genesys_export.jobs.reports import (
    download,
    land_report,
    read_metadata,
    scratch_dir,
    submit_export,
    wait_for_export,
)
from genesys_export.jobs.users import UserChunks
from genesys_export.pipeline import (
    ChunkResult,
    Run,
    failed,
    run_chunks,
    settled_cutoff,
    write_chunk,
)
from genesys_export.progress import Progress, QuietProgress
from genesys_export.reporting import (
    build_report_request,
    check_required_filters,
    csv_options_for,
    report_table_name,
)
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.base import Sink
from genesys_export.transform.tables import RunContext

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_DEST = "duckdb:///genesys_export.duckdb"
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

    def export_conversations(
        self, interval: str | Interval, *, dest: str = DEFAULT_DEST
    ) -> ExportResult:
        """Conversation details for `interval` into the six conversation tables of `dest`."""

        def produce(run: Run, ctx: RunContext) -> Callable[[Interval], ChunkResult]:
            assert run.api is not None
            return ConversationChunks(
                run.api,
                run,
                ctx,
                self.settings.page_size,
                self.settings.max_job_attempts,
                self.polling,
                self.rng,
            )

        return self._details("conversations", CONVERSATION_DETAILS, interval, dest, produce)

    def export_users(
        self, interval: str | Interval, *, dest: str = DEFAULT_DEST, user_ids: Sequence[str] = ()
    ) -> ExportResult:
        """Agent presence and routing status for `interval` into user_presence and
        user_routing_status."""

        def produce(run: Run, ctx: RunContext) -> Callable[[Interval], ChunkResult]:
            assert run.api is not None
            return UserChunks(
                run.api,
                run,
                ctx,
                self.settings.page_size,
                self.settings.max_job_attempts,
                self.polling,
                self.rng,
                tuple(user_ids),
            )

        return self._details("users", USER_DETAILS, interval, dest, produce)

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
        fields = {"interval": query.interval.iso(), "query": query.body(query.interval)}
        with self._run("export aggregates", dest, **fields) as (run, sink):
            assert run.api is not None
            limits = read_limits(run.api)
            check_complexity(query, limits)
            chunks = plan_chunks(query, limits, self.settings.chunk)
            ctx = RunContext(run.run_id, run.extracted_at)
            run.progress.start(query.name, len(chunks))
            run_chunks(
                chunks,
                AggregateChunks(run.api, run, ctx, query),
                lambda chunk: write_chunk(
                    run,
                    sink,
                    chunk,
                    dataset=query.name,
                    export_kind="conversation_aggregates",
                    checkpoint=None,
                ),
                concurrency=self.settings.concurrency,
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
        fields = {
            "view_type": request.view_type,
            "interval": request.interval.iso(),
            "request_id": request.request_id,
        }
        with self._run("export report", dest, **fields) as (run, sink):
            assert run.api is not None
            api = run.api
            check_required_filters(request, read_metadata(api))
            run.progress.start(request.view_type, 1)
            export_id = str(submit_export(api, request, run.event)["id"])
            done = wait_for_export(
                api, export_id, polling=self.polling, events=run.event, rng=self.rng
            )
            partial = done.get("status") == "COMPLETED_WITH_PARTIAL_RESULTS"
            if partial:
                run.warnings.append(
                    f"export {export_id} completed with partial results; rows are flagged _partial"
                )
            with scratch_dir() as tmp:
                file = download(
                    api,
                    str(done["downloadUrl"]),
                    tmp / "export.csv",
                    events=run.event,
                    job_id=export_id,
                )
                land_report(run, sink, request, file, options, partial=partial)
            run.extra["table"] = report_table_name(request.view_type)
        return ExportResult(run.final, sink.uri)

    def _details(
        self,
        dataset: str,
        endpoint: JobEndpoint,
        interval: str | Interval,
        dest: str,
        producer: Callable[[Run, RunContext], Callable[[Interval], ChunkResult]],
    ) -> ExportResult:
        """A details export: chunks up to the data-availability date, jobs, tables."""
        window = parse_interval(interval) if isinstance(interval, str) else interval
        with self._run(f"export {dataset}", dest, interval=window.iso()) as (run, sink):
            assert run.api is not None
            availability = data_availability(run.api, endpoint)
            clipped = window.clip(availability)
            if clipped is None or clipped.end < window.end:
                run.warnings.append(_not_available(window, availability))
            chunks = clipped.split(self.settings.chunk) if clipped else []
            settled = settled_cutoff(availability, run.extracted_at, self.lookback)
            ctx = RunContext(run.run_id, run.extracted_at, settled_before=settled)
            run.progress.start(dataset, len(chunks))
            run_chunks(
                chunks,
                producer(run, ctx),
                lambda chunk: write_chunk(
                    run,
                    sink,
                    chunk,
                    dataset=dataset,
                    export_kind=endpoint.export_kind,
                    checkpoint=None,
                ),
                concurrency=self.settings.concurrency,
            )
            run.extra["data_availability"] = availability.isoformat()
        return ExportResult(run.final, sink.uri)

    @contextmanager
    def _run(self, command: str, dest: str, **fields: Any) -> Iterator[tuple[Run, Sink]]:
        """Open the API, sink and audit trail; audit the start and the end of the run."""
        with self.api() as api, open_sink(dest) as sink:
            audit_path = self.audit_path or audit_path_for(dest)
            run = Run(api, None, QuietProgress())
            run.audit = AuditLog(audit_path, run.run_id) if audit_path else None
            run.progress = self.progress_factory(api)
            run.event("run.started", command=command, dest=sink.uri, **fields)
            try:
                yield run, sink
            except BaseException as exc:
                run.progress.stop()
                failed(run, exc)
                raise
            run.progress.stop()
            run.final = run.summary(dest=sink.uri, **run.extra)
            run.event("run.finished", **run.final)


def _not_available(window: Interval, availability: datetime) -> str:
    rest = Interval(max(window.start, availability), window.end)
    return (
        f"{rest.iso()} is past the data-availability date {availability.isoformat()} and was "
        "not exported; rerun later for it"
    )
