"""The reference (dimension) entities: their listings, and the tables they land in.

One `Entity` per dimension: the listing endpoints that name it completely, the columns
of its `dim_*` table and where each is in the entity's JSON, and how the listings mark
an entity deleted. Every table keeps type-2 history (`history.versions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from genesys_export.errors import ConfigError
from genesys_export.transform.history import HISTORY_FIELDS
from genesys_export.transform.tables import RUN_FIELDS, TableSpec

Json = dict[str, Any]
STR, BOOL = pa.string(), pa.bool_()


@dataclass(frozen=True)
class Column:
    """A column of a dimension table and where its value is in the entity's JSON."""

    name: str
    type: pa.DataType
    path: tuple[str, ...]


@dataclass(frozen=True)
class Entity:
    """One reference entity: its listings and the table it lands in."""

    name: str  # as `--entities` names it
    table: str
    listings: tuple[tuple[str, Mapping[str, str]], ...]
    columns: tuple[Column, ...]
    paged: bool = True
    spellings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    deleted_listing: str | None = None  # a listing of deleted entities only
    deleted_when: tuple[str, Any] | None = None  # (member, value) that marks one deleted

    @property
    def spec(self) -> TableSpec:
        body = [
            pa.field("id", STR, nullable=False),
            *(pa.field(c.name, c.type) for c in self.columns),
        ]
        schema = pa.schema([*body, *HISTORY_FIELDS, *RUN_FIELDS])
        return TableSpec(self.table, schema, ("id", "_valid_from"), "_valid_from")

    @property
    def tracked(self) -> tuple[str, ...]:
        """Columns whose change opens a new version: all but the id."""
        return tuple(c.name for c in self.columns)


def _col(name: str, path: str, dtype: pa.DataType = STR) -> Column:
    return Column(name, dtype, tuple(path.split(".")))


_DIVISION = (_col("division_id", "division.id"), _col("division_name", "division.name"))
# Presence definitions spell system presences OnQueue, Available, ...; analytics rows
# ON_QUEUE, AVAILABLE: the table keeps the analytics spelling, so the two join as they are.
ANALYTICS_PRESENCE = {
    "Available": "AVAILABLE", "Away": "AWAY", "Busy": "BUSY", "Offline": "OFFLINE",
    "Idle": "IDLE", "OnQueue": "ON_QUEUE", "Meal": "MEAL", "Training": "TRAINING",
    "Meeting": "MEETING", "Break": "BREAK",
}  # fmt: skip

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "queues",
        "dim_queues",
        (("/api/v2/routing/queues", {}),),
        (_col("name", "name"), *_DIVISION, _col("description", "description")),
    ),
    Entity(
        "users",
        "dim_users",
        (("/api/v2/users", {"state": "any"}),),
        (
            _col("name", "name"),
            _col("email", "email"),
            _col("state", "state"),
            *_DIVISION,
            _col("title", "title"),
            _col("department", "department"),
            _col("username", "username"),
        ),
        deleted_when=("state", "deleted"),
    ),
    Entity(
        "wrapup_codes",
        "dim_wrapup_codes",
        (("/api/v2/routing/wrapupcodes", {}),),
        (_col("name", "name"), *_DIVISION, _col("description", "description")),
    ),
    Entity(
        "skills",
        "dim_skills",
        (("/api/v2/routing/skills", {}),),
        (_col("name", "name"), _col("state", "state"), *_DIVISION),
    ),
    Entity(
        "languages",
        "dim_languages",
        (("/api/v2/routing/languages", {}),),
        (_col("name", "name"), _col("state", "state")),
    ),
    Entity(
        "divisions",
        "dim_divisions",
        (
            ("/api/v2/authorization/divisions", {}),
            ("/api/v2/authorization/divisions/deleted", {}),
        ),
        (
            _col("name", "name"),
            _col("description", "description"),
            _col("home_division", "homeDivision", BOOL),
        ),
        deleted_listing="/api/v2/authorization/divisions/deleted",
    ),
    Entity(
        "presence_definitions",
        "dim_presence_definitions",
        (
            ("/api/v2/presence/definitions", {"deactivated": "FALSE"}),
            ("/api/v2/presence/definitions", {"deactivated": "TRUE"}),
        ),
        (
            _col("name", "name"),
            _col("type", "type"),
            _col("system_presence", "systemPresence"),
            _col("division_id", "divisionId"),
            _col("deactivated", "deactivated", BOOL),
        ),
        paged=False,
        spellings={"system_presence": ANALYTICS_PRESENCE},
    ),
    Entity(
        "flows",
        "dim_flows",
        (("/api/v2/flows", {"deleted": "true"}),),
        (
            _col("name", "name"),
            _col("type", "type"),
            *_DIVISION,
            _col("description", "description"),
            _col("active", "active", BOOL),
            _col("system", "system", BOOL),
            _col("deleted", "deleted", BOOL),
        ),
        deleted_when=("deleted", True),
    ),
    Entity(
        "groups",
        "dim_groups",
        (("/api/v2/groups", {}),),
        (
            _col("name", "name"),
            _col("type", "type"),
            _col("state", "state"),
            _col("description", "description"),
        ),
    ),
)
BY_NAME = {entity.name: entity for entity in ENTITIES}


def entities_named(names: Sequence[str]) -> tuple[Entity, ...]:
    """The entities `--entities` names (all when empty); an unknown name is a ConfigError."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ConfigError(
            f"--entities {','.join(unknown)}: unknown; use some of {','.join(BY_NAME)}"
        )
    return tuple(BY_NAME[n] for n in names) if names else ENTITIES


def listed(
    entity: Entity, listings: Sequence[tuple[str, Sequence[Json]]]
) -> tuple[list[Json], set[str]]:
    """The entity's records from its listings, one per id (the last listing wins), and the
    ids those listings say are deleted."""
    found: dict[str, Json] = {}
    deleted: set[str] = set()
    for path, records in listings:
        found |= {str(r["id"]): r for r in records}
        if path == entity.deleted_listing:
            deleted |= {str(r["id"]) for r in records}
    if entity.deleted_when is not None:
        member, value = entity.deleted_when
        deleted |= {i for i, r in found.items() if r.get(member) == value}
    return list(found.values()), deleted


def rows_of(entity: Entity, records: Sequence[Json]) -> pa.Table:
    """The entity's columns of each record (`id` first), values in the table's spelling."""
    columns: dict[str, list[Any]] = {"id": [str(r["id"]) for r in records]}
    for column in entity.columns:
        spelled = entity.spellings.get(column.name, {})
        values = [_at(r, column.path) for r in records]
        columns[column.name] = [spelled.get(v, v) if isinstance(v, str) else v for v in values]
    schema = pa.schema(list(entity.spec.schema)[: 1 + len(entity.columns)])
    return pa.table(columns, schema=schema)


def _at(record: Json, path: tuple[str, ...]) -> Any:
    value: Any = record
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value
