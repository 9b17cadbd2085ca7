"""The contract's record types, the tables built from them, and how a page is read into them.

Record types (`CONVERSATION`, `USER_DETAIL`, `AGGREGATE_CONTAINER`, ...) are the JSON models of
the Genesys contract written as Arrow structs with the API's camelCase names; pages are parsed
against them with `pyarrow.json`. Tables (`CONVERSATIONS`, `SESSIONS`, ...) are `TableSpec`s
derived from them by fixed rules, so a schema change shows up as a diff of this module:

- Column names are snake_case of the API names (`mediaStatsMinConversationRFactor` ->
  `media_stats_min_conversation_r_factor`), nested struct members too.
- Times are `timestamp[ms, UTC]` (offsets are converted), integers int64, numbers float64,
  enums plain strings (values the contract does not list are kept as they come).
- Arrays of scalars are `list<string>` / `list<int64>`. Arrays of objects that no table breaks
  out (`media_endpoint_stats`, `flow_outcomes`, segment `properties`, `scored_agents`,
  `proposed_agents`, `agent_groups`, `evaluations`, `surveys`, `resolutions`) are
  `list<struct>` columns typed from the contract. A session's `flow` object becomes `flow_*`
  columns of `sessions` (`flowId` -> `flow_id`, `entryType` -> `flow_entry_type`).
- Child tables of a conversation carry the parent's `conversation_start`: it is their partition
  column. Key columns are non-nullable. Conversation and user tables end with `_run_id`,
  `_extracted_at`, `_settled`; aggregate tables with `_run_id`, `_extracted_at`.

Unknown members are kept, not dropped: every table has a nullable `_extra` string column
holding, as a JSON object, the members of the row's object that the contract lacks (null when
there are none). Unknown members inside objects the row embeds are kept under the embedding
member's name, mirroring the shape: `{"flow": {"newFlag": true}}`, or for an array of objects
`{"mediaEndpointStats": [{"jitter": 3}, null]}` (one entry per element, null where that element
had none). Arrays a table breaks out into its own rows (participants, sessions, segments,
metrics) are not repeated in the parent's `_extra`. A user-detail object's own unknown members
land in each of its interval rows under `"userDetail"`; an aggregate group's dimensions that
were not requested land under `"group"`. Members whose value is null may be left out.

Aggregate tables key on text columns that the API may omit (a group without one of the
requested dimensions, a metric without a qualifier): those become `""`, never null, so keys
stay comparable in every sink.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from genesys_export.errors import ConfigError, SchemaMismatch
from genesys_export.transform.tables import RUN_FIELDS, SETTLED_FIELD, UTC_MS, TableSpec

_SCALARS: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "time": UTC_MS,
    # A map<string,string> (participant attributes, aggregate groups): parsed as a struct
    # whose members are inferred per page.
    "map": pa.struct([]),
}


def _model(members: str, **nested: pa.DataType) -> pa.StructType:
    """A contract model from `name:type` tokens; `[t]` is an array, other types by keyword."""
    fields = []
    for token in members.split():
        name, kind = token.split(":")
        base = kind.strip("[]")
        item = _SCALARS[base] if base in _SCALARS else nested[base]
        fields.append(pa.field(name, pa.list_(item) if kind.startswith("[") else item))
    return pa.struct(fields)


# --- contract models (CONTRACT.md §3.5, §4, §5.2) -------------------------------------------

SESSION_METRIC = _model("emitDate:time name:str value:int")
FLOW_OUTCOME = _model("""
    flowOutcome:str flowOutcomeEndTimestamp:time flowOutcomeId:str
    flowOutcomeStartTimestamp:time flowOutcomeValue:str
""")
FLOW = _model(
    """
    endingLanguage:str entryReason:str entryType:str exitReason:str flowId:str
    flowName:str flowType:str flowVersion:str issuedCallback:bool
    recognitionFailureReason:str startingLanguage:str transferTargetAddress:str
    transferTargetName:str transferType:str outcomes:[FlowOutcome]
    """,
    FlowOutcome=FLOW_OUTCOME,
)
MEDIA_ENDPOINT_STAT = _model("""
    codecs:[str] discardedPackets:int duplicatePackets:int eventTime:time
    invalidPackets:int maxLatencyMs:int minMos:float minRFactor:float overrunPackets:int
    receivedPackets:int underrunPackets:int
