"""validate: keys, parents, times and durations of a chunk's tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from genesys_export.errors import ValidationFailed
from genesys_export.transform.aggregates import aggregate_table
from genesys_export.transform.conversations import conversation_tables
from genesys_export.transform.schemas import aggregate_spec
from genesys_export.transform.tables import TableSpec
from genesys_export.transform.users import user_tables
from genesys_export.validate import (
    ValidationReport,
    validate_conversation_tables,
    validate_table,
    validate_user_tables,
)
from tests.transform.builders import CTX, page, two_conversations


def good_tables() -> dict[str, pa.Table]:
    return dict(conversation_tables(page(two_conversations()), CTX).tables)


def replace(table: pa.Table, column: str, values: list[object]) -> pa.Table:
    i = table.schema.get_field_index(column)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def failed(report: ValidationReport) -> set[tuple[str, str]]:
    return {(c.table, c.name) for c in report.failed}


def test_good_chunk_passes_every_check() -> None:
    """A transformed page passes: keys, parents, times, durations."""
    report = validate_conversation_tables(good_tables())

    assert report.ok
    report.raise_if_failed()
    names = {c.name for c in report.checks}
    assert names == {
        "key_not_null",
        "key_unique",
        "has_parent",
        "end_not_before_start",
        "duration_not_negative",
    }
    metrics = next(c for c in report.checks if c.name == "duration_not_negative")
    assert metrics.rows == 3  # tAcd, tTalk, tTalk: `t*` metrics only


def test_duplicate_key_fails_with_examples() -> None:
    """A repeated segment key fails key_unique and names the key."""
    tables = good_tables()
    tables["segments"] = pa.concat_tables([tables["segments"], tables["segments"].slice(0, 1)])

    report = validate_conversation_tables(tables)

    assert failed(report) == {("segments", "key_unique")}
    check = report.failed[0]
    assert (check.rows, check.failures) == (6, 2)
    assert check.examples == ("conversation_id=c1, session_id=s1, segment_index=0",)
    with pytest.raises(ValidationFailed) as raised:
        report.raise_if_failed()
    assert str(raised.value).startswith("validation failed: segments: key_unique failed for 2 of 6")


def test_null_key_fails() -> None:
    """A null in a key column fails key_not_null."""
    tables = good_tables()
    tables["participant_attributes"] = replace(
        tables["participant_attributes"], "name", ["AccountType", None, "Language"]
    )

    assert ("participant_attributes", "key_not_null") in failed(
        validate_conversation_tables(tables)
    )


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("participants", "conversations"),
        ("participant_attributes", "participants"),
        ("sessions", "participants"),
        ("segments", "sessions"),
        ("session_metrics", "sessions"),
    ],
)
def test_orphans_fail_has_parent(child: str, parent: str) -> None:
    """A child row whose parent is not in the chunk fails has_parent."""
    tables = good_tables()
    tables[parent] = tables[parent].filter(pc.not_equal(tables[parent]["conversation_id"], "c1"))

    report = validate_conversation_tables(tables)

    check = next(c for c in report.checks if (c.table, c.name) == (child, "has_parent"))
    assert check.failures == pc.sum(pc.equal(tables[child]["conversation_id"], "c1")).as_py()
    assert check.examples[0].startswith("conversation_id=c1")


def test_keys_compare_whole_rows_not_columns() -> None:
    """A key is its columns together: values shared column by column are not a shared key,
    and a child whose key columns match different parents (or are null) has no parent."""
    schema = pa.schema([("a", pa.string()), ("b", pa.string()), ("at", pa.timestamp("ms"))])
    spec = TableSpec("pairs", schema, ("a", "b"), "at")
    crossed = pa.table({"a": ["x", "x", "y", "y"], "b": ["1", "2", "1", "2"]})
    assert validate_table(spec, crossed).ok
    repeated = pa.table({"a": ["x", None, "x", None, "y"], "b": ["1", "2", "1", "2", "2"]})
    check = next(c for c in validate_table(spec, repeated).checks if c.name == "key_unique")
    assert (check.failures, check.examples) == (4, ("a=x, b=1", "a=None, b=2"))

    tables = good_tables()  # participants (c1, p1), (c1, p2), (c2, p3)
    sessions = tables["sessions"]
    crossed_ids = ["c2", *sessions["conversation_id"].to_pylist()[1:]]  # (c2, p1): no parent
    tables["sessions"] = replace(sessions, "conversation_id", crossed_ids)
    tables["sessions"] = replace(
        tables["sessions"], "participant_id", [*sessions["participant_id"].to_pylist()[:-1], None]
    )
    report = validate_conversation_tables(tables)
    check = next(c for c in report.checks if (c.table, c.name) == ("sessions", "has_parent"))
    assert check.failures == 2
    assert check.examples == ("conversation_id=c2", "conversation_id=c2")  # rows 1 and 4


def test_end_before_start_fails() -> None:
    """A conversation or segment ending before it starts fails end_not_before_start."""
    tables = good_tables()
    early = datetime(2024, 5, 1, 9, tzinfo=UTC)
    tables["conversations"] = replace(tables["conversations"], "conversation_end", [early, None])
    segments = tables["segments"]
    tables["segments"] = replace(
        segments, "segment_end", [early, *segments["segment_end"].to_pylist()[1:]]
    )

    assert failed(validate_conversation_tables(tables)) == {
        ("conversations", "end_not_before_start"),
        ("segments", "end_not_before_start"),
    }


def test_negative_duration_metric_fails() -> None:
    """A negative `t*` metric fails; a negative count-like metric is not a duration."""
    tables = good_tables()
    values = tables["session_metrics"]["value"].to_pylist()
    names = tables["session_metrics"]["name"].to_pylist()
    bad = [-v if n == "tTalk" else v for n, v in zip(names, values, strict=True)]
    tables["session_metrics"] = replace(tables["session_metrics"], "value", bad)

    report = validate_conversation_tables(tables)
    assert failed(report) == {("session_metrics", "duration_not_negative")}
    assert report.failed[0].failures == 2


def test_user_tables_checks() -> None:
    """User intervals: a duplicate key, an end before its start and a negative duration fail."""
    body = (
        b'{"userDetails":[{"userId":"u1","primaryPresence":[{"startTime":"2024-05-01T08:00:00Z",'
        b'"endTime":"2024-05-01T09:00:00Z","systemPresence":"AVAILABLE",'
        b'"organizationPresenceId":"op"}],"routingStatus":[{"startTime":"2024-05-01T08:00:00Z",'
        b'"endTime":"2024-05-01T07:00:00Z","routingStatus":"IDLE"}]}]}'
    )
    tables = dict(user_tables(body, CTX).tables)
    presence = tables["user_presence"]
    tables["user_presence"] = pa.concat_tables([presence, presence])

    assert failed(validate_user_tables(tables)) == {
        ("user_presence", "key_unique"),
        ("user_routing_status", "end_not_before_start"),
        ("user_routing_status", "duration_not_negative"),
    }


def test_validate_table_on_aggregates() -> None:
    """Generic tables: keys and interval_end not before interval_start."""
    spec = aggregate_spec("agg", ["queueId"])
    body = (
        b'{"results":[{"group":{"queueId":"q1"},"data":[{"interval":'
        b'"2024-05-01T04:30:00Z/2024-05-01T04:00:00Z","metrics":[{"metric":"nOffered",'
        b'"stats":{"count":1}},{"metric":"nOffered","stats":{"count":2}}]}]}]}'
    )
    table = aggregate_table(body, spec, granularity="PT30M", group_by=["queueId"], ctx=CTX)

    report = validate_table(spec, table)

    assert failed(report) == {("agg", "key_unique"), ("agg", "end_not_before_start")}
    with pytest.raises(ValidationFailed, match=r"agg: key_unique failed .*; and 1 more failed"):
        report.raise_if_failed()


def test_missing_parent_table_fails_every_child() -> None:
    """Children without their parent table at all are orphans."""
    tables = good_tables()
    del tables["sessions"]

    report = validate_conversation_tables(tables)
    assert ("segments", "has_parent") in failed(report)
    assert ("session_metrics", "has_parent") in failed(report)


def test_validate_table_pairs_times_by_name() -> None:
    """In a generic table, `*end*` timestamps are checked against their `*start*` column."""
    schema = pa.schema(
        [
            pa.field("row_hash", pa.string(), nullable=False),
            pa.field("period_start", pa.timestamp("ms", tz="UTC")),
            pa.field("period_end", pa.timestamp("ms", tz="UTC")),
            pa.field("ended_by", pa.string()),
        ]
    )
    spec = TableSpec("report_x", schema, ("row_hash",), "period_start")
    early, late = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)
    table = pa.table(
        {
            "row_hash": ["a", "b", None],
            "period_start": [early, late, early],
            "period_end": [late, early, None],
            "ended_by": ["x", "y", "z"],
        },
        schema=schema,
    )

    report = validate_table(spec, table)

    assert failed(report) == {("report_x", "end_not_before_start"), ("report_x", "key_not_null")}
    times = next(c for c in report.checks if c.name == "end_not_before_start")
    assert (times.rows, times.failures, times.examples) == (3, 1, ("row_hash=b",))
