"""Conversation aggregates: validated queries, split into chunks the API accepts.

Everything that can be checked before sending is: dimension and metric names against the
contract's lists, the granularity as an ISO-8601 duration dividing the interval, and the
query's size (group-by dimensions, metrics, buckets) against the org's limits (read from
`/api/v2/organizations/limits/namespaces/analytics` when it answers, our documented
defaults otherwise). An interval with more buckets than one query may hold is split on
bucket boundaries; a query the API still rejects as too large is halved and retried, down
to one bucket, then reported with the server's message.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from genesys_export.capture import RawCapture, save_response
from genesys_export.chunks import ChunkResult, ExportKind, Replacement, partition_dates
from genesys_export.errors import ApiError, ClientError, ConfigError
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import Api
from genesys_export.intervals import (
    Interval,
    bucket_edges,
    iana_zone,
    parse_duration,
    parse_interval,
)
from genesys_export.jobs.lifecycle import body_hash
from genesys_export.jobs.limits import AnalyticsLimits
from genesys_export.transform.aggregates import aggregate_table
from genesys_export.transform.schemas import aggregate_spec
from genesys_export.transform.tables import RunContext, TableSpec
from genesys_export.validate import validate_table
from genesys_export.vocabulary import GROUP_BY_DIMENSIONS, METRICS, close_matches

log = logging.getLogger(__name__)
QUERY_PATH = "/api/v2/analytics/conversations/aggregates/query"
TOO_LARGE = {"response.entity.too.large"}
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class AggregateQuery:
    """A checked aggregate query over the whole requested interval."""

    interval: Interval
    granularity: str
    step: timedelta
    group_by: tuple[str, ...]
    metrics: tuple[str, ...]
    filter: dict[str, Any] | None = None
    time_zone: str | None = None
    name: str = "conversation_aggregates"
    spec: TableSpec = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", aggregate_spec(self.name, self.group_by))

    def body(self, interval: Interval) -> dict[str, Any]:
        body: dict[str, Any] = {
            "interval": interval.iso(),
            "granularity": self.granularity,
            "groupBy": list(self.group_by),
            "metrics": list(self.metrics),
        }
        if self.filter:
            body["filter"] = self.filter
        if self.time_zone:
            body["timeZone"] = self.time_zone
        return body

    def edges(self, interval: Interval) -> list[datetime]:
        """Bucket boundaries; calendar granularities step in the query's time zone."""
        return bucket_edges(interval, self.step, self.time_zone)


def build_aggregate_query(
    interval: str | Interval,
    *,
    granularity: str,
    group_by: Sequence[str],
    metrics: Sequence[str],
    filter_json: str | None = None,
    time_zone: str | None = None,
    name: str | None = None,
) -> AggregateQuery:
    """Check every argument; a wrong one raises ConfigError naming the option and the fix."""
    span = parse_interval(interval) if isinstance(interval, str) else interval
    step = parse_duration(granularity, name="--granularity")
    dims = _names(group_by, GROUP_BY_DIMENSIONS, "--group-by", "conversation aggregate dimension")
    mets = _names(metrics, METRICS, "--metrics", "conversation aggregate metric")
    if not mets:
        raise ConfigError("--metrics: name at least one metric, e.g. nOffered,tHandle")
    query = AggregateQuery(
        interval=span,
        granularity=granularity.strip().upper(),
        step=step,
        group_by=dims,
        metrics=mets,
        filter=_filter(filter_json),
        time_zone=_zone(time_zone),
        name=_table_name(name or "conversation_aggregates"),
    )
    if query.edges(span)[-1] != span.end:
        zone = f" in {query.time_zone}" if query.time_zone else ""
        raise ConfigError(
            f"--granularity {granularity} does not divide the interval {span.iso()}{zone}; "
            "pick a granularity that divides it or align --interval to its buckets"
        )
    return query


def _names(
    values: Sequence[str], vocabulary: frozenset[str], option: str, what: str
) -> tuple[str, ...]:
    out: list[str] = []
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if value not in vocabulary:
            hint = close_matches(value, vocabulary)
            fix = f"did you mean {', '.join(hint)}?" if hint else "see the list in the README"
            raise ConfigError(f"{option}: {value!r} is not a {what}; {fix}")
        if value not in out:
            out.append(value)
    return tuple(out)


def _filter(filter_json: str | None) -> dict[str, Any] | None:
    if not filter_json:
        return None
    try:
        value = json.loads(filter_json)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--filter is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict) or value.get("type") not in ("and", "or"):
        raise ConfigError(
            '--filter must be a JSON object like {"type": "and", "predicates": '
            '[{"dimension": "queueId", "value": "..."}]}'
        )
    for predicate in _predicates(value):
        dim = predicate.get("dimension")
        if dim is not None and dim not in GROUP_BY_DIMENSIONS:
            hint = close_matches(str(dim), GROUP_BY_DIMENSIONS)
            raise ConfigError(
                f"--filter: dimension {dim!r} is unknown; did you mean {', '.join(hint)}?"
            )
    return value