""")
PROPERTY = _model("property:str propertyType:str value:str")
SCORED_AGENT = _model("agentScore:int scoredAgentId:str")
PROPOSED_AGENT = _model("agentRank:int proposedAgentId:str")
AGENT_GROUP = _model("agentGroupId:str agentGroupType:str")
SEGMENT = _model(
    """
    audioMuted:bool conference:bool destinationConversationId:str
    destinationSessionId:str disconnectType:str errorCode:str groupId:str
    q850ResponseCodes:[int] queueId:str requestedLanguageId:str
    requestedRoutingSkillIds:[str] requestedRoutingUserIds:[str] segmentEnd:time
    segmentStart:time segmentType:str sipResponseCodes:[int] sourceConversationId:str
    sourceSessionId:str subject:str videoMuted:bool wrapUpCode:str wrapUpNote:str
    wrapUpTags:[str] scoredAgents:[ScoredAgent] properties:[Property]
    """,
    ScoredAgent=SCORED_AGENT,
    Property=PROPERTY,
)
SESSION = _model(
    """
    activeSkillIds:[str] acwSkipped:bool addressFrom:str addressOther:str
    addressSelf:str addressTo:str agentAssistantId:str agentBullseyeRing:int
    agentOwned:bool ani:str assignerId:str authenticated:bool bargedParticipantId:str
    bcc:[str] callbackNumbers:[str] callbackScheduledTime:time callbackUserName:str
    cc:[str] cleared:bool coachedParticipantId:str cobrowseRole:str cobrowseRoomId:str
    deliveryPushed:bool deliveryStatus:str deliveryStatusChangeDate:time
    destinationAddresses:[str] detectedSpeechEnd:time detectedSpeechStart:time
    direction:str dispositionAnalyzer:str dispositionName:str dnis:str edgeId:str
    eligibleAgentCounts:[int] engagementSource:str errorCodeDescription:str
    extendedDeliveryStatus:str flowInType:str flowOutType:str journeyActionId:str
    journeyActionMapId:str journeyActionMapVersion:int journeyCustomerId:str
    journeyCustomerIdType:str journeyCustomerSessionId:str
    journeyCustomerSessionIdType:str mediaBridgeId:str mediaCount:int mediaType:str
    messageType:str monitoredParticipantId:str outboundCampaignId:str
    outboundContactId:str outboundContactListId:str peerId:str protocolCallId:str
    provider:str recording:bool remote:str remoteNameDisplayable:str
    removedSkillIds:[str] requestedRoutings:[str] roomId:str routingRing:int
    routingRule:str routingRuleType:str screenMonitoredUserId:str
    screenShareAddressSelf:str screenShareRoomId:str scriptId:str selectedAgentId:str
    selectedAgentRank:int sessionDnis:str sessionId:str sharingScreen:bool
    skillExpressionId:str skipEnabled:bool snippetRecording:bool timeoutSeconds:int
    usedRouting:str videoAddressSelf:str videoRoomId:str waitingInteractionCounts:[int]
    agentGroups:[AgentGroup] proposedAgents:[ProposedAgent]
    mediaEndpointStats:[MediaEndpointStat] flow:Flow metrics:[SessionMetric]
    segments:[Segment]
    """,
    AgentGroup=AGENT_GROUP,
    ProposedAgent=PROPOSED_AGENT,
    MediaEndpointStat=MEDIA_ENDPOINT_STAT,
    Flow=FLOW,
    SessionMetric=SESSION_METRIC,
    Segment=SEGMENT,
)
PARTICIPANT = _model(
    """
    externalContactId:str externalOrganizationId:str flaggedReason:str participantId:str
    participantName:str purpose:str screenRecording:bool teamId:str userId:str
    sessions:[Session] attributes:map
    """,
    Session=SESSION,
)
EVALUATION = _model("""
    assigneeApplicable:bool assigneeId:str calibrationId:str contextId:str deleted:bool
    evaluationId:str evaluationStatus:str evaluatorId:str eventTime:time formId:str
    formName:str queueId:str released:bool rescored:bool systemSubmitted:bool userId:str
    oTotalCriticalScore:int oTotalScore:int
""")
SURVEY = _model("""
    eventTime:time queueId:str surveyCompletedDate:time surveyFormContextId:str
    surveyFormId:str surveyFormName:str surveyId:str surveyPartialResponse:bool
    surveyPromoterScore:int surveyStatus:str surveyType:str userId:str
    oSurveyTotalScore:int
