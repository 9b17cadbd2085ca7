"""Conversation aggregates end to end: queries, chunking, splitting, and CLI refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from genesys_export.simulator import Simulator
from tests.conftest import make_simulator
from tests.e2e import (
    SINKS,
    cli_env,
    data_rows,
    duckdb_dest,
    exporter_for,
    instant,
    invoke,
    read,
    simulator,
)

INTERVAL = "2024-05-08/2024-05-10"
WIRE_INTERVAL = "2024-05-08T00:00:00.000Z/2024-05-10T00:00:00.000Z"
GROUP_BY = ["queueId", "mediaType"]
METRICS = ["nOffered", "tHandle", "tAcd"]
QUERY = "/api/v2/analytics/conversations/aggregates/query"
TABLE = "conversation_aggregates"
KEY = ("interval_start", "granularity", "queue_id", "media_type", "metric", "qualifier")


def query_body(granularity: str, metrics: list[str], **extra: str) -> dict[str, Any]:
    """The ConversationAggregationQuery the export makes, over its whole interval."""
    body = {"interval": WIRE_INTERVAL, "granularity": granularity, "groupBy": GROUP_BY}
    return body | {"metrics": metrics} | extra


def truth_rows(sim: Simulator, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One tuple per (bucket, group, metric) of the simulator's answer to `body`."""
    rows = []
    for result in sim.dataset.aggregate(body).get("results", []):
        group = result["group"]
        for bucket in result["data"]:
            start, end = (instant(t) for t in bucket["interval"].split("/"))
            for metric in bucket["metrics"]:
                stats = metric["stats"]
                rows.append(
                    (
                        start,
                        end,
                        group.get("queueId"),
                        group.get("mediaType"),
                        metric["metric"],
                        stats.get("count"),
                        stats.get("sum"),
                        stats.get("min"),
                        stats.get("max"),
                    )
                )
    return sorted(rows, key=repr)


def landed_rows(dest: str, granularity: str) -> list[tuple[Any, ...]]:
    rows = []
    for r in read(dest, TABLE).to_pylist():
        assert r["granularity"] == granularity and r["qualifier"] is None
        rows.append(
            (
                r["interval_start"],
                r["interval_end"],
                r["queue_id"],
                r["media_type"],
                r["metric"],
                r["count"],
                r["sum"],
                r["min"],
                r["max"],
            )
        )
    return sorted(rows, key=repr)


def query_requests(sim: Simulator) -> list[tuple[str, int]]:
    """(interval, status) of every aggregate query the simulator answered, in order."""
    return [
        (json.loads(r.body)["interval"], r.status)
        for r in sim.requests
        if r.method == "POST" and r.path == QUERY
    ]


def export(running: Any, tmp_path: Path, dest: str, **options: Any) -> dict[str, Any]:
    exporter = exporter_for(running, tmp_path, **options)
    result = exporter.export_aggregates(
        INTERVAL, granularity="PT1H", group_by=GROUP_BY, metrics=METRICS, dest=dest
    )
    return result.summary


def test_aggregates_equal_the_simulators_answer_to_the_same_query(tmp_path: Path) -> None:
    """Counts, sums, minima and maxima per group, bucket and metric equal what the API
    computes for the same query."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        export(running, tmp_path, dest)

    expected = truth_rows(sim, query_body("PT1H", METRICS))
    assert {row[4] for row in expected} == set(METRICS)
    assert landed_rows(dest, "PT1H") == expected


@pytest.mark.parametrize("dest_in", SINKS)
def test_exporting_the_same_query_again_leaves_the_same_rows(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """A second export of the same query replaces its buckets: the same rows, once, in
    DuckDB and in Parquet alike."""
    dest = dest_in(tmp_path)
    with simulator() as (sim, running):
        export(running, tmp_path, dest)
        first = data_rows(read(dest, TABLE), KEY)
        export(running, tmp_path, dest)

    assert data_rows(read(dest, TABLE), KEY) == first
    assert landed_rows(dest, "PT1H") == truth_rows(sim, query_body("PT1H", METRICS))


def test_a_query_split_into_chunks_equals_the_unsplit_query(tmp_path: Path) -> None:
    """With 6-hour chunks the first chunk is asked alone; its answer shows how many cells a
    bucket holds, so the other 42 hours fit one query (not seven): the rows equal one
    two-day query's."""
    split, whole = duckdb_dest(tmp_path, "split"), duckdb_dest(tmp_path, "whole")
    with simulator() as (sim, running):
        export(running, tmp_path, split, chunk=timedelta(hours=6))
        asked = [interval for interval, _ in query_requests(sim)]
        export(running, tmp_path, whole, chunk=timedelta(days=2))

    assert asked == [
        "2024-05-08T00:00:00.000Z/2024-05-08T06:00:00.000Z",
        "2024-05-08T06:00:00.000Z/2024-05-10T00:00:00.000Z",
    ]
    assert len(query_requests(sim)) == 2 + 1
    assert data_rows(read(split, TABLE), KEY) == data_rows(read(whole, TABLE), KEY)


