"""conversation_tables: a results page -> the six conversation tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest

from genesys_export.errors import SchemaMismatch
from genesys_export.transform import schemas
from genesys_export.transform.conversations import conversation_tables
from genesys_export.transform.tables import RunContext
from tests.transform.builders import (
    CTX,
    EXTRACTED,
    contract_page,
    conversation,
    metric,
    page,
    participant,
    segment,
    session,
    two_conversations,
)

PAGE1 = "conversation-details-job.results.page1.json"


def rows(table: pa.Table, **where: Any) -> list[dict[str, Any]]:
    """The rows of a table whose columns equal `where`, as dicts."""
    return [r for r in table.to_pylist() if all(r[k] == v for k, v in where.items())]


def one(table: pa.Table, **where: Any) -> dict[str, Any]:
    found = rows(table, **where)
    assert len(found) == 1, found
    return found[0]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the contract's example page ------------------------------------------------------------


def test_contract_example_row_counts() -> None:
    """The contract's page 1 has 1 conversation, 4 participants, 2 attributes, 4 sessions..."""
    result = conversation_tables(contract_page(PAGE1), CTX)

    counts = {name: table.num_rows for name, table in result.tables.items()}
    assert counts == {
        "conversations": 1,
        "participants": 4,
        "participant_attributes": 2,
        "sessions": 4,
        "segments": 8,
        "session_metrics": 14,
    }
    assert result.cursor == "eyJwYWdlIjoyLCJqb2IiOiI0YzFkNWUyZiJ9"
    assert result.data_availability == utc("2024-05-03T04:00:00+00:00")
    assert result.conversation_ids.to_pylist() == ["7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"]


def test_contract_example_cells() -> None:
    """Cells of the example land in the right columns, times in UTC, flow flattened."""
    tables = conversation_tables(contract_page(PAGE1), CTX).tables

    conv = one(tables["conversations"])
    assert conv["conversation_start"] == utc("2024-05-01T14:02:11.015+00:00")
    assert conv["media_stats_min_conversation_r_factor"] == 88.9
    assert conv["division_ids"] == ["b9c8d7e6-f5a4-4b3c-9d2e-1f0a9b8c7d6e"]
    ivr = one(tables["sessions"], session_id="s-ivr-0002-4d2a-9b1c-000000000002")
    assert ivr["participant_id"] == "p-ivr-0002-4d2a-9b1c-000000000002"
    assert (ivr["flow_name"], ivr["flow_type"], ivr["flow_entry_type"]) == (
        "Main IVR",
        "INBOUNDCALL",
        "dnis",
    )
    assert ivr["flow_outcomes"][0]["flow_outcome_value"] == "SUCCESS"
    customer = one(tables["sessions"], session_id="s-cust-0001-4d2a-9b1c-000000000001")
    assert customer["media_endpoint_stats"][0]["received_packets"] == 22410
    assert customer["media_endpoint_stats"][0]["codecs"] == ["audio/opus"]
    tacd = one(tables["session_metrics"], name="tAcd")
    assert (tacd["metric_index"], tacd["value"]) == (1, 21034)
    attrs = {r["name"]: r["value"] for r in tables["participant_attributes"].to_pylist()}
    assert attrs == {"AccountType": "Gold", "CaseNumber": "00123456"}


def test_every_table_matches_its_spec_exactly() -> None:
    """Each table has exactly its spec's schema, names, types and nullability included."""
    for source in (contract_page(PAGE1), page(two_conversations()), page([])):
        tables = conversation_tables(source, CTX).tables
        for spec in schemas.CONVERSATION_TABLES:
            assert tables[spec.name].schema.equals(spec.schema), spec.name


def test_pretty_and_compact_pages_give_the_same_tables() -> None:
    """A page with newlines (pretty-printed) reads like its compact form."""
    raw = contract_page(PAGE1)
    pretty = conversation_tables(raw, CTX).tables
    compact = conversation_tables(orjson.dumps(json.loads(raw)), CTX).tables
    for name, table in pretty.items():
        assert table.equals(compact[name]), name


def test_a_final_newline_and_pretty_printing_change_nothing() -> None:
    """A body ending in a newline, or indented over many lines, reads like its compact form."""
    compact = page(two_conversations(), cursor="next")
    expected = conversation_tables(compact, CTX)
    pretty = orjson.dumps(orjson.loads(compact), option=orjson.OPT_INDENT_2)
    for variant in (compact + b"\n", compact + b"\r\n", pretty, pretty + b"\n"):
        got = conversation_tables(variant, CTX)
        assert got.cursor == expected.cursor == "next"
        for name, table in expected.tables.items():
            assert got.tables[name].equals(table), name


# --- synthetic pages ------------------------------------------------------------------------


