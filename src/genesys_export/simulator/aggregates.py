"""`POST /api/v2/analytics/conversations/aggregates/query`: validation and computation.

Computed from the same conversations the details jobs serve (after the same
data-availability cut), so a client can reconcile the two:

* every session metric named in `metrics` whose `emitDate` falls in the interval is
  counted in the granularity bucket holding its emitDate (buckets start at the interval
  start and step by `granularity`; calendar units step in `timeZone`, §5.1);
* `nConversations` counts each conversation once (value 1), in the bucket holding its
  conversationStart when that is inside the interval, grouped and filtered as its first
  visible session (the first participant's first session) is; so with
  `granularity: P1D` and no groupBy it gives conversations started per day, the same
  conversations a details job over the interval returns with conversationStart inside
  it (a `drop_conversations` fault leaves them in here, as for every metric);
* groups are the values of the `groupBy` dimensions for the session, taken from the
  session, its participant, its conversation, or the first of its segments that has one
  (queueId, wrapUpCode, requestedRoutingSkillId...). A dimension without a value is left
  out of `group`;
* stats: `n*` metrics give `count` = the sum of values; `t*` and `o*` metrics give
  `count`, `sum`, `min`, `max` (which members the real API fills is UNVERIFIED, §5.2);
* buckets, groups and metrics without data are omitted, and a query with no data at all
  answers `{}` (UNVERIFIED whether the real API omits or zero-fills them).

Limits (ours; the real ones are UNVERIFIED, §6.2): more than `max_buckets` buckets is 400
`bad.request`; an answer of more than `max_cells` (group, bucket, metric) cells is 400
`response.entity.too.large`. Not simulated (400 rather than silently ignored): `views`,
`queryType` topN/bottomN, metric or range predicates.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from genesys_export.simulator import filters
from genesys_export.simulator.isotime import (
    IsoError,
    format_interval,
    parse_duration,
    parse_interval,
    to_ms,
)
from genesys_export.simulator.problems import Problem, bad_request, invalid_value
from genesys_export.simulator.render import ConversationRecord
from genesys_export.simulator.vocabulary import AGGREGATE_DIMENSIONS, AGGREGATE_METRICS

Json = dict[str, Any]
CONVERSATIONS_METRIC = "nConversations"


@dataclass(frozen=True)
class AggregateLimits:
    """Size limits of one aggregate answer."""

    max_buckets: int
    max_cells: int


@dataclass(frozen=True)
class AggregatePlan:
    """A validated query: bucket bounds in epoch ms, metrics, dimensions and filter."""

    bounds: tuple[int, ...]
    metrics: tuple[str, ...]
    group_by: tuple[str, ...]
    filter: Json | None

    @property
    def start_ms(self) -> int:
        """Start of the interval."""
        return self.bounds[0]

    @property
    def end_ms(self) -> int:
        """End of the interval (exclusive)."""
        return self.bounds[-1]


def plan_query(query: Any, limits: AggregateLimits) -> AggregatePlan:
    """Validate a ConversationAggregationQuery; raise Problem naming the first bad value."""
    if not isinstance(query, dict):
        raise bad_request("the body must be a ConversationAggregationQuery object")
    start, end = _interval(query)
    metrics = _names(query.get("metrics"), "metrics", AGGREGATE_METRICS, "MetricsEnum")
    if not metrics:
        raise bad_request("metrics is required: name at least one metric, for example nOffered")
    group_by = _names(query.get("groupBy") or [], "groupBy", AGGREGATE_DIMENSIONS, "GroupByEnum")
    _refuse_unsupported(query)
    if query.get("filter") is not None:
        filters.validate_filter(query["filter"], AGGREGATE_DIMENSIONS, "filter")
    bounds = _bounds(start, end, query, limits.max_buckets)
    return AggregatePlan(bounds, metrics, group_by, query.get("filter"))


def _interval(query: Json) -> tuple[datetime, datetime]:
    if not isinstance(query.get("interval"), str):
        raise bad_request(
            "interval is required, for example 2024-05-01T00:00:00Z/2024-05-02T00:00:00Z"
        )
    try:
        return parse_interval(query["interval"])
    except IsoError as exc:
        raise Problem(400, exc.code, str(exc)) from exc


def _names(value: Any, field: str, allowed: tuple[str, ...], enum: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"{field} must be a list of strings")
    for item in value:
        if item not in allowed:
            raise invalid_value(item, enum, allowed)
    return tuple(dict.fromkeys(value))


def _refuse_unsupported(query: Json) -> None:
    if query.get("views"):
        raise bad_request("views are not supported by the simulator")
    if query.get("queryType", "groupBy") != "groupBy":
        raise bad_request("queryType topN/bottomN is not supported by the simulator")
    if query.get("alternateTimeDimension") not in (None, "eventTime"):
        raise invalid_value(
            query["alternateTimeDimension"], "AlternateTimeDimensionEnum", ("eventTime",)
        )


def _bounds(start: datetime, end: datetime, query: Json, max_buckets: int) -> tuple[int, ...]:
    zone = _zone(query.get("timeZone", "UTC"))
    granularity = query.get("granularity")
    if granularity is None:
        return (to_ms(start), to_ms(end))
    try:
        step = parse_duration(granularity)
    except IsoError as exc:
        raise bad_request(f"granularity: {exc}") from exc
    if step.is_zero:
        raise bad_request("granularity must be longer than zero")
    bounds, edge = [to_ms(start)], start
    while edge < end:
        edge = step.add_to(edge, zone)
        bounds.append(to_ms(edge))
        if len(bounds) - 1 > max_buckets:
            raise bad_request(
                f"interval {query['interval']} at granularity {granularity} needs more than "
                f"{max_buckets} buckets; use a coarser granularity or a shorter interval"
            )
    if bounds[-1] != to_ms(end):
        raise bad_request(
            f"granularity {granularity} does not divide interval {query['interval']} evenly"
        )
    return tuple(bounds)


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise bad_request(
            f"timeZone {name!r} is not an IANA time zone (for example UTC or Europe/London)"
        ) from None


class _Stats:
    __slots__ = ("count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.minimum = 0
        self.maximum = 0

    def add(self, value: int) -> None:
        if self.count == 0 or value < self.minimum:
            self.minimum = value
        if self.count == 0 or value > self.maximum:
            self.maximum = value
        self.count += 1
        self.total += value

    def summary(self, metric: str) -> Json:
        if metric.startswith("n"):
            return {"count": self.total}
        return {
            "max": float(self.maximum),
            "min": float(self.minimum),
            "count": self.count,
            "sum": float(self.total),
        }


Cells = dict[tuple[str | None, ...], dict[int, dict[str, _Stats]]]


def compute(plan: AggregatePlan, records: Iterable[ConversationRecord], max_cells: int) -> Json:
    """The ConversationAggregateQueryResponse of a validated plan over these records."""
    cells: Cells = {}
    wanted = frozenset(plan.metrics)
    conversations = CONVERSATIONS_METRIC in wanted
    for record in records:
        if conversations and plan.start_ms <= record.start_ms < plan.end_ms:
            first = record.sessions[0].dims if record.sessions else {}
            started = ((record.start_ms, CONVERSATIONS_METRIC, 1),)
            _add(cells, plan, _lookup(first, record.dims), started)
        for session in record.sessions:
            facts = tuple(
                fact
                for fact in session.metrics
                if fact[1] in wanted and plan.start_ms <= fact[0] < plan.end_ms
            )
            if facts:
                _add(cells, plan, _lookup(session.dims, record.dims), facts)
    return _response(plan, cells, max_cells)


def _lookup(own: dict[str, str], conversation: dict[str, str]) -> filters.Lookup:
    """A dimension's value for a session: its own, else its conversation's."""

    def lookup(dimension: str) -> str | None:
        return own.get(dimension) or conversation.get(dimension)

    return lookup


def _add(
    cells: Cells,
    plan: AggregatePlan,
    lookup: filters.Lookup,
    facts: tuple[tuple[int, str, int], ...],
) -> None:
    """Count facts `(emit_ms, metric, value)` in their group and bucket, if the filter
    lets the session (`lookup`) through."""
    if not filters.matches(plan.filter, lookup):
        return
    by_bucket = cells.setdefault(tuple(lookup(d) for d in plan.group_by), {})
    for emit, name, value in facts:
        bucket = bisect_right(plan.bounds, emit) - 1
        by_bucket.setdefault(bucket, {}).setdefault(name, _Stats()).add(value)


def _response(plan: AggregatePlan, cells: Cells, max_cells: int) -> Json:
    size = sum(len(metrics) for buckets in cells.values() for metrics in buckets.values())
    if size > max_cells:
        raise Problem(
            400,
            "response.entity.too.large",
            f"The response is over the size limit. Reduce pageSize or expand list to reduce "
            f"response size if applicable ({size} cells; at most {max_cells}: use a coarser "
            f"granularity, fewer groupBy dimensions or fewer metrics)",
        )
    results = []
    for key in sorted(cells, key=lambda values: tuple(value or "" for value in values)):
        group = {dim: value for dim, value in zip(plan.group_by, key, strict=True) if value}
        data = [
            {
                "interval": format_interval(plan.bounds[index], plan.bounds[index + 1]),
                "metrics": [
                    {"metric": name, "stats": metrics[name].summary(name)}
                    for name in plan.metrics
                    if name in metrics
                ],
            }
            for index, metrics in sorted(cells[key].items())
        ]
        results.append({"group": group, "data": data})
    return {"results": results} if results else {}
