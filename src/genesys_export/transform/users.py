"""User-details results pages -> `user_presence` and `user_routing_status`, column by column.

Each user's `primaryPresence[]` and `routingStatus[]` intervals become rows keyed by the user
and the interval's start; `duration_ms` is end minus start (null while the interval is open).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.errors import SchemaMismatch
from genesys_export.transform import models, names, pages, schemas, unknown
from genesys_export.transform.tables import (
    SETTLED_FIELD,
    RunContext,
    TableSpec,
    settled_flags,
    with_run_columns,
)

WHAT = "user details page"
_INTERVALS = ("primaryPresence", "routingStatus")
_TABLES = {
    "primaryPresence": (schemas.USER_PRESENCE, models.PRESENCE_RECORD),
    "routingStatus": (schemas.USER_ROUTING_STATUS, models.ROUTING_STATUS_RECORD),
}


@dataclass(frozen=True)
class UserPage:
    """The tables of one user-details results page, plus what the job loop needs to go on."""

    tables: dict[str, pa.Table]
    cursor: str | None
    data_availability: datetime | None


def user_tables(page: bytes, ctx: RunContext) -> UserPage:
    """Flatten one results page of a user details job into the two interval tables.

    Raises SchemaMismatch naming the member when a record does not fit the contract.
    """
    parsed = pages.read_page(page, models.USER_PAGE, what=WHAT)
    users = parsed.records("userDetails")
    if users.field("userId").null_count:
        raise SchemaMismatch(f"{WHAT}: a user detail has no userId; every record needs one")
    tables = {}
    for member, (spec, model) in _TABLES.items():
        tables[spec.name] = _intervals(parsed, users, member, spec, model, ctx)
    return UserPage(
        tables=tables,
        cursor=parsed.value("cursor"),
        data_availability=parsed.value("dataAvailabilityDate"),
    )


def _intervals(
    parsed: pages.ParsedPage,
    users: pa.StructArray,
    member: str,
    spec: TableSpec,
    model: pa.StructType,
    ctx: RunContext,
) -> pa.Table:
    """One row per interval record in each user's `member` array."""
    lists = users.field(member)
    owner = pc.list_parent_indices(lists)
    columns = names.record_columns(pc.list_flatten(lists), model)
    columns["user_id"] = pc.take(users.field("userId"), owner)
    body = pa.schema(list(spec.schema)[:-3])  # all but _run_id, _extracted_at, _settled
    _require(columns, body, member)
    start, end = columns["start_time"], columns["end_time"]
    columns["duration_ms"] = pc.subtract(end.cast(pa.int64()), start.cast(pa.int64()))
    columns["_extra"] = _extra(parsed, member, owner)
    table = pa.Table.from_arrays([columns[name] for name in body.names], schema=body)
    return with_run_columns(table, ctx).append_column(SETTLED_FIELD, settled_flags(end, ctx))


def _require(columns: dict[str, pa.Array], body: pa.Schema, member: str) -> None:
    """SchemaMismatch naming the user and member when a key member is missing."""
    for field in body:
        column = columns.get(field.name)
        if field.nullable or column is None or not column.null_count:
            continue
        row = pc.index(pc.is_null(column), True).as_py()
        user = columns["user_id"][row].as_py()
        raise SchemaMismatch(f"{WHAT}: a {member} record of user {user} has no {field.name}")


def _extra(parsed: pages.ParsedPage, member: str, owner: pa.Array) -> pa.Array:
    """Unknown members of each record, with its user detail's own under `"userDetail"`."""
    model = _TABLES[member][1]
    path = ("userDetails", member)
    all_known = parsed.complete and not (
        unknown.has_unknown(parsed.parsed_at(*path), model)
        or unknown.has_unknown(parsed.parsed_at("userDetails"), models.USER_DETAIL, _INTERVALS)
    )
    if all_known:
        return pa.nulls(len(owner), pa.string())
    users = [
        unknown.unknown_members(u, models.USER_DETAIL, _INTERVALS) for u in parsed.objects(path[0])
    ]
    found = []
    for record, user in zip(parsed.objects(*path), owner.to_pylist(), strict=True):
        extra = unknown.unknown_members(record, model) or {}
        if users[user]:
            extra["userDetail"] = users[user]
        found.append(extra or None)
    return unknown.json_column(found)