""")
RESOLUTION = _model("eventTime:time queueId:str userId:str nNextContactAvoided:int")
CONVERSATION = _model(
    """
    accessAttributes:[str] associatedConversationId:str conferenceStart:time
    consultationConversationIds:[str] conversationEnd:time conversationId:str
    conversationInitiator:str conversationStart:time customerParticipation:bool
    divisionIds:[str] externalTag:str inactivityTimeout:time knowledgeBaseIds:[str]
    mediaStatsMinConversationMos:float mediaStatsMinConversationRFactor:float
    originatingDirection:str originatingSocialMediaPublic:bool selfServed:bool
    evaluations:[Evaluation] surveys:[Survey] resolutions:[Resolution]
    participants:[Participant]
    """,
    Evaluation=EVALUATION,
    Survey=SURVEY,
    Resolution=RESOLUTION,
    Participant=PARTICIPANT,
)
CONVERSATION_PAGE = pa.schema(
    _model(
        "conversations:[Conversation] cursor:str dataAvailabilityDate:time",
        Conversation=CONVERSATION,
    )
)

PRESENCE_RECORD = _model(
    "startTime:time endTime:time systemPresence:str organizationPresenceId:str"
)
ROUTING_STATUS_RECORD = _model("startTime:time endTime:time routingStatus:str")
USER_DETAIL = _model(
    "userId:str primaryPresence:[Presence] routingStatus:[RoutingStatus]",
    Presence=PRESENCE_RECORD,
    RoutingStatus=ROUTING_STATUS_RECORD,
)
USER_PAGE = pa.schema(
    _model("userDetails:[UserDetail] cursor:str dataAvailabilityDate:time", UserDetail=USER_DETAIL)
)

STATISTICAL_SUMMARY = _model("""
    max:float min:float count:int countNegative:int countPositive:int sum:float
    current:float ratio:float numerator:float denominator:float target:float p95:int
    p99:int calculatedMetricValue:int