def test_a_query_the_api_finds_too_large_is_split_until_it_is_answered(tmp_path: Path) -> None:
    """A 400 `response.entity.too.large` makes the exporter ask again in smaller halves;
    the run succeeds with the same numbers the API gives for the whole query."""
    dest = duckdb_dest(tmp_path)
    with simulator(max_aggregate_cells=60) as (sim, running):
        export(running, tmp_path, dest)

    requests = query_requests(sim)
    assert {status for _, status in requests} == {200, 400}, requests
    for index, (refused, status) in enumerate(requests):
        if status != 400:
            continue
        later = [interval for interval, s in requests[index + 1 :] if s == 200]
        halves = [i for i in later if _inside(i, refused)]
        assert sum((_length(h) for h in halves), timedelta()) == _length(refused), requests
    answered = [interval for interval, status in requests if status == 200]
    refused_lengths = [_length(i) for i, status in requests if status == 400]
    assert max(_length(a) for a in answered) < max(refused_lengths)
    unlimited = make_simulator()
    assert landed_rows(dest, "PT1H") == truth_rows(unlimited, query_body("PT1H", METRICS))


def _bounds(interval: str) -> tuple[datetime, datetime]:
    start, end = (instant(t) for t in interval.split("/"))
    assert start is not None and end is not None
    return start, end


def _length(interval: str) -> timedelta:
    start, end = _bounds(interval)
    return end - start


def _inside(inner: str, outer: str) -> bool:
    (a, b), (c, d) = _bounds(inner), _bounds(outer)
    return c <= a and b <= d


def test_a_granularity_that_divides_the_interval_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PT45M divides a day (32 buckets), so it is a valid granularity there."""
    monkeypatch.chdir(tmp_path)
    dest = duckdb_dest(tmp_path)
    args = ["export", "aggregates", "--interval", "2024-05-08/2024-05-09", "--dest", dest]
    with simulator() as (sim, running):
        result = invoke(
            [*args, "--granularity", "PT45M", "--metrics", "nOffered", "--json"], cli_env(running)
        )
        body = {
            "interval": "2024-05-08T00:00:00.000Z/2024-05-09T00:00:00.000Z",
            "granularity": "PT45M",
            "metrics": ["nOffered"],
        }
        answered = {
            instant(bucket["interval"].split("/")[0])
            for group in sim.dataset.aggregate(body).get("results", [])
            for bucket in group["data"]
        }
    assert result.exit_code == 0, result.stderr
    starts = set(read(dest, TABLE).column("interval_start").to_pylist())
    day = datetime(2024, 5, 8, tzinfo=UTC)
    assert starts <= {day + timedelta(minutes=45 * n) for n in range(32)}  # on the grid
    assert starts == answered and len(starts) > 1  # every bucket the API has data for


def test_daily_buckets_across_a_dst_change_in_the_time_zone_match_the_api(tmp_path: Path) -> None:
    """P1D buckets in Europe/London over the three local days around the March change to
    summer time (the middle one 23 h long) are accepted and land as the API computes them."""
    local_days = "2024-03-30T00:00:00.000Z/2024-04-01T23:00:00.000Z"
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        exporter_for(running, tmp_path).export_aggregates(
            local_days,
            granularity="P1D",
            group_by=GROUP_BY,
            metrics=["nOffered"],
            time_zone="Europe/London",
            dest=dest,
        )

    body = query_body("P1D", ["nOffered"], timeZone="Europe/London") | {"interval": local_days}
    expected = truth_rows(sim, body)
    assert {row[1] - row[0] for row in expected} == {timedelta(hours=24), timedelta(hours=23)}
    assert landed_rows(dest, "P1D") == expected


REFUSED = [
    pytest.param(
        ["--interval", "2024-05-08/2024-05-09", "--granularity", "PT7M"],
        ("--granularity", "PT7M", "pick a granularity that divides"),
        id="granularity-not-dividing-a-day",
    ),
    pytest.param(
        ["--interval", "2024-05-08T00:00:00Z/2024-05-08T01:00:00Z", "--granularity", "PT45M"],
        ("--granularity", "PT45M", "pick a granularity that divides"),
        id="granularity-not-dividing-an-hour",
    ),
    pytest.param(
        ["--interval", "2024-05-08/2024-05-09", "--group-by", "queueid,mediaType"],
        ("--group-by", "'queueid'", "did you mean queueId"),
        id="unknown-dimension",
    ),
    pytest.param(
        ["--interval", "2024-05-08/2024-05-09", "--metrics", "nOffered,tHandel"],
        ("--metrics", "'tHandel'", "did you mean tHandle"),
        id="unknown-metric",
    ),
    pytest.param(
        [
            "--interval",
            "2024-03-29/2024-04-02",
            "--granularity",
            "P1D",
            "--time-zone",
            "Europe/London",
        ],
        ("Europe/London",),
        id="interval-not-on-local-day-boundaries",
    ),
    pytest.param(
        ["--interval", "yesterday"],
        ("--interval", "'yesterday'", "e.g. 2024-05-01/2024-05-08"),
        id="interval-not-start-end",
    ),
    pytest.param(
        ["--interval", "2024-05-09/2024-05-08"],
        ("--interval", "must be after the start"),
        id="interval-ending-before-it-starts",
    ),
]


@pytest.mark.parametrize(("args", "phrases"), REFUSED)
def test_a_bad_aggregate_option_exits_2_with_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], phrases: tuple[str, ...]
) -> None:
    """A wrong option is refused before any query: exit 2, one `error:` line naming the
    option and how to fix it, no traceback."""
    monkeypatch.chdir(tmp_path)
    with simulator() as (sim, running):
        result = invoke(
            ["export", "aggregates", "--dest", duckdb_dest(tmp_path), *args], cli_env(running)
        )

    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for phrase in phrases:
        assert phrase in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert query_requests(sim) == []
