"""user_tables: a user details results page -> user_presence and user_routing_status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from genesys_export.errors import SchemaMismatch
from genesys_export.transform import schemas
from genesys_export.transform.tables import RunContext
from genesys_export.transform.users import user_tables
from tests.transform.builders import CTX, EXTRACTED, contract_page

PAGE1 = "user-details-job.results.page1.json"


def presence(start: str, end: str | None, status: str = "AVAILABLE") -> dict[str, Any]:
    found = {"startTime": start, "systemPresence": status, "organizationPresenceId": "op-1"}
    return found if end is None else found | {"endTime": end}


def routing(start: str, end: str | None, status: str = "IDLE") -> dict[str, Any]:
    found = {"startTime": start, "routingStatus": status}
    return found if end is None else found | {"endTime": end}


def users_page(*details: dict[str, Any], **top: Any) -> bytes:
    return orjson.dumps({"userDetails": list(details), **top})


def sample() -> bytes:
    """u1: 2 presence intervals (one open), 1 routing; u2: 1 presence, no routing."""
    u1 = {
        "userId": "u1",
        "primaryPresence": [
            presence("2024-05-01T08:00:00.000Z", "2024-05-01T09:00:00.000Z"),
            presence("2024-05-01T09:00:00.000Z", None, "ON_QUEUE"),
        ],
        "routingStatus": [routing("2024-05-01T09:00:00.000Z", "2024-05-01T09:00:04.500Z")],
    }
    u2 = {
        "userId": "u2",
        "primaryPresence": [presence("2024-05-01T07:00:00Z", "2024-05-01T08:00:00Z")],
    }
    return users_page(u1, u2, cursor="c2", dataAvailabilityDate="2024-05-03T04:00:00.000Z")


def test_contract_example() -> None:
    """The contract's user page: 2 presence rows and 3 routing-status rows with durations."""
    result = user_tables(contract_page(PAGE1), CTX)

    presence_rows = result.tables["user_presence"].to_pylist()
    assert [r["system_presence"] for r in presence_rows] == ["AVAILABLE", "ON_QUEUE"]
    assert presence_rows[0]["duration_ms"] == 118_000
    routing_rows = result.tables["user_routing_status"].to_pylist()
    assert [r["routing_status"] for r in routing_rows] == ["IDLE", "COMMUNICATING", "INTERACTING"]
    assert routing_rows[1]["duration_ms"] == 4_210
    assert result.cursor == "eyJwYWdlIjoyfQ=="


def test_rows_cells_and_schema() -> None:
    """One row per interval, user ids, UTC times, open intervals with null end and duration."""
    result = user_tables(sample(), CTX)

    for spec in schemas.USER_TABLES:
        assert result.tables[spec.name].schema.equals(spec.schema)
    rows = result.tables["user_presence"].to_pylist()
    assert [(r["user_id"], r["system_presence"]) for r in rows] == [
        ("u1", "AVAILABLE"),
        ("u1", "ON_QUEUE"),
        ("u2", "AVAILABLE"),
    ]
    assert rows[0]["start_time"] == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert rows[0]["duration_ms"] == 3_600_000
    assert (rows[1]["end_time"], rows[1]["duration_ms"]) == (None, None)
    assert rows[1]["organization_presence_id"] == "op-1"
    routing_rows = result.tables["user_routing_status"].to_pylist()
    assert [(r["user_id"], r["duration_ms"]) for r in routing_rows] == [("u1", 4_500)]
    assert result.cursor == "c2"
    assert result.data_availability == datetime(2024, 5, 3, 4, tzinfo=UTC)


def test_settled_flags() -> None:
    """Open intervals, and those ending at or after settled_before, are not settled."""
    ctx = RunContext("run-1", EXTRACTED, settled_before=datetime(2024, 5, 1, 9, tzinfo=UTC))
    result = user_tables(sample(), ctx)

    # 09:00 end == settled_before: not settled; open: not settled; 08:00 end: settled
    assert result.tables["user_presence"].column("_settled").to_pylist() == [False, False, True]
    assert result.tables["user_routing_status"].column("_settled").to_pylist() == [False]
    unbounded = user_tables(sample(), RunContext("run-1", EXTRACTED))
    assert unbounded.tables["user_presence"].column("_settled").to_pylist() == [True, False, True]


def test_unknown_enum_and_unknown_members_are_kept() -> None:
    """An unlisted status is kept; unknown record and user members go to `_extra`."""
    detail = {
        "userId": "u1",
        "division": "d1",
        "primaryPresence": [presence("2024-05-01T08:00:00Z", None, "HOLOGRAM") | {"note": "x"}],
        "routingStatus": [routing("2024-05-01T08:00:00Z", None)],
    }
    tables = user_tables(users_page(detail), CTX).tables

    row = tables["user_presence"].to_pylist()[0]
    assert row["system_presence"] == "HOLOGRAM"
    assert json.loads(row["_extra"]) == {"note": "x", "userDetail": {"division": "d1"}}
    routing_extra = tables["user_routing_status"].column("_extra").to_pylist()[0]
    assert json.loads(routing_extra) == {"userDetail": {"division": "d1"}}


def test_missing_key_member_is_refused() -> None:
    """A presence record without its system presence cannot be keyed."""
    record = presence("2024-05-01T08:00:00Z", None)
    del record["systemPresence"]
    with pytest.raises(
        SchemaMismatch, match="primaryPresence record of user u1 has no system_pres"
    ):
        user_tables(users_page({"userId": "u1", "primaryPresence": [record]}), CTX)


def test_wrong_type_names_the_member() -> None:
    """A number where a time belongs names the member with its indices."""
    detail = {"userId": "u1", "routingStatus": [{"startTime": 5, "routingStatus": "IDLE"}]}
    with pytest.raises(SchemaMismatch) as raised:
        user_tables(users_page(detail), CTX)
    assert str(raised.value) == (
        "user details page: userDetails[0].routingStatus[0].startTime: "
        "expected an ISO-8601 date-time, got a number"
    )


def test_empty_page() -> None:
    """No user details: two empty tables."""
    result = user_tables(b"{}", CTX)
    assert [t.num_rows for t in result.tables.values()] == [0, 0]