""")
AGGREGATE_METRIC = _model("metric:str qualifier:str stats:Stats", Stats=STATISTICAL_SUMMARY)
AGGREGATE_VIEW = _model("name:str stats:Stats", Stats=STATISTICAL_SUMMARY)
STATISTICAL_RESPONSE = _model(
    "interval:str metrics:[Metric] views:[View]", Metric=AGGREGATE_METRIC, View=AGGREGATE_VIEW
)


def aggregate_container(group_by: Sequence[str]) -> pa.StructType:
    """`ConversationAggregateDataContainer` whose `group` map names the requested dimensions."""
    group = pa.struct([pa.field(name, pa.string()) for name in group_by])
    return pa.struct([pa.field("group", group), pa.field("data", pa.list_(STATISTICAL_RESPONSE))])


def aggregate_page(group_by: Sequence[str]) -> pa.Schema:
    """`ConversationAggregateQueryResponse` (and the async one, with its `cursor`)."""
    results = pa.field("results", pa.list_(aggregate_container(group_by)))
    return pa.schema([results, pa.field("cursor", pa.string())])


# --- naming ---------------------------------------------------------------------------------

_UPPER_RUN = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_START = re.compile(r"([a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """snake_case of an API name: `mediaStatsMinConversationRFactor` -> `..._r_factor`."""
    return _WORD_START.sub(r"\1_\2", _UPPER_RUN.sub(r"\1_\2", name)).lower()


def snake_type(dtype: pa.DataType) -> pa.DataType:
    """The same type with every nested struct member renamed to snake_case (same layout)."""
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(snake(f.name), snake_type(f.type)) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(snake_type(dtype.value_type))
    return dtype


def known_members(model: pa.StructType, drop: Iterable[str] = ()) -> pa.StructType:
    """`model` without the members in `drop` (those another table breaks out)."""
    dropped = set(drop)
    return pa.struct([f for f in model if f.name not in dropped])


# --- tables ---------------------------------------------------------------------------------

EXTRA_FIELD = pa.field("_extra", pa.string())


def _required(name: str, dtype: pa.DataType) -> pa.Field:
    return pa.field(name, dtype, nullable=False)


def _columns(model: pa.StructType, *, skip: Iterable[str] = (), prefix: str = "") -> list[pa.Field]:
    """Nullable snake_case columns for a model's members, in contract order."""
    columns = []
    for f in known_members(model, skip):
        name = snake(f.name)
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
    groups = [_required(snake(g), pa.string()) for g in group_by]
    lead = [
        _required("interval_start", UTC_MS),
        _required("granularity", pa.string()),
        *groups,
        _required("metric", pa.string()),
        _required("qualifier", pa.string()),
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
    return [pa.field(snake(f.name), f.type) for f in (*head, *rest)]


# --- reading pages --------------------------------------------------------------------------

_NEWLINES = bytes.maketrans(b"\r\n", b"  ")
_EXPECTED = {"string": "a string", "int64": "an integer", "double": "a number", "bool": "a boolean"}


class ParsedPage:
    """One results page: a one-element struct array typed exactly as its contract schema.

    `parsed_type` is the page's type as parsed, members the contract lacks included; where
    it has such members, `_extra` values come from `document` (the page as Python objects,
    parsed only when asked for). `complete` is false when the Arrow parse had to ignore
    them (their values clashed in type), so every level must look at `document`.
    """

    def __init__(
        self, row: pa.StructArray, parsed: pa.StructType, raw: bytes, *, complete: bool
    ) -> None:
        self.row = row
        self.parsed_type = parsed
        self.raw = raw
        self.complete = complete
        self._document: dict[str, Any] | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The page parsed by orjson; used only when unknown members must be recovered."""
        if self._document is None:
            self._document = orjson.loads(self.raw)
        return self._document

    def value(self, name: str) -> Any:
        """A top-level scalar member (`cursor`, `dataAvailabilityDate`) as a Python value."""
        return self.row.field(name)[0].as_py()

    def records(self, name: str) -> pa.StructArray:
        """The elements of a top-level array member, one struct per record."""
        return pc.list_flatten(self.row.field(name))

    def objects(self, *path: str) -> list[Any]:
        """The Python objects at `path` (array members), in the order `records` flattens them."""
        level: list[Any] = [self.document]
        for name in path:
            level = [x for obj in level for x in ((obj or {}).get(name) or ())]
        return level

    def parsed_at(self, *path: str) -> pa.DataType:
        """The parsed type of the records at `path` (null when the page has none)."""
        dtype: pa.DataType = self.parsed_type
        for name in path:
            i = dtype.get_field_index(name) if pa.types.is_struct(dtype) else -1
            if i < 0:
                return pa.null()
            dtype = dtype.field(i).type
            dtype = dtype.value_type if pa.types.is_list(dtype) else dtype
        return dtype


class _Lossy(Exception):
    """Type inference turned a string member into a timestamp: its text must be re-read."""


class _Misfit(Exception):
    """A member's inferred type cannot hold the contract's type."""


def read_page(page: bytes, schema: pa.Schema, *, what: str) -> ParsedPage:
    """Parse a results page into its contract types.

    The fast path lets `pyarrow.json` infer the types (far faster than an explicit schema
    with a hundred mostly absent members), checks them against the contract and casts.
    Where inference loses text or the page misfits, it falls back to an explicit schema.
    SchemaMismatch names the first member that does not fit.
    """
    if page.endswith((b"\n", b"\r")):  # a body's final newline: dropped, not translated
        page = page.rstrip(b"\r\n")
    if b"\n" in page or b"\r" in page:
        page = page.translate(_NEWLINES)  # raw newlines in JSON are whitespace, never in strings
    try:
        return _conformed(_parse(page, None, "infer"), schema, page, complete=True)
    except (pa.ArrowInvalid, _Misfit, _Lossy) as exc:
        first: Exception = exc
    if not isinstance(first, _Lossy):
        _raise_misfit(page, schema, what, first)
    last = first
    for unexpected in ("infer", "ignore"):  # "ignore": unknown members clashed in type
        try:
            table = _parse(page, schema, unexpected)
            return _conformed(table, schema, page, complete=unexpected == "infer")
        except (pa.ArrowInvalid, _Misfit, _Lossy) as exc:
            last = exc
    if isinstance(first, _Lossy):
        _raise_misfit(page, schema, what, last)
    raise SchemaMismatch(f"{what} does not fit the contract (see the chained error)") from last


def _raise_misfit(page: bytes, schema: pa.Schema, what: str, cause: Exception) -> None:
    """SchemaMismatch naming the first member that does not fit, if the walk finds one."""
    misfit = _misfit_in(page, schema)
    if misfit is not None:
        raise SchemaMismatch(f"{what}: {misfit}") from cause


def _conformed(table: pa.Table, schema: pa.Schema, raw: bytes, *, complete: bool) -> ParsedPage:
    if table.num_rows != 1:
        raise _Misfit(f"expected one JSON object, found {table.num_rows}")
    chunks = table.to_struct_array()
    row = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
    target = _page_target(row.type, pa.struct(list(schema)))
    return ParsedPage(row.cast(target), row.type, raw, complete=complete)


def _parse(page: bytes, schema: pa.Schema | None, unexpected: str) -> pa.Table:
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
    read = pj.ReadOptions(use_threads=False, block_size=max(len(page) + 1, 1 << 16))
    return pj.read_json(pa.BufferReader(page), read_options=read, parse_options=options)


@functools.lru_cache(maxsize=64)
def _page_target(parsed: pa.StructType, contract: pa.StructType) -> pa.DataType:
    """`_target` of a whole page; pages of one job mostly repeat their parsed type."""
    return _target(parsed, contract, "")


def _target(parsed: pa.DataType, contract: pa.DataType, path: str) -> pa.DataType:
    """The type to cast a parsed member to: the contract's, with maps as parsed.

    Raises _Misfit when the parsed type cannot hold the contract's, _Lossy when a string
    member was read as a timestamp.
    """
    if pa.types.is_null(parsed):
        return contract
    if pa.types.is_list(contract) and pa.types.is_list(parsed):
        return pa.list_(_target(parsed.value_type, contract.value_type, f"{path}[]"))
    if pa.types.is_struct(contract) and pa.types.is_struct(parsed):
        if contract.num_fields == 0:  # a map: its members are whatever the page holds
            return parsed
        prefix = f"{path}." if path else ""
        members = []
        for f in contract:
            i = parsed.get_field_index(f.name)
            found = f.type if i < 0 else _target(parsed.field(i).type, f.type, prefix + f.name)
            members.append(pa.field(f.name, found))
        return pa.struct(members)
    if pa.types.is_string(contract) and pa.types.is_timestamp(parsed):
        raise _Lossy(path)
    if _castable(parsed, contract):
        return contract
    raise _Misfit(f"{path}: expected {contract}, got {parsed}")


def _castable(parsed: pa.DataType, contract: pa.DataType) -> bool:
    """Whether a parsed scalar type holds the contract's: times from text, numbers from ints."""
    if pa.types.is_timestamp(contract):
        return bool(pa.types.is_string(parsed) or pa.types.is_timestamp(parsed))
    if pa.types.is_floating(contract):
        return bool(pa.types.is_integer(parsed) or pa.types.is_floating(parsed))
    return bool(parsed == contract)


def _misfit_in(page: bytes, schema: pa.Schema) -> str | None:
    """Where the page first departs from the contract, e.g. `conversations[0].x: expected ...`."""
    try:
        document = orjson.loads(page)
    except orjson.JSONDecodeError:
        return "the body is not valid JSON"
    return misfit(document, pa.struct(list(schema)), "")


def misfit(value: Any, dtype: pa.DataType, path: str) -> str | None:
    """The first place `value` does not fit `dtype` (null fits anything), or None."""
    if value is None:
        return None
    if pa.types.is_list(dtype):
        if not isinstance(value, list):
            return _mismatch(path, "an array", value)
        found = (misfit(v, dtype.value_type, f"{path}[{i}]") for i, v in enumerate(value))
        return next((m for m in found if m), None)
    if pa.types.is_struct(dtype):
        return _object_misfit(value, dtype, path)
    if pa.types.is_timestamp(dtype):
        return None if _is_time(value) else _mismatch(path, "an ISO-8601 date-time", value)
    if _fits_scalar(value, dtype):
        return None
    return _mismatch(path, _EXPECTED.get(str(dtype), str(dtype)), value)


def _object_misfit(value: Any, dtype: pa.StructType, path: str) -> str | None:
    if not isinstance(value, dict):
        return _mismatch(path, "an object", value)
    members = ((f.name, f.type) for f in dtype)
    if dtype.num_fields == 0:  # a map<string,string>
        members = ((name, pa.string()) for name in value)
    prefix = f"{path}." if path else ""
    found = (misfit(value.get(name), t, prefix + name) for name, t in members)
    return next((m for m in found if m), None)


def _fits_scalar(value: Any, dtype: pa.DataType) -> bool:
    if pa.types.is_string(dtype):
        return isinstance(value, str)
    if pa.types.is_boolean(dtype):
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not pa.types.is_integer(dtype) or (isinstance(value, int) and -(2**63) <= value < 2**63)


def _is_time(value: Any) -> bool:
    """Whether the JSON reader takes `value` as a `timestamp[ms, UTC]`."""
    if not isinstance(value, str):
        return False
    try:
        _parse(orjson.dumps({"t": value}), pa.schema([pa.field("t", UTC_MS)]), "error")
    except pa.ArrowInvalid:
        return False
    return True


def _mismatch(path: str, expected: str, value: Any) -> str:
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    kinds |= {list: "an array", dict: "an object"}
    return f"{path or 'the body'}: expected {expected}, got {kinds.get(type(value), 'a value')}"


# --- members the contract lacks -------------------------------------------------------------


def has_unknown(actual: pa.DataType, model: pa.DataType, skip: Iterable[str] = ()) -> bool:
    """Whether a parsed type has members `model` lacks (ignoring `skip` at the top level)."""
    if pa.types.is_list(actual):
        return has_unknown(actual.value_type, model.value_type)
    if not pa.types.is_struct(actual) or model.num_fields == 0:
        return False
    skipped = set(skip)
    for f in actual:
        if f.name in skipped:
            continue
        i = model.get_field_index(f.name)
        if i < 0 or has_unknown(f.type, model.field(i).type):
            return True
    return False


def unknown_members(obj: Any, model: pa.StructType, skip: Iterable[str] = ()) -> Any:
    """The members of `obj` that `model` lacks, nested as described in the module docstring."""
    if not isinstance(obj, dict) or model.num_fields == 0:
        return None
    skipped = set(skip)
    found: dict[str, Any] = {}
    for name, value in obj.items():
        i = model.get_field_index(name)
        if i < 0:
            found[name] = value
        elif name not in skipped and (inner := _unknown_inside(value, model.field(i).type)):
            found[name] = inner
    return found or None


def _unknown_inside(value: Any, dtype: pa.DataType) -> Any:
    if pa.types.is_struct(dtype):
        return unknown_members(value, dtype)
    if pa.types.is_list(dtype) and pa.types.is_struct(dtype.value_type) and value:
        inner = [unknown_members(v, dtype.value_type) for v in value]
        return inner if any(v is not None for v in inner) else None
    return None


def extra_column(
    page: ParsedPage,
    records: pa.StructArray,
    model: pa.StructType,
    path: Sequence[str],
    *,
    skip: Iterable[str] = (),
) -> pa.Array:
    """`_extra` for the records at `path`: JSON of their unknown members, null when none.

    Columnar (all null) unless the page carries members the contract lacks at this level;
    only then are the records' objects read from the page's Python form.
    """
    skip = tuple(skip)
    if page.complete and not has_unknown(page.parsed_at(*path), model, skip):
        return pa.nulls(len(records), pa.string())
    found = [unknown_members(obj, model, skip) for obj in page.objects(*path)]
    return json_column(found)


def json_column(values: Sequence[Any]) -> pa.Array:
    """JSON text of each value, null for None."""
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())