def test_synthetic_row_counts_and_keys() -> None:
    """Two conversations: 3 participants, 3 attributes, 4 sessions, 5 segments, 4 metrics."""
    tables = conversation_tables(page(two_conversations(), cursor="next"), CTX).tables

    assert {n: t.num_rows for n, t in tables.items()} == {
        "conversations": 2,
        "participants": 3,
        "participant_attributes": 3,
        "sessions": 4,
        "segments": 5,
        "session_metrics": 4,
    }
    sessions = tables["sessions"].select(["conversation_id", "participant_id", "session_id"])
    assert sessions.to_pylist() == [
        {"conversation_id": "c1", "participant_id": "p1", "session_id": "s1"},
        {"conversation_id": "c1", "participant_id": "p2", "session_id": "s2"},
        {"conversation_id": "c1", "participant_id": "p2", "session_id": "s3"},
        {"conversation_id": "c2", "participant_id": "p3", "session_id": "s4"},
    ]
    segments = tables["segments"].select(["session_id", "segment_index", "segment_type"])
    assert segments.to_pylist()[:3] == [
        {"session_id": "s1", "segment_index": 0, "segment_type": "alert"},
        {"session_id": "s1", "segment_index": 1, "segment_type": "interact"},
        {"session_id": "s2", "segment_index": 0, "segment_type": "interact"},
    ]
    assert tables["session_metrics"].column("metric_index").to_pylist() == [0, 1, 0, 0]


def test_children_carry_their_conversation_start() -> None:
    """Every child row carries its conversation's start (its partition column)."""
    convs = two_conversations()
    convs[1]["conversationStart"] = "2024-05-02T23:59:59.999Z"
    tables = conversation_tables(page(convs), CTX).tables

    for name in ("participants", "sessions", "segments", "session_metrics"):
        started = {r["conversation_id"]: r["conversation_start"] for r in tables[name].to_pylist()}
        assert started["c2"] == utc("2024-05-02T23:59:59.999+00:00"), name


def test_attributes_are_one_row_per_name() -> None:
    """Participant attributes unpivot into (participant, name, value) rows."""
    tables = conversation_tables(page(two_conversations()), CTX).tables

    attrs = tables["participant_attributes"].select(["participant_id", "name", "value"])
    assert sorted(attrs.to_pylist(), key=lambda r: (r["participant_id"], r["name"])) == [
        {"participant_id": "p1", "name": "AccountType", "value": "Gold"},
        {"participant_id": "p1", "name": "CaseNumber", "value": "00123456"},
        {"participant_id": "p2", "name": "Language", "value": "fr"},
    ]


def test_date_like_attribute_values_keep_their_text() -> None:
    """An attribute that looks like a date stays the exact string the API sent."""
    convs = two_conversations()
    convs[0]["participants"][0]["attributes"] = {"Due": "2024-05-01", "At": "2024-05-01 10:00:00"}
    tables = conversation_tables(page(convs), CTX).tables

    attrs = {
        r["name"]: r["value"] for r in rows(tables["participant_attributes"], participant_id="p1")
    }
    assert attrs == {"Due": "2024-05-01", "At": "2024-05-01 10:00:00"}


def test_date_like_text_in_a_string_member_is_kept() -> None:
    """A string member whose values look like dates is not turned into a timestamp."""
    convs = two_conversations()
    convs[0]["externalTag"] = "2024-05-01"
    tables = conversation_tables(page(convs), CTX).tables

    assert one(tables["conversations"], conversation_id="c1")["external_tag"] == "2024-05-01"


def test_missing_members_are_null() -> None:
    """Members a record lacks come out null; a conversation without participants is fine."""
    bare = {"conversationId": "c9", "conversationStart": "2024-05-01T10:00:00Z"}
    tables = conversation_tables(page([bare]), CTX).tables

    conv = one(tables["conversations"])
    assert conv["conversation_end"] is None
    assert conv["division_ids"] is None
    assert conv["evaluations"] is None
    assert all(tables[n].num_rows == 0 for n in tables if n != "conversations")


def test_unknown_enum_values_are_kept() -> None:
    """Enum values the contract does not list come through as they are."""
    convs = two_conversations()
    convs[0]["participants"][0]["purpose"] = "hologram"
    convs[0]["participants"][0]["sessions"][0]["segments"][0]["segmentType"] = "teleport"
    tables = conversation_tables(page(convs), CTX).tables

    assert one(tables["participants"], participant_id="p1")["purpose"] == "hologram"
    assert one(tables["segments"], session_id="s1", segment_index=0)["segment_type"] == "teleport"


