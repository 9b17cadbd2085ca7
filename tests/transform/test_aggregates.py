"""aggregate_table: an aggregate query response -> one long-format table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from genesys_export.errors import SchemaMismatch
from genesys_export.transform.aggregates import aggregate_table
from genesys_export.transform.schemas import aggregate_spec
from tests.transform.builders import CTX, contract_page

GROUP_BY = ("queueId", "mediaType")
SPEC = aggregate_spec("conversation_aggregates", GROUP_BY)


def table_of(body: bytes) -> list[dict[str, Any]]:
    table = aggregate_table(body, SPEC, granularity="PT30M", group_by=GROUP_BY, ctx=CTX)
    assert table.schema.equals(SPEC.schema)
    return table.to_pylist()


def response(*results: dict[str, Any]) -> bytes:
    return orjson.dumps({"results": list(results)})


def test_contract_example_long_format() -> None:
    """The contract's response: 2 buckets x (6 + 5) metrics = 11 rows with their stats."""
    rows = table_of(contract_page("conversation-aggregates.query.response.json"))

    assert len(rows) == 11
    first = rows[0]
    assert first["interval_start"] == datetime(2024, 5, 1, 4, tzinfo=UTC)
    assert first["interval_end"] == datetime(2024, 5, 1, 4, 30, tzinfo=UTC)
    assert (first["queue_id"], first["media_type"]) == (
        "5b1d2c3e-9f8a-4b7c-a6d5-e4f3a2b1c0d9",
        "voice",
    )
    assert (first["metric"], first["qualifier"], first["count"]) == ("nOffered", None, 14)
    handle = next(r for r in rows if r["metric"] == "tHandle")
    assert (handle["count"], handle["sum"], handle["min"], handle["max"]) == (
        12,
        4012331.0,
        61002.0,
        912330.0,
    )
    service = next(r for r in rows if r["metric"] == "oServiceLevel")
    assert (service["ratio"], service["numerator"], service["target"]) == (0.8571, 12.0, 0.8)
    assert {r["granularity"] for r in rows} == {"PT30M"}


def test_offsets_views_qualifiers_and_missing_dimensions() -> None:
    """Offsets become UTC; views are rows named after the view; absent texts stay absent (null)."""
    body = response(
        {
            "group": {"queueId": "q1"},
            "data": [
                {
                    "interval": "2024-05-01T00:00:00.000-04:00/2024-05-01T00:30:00.000-04:00",
                    "metrics": [
                        {"metric": "tHandle", "qualifier": "voice", "stats": {"count": 2}},
                        {"metric": "nOffered", "stats": {"count": 3}},
                    ],
                    "views": [{"name": "handleUnder60", "stats": {"count": 1}}],
                }
            ],
        }
    )
    rows = table_of(body)

    assert [(r["metric"], r["qualifier"], r["count"]) for r in rows] == [
        ("tHandle", "voice", 2),
        ("nOffered", None, 3),
        ("handleUnder60", None, 1),
    ]
    assert {r["interval_start"] for r in rows} == {datetime(2024, 5, 1, 4, tzinfo=UTC)}
    assert {(r["queue_id"], r["media_type"]) for r in rows} == {("q1", None)}
    assert all(r["_extra"] is None for r in rows)


def test_unknown_members_and_unrequested_dimensions_go_to_extra() -> None:
    """Group dimensions not asked for, and stats the contract lacks, are kept in `_extra`."""
    body = response(
        {
            "group": {"queueId": "q1", "mediaType": "voice", "wrapUpCode": "w1"},
            "data": [
                {
                    "interval": "2024-05-01T04:00:00.000Z/2024-05-01T04:30:00.000Z",
                    "metrics": [{"metric": "tTalk", "stats": {"count": 1, "median": 5.0}}],
                }
            ],
        }
    )
    rows = table_of(body)

    assert json.loads(rows[0]["_extra"]) == {
        "group": {"wrapUpCode": "w1"},
        "stats": {"median": 5.0},
    }


def test_rows_of_several_groups_and_buckets() -> None:
    """Each (group, bucket, metric) is one row, in response order."""
    bucket = {"interval": "2024-05-01T04:00:00Z/2024-05-01T04:30:00Z",
              "metrics": [{"metric": "nOffered", "stats": {"count": 1}}]}  # fmt: skip
    later = bucket | {"interval": "2024-05-01T04:30:00Z/2024-05-01T05:00:00Z"}
    body = response(
        {"group": {"queueId": "q1", "mediaType": "voice"}, "data": [bucket, later]},
        {"group": {"queueId": "q2", "mediaType": "voice"}, "data": [bucket]},
    )
    rows = table_of(body)

    assert [(r["queue_id"], r["interval_start"].minute) for r in rows] == [
        ("q1", 0),
        ("q1", 30),
        ("q2", 0),
    ]


def test_bad_interval_names_the_bucket() -> None:
    """An interval that is not start/end names its result and bucket."""
    body = response({"group": {}, "data": [{"interval": "P1D", "metrics": []}]})
    with pytest.raises(SchemaMismatch, match=r"results\[0\]\.data\[0\]\.interval"):
        table_of(body)


def test_wrong_stat_type_names_the_member() -> None:
    """A string where a count belongs names the member."""
    body = response(
        {
            "group": {},
            "data": [
                {
                    "interval": "2024-05-01T04:00:00Z/2024-05-01T04:30:00Z",
                    "metrics": [{"metric": "nOffered", "stats": {"count": "many"}}],
                }
            ],
        }
    )
    with pytest.raises(SchemaMismatch, match=r"metrics\[0\]\.stats\.count: expected an integer"):
        table_of(body)


def test_empty_response() -> None:
    """No results: an empty table of the spec's schema."""
    assert table_of(b'{"results": []}') == []


def test_spec_of_other_dimensions_is_refused() -> None:
    """A spec built for other group-by dimensions is a programming error, said plainly."""
    with pytest.raises(ValueError, match="queue_id"):
        aggregate_table(b'{"results": []}', SPEC, granularity="PT30M", group_by=[], ctx=CTX)
