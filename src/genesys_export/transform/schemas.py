"""The tables built from the Genesys records: a `TableSpec` per table, derived by fixed rules.

A change of the records or of a rule shows up as a diff of this module:

- Column names are snake_case of the API names (`names.snake_case`), nested members too.
- Arrays of scalars are `list<string>` / `list<int64>`. Arrays of objects that no table breaks
  out (`media_endpoint_stats`, `flow_outcomes`, segment `properties`, `scored_agents`,
  `proposed_agents`, `agent_groups`, `evaluations`, `surveys`, `resolutions`) are
  `list<struct>` columns typed from the records. A session's `flow` object becomes `flow_*`
  columns of `sessions` (`flowId` -> `flow_id`, `entryType` -> `flow_entry_type`).
- Child tables of a conversation carry the parent's `conversation_start`: it is their partition
  column. Key columns are non-nullable. Conversation and user tables end with `_run_id`,
  `_extracted_at`, `_settled`; aggregate tables with `_run_id`, `_extracted_at`.
- Every table has the nullable `_extra` column of `unknown.py`.

Aggregate tables key on text columns that the API may omit (a group without one of the
requested dimensions, a metric without a qualifier): absent stays absent, null, and every
sink matches such keys null-aware (null equals null).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa

from genesys_export.errors import ConfigError
from genesys_export.transform.models import (
    CONVERSATION,
    FLOW,
    PARTICIPANT,
    SEGMENT,
    SESSION,
    STATISTICAL_SUMMARY,
    known_members,
)
from genesys_export.transform.names import snake_case, snake_type
from genesys_export.transform.tables import RUN_FIELDS, SETTLED_FIELD, UTC_MS, TableSpec
from genesys_export.transform.unknown import EXTRA_FIELD


def _required(name: str, dtype: pa.DataType) -> pa.Field:
    return pa.field(name, dtype, nullable=False)


def _columns(model: pa.StructType, *, skip: Iterable[str] = (), prefix: str = "") -> list[pa.Field]:
    """Nullable snake_case columns for a model's members, in contract order."""
    columns = []
    for f in known_members(model, skip):
        name = snake_case(f.name)
        if prefix and not name.startswith(prefix):
            name = prefix + name
        columns.append(pa.field(name, snake_type(f.type)))
    return columns


def _spec(
    name: str, lead: list[pa.Field], body: list[pa.Field], key: tuple[str, ...], partition: str
) -> TableSpec:
    """A conversation or user table: lead (key) columns, body, `_extra`, run columns."""
    fields = [*lead, *body, EXTRA_FIELD, *RUN_FIELDS, SETTLED_FIELD]
    return TableSpec(name, pa.schema(fields), key, partition)


CONVERSATION_ID = _required("conversation_id", pa.string())
CONVERSATION_START = _required("conversation_start", UTC_MS)
PARTICIPANT_ID = _required("participant_id", pa.string())
SESSION_ID = _required("session_id", pa.string())
_IDS = ("conversationId", "conversationStart", "participantId", "sessionId")

CONVERSATIONS = _spec(
    "conversations",
    [CONVERSATION_ID, CONVERSATION_START],
    _columns(CONVERSATION, skip=(*_IDS, "participants")),
    ("conversation_id",),
    "conversation_start",
)
PARTICIPANTS = _spec(
    "participants",
    [CONVERSATION_ID, PARTICIPANT_ID, CONVERSATION_START],
    _columns(PARTICIPANT, skip=(*_IDS, "sessions", "attributes")),
    ("conversation_id", "participant_id"),
    "conversation_start",
)
PARTICIPANT_ATTRIBUTES = _spec(
    "participant_attributes",
    [CONVERSATION_ID, PARTICIPANT_ID, _required("name", pa.string()), CONVERSATION_START],
    [pa.field("value", pa.string())],
    ("conversation_id", "participant_id", "name"),
    "conversation_start",
)
SESSIONS = _spec(
    "sessions",
    [CONVERSATION_ID, SESSION_ID, PARTICIPANT_ID, CONVERSATION_START],
    [
        *_columns(SESSION, skip=(*_IDS, "segments", "metrics", "flow")),
        *_columns(FLOW, prefix="flow_"),
    ],
    ("conversation_id", "session_id"),
    "conversation_start",
)
SEGMENTS = _spec(
    "segments",
    [CONVERSATION_ID, SESSION_ID, _required("segment_index", pa.int64()), CONVERSATION_START],
    _columns(SEGMENT),
    ("conversation_id", "session_id", "segment_index"),
    "conversation_start",
)
SESSION_METRICS = _spec(
    "session_metrics",
    [CONVERSATION_ID, SESSION_ID, _required("metric_index", pa.int64()), CONVERSATION_START],
    [pa.field("name", pa.string()), pa.field("value", pa.int64()), pa.field("emit_date", UTC_MS)],
    ("conversation_id", "session_id", "metric_index"),
    "conversation_start",
)
CONVERSATION_TABLES = (
    CONVERSATIONS,
    PARTICIPANTS,
    PARTICIPANT_ATTRIBUTES,
    SESSIONS,
    SEGMENTS,
    SESSION_METRICS,
)

_USER_ID = _required("user_id", pa.string())
_START_TIME = _required("start_time", UTC_MS)
_END_TIME = pa.field("end_time", UTC_MS)
_DURATION = pa.field("duration_ms", pa.int64())
USER_PRESENCE = _spec(
    "user_presence",
    [
        _USER_ID,
        _START_TIME,
        _END_TIME,
        _required("system_presence", pa.string()),
        _required("organization_presence_id", pa.string()),
    ],
    [_DURATION],
    ("user_id", "start_time", "system_presence", "organization_presence_id"),
    "start_time",
)
USER_ROUTING_STATUS = _spec(
    "user_routing_status",
    [_USER_ID, _START_TIME, _END_TIME, _required("routing_status", pa.string())],
    [_DURATION],
    ("user_id", "start_time", "routing_status"),
    "start_time",
)
USER_TABLES = (USER_PRESENCE, USER_ROUTING_STATUS)

_STATS_ORDER = ("count", "sum", "min", "max")


def aggregate_spec(name: str, group_by: Sequence[str]) -> TableSpec:
    """The long-format table of a conversation aggregate query grouped by `group_by`.

    One row per (interval bucket, group, metric or view, qualifier).
    """
    # A group without one of the dimensions (a conversation in no queue) and a metric
    # without a qualifier keep them absent: null, also in the key.
    groups = [pa.field(snake_case(g), pa.string()) for g in group_by]
    lead = [
        _required("interval_start", UTC_MS),
        _required("granularity", pa.string()),
        *groups,
        _required("metric", pa.string()),
        pa.field("qualifier", pa.string()),
    ]
    body = [pa.field("interval_end", UTC_MS), *_stats_columns()]
    names = [f.name for f in (*lead, *body)]
    if len(set(names)) != len(names):
        raise ConfigError(f"group-by {list(group_by)!r}: a dimension repeats or shadows a column")
    schema = pa.schema([*lead, *body, EXTRA_FIELD, *RUN_FIELDS])
    key = tuple(f.name for f in lead)
    return TableSpec(name, schema, key, "interval_start")


def _stats_columns() -> list[pa.Field]:
    """StatisticalSummary members as columns: count, sum, min, max, then the contract order."""
    head = [STATISTICAL_SUMMARY.field(name) for name in _STATS_ORDER]
    rest = [f for f in STATISTICAL_SUMMARY if f.name not in _STATS_ORDER]
    return [pa.field(snake_case(f.name), f.type) for f in (*head, *rest)]
