"""Reference data end to end: complete listings, type-2 history, and views that name facts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pytest

from genesys_export.errors import ApiError, ServerError
from genesys_export.transform.dimensions import ENTITIES
from tests.e2e import SINKS, duckdb_dest, exporter_for, read, simulator
from tests.sinks.builders import DSN

LISTING_PATHS = {path for e in ENTITIES for path, _ in e.listings}


def current(table: pa.Table) -> dict[str, dict[str, Any]]:
    rows = table.filter(pa.compute.equal(table.column("_is_current"), True)).to_pylist()
    return {row["id"]: row for row in rows}


def listing_requests(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.path in LISTING_PATHS]


def test_tables_equal_the_listings_in_the_fewest_requests(tmp_path: Path) -> None:
    """Every entity lands once per id with the listing's name (users with state=any, so
    deleted ones too); one request per listing at the largest page size."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        sim.directory.delete("users", next(iter(sim.directory.records["users"])))
        summary = exporter_for(running, tmp_path).export_reference(dest=dest).summary
        records = sim.directory.records
        requests = listing_requests(sim)
    for entity in ENTITIES:
        kind = {"wrapup_codes": "wrapupcodes", "presence_definitions": "presence"}.get(
            entity.name, entity.name
        )
        landed = current(read(dest, entity.table))
        assert {i: r["name"] for i, r in landed.items()} == {
            i: r["name"] for i, r in records[kind].items()
        }, entity.table
    assert len(requests) == sum(len(e.listings) for e in ENTITIES) == summary["requests"]
    users = current(read(dest, "dim_users"))
    # listed with state=any: the one deleted here, and two agents who left long ago
    assert sum(u["_deleted"] for u in users.values()) == 1 + len(sim.dataset.org.former_users)
    presence = current(read(dest, "dim_presence_definitions"))
    assert {p["system_presence"] for p in presence.values()} >= {"ON_QUEUE", "AVAILABLE"}


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_rename_a_deletion_and_an_addition_give_exactly_those_versions(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    dest = dest_in(tmp_path)
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_reference(["queues"], dest=dest)
        first = read(dest, "dim_queues")
        renamed, deleted = list(sim.directory.records["queues"])[:2]
        sim.directory.rename("queues", renamed, "Support (EMEA)")
        sim.directory.delete("queues", deleted)
        added = sim.directory.add("queues", "Priority")
        exporter.export_reference(["queues"], dest=dest)
        second = read(dest, "dim_queues")
        exporter.export_reference(["queues"], dest=dest)  # nothing changed
        third = read(dest, "dim_queues")
    assert second.num_rows == first.num_rows + 3  # a new version each: renamed, deleted, added
    assert third.num_rows == second.num_rows  # an unchanged rerun adds no version
    history = {}
    for row in second.to_pylist():
        history.setdefault(row["id"], []).append(row)
    old, new = sorted(history[renamed], key=lambda r: r["_valid_from"])
    assert (old["name"], old["_is_current"], new["name"], new["_is_current"]) == (
        first.filter(pa.compute.equal(first.column("id"), renamed)).column("name")[0].as_py(),
        False,
        "Support (EMEA)",
        True,
    )
    assert old["_valid_to"] == new["_valid_from"] and new["_valid_to"] is None
    closed, gone = sorted(history[deleted], key=lambda r: r["_valid_from"])
    assert (closed["_is_current"], gone["_is_current"], gone["_deleted"]) == (False, True, True)
    assert gone["name"] == closed["name"]  # a deleted queue keeps its last name
    assert [(r["name"], r["_deleted"]) for r in history[added]] == [("Priority", False)]


def test_a_listing_that_fails_midway_changes_nothing(tmp_path: Path) -> None:
    """Users listed a few to a page; the third page keeps failing: the run fails and the
    table stays as it was (no user is taken for deleted)."""
    dest = duckdb_dest(tmp_path)
    small = {"users": 60, "reference_page_size_max": 25}
    with simulator(**small) as (sim, running):
        exporter_for(running, tmp_path).export_reference(["users"], dest=dest)
        before = read(dest, "dim_users")
        sim.directory.rename("users", next(iter(sim.directory.records["users"])), "Someone Else")
    faults = "5xx:every=1,after=7,path=/api/v2/users"  # 5 refused sizes, 2 pages, then none
    with simulator(**small, faults=faults) as (sim, running):
        with pytest.raises((ServerError, ApiError)):
            exporter_for(running, tmp_path).export_reference(["users"], dest=dest)
        pages = {r.query.get("pageNumber") for r in sim.requests if r.path == "/api/v2/users"}
    assert read(dest, "dim_users").equals(before)
    assert {"1", "2", "3"} <= pages  # the failure came mid-listing


def test_a_page_size_past_the_ceiling_is_halved_until_accepted(tmp_path: Path) -> None:
    dest = duckdb_dest(tmp_path)
    with simulator(reference_page_size_max=100) as (sim, running):
        exporter_for(running, tmp_path).export_reference(["users"], dest=dest)
        sizes = [r.query["pageSize"] for r in sim.requests if r.path == "/api/v2/users"]
        statuses = [r.status for r in sim.requests if r.path == "/api/v2/users"]
    assert sizes == ["500", "250", "125", "62"] and statuses == [400, 400, 400, 200]
    assert len(current(read(dest, "dim_users"))) == 8 + 2  # with the two former agents


def test_named_views_name_every_fact_whose_id_is_known(tmp_path: Path) -> None:
    """segments_named, user_presence_named and the aggregates' view carry names for every
    known id; a fact with an unknown id keeps its row with a NULL name."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations("2024-05-08/2024-05-09", dest=dest)
        exporter.export_users("2024-05-08/2024-05-09", dest=dest)
        exporter.export_aggregates(
            "2024-05-08/2024-05-09",
            granularity="PT1H",
            group_by=["queueId", "mediaType"],
            metrics=["nOffered"],
            dest=dest,
        )
        exporter.export_reference(dest=dest)
        gone = next(iter(sim.directory.records["queues"]))
        sim.directory.delete("queues", gone)  # still named, by its last version
        exporter.export_reference(dest=dest)
    con = duckdb.connect(dest.removeprefix("duckdb:///"), read_only=True)
    sql = lambda q: con.execute(q).fetchall()  # noqa: E731
    assert sql("SELECT count(*) FROM segments") == sql("SELECT count(*) FROM segments_named")
    assert sql(
        "SELECT count(*) FROM segments_named WHERE queue_id IS NOT NULL AND queue_name IS NULL"
    ) == [(0,)]
    assert sql(
        f"SELECT DISTINCT queue_name IS NOT NULL FROM segments_named WHERE queue_id = '{gone}'"
    ) == [(True,)]
    assert sql(
        "SELECT count(*) FROM user_presence_named WHERE user_name IS NULL "
        "OR presence_definition_name IS NULL"
    ) == [(0,)]
    assert sql("SELECT count(*) FROM conversation_aggregates_named") == sql(
        "SELECT count(*) FROM conversation_aggregates"
    )
    assert sql(
        "SELECT count(*) FROM conversation_aggregates_named "
        "WHERE queue_id IS NOT NULL AND queue_name IS NULL"
    ) == [(0,)]
    # an id no dimension knows keeps its row, with a NULL name
    con.close()
    with duckdb.connect(dest.removeprefix("duckdb:///")) as rw:
        rw.execute("UPDATE segments SET queue_id = 'no-such-queue' WHERE rowid = 0")
        assert rw.execute(
            "SELECT queue_name FROM segments_named WHERE queue_id = 'no-such-queue'"
        ).fetchall() == [(None,)]


@pytest.mark.postgres
def test_postgres_gets_the_history_and_the_named_views(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The same dimensions and views in PostgreSQL: names for every known queue."""
    pg_uri, pg_schema = request.getfixturevalue("uri"), request.getfixturevalue("schema")
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations("2024-05-08/2024-05-09", dest=pg_uri)
        exporter.export_reference(["queues", "users", "wrapup_codes"], dest=pg_uri)
        renamed = next(iter(sim.directory.records["queues"]))
        sim.directory.rename("queues", renamed, "Renamed queue")
        exporter.export_reference(["queues"], dest=pg_uri)
    queues = read(pg_uri, "dim_queues")
    assert queues.num_rows == len(sim.directory.records["queues"]) + 1
    with psycopg.connect(DSN) as conn:
        unnamed = conn.execute(
            f'SELECT count(*) FROM "{pg_schema}".segments_named '
            "WHERE queue_id IS NOT NULL AND queue_name IS NULL"
        ).fetchone()
        names = conn.execute(
            f'SELECT DISTINCT queue_name FROM "{pg_schema}".segments_named WHERE queue_id = %s',
            [renamed],
        ).fetchall()
        total = conn.execute(f'SELECT count(*) FROM "{pg_schema}".segments_named').fetchone()
    assert unnamed == (0,)
    assert names in ([], [("Renamed queue",)])  # the queue's current name, if it had traffic
    assert total == (read(pg_uri, "segments").num_rows,)


def test_departed_agents_still_name_old_conversations(tmp_path: Path) -> None:
    """Conversations of late April involve two agents who left since (listed as deleted
    users) and a queue removed since (listed nowhere): the agents keep their names, the
    queue's rows stay, with a NULL name."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations("2024-04-29/2024-04-30", dest=dest)
        exporter.export_reference(["users", "queues"], dest=dest)
        org = sim.dataset.org
    former = {u.id: u.name for u in org.former_users}
    (legacy,) = (q.id for q in org.former_queues)
    users = current(read(dest, "dim_users"))
    assert {i: (users[i]["name"], users[i]["_deleted"]) for i in former} == {
        i: (name, True) for i, name in former.items()
    }
    con = duckdb.connect(dest.removeprefix("duckdb:///"), read_only=True)
    named = con.execute(
        "SELECT DISTINCT p.user_id, s.user_name FROM segments_named s "
        "JOIN participants p USING (conversation_id) WHERE p.user_id IN (?, ?)",
        list(former),
    ).fetchall()
    legacy_rows = con.execute(
        "SELECT count(*), count(queue_name) FROM segments_named WHERE queue_id = ?", [legacy]
    ).fetchone()
    assert {user for user, _ in named} == set(former)  # both appear in the old conversations
    assert legacy_rows is not None and legacy_rows[0] > 0 and legacy_rows[1] == 0
