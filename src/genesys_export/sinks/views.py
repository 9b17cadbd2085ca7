"""Views that put names on the facts: `segments_named`, `user_presence_named`, ...

Each view is its fact table with name columns from the current version of the dimension
tables, by left join: a fact whose id has no dimension row keeps a NULL name and never
disappears, and a deleted queue still shows its last name (its current version is the
`_deleted` one). Where a dimension table does not exist yet, its name columns are NULL.
DuckDB and PostgreSQL create or replace the views whenever a table they read is created
or changes shape (see `view_sql`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pyarrow as pa

# name column -> (dimension table, the fact's id column)
_NAMES = {
    "queue_id": ("queue_name", "dim_queues"),
    "user_id": ("user_name", "dim_users"),
    "wrap_up_code": ("wrapup_code_name", "dim_wrapup_codes"),
    "organization_presence_id": ("presence_definition_name", "dim_presence_definitions"),
}
Ident = Callable[[str], str]  # a table's (qualified, quoted) identifier


def view_sql(schemas: Mapping[str, pa.Schema], ident: Ident, text: str) -> dict[str, str]:
    """`CREATE VIEW` bodies (the SELECT) per view name, for the tables in `schemas`.

    `text` is the engine's text type, for the NULL names of a missing dimension.
    """
    views: dict[str, str] = {}
    if "segments" in schemas:
        views["segments_named"] = _segments(schemas, ident, text)
    for fact in ("user_presence", "user_routing_status"):
        if fact in schemas:
            views[f"{fact}_named"] = _named(fact, schemas, ident, text)
    for name, schema in schemas.items():
        if _is_aggregates(schema) and any(c in schema.names for c in _NAMES):
            views[f"{name}_named"] = _named(name, schemas, ident, text)
    return views


def _named(fact: str, schemas: Mapping[str, pa.Schema], ident: Ident, text: str) -> str:
    columns, joins = [], []
    for i, (id_column, (name, dim)) in enumerate(_NAMES.items()):
        if id_column not in schemas[fact].names:
            continue
        if dim in schemas:
            alias = f"d{i}"
            joins.append(_join(dim, alias, f"f.{_q(id_column)}", ident))
            columns.append(f"{alias}.{_q('name')} AS {_q(name)}")
        else:
            columns.append(f"CAST(NULL AS {text}) AS {_q(name)}")
    select = ", ".join(["f.*", *columns])
    return f"SELECT {select} FROM {ident(fact)} AS f " + " ".join(joins)


def _segments(schemas: Mapping[str, pa.Schema], ident: Ident, text: str) -> str:
    """Segments with their queue's and wrap-up code's names, and their agent's (a segment's
    user is its session's participant's)."""
    columns, joins = [], []
    for alias, id_expr, (name, dim) in (
        ("q", f"f.{_q('queue_id')}", _NAMES["queue_id"]),
        ("w", f"f.{_q('wrap_up_code')}", _NAMES["wrap_up_code"]),
        ("u", f"p.{_q('user_id')}", _NAMES["user_id"]),
    ):
        if dim in schemas and (alias != "u" or {"sessions", "participants"} <= schemas.keys()):
            joins.append(_join(dim, alias, id_expr, ident))
            columns.append(f"{alias}.{_q('name')} AS {_q(name)}")
        else:
            columns.append(f"CAST(NULL AS {text}) AS {_q(name)}")
    people = ""
    if "dim_users" in schemas and {"sessions", "participants"} <= schemas.keys():
        same = [f"s.{_q(c)} = f.{_q(c)}" for c in ("conversation_id", "session_id")]
        who = [f"p.{_q(c)} = s.{_q(c)}" for c in ("conversation_id", "participant_id")]
        people = (
            f"LEFT JOIN {ident('sessions')} AS s ON {' AND '.join(same)} "
            f"LEFT JOIN {ident('participants')} AS p ON {' AND '.join(who)} "
        )
    select = ", ".join(["f.*", *columns])
    return f"SELECT {select} FROM {ident('segments')} AS f {people}" + " ".join(joins)


def _join(dim: str, alias: str, id_expr: str, ident: Ident) -> str:
    return (
        f"LEFT JOIN {ident(dim)} AS {alias} "
        f"ON {alias}.{_q('id')} = {id_expr} AND {alias}.{_q('_is_current')}"
    )


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _is_aggregates(schema: pa.Schema) -> bool:
    return {"interval_start", "granularity", "metric", "qualifier"} <= set(schema.names)
