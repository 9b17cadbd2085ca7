"""Conversation-details results pages -> the six conversation tables, column by column.

A page is parsed once by `pyarrow.json` and cast to the contract's nested types
(`pages.read_page`); each level (conversations, participants, sessions, segments, metrics)
is a `list_flatten` of its parent's array, and a child row finds its conversation through
`list_parent_indices` + `take`. No Python code runs per row unless a page carries members the
contract lacks, or attribute values the JSON reader would have taken for dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.errors import SchemaMismatch
from genesys_export.transform import models, names, pages, schemas, unknown
from genesys_export.transform.tables import RunContext, TableSpec, run_columns, settled_flags

WHAT = "conversation details page"
# Members a table breaks out into rows of its own, so its parent's `_extra` leaves them out.
_CONVERSATION_CHILDREN = ("participants",)
_PARTICIPANT_CHILDREN = ("sessions", "attributes")
_SESSION_CHILDREN = ("segments", "metrics")
# Columns every child row takes from its conversation.
_INHERITED = ("conversation_id", "conversation_start", "_settled")
# Per-model work done once here, not per page (pyarrow types are slow to build and to hash).
_CONVERSATION_KNOWN = models.known_members(models.CONVERSATION, _CONVERSATION_CHILDREN)
_PARTICIPANT_KNOWN = models.known_members(models.PARTICIPANT, _PARTICIPANT_CHILDREN)
_SESSION_KNOWN = models.known_members(models.SESSION, _SESSION_CHILDREN)
_FLOW_COLUMNS = tuple(
    f.name if f.name.startswith("flow_") else f"flow_{f.name}"
    for f in names.snake_type(models.FLOW)
)
_BODY_COLUMNS = {  # each table's columns but the run columns (_run_id, _extracted_at, _settled)
    spec.name: tuple(spec.schema.names[:-3]) for spec in schemas.CONVERSATION_TABLES
}


@dataclass(frozen=True)
class ConversationPage:
    """The tables of one results page, plus what the job loop needs to go on."""

    tables: dict[str, pa.Table]
    cursor: str | None
    data_availability: datetime | None
    conversation_ids: pa.Array


@dataclass(frozen=True)
class _Level:
    """Records of one nesting level: each one's conversation and parent record (indices)."""

    records: pa.StructArray
    conversation: pa.Array
    owner: pa.Array
    path: tuple[str, ...]


def conversation_tables(page: bytes, ctx: RunContext) -> ConversationPage:
    """Flatten one results page of a conversation details job into the six tables.

    Raises SchemaMismatch naming the member when a record does not fit the contract.
    """
    parsed = pages.read_page(page, models.CONVERSATION_PAGE, what=WHAT)
    columns = _conversation_columns(parsed, ctx)
    conversations = _table(schemas.CONVERSATIONS, columns, ctx)
    inherited = {name: columns[name] for name in _INHERITED}
    rows = _arange(conversations.num_rows)
    top = _Level(parsed.records("conversations"), rows, rows, ("conversations",))
    participants = _child(top, "participants")
    sessions = _child(participants, "sessions")
    tables = {
        schemas.CONVERSATIONS.name: conversations,
        schemas.PARTICIPANTS.name: _participants(parsed, participants, inherited, ctx),
        schemas.PARTICIPANT_ATTRIBUTES.name: _attributes(parsed, participants, inherited, ctx),
        schemas.SESSIONS.name: _sessions(parsed, sessions, participants, inherited, ctx),
        schemas.SEGMENTS.name: _indexed(
            parsed, sessions, "segments", schemas.SEGMENTS, inherited, ctx
        ),
        schemas.SESSION_METRICS.name: _indexed(
            parsed, sessions, "metrics", schemas.SESSION_METRICS, inherited, ctx
        ),
    }
    return ConversationPage(
        tables=tables,
        cursor=parsed.value("cursor"),
        data_availability=parsed.value("dataAvailabilityDate"),
        conversation_ids=columns["conversation_id"],
    )