def _predicates(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(node.get("predicates") or [])
    for clause in node.get("clauses") or []:
        found += _predicates(clause)
    return [p for p in found if isinstance(p, dict)]


def _zone(time_zone: str | None) -> str | None:
    if not time_zone:
        return None
    iana_zone(time_zone, option="--time-zone")
    return time_zone


def _table_name(name: str) -> str:
    if not _TABLE_NAME.match(name):
        raise ConfigError(f"--name {name!r}: use lower-case letters, digits and _ (a table name)")
    return name


def check_complexity(query: AggregateQuery, limits: AnalyticsLimits) -> None:
    """Refuse what no split can fix: too many dimensions or metrics for one query."""
    if len(query.group_by) > limits.max_group_by:
        raise ConfigError(
            f"--group-by has {len(query.group_by)} dimensions; at most {limits.max_group_by} "
            "fit one query"
        )
    if len(query.metrics) > limits.max_metrics:
        raise ConfigError(
            f"--metrics has {len(query.metrics)}; at most {limits.max_metrics} fit one query"
        )
    if len(query.metrics) > limits.max_cells:
        raise ConfigError(
            f"--metrics: {len(query.metrics)} metrics exceed {limits.max_cells} cells"
        )


def plan_chunks(
    query: AggregateQuery,
    limits: AnalyticsLimits,
    chunk: timedelta,
    *,
    within: Interval | None = None,
    cells_per_bucket: float | None = None,
) -> list[Interval]:
    """Bucket-aligned chunks of `within` (default: the query's interval) within the bucket,
    cell and interval limits.

    Without `cells_per_bucket` a chunk is at most `chunk` long. With it (learned from an
    answer: its groups x metrics), chunks merge as many buckets as the limits allow, with
    a fifth of the cell limit kept for groups that appear later: fewer requests.
    """
    per_query = min(limits.max_buckets, max(1, limits.max_interval // query.step))
    if cells_per_bucket is None:
        per_query = min(per_query, max(1, limits.max_cells // len(query.metrics)))
        if chunk >= query.step:
            per_query = min(per_query, chunk // query.step)
    else:
        room = int(limits.max_cells * 0.8 // max(cells_per_bucket, len(query.metrics), 1))
        per_query = min(per_query, max(1, room))
    edges = query.edges(within or query.interval)
    return [
        Interval(edges[i], edges[min(i + per_query, len(edges) - 1)])
        for i in range(0, len(edges) - 1, per_query)
    ]


@dataclass(frozen=True)
class AggregateProducer:
    """Produces aggregate chunks for `run_chunks`."""

    api: Api
    events: Events
    ctx: RunContext
    query: AggregateQuery
    raw: RawCapture | None = field(default=None, kw_only=True)
    answered: list[float] = field(default_factory=list, kw_only=True)  # cells per bucket

    def __call__(self, interval: Interval) -> ChunkResult:
        table = self._query(interval)
        self.answered.append(table.num_rows / max(1, len(self.query.edges(interval)) - 1))
        return aggregate_chunk(self.query, interval, table)

    @property
    def cells_per_bucket(self) -> float | None:
        """The most cells a bucket held in the answers so far (None before any)."""
        return max(self.answered) if self.answered else None

    def _query(self, interval: Interval) -> pa.Table:
        body = self.query.body(interval)
        started = self.api.clock()
        try:
            response = self.api.request("POST", QUERY_PATH, json=body)
        except ClientError as exc:
            if exc.code not in TOO_LARGE and exc.status != 413:
                raise
            return self._split(interval, exc)
        self.events(
            AuditEvent.JOB_FINISHED,
            export_kind=ExportKind.CONVERSATION_AGGREGATES,
            interval=interval.iso(),
            payload_sha256=body_hash(body),
            correlation_id=response.headers.get("ININ-Correlation-Id"),
            latency_s=round(self.api.clock() - started, 3),
            state="ANSWERED",
        )
        kind = ExportKind.CONVERSATION_AGGREGATES
        save_response(self.raw, kind, uuid.uuid4().hex, body, response.content)
        return aggregate_table(
            response.content,
            self.query.spec,
            granularity=self.query.granularity,
            group_by=self.query.group_by,
            ctx=self.ctx,
        )

    def _split(self, interval: Interval, exc: ApiError) -> pa.Table:
        edges = self.query.edges(interval)
        if len(edges) <= 2:
            raise ApiError(
                f"one {self.query.granularity} bucket is still too large for the API; add a "
                f"--filter or group by fewer dimensions (server: {exc.code}: {exc})",
                status=exc.status,
                method=exc.method,
                url=exc.url,
                code=exc.code,
                correlation_id=exc.correlation_id,
            ) from exc
        mid = edges[len(edges) // 2]
        log.info("aggregate query for %s too large; splitting at %s", interval, mid)
        halves = [
            self._query(Interval(interval.start, mid)),
            self._query(Interval(mid, interval.end)),
        ]
        return pa.concat_tables(halves)


def aggregate_chunk(query: AggregateQuery, interval: Interval, table: pa.Table) -> ChunkResult:
    """The answer for `interval` as a chunk that replaces the buckets it covers."""
    starts = query.edges(interval)[:-1]
    keys = pa.table(
        {
            "interval_start": pa.array(starts, pa.timestamp("ms", tz="UTC")),
            "granularity": pa.array([query.granularity] * len(starts), pa.string()),
        }
    )
    replacement = Replacement(keys=keys, partitions=partition_dates(keys, "interval_start"))
    spec = query.spec
    return ChunkResult(interval, [(spec, table, replacement)], validate_table(spec, table))