# --- columns from parsed records ------------------------------------------------------------


_Renamed = tuple[tuple[str, str, pa.DataType, pa.DataType], ...]
_RENAMED: dict[int, tuple[pa.StructType, _Renamed]] = {}


def _renamed(known: pa.StructType) -> _Renamed:
    """(api name, column name, parsed type, column type) per member of `known`.

    Remembered by identity, not by value: hashing a pyarrow type formats it as text, which
    for a contract model costs more than the walk it would save. Callers pass the module's
    models (or types built once from them), so the memo stays small; it holds each type, so
    an id is never reused while its entry exists.
    """
    entry = _RENAMED.get(id(known))
    if entry is None or entry[0] is not known:
        renamed = tuple((f.name, snake(f.name), f.type, snake_type(f.type)) for f in known)
        entry = _RENAMED[id(known)] = (known, renamed)
    return entry[1]


def record_columns(records: pa.StructArray, known: pa.StructType) -> dict[str, pa.Array]:
    """The `known` members of parsed records as snake_case columns of the table types."""
    columns = {}
    for name, column, dtype, target in _renamed(known):
        i = records.type.get_field_index(name)
        child = records.field(i) if i >= 0 else pa.nulls(len(records), dtype)
        if child.type != dtype:
            child = child.cast(dtype)
        columns[column] = child if target == dtype else child.view(target)
    return columns
