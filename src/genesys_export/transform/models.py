"""The Genesys records as Arrow structs: conversation and user details, aggregate results.

Record types (`CONVERSATION`, `USER_DETAIL`, `AGGREGATE_CONTAINER`, ...) are the JSON models
of API v2 written as Arrow structs with the API's camelCase names; pages are parsed against
them with `pyarrow.json` (`pages.read_page`). Times are `timestamp[ms, UTC]` (offsets are
converted), integers int64, numbers float64, enums plain strings (values the API does not
list are kept as they come).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa

from genesys_export.transform.tables import UTC_MS

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


def known_members(model: pa.StructType, drop: Iterable[str] = ()) -> pa.StructType:
    """`model` without the members in `drop` (those another table breaks out)."""
    dropped = set(drop)
    return pa.struct([f for f in model if f.name not in dropped])