def _conversation_columns(parsed: pages.ParsedPage, ctx: RunContext) -> dict[str, pa.Array]:
    """The columns of the `conversations` table, by name."""
    records = parsed.records("conversations")
    columns = names.record_columns(records, _CONVERSATION_KNOWN)
    _require(columns, "conversation_id", "a conversation has no conversationId")
    _require(columns, "conversation_start", "a conversation has no conversationStart")
    columns["_extra"] = unknown.extra_column(
        parsed, records, models.CONVERSATION, ("conversations",), skip=_CONVERSATION_CHILDREN
    )
    columns["_settled"] = settled_flags(columns["conversation_end"], ctx)
    return columns


def _child(parent: _Level, member: str) -> _Level:
    """The next level down: the elements of each parent record's `member` array."""
    lists = parent.records.field(member)
    owners = pc.list_parent_indices(lists)
    conversation = pc.take(parent.conversation, owners)
    return _Level(pc.list_flatten(lists), conversation, owners, (*parent.path, member))


def _participants(
    parsed: pages.ParsedPage, level: _Level, inherited: dict[str, pa.Array], ctx: RunContext
) -> pa.Table:
    columns = _inherit(inherited, level.conversation)
    columns |= names.record_columns(level.records, _PARTICIPANT_KNOWN)
    _require(columns, "participant_id", "a participant has no participantId")
    columns["_extra"] = unknown.extra_column(
        parsed, level.records, models.PARTICIPANT, level.path, skip=_PARTICIPANT_CHILDREN
    )
    return _table(schemas.PARTICIPANTS, columns, ctx)


def _sessions(
    parsed: pages.ParsedPage,
    level: _Level,
    owners: _Level,
    inherited: dict[str, pa.Array],
    ctx: RunContext,
) -> pa.Table:
    columns = _inherit(inherited, level.conversation)
    columns |= names.record_columns(level.records, _SESSION_KNOWN)
    _require(columns, "session_id", "a session has no sessionId")
    columns["participant_id"] = pc.take(owners.records.field("participantId"), level.owner)
    flow = columns.pop("flow").flatten()
    columns.update(zip(_FLOW_COLUMNS, flow, strict=True))
    columns["_extra"] = unknown.extra_column(
        parsed, level.records, models.SESSION, level.path, skip=_SESSION_CHILDREN
    )
    return _table(schemas.SESSIONS, columns, ctx)


def _indexed(
    parsed: pages.ParsedPage,
    sessions: _Level,
    member: str,
    spec: TableSpec,
    inherited: dict[str, pa.Array],
    ctx: RunContext,
) -> pa.Table:
    """Segments or metrics: rows keyed by their session and their position in its array."""
    model = models.SEGMENT if member == "segments" else models.SESSION_METRIC
    lists = sessions.records.field(member)
    owners = pc.list_parent_indices(lists)
    records = pc.list_flatten(lists)
    columns = _inherit(inherited, pc.take(sessions.conversation, owners))
    columns |= names.record_columns(records, model)
    columns["session_id"] = pc.take(sessions.records.field("sessionId"), owners)
    columns[spec.key[-1]] = _positions(lists, owners)
    columns["_extra"] = unknown.extra_column(parsed, records, model, (*sessions.path, member))
    return _table(spec, columns, ctx)


def _attributes(
    parsed: pages.ParsedPage, level: _Level, inherited: dict[str, pa.Array], ctx: RunContext
) -> pa.Table:
    """Participant `attributes` maps, one row per (participant, name)."""
    attributes = level.records.field("attributes")
    textual = (pa.types.is_string(f.type) or pa.types.is_null(f.type) for f in attributes.type)
    if parsed.complete and all(textual):
        owner, names, values = _unpivot(attributes)
    else:  # non-string values, or date-like strings the JSON reader turned into timestamps
        owner, names, values = _attributes_from_objects(parsed, level, inherited)
    columns = _inherit(inherited, pc.take(level.conversation, owner))
    columns["participant_id"] = pc.take(level.records.field("participantId"), owner)
    columns["name"], columns["value"] = names, values
    columns["_extra"] = pa.nulls(len(names), pa.string())
    return _table(schemas.PARTICIPANT_ATTRIBUTES, columns, ctx)


