"""User details end to end: presence and routing status from the simulator, read back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from genesys_export.simulator import Simulator
from genesys_export.transform.schemas import USER_TABLES
from tests.conftest import AVAILABLE
from tests.e2e import (
    SINKS,
    cli_env,
    data_rows,
    duckdb_dest,
    exporter_for,
    instant,
    invoke,
    parquet_dest,
    read_all,
    simulator,
)

START = datetime(2024, 5, 7, tzinfo=UTC)
END = datetime(2024, 5, 10, tzinfo=UTC)
INTERVAL = "2024-05-07/2024-05-10"
JOBS = "/api/v2/analytics/users/details/jobs"
SPECS = {spec.name: spec for spec in USER_TABLES}
TABLES = {
    # table -> (wire member, wire status member, table status column)
    "user_presence": ("primaryPresence", "systemPresence", "system_presence"),
    "user_routing_status": ("routingStatus", "routingStatus", "routing_status"),
}


def truth_rows(details: list[dict[str, Any]], table: str) -> list[tuple[Any, ...]]:
    """(user, start, end, status, presence id, duration, settled) per ground-truth record."""
    member, status, _ = TABLES[table]
    rows = []
    for detail in details:
        for record in detail.get(member, []):
            start, end = instant(record["startTime"]), instant(record.get("endTime"))
            assert start is not None
            rows.append(
                (
                    detail["userId"],
                    start,
                    end,
                    record[status],
                    record.get("organizationPresenceId"),
                    None if end is None else int((end - start) / timedelta(milliseconds=1)),
                    end is not None and end < AVAILABLE,
                )
            )
    return sorted(rows, key=repr)


def landed_rows(tables: dict[str, Any], table: str) -> list[tuple[Any, ...]]:
    """The same tuples, read from a destination table."""
    status = TABLES[table][2]
    return sorted(
        (
            (
                r["user_id"],
                r["start_time"],
                r["end_time"],
                r[status],
                r.get("organization_presence_id"),
                r["duration_ms"],
                r["_settled"],
            )
            for r in tables[table].to_pylist()
        ),
        key=repr,
    )


Landed = tuple[Simulator, dict[str, Any]]


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Landed:
    """One export of INTERVAL's user details into DuckDB."""
    tmp = tmp_path_factory.mktemp("users")
    dest = duckdb_dest(tmp)
    with simulator() as (sim, running):
        exporter_for(running, tmp).export_users(INTERVAL, dest=dest)
    return sim, read_all(dest, TABLES)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_user_tables_equal_the_ground_truth(landed: Landed, table: str) -> None:
    """Every presence and routing-status record overlapping the interval lands once, with
    its times, status, duration and `_settled` flag as the simulator holds it."""
    sim, tables = landed
    expected = truth_rows(sim.dataset.user_details(START, END), table)

    assert expected
    assert landed_rows(tables, table) == expected


@pytest.mark.parametrize("table", sorted(TABLES))
def test_records_spanning_midnight_land_once(landed: Landed, table: str) -> None:
    """A record running across midnight is returned by both days' jobs but lands as one row;
    no key of the table repeats."""
    sim, tables = landed
    midnights = [START + timedelta(days=n) for n in (1, 2)]
    spanning = [
        row
        for row in truth_rows(sim.dataset.user_details(START, END), table)
        if row[2] is not None and any(row[1] < m < row[2] for m in midnights)
    ]
    assert spanning, "late-shift users have records that span midnight"

    rows = landed_rows(tables, table)
    for record in spanning:
        assert rows.count(record) == 1
    keys = [row[:2] + row[3:5] for row in rows]
    assert len(keys) == len(set(keys))


def user_data(dest: str) -> dict[str, list[dict[str, Any]]]:
    tables = read_all(dest, SPECS)
    return {name: data_rows(tables[name], spec.key) for name, spec in SPECS.items()}


def test_user_tables_in_duckdb_and_parquet_are_identical(tmp_path: Path) -> None:
    """The same user export into DuckDB and into Parquet reads back as the same rows."""
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_users(INTERVAL, dest=duckdb_dest(tmp_path))
        exporter.export_users(INTERVAL, dest=parquet_dest(tmp_path))

    in_duckdb = user_data(duckdb_dest(tmp_path))
    assert all(in_duckdb.values())
    assert user_data(parquet_dest(tmp_path)) == in_duckdb


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_record_open_at_the_last_export_is_replaced_once_it_ends(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """A presence or routing record exported while open (no end, not settled) and again
    after it ended is one row with its end: the destination equals a single later export."""
    early = datetime(2024, 5, 9, 10, 30, tzinfo=UTC)
    dest, fresh = dest_in(tmp_path / "twice"), dest_in(tmp_path / "once")
    with simulator(data_availability=early) as (_, running):
        exporter_for(running, tmp_path).export_users("2024-05-09/2024-05-10", dest=dest)
    provisional = user_data(dest)
    assert any(row["end_time"] is None for row in provisional["user_presence"])
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_users("2024-05-09/2024-05-10", dest=dest)
        exporter.export_users("2024-05-09/2024-05-10", dest=fresh)

    assert user_data(dest) == user_data(fresh)


def test_user_ids_restrict_the_export_to_those_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--user-ids a,b` sends a userId filter and lands exactly those users' records."""
    monkeypatch.chdir(tmp_path)
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        users = [user.id for user in sim.dataset.org.users]
        chosen = [users[1], users[2]]  # users[2] works a late shift across midnight
        args = ["export", "users", "--interval", "2024-05-08/2024-05-10", "--dest", dest]
        result = invoke([*args, "--user-ids", ",".join(chosen), "--json"], cli_env(running))

    assert result.exit_code == 0, result.stderr
    tables = read_all(dest, TABLES)
    details = sim.dataset.user_details(START + timedelta(days=1), END)
    wanted = [d for d in details if d["userId"] in chosen]
    for table in TABLES:
        assert {row[0] for row in landed_rows(tables, table)} == set(chosen)
        assert landed_rows(tables, table) == truth_rows(wanted, table)
    bodies = [json.loads(r.body) for r in sim.requests if r.method == "POST" and r.path == JOBS]
    assert bodies
    for body in bodies:
        predicates = body["userFilters"][0]["predicates"]
        assert sorted(p["value"] for p in predicates) == sorted(chosen)