def test_offsets_are_converted_to_utc() -> None:
    """A time with an offset lands as the same instant in UTC."""
    convs = two_conversations()
    convs[0]["conversationEnd"] = "2024-05-01T06:05:00.000-04:00"
    tables = conversation_tables(page(convs), CTX).tables

    end = one(tables["conversations"], conversation_id="c1")["conversation_end"]
    assert end == datetime(2024, 5, 1, 10, 5, tzinfo=UTC)


def test_settled_flags() -> None:
    """A conversation is settled when it ended before settled_before; children follow it."""
    tables = conversation_tables(page(two_conversations()), CTX).tables

    for name, table in tables.items():
        flags = {(r["conversation_id"], r["_settled"]) for r in table.to_pylist()}
        assert flags == {("c1", True), ("c2", False)} or name == "participant_attributes", name
        assert ("c1", True) in flags, name
    late = RunContext("run-1", EXTRACTED, settled_before=datetime(2024, 5, 1, 10, 5, tzinfo=UTC))
    flags = conversation_tables(page(two_conversations()), late).tables["conversations"]
    assert flags.column("_settled").to_pylist() == [False, False]
    unbounded = RunContext("run-1", EXTRACTED)
    flags = conversation_tables(page(two_conversations()), unbounded).tables["conversations"]
    assert flags.column("_settled").to_pylist() == [True, False]


def test_run_columns() -> None:
    """Every row carries the run id and extraction time."""
    tables = conversation_tables(page(two_conversations()), CTX).tables

    for table in tables.values():
        assert set(table.column("_run_id").to_pylist()) == {"run-1"}
        assert set(table.column("_extracted_at").to_pylist()) == {EXTRACTED}


def test_empty_page() -> None:
    """A page without conversations gives six empty tables and no cursor."""
    result = conversation_tables(b'{"conversations": []}', CTX)

    assert all(t.num_rows == 0 for t in result.tables.values())
    assert result.cursor is None
    assert result.data_availability is None
    assert len(result.conversation_ids) == 0


# --- members the contract lacks -------------------------------------------------------------


def extras(table: pa.Table) -> list[Any]:
    return [None if e is None else json.loads(e) for e in table.column("_extra").to_pylist()]


def test_unknown_members_land_in_extra_at_every_level() -> None:
    """An unknown member is kept as JSON in `_extra` of its own level's table."""
    convs = two_conversations()
    c1 = convs[0]
    c1["sentiment"] = {"score": 0.4}
    p1 = c1["participants"][0]
    p1["loyalty"] = "gold"
    s1 = p1["sessions"][0]
    s1["aiSummary"] = ["a", "b"]
    s1["flow"] = {"flowName": "Main", "newFlag": True}
    s1["mediaEndpointStats"] = [{"minMos": 4.1}, {"minMos": 3.9, "jitter": 3}]
    s1["segments"][1]["mood"] = "calm"
    s1["metrics"][0]["unit"] = "count"
    tables = conversation_tables(page(convs), CTX).tables

    assert extras(tables["conversations"]) == [{"sentiment": {"score": 0.4}}, None]
    assert extras(tables["participants"]) == [{"loyalty": "gold"}, None, None]
    assert extras(tables["sessions"])[0] == {
        "aiSummary": ["a", "b"],
        "flow": {"newFlag": True},
        "mediaEndpointStats": [None, {"jitter": 3}],
    }
    assert extras(tables["segments"])[:2] == [None, {"mood": "calm"}]
    assert extras(tables["session_metrics"])[0] == {"unit": "count"}
    s1_row = one(tables["sessions"], session_id="s1")
    assert s1_row["flow_name"] == "Main"
    assert [m["min_mos"] for m in s1_row["media_endpoint_stats"]] == [4.1, 3.9]


def test_unknown_members_with_clashing_types_are_still_kept() -> None:
    """Unknown members whose values differ in type across records are kept all the same."""
    convs = two_conversations()
    convs[0]["custom"] = 1
    convs[1]["custom"] = "one"
    tables = conversation_tables(page(convs), CTX).tables

    assert extras(tables["conversations"]) == [{"custom": 1}, {"custom": "one"}]
    assert tables["participant_attributes"].num_rows == 3


def test_extra_is_null_without_unknown_members() -> None:
    """Pages that fit the contract exactly leave `_extra` null everywhere."""
    tables = conversation_tables(page(two_conversations()), CTX).tables

    assert all(t.column("_extra").null_count == t.num_rows for t in tables.values())


# --- records that do not fit ----------------------------------------------------------------


def test_string_where_an_integer_belongs_names_the_member() -> None:
    """SchemaMismatch names the member path (with indices) of a value of the wrong type."""
    convs = two_conversations()
    convs[0]["participants"][1]["sessions"][0]["metrics"][0]["value"] = "sixty"

    with pytest.raises(SchemaMismatch) as raised:
        conversation_tables(page(convs), CTX)
    assert str(raised.value) == (
        "conversation details page: "
        "conversations[0].participants[1].sessions[0].metrics[0].value: "
        "expected an integer, got a string"
    )
    assert "sixty" not in str(raised.value)