def _unpivot(attributes: pa.StructArray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(participant index, name, value) for every non-null member, grouped by participant."""
    owners, names, values = [], [], []
    for i, field in enumerate(attributes.type):
        if pa.types.is_null(field.type):
            continue
        member = attributes.field(i)
        present = pc.indices_nonzero(pc.is_valid(member))
        owners.append(present)
        names.append(pa.repeat(pa.scalar(field.name), len(present)))
        values.append(pc.take(member, present))
    if not owners:
        return pa.array([], pa.uint64()), pa.array([], pa.string()), pa.array([], pa.string())
    owner = pa.concat_arrays(owners)
    order = pc.sort_indices(owner)  # stable: a participant's names keep their page order
    pick = [pc.take(pa.concat_arrays(a), order) for a in (names, values)]
    return pc.take(owner, order), pick[0], pick[1]


def _attributes_from_objects(
    parsed: pages.ParsedPage, level: _Level, inherited: dict[str, pa.Array]
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The slow path: attribute maps read from the page's Python objects, checked as strings."""
    triples = [
        (i, name, value)
        for i, obj in enumerate(parsed.objects(*level.path))
        for name, value in ((obj or {}).get("attributes") or {}).items()
        if value is not None
    ]
    for i, name, value in triples:
        if not isinstance(value, str):
            conversation = inherited["conversation_id"][level.conversation[i].as_py()]
            raise SchemaMismatch(
                f"{WHAT}: a participant's attributes.{name} (conversation {conversation}): "
                "expected a string"
            )
    owner, names, values = zip(*triples, strict=True) if triples else ((), (), ())
    return pa.array(owner, pa.int64()), pa.array(names, pa.string()), pa.array(values, pa.string())


def _positions(lists: pa.ListArray, owners: pa.Array) -> pa.Array:
    """Each flattened element's index within its own list."""
    lengths = pc.fill_null(pc.list_value_length(lists), 0).cast(pa.int64())
    starts = pc.subtract(pc.cumulative_sum(lengths), lengths)
    return pc.subtract(_arange(len(owners)), pc.take(starts, owners))


def _arange(n: int) -> pa.Array:
    """0, 1, ..., n - 1 as int64, built by Arrow."""
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def _inherit(inherited: dict[str, pa.Array], rows: pa.Array) -> dict[str, pa.Array]:
    """The conversation's key, start and settled flag for each child row."""
    return {name: pc.take(values, rows) for name, values in inherited.items()}


def _require(columns: dict[str, pa.Array], name: str, message: str) -> None:
    """SchemaMismatch when a key member is missing, naming the conversation if it can."""
    missing = columns[name].null_count
    if not missing:
        return
    row = pc.index(pc.is_null(columns[name]), True).as_py()
    conversation = columns["conversation_id"][row].as_py()
    where = f" (conversation {conversation})" if conversation else f" (record {row} of the page)"
    raise SchemaMismatch(f"{WHAT}: {message}{where}; every record needs one")


def _table(spec: TableSpec, columns: dict[str, pa.Array], ctx: RunContext) -> pa.Table:
    """Columns in the spec's order, then the run columns: exactly the spec's schema."""
    body = _BODY_COLUMNS[spec.name]
    n = len(columns[body[0]])
    arrays = [*(columns[name] for name in body), *run_columns(n, ctx), columns["_settled"]]
    return pa.Table.from_arrays(arrays, schema=spec.schema)
