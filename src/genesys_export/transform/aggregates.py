"""Conversation aggregate responses -> one long-format table, column by column.

A response nests `results[]` (one per group) -> `data[]` (one per interval bucket) ->
`metrics[]` and `views[]`. Every metric and every view of every bucket becomes a row keyed by
the bucket's start, the granularity, the group's dimensions, the metric (or view name) and the
qualifier, with the `StatisticalSummary` members as columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.errors import SchemaMismatch
from genesys_export.transform import models, names, pages, unknown
from genesys_export.transform.tables import UTC_MS, RunContext, TableSpec, with_run_columns

WHAT = "conversation aggregates response"
_BUCKET_CHILDREN = ("metrics", "views")


def aggregate_table(
    response: bytes,
    spec: TableSpec,
    *,
    granularity: str,
    group_by: Sequence[str],
    ctx: RunContext,
) -> pa.Table:
    """Flatten an aggregate query response (or one async results page) into `spec`'s table.

    Raises SchemaMismatch naming the member when the response does not fit the contract.
    """
    parsed = pages.read_page(response, models.aggregate_page(group_by), what=WHAT)
    results = parsed.records("results")
    data = results.field("data")
    buckets = pc.list_flatten(data)
    bucket_result = pc.list_parent_indices(data)
    rows = _metric_rows(buckets)
    columns = _interval_columns(parsed, buckets, rows["bucket"])
    result = pc.take(bucket_result, rows["bucket"])
    group = results.field("group")
    for dimension in group_by:
        columns[names.snake_case(dimension)] = pc.take(group.field(dimension), result)
    columns["granularity"] = pa.repeat(pa.scalar(granularity), len(result))
    columns["metric"], columns["qualifier"] = rows["metric"], rows["qualifier"]
    columns |= names.record_columns(rows["stats"], models.STATISTICAL_SUMMARY)
    columns["_extra"] = _extra(parsed, group_by, rows, bucket_result)
    body = pa.schema(list(spec.schema)[:-2])  # all but _run_id, _extracted_at
    if missing := [name for name in body.names if name not in columns]:
        raise ValueError(f"table {spec.name}: {missing} are not columns of group-by {group_by}")
    table = pa.Table.from_arrays([columns[name] for name in body.names], schema=body)
    return with_run_columns(table, ctx)


def _metric_rows(buckets: pa.StructArray) -> dict[str, pa.Array]:
    """Metrics and views of every bucket, bucket by bucket (metrics first within a bucket).

    Returns each row's bucket index, metric (a view's name), qualifier (null when absent),
    stats, and `source`: its index among all metrics followed by all views.
    """
    metrics, views = buckets.field("metrics"), buckets.field("views")
    m, v = pc.list_flatten(metrics), pc.list_flatten(views)
    bucket = pa.concat_arrays([pc.list_parent_indices(metrics), pc.list_parent_indices(views)])
    source = pc.sort_indices(bucket)  # stable: metrics before views, each in response order
    names = pa.concat_arrays([m.field("metric"), v.field("name")])
    if names.null_count:
        raise SchemaMismatch(f"{WHAT}: a metric has no metric name (or a view no name)")
    qualifier = pa.concat_arrays([m.field("qualifier"), pa.nulls(len(v), pa.string())])
    stats = pa.concat_arrays([m.field("stats"), v.field("stats")])
    return {
        "bucket": pc.take(bucket, source),
        "metric": pc.take(names, source),
        "qualifier": pc.take(qualifier, source),
        "stats": pc.take(stats, source),
        "source": source,
    }


def _interval_columns(
    parsed: pages.ParsedPage, buckets: pa.StructArray, bucket: pa.Array
) -> dict[str, pa.Array]:
    """interval_start / interval_end (UTC) of each row's bucket, from `start/end` strings."""
    intervals = buckets.field("interval")
    parts = pc.split_pattern(intervals, "/")
    try:
        ends = [pc.cast(pc.list_element(parts, i), UTC_MS) for i in (0, 1)]
        if pc.any(pc.not_equal(pc.list_value_length(parts), 2)).as_py() or ends[0].null_count:
            raise ValueError("not start/end")
    except (pa.ArrowInvalid, ValueError) as exc:
        raise SchemaMismatch(f"{WHAT}: {_bad_interval(parsed)}") from exc
    return {
        "interval_start": pc.take(ends[0], bucket),
        "interval_end": pc.take(ends[1], bucket),
    }


def _bad_interval(parsed: pages.ParsedPage) -> str:
    """Where the first unreadable bucket interval is (slow path: only when one is)."""
    for i, result in enumerate(parsed.document.get("results") or ()):
        for j, bucket in enumerate((result or {}).get("data") or ()):
            text = (bucket or {}).get("interval")
            pieces = text.split("/") if isinstance(text, str) else []
            try:
                pc.cast(pa.array(pieces, pa.string()), UTC_MS)
            except pa.ArrowInvalid:
                pieces = []
            if len(pieces) != 2:
                return f"results[{i}].data[{j}].interval: expected an ISO-8601 start/end"
    return "a bucket interval could not be read"


def _extra(
    parsed: pages.ParsedPage,
    group_by: Sequence[str],
    rows: dict[str, pa.Array],
    bucket_result: pa.Array,
) -> pa.Array:
    """Unknown members of each row's metric (or view), bucket and result, merged.

    Dimensions in a result's `group` that were not requested come under `"group"`.
    """
    container = models.aggregate_container(group_by)
    levels = (
        (("results",), container, ("data",)),
        (("results", "data"), models.STATISTICAL_RESPONSE, _BUCKET_CHILDREN),
        (("results", "data", "metrics"), models.AGGREGATE_METRIC, ()),
        (("results", "data", "views"), models.AGGREGATE_VIEW, ()),
    )
    if parsed.complete and not any(
        unknown.has_unknown(parsed.parsed_at(*path), model, skip) for path, model, skip in levels
    ):
        return pa.nulls(len(rows["bucket"]), pa.string())
    found = [
        [unknown.unknown_members(obj, model, skip) for obj in parsed.objects(*path)]
        for path, model, skip in levels
    ]
    return unknown.json_column(_merged(found, rows, bucket_result))


def _merged(
    found: list[list[Any]], rows: dict[str, pa.Array], bucket_result: pa.Array
) -> list[dict[str, Any] | None]:
    results, buckets, metrics, views = found
    owners = bucket_result.to_pylist()
    merged: list[dict[str, Any] | None] = []
    for bucket, source in zip(rows["bucket"].to_pylist(), rows["source"].to_pylist(), strict=True):
        own = metrics[source] if source < len(metrics) else views[source - len(metrics)]
        extra = {**(results[owners[bucket]] or {}), **(buckets[bucket] or {}), **(own or {})}
        merged.append(extra or None)
    return merged