def test_fractional_integer_and_bad_time_name_the_member() -> None:
    """A fraction in an integer member, or an unreadable time, is a SchemaMismatch too."""
    convs = two_conversations()
    convs[1]["participants"][0]["sessions"][0]["metrics"][0]["value"] = 1.5
    with pytest.raises(SchemaMismatch, match=r"conversations\[1\]\..*metrics\[0\]\.value"):
        conversation_tables(page(convs), CTX)

    convs = two_conversations()
    convs[1]["conversationStart"] = "yesterday"
    with pytest.raises(SchemaMismatch, match=r"conversations\[1\]\.conversationStart: expected"):
        conversation_tables(page(convs), CTX)


def test_object_where_an_array_belongs() -> None:
    """An object where the contract has an array is named."""
    convs = two_conversations()
    convs[0]["divisionIds"] = {"id": "d1"}
    with pytest.raises(SchemaMismatch, match=r"conversations\[0\]\.divisionIds: expected an array"):
        conversation_tables(page(convs), CTX)


def test_non_string_attribute_value() -> None:
    """Attributes are a map of strings: a number there names the attribute."""
    convs = two_conversations()
    convs[0]["participants"][0]["attributes"] = {"Score": 7}
    with pytest.raises(
        SchemaMismatch, match=r"attributes\.Score \(conversation c1\): expected a string"
    ):
        conversation_tables(page(convs), CTX)


def test_missing_keys_are_refused() -> None:
    """A conversation without an id, or a session without one, cannot be keyed."""
    convs = two_conversations()
    del convs[1]["conversationId"]
    with pytest.raises(SchemaMismatch, match="a conversation has no conversationId"):
        conversation_tables(page(convs), CTX)

    convs = two_conversations()
    del convs[0]["participants"][1]["sessions"][1]["sessionId"]
    with pytest.raises(SchemaMismatch, match=r"a session has no sessionId \(conversation c1\)"):
        conversation_tables(page(convs), CTX)


def test_not_json() -> None:
    """A body that is not JSON is a SchemaMismatch, not a parser traceback."""
    with pytest.raises(SchemaMismatch, match="not valid JSON"):
        conversation_tables(b"<html>gateway timeout</html>", CTX)


def test_open_segment_has_null_end() -> None:
    """An open segment (no end) has a null segment_end."""
    opened = session(
        "s5", segments=[segment("2024-05-01T10:00:00.000Z", None)], metrics=[metric("nOffered", 1)]
    )
    convs = [conversation("c5", [participant("p5", [opened])])]
    tables = conversation_tables(page(convs), CTX).tables

    assert one(tables["segments"])["segment_end"] is None


def test_times_without_a_zone_are_utc() -> None:
    """A time without an offset, beside ones with `Z`, is read as UTC."""
    convs = two_conversations()
    convs[1]["conversationStart"] = "2024-05-01T11:00:00"
    tables = conversation_tables(page(convs), CTX).tables

    start = one(tables["conversations"], conversation_id="c2")["conversation_start"]
    assert start == datetime(2024, 5, 1, 11, tzinfo=UTC)


def test_null_participant_is_refused() -> None:
    """A null in the participants array is a record without a key."""
    convs = two_conversations()
    convs[0]["participants"].append(None)
    with pytest.raises(SchemaMismatch, match="a participant has no participantId"):
        conversation_tables(page(convs), CTX)


def test_unknown_members_inside_embedded_arrays() -> None:
    """Unknown members of evaluation objects are kept under `evaluations`, one per element."""
    convs = two_conversations()
    convs[1]["evaluations"] = [{"evaluationId": "e1"}, {"evaluationId": "e2", "aiScore": 9}]
    tables = conversation_tables(page(convs), CTX).tables

    assert extras(tables["conversations"]) == [None, {"evaluations": [None, {"aiScore": 9}]}]
    evaluations = one(tables["conversations"], conversation_id="c2")["evaluations"]
    assert [e["evaluation_id"] for e in evaluations] == ["e1", "e2"]


def test_misfit_beside_date_like_text_is_named() -> None:
    """A misfit on a page that also takes the slower, exact-text path is still named."""
    convs = two_conversations()
    convs[0]["externalTag"] = "2024-05-01"
    convs[1]["mediaStatsMinConversationMos"] = "good"
    with pytest.raises(SchemaMismatch, match=r"conversations\[1\]\.mediaStatsMinConversationMos"):
        conversation_tables(page(convs), CTX)
