"""Turns generated conversations into wire JSON and into facts for aggregates and filters.

Both views apply the same data-availability cut, so the aggregates endpoint never counts
what the details endpoint does not show. A conversation that started before the cut but
had not ended by then is served as still open: no `conversationEnd`, segments that had
not started are left out, segments in progress have no `segmentEnd` (nor
`disconnectType`), and metrics emitted after the cut are left out. Whether the real
datalake exposes open conversations exactly this way is UNVERIFIED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from genesys_export.simulator.conversations import Conversation, Participant, Session
from genesys_export.simulator.isotime import format_ms

Json = dict[str, Any]

# Session fields that are also aggregate dimensions of the same name.
_SESSION_DIMENSIONS = (
    "ani",
    "dnis",
    "edgeId",
    "provider",
    "usedRouting",
    "messageType",
    "addressFrom",
    "addressTo",
    "flowInType",
    "peerId",
)
_SEGMENT_DIMENSIONS = ("queueId", "wrapUpCode", "requestedLanguageId", "groupId")


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What aggregates and filters need of one visible session."""

    dims: dict[str, str]
    metrics: tuple[tuple[int, str, int], ...]  # (emit_ms, name, value)


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """One served conversation: its JSON bytes plus the facts derived from the same view."""

    conversation_id: str
    start_ms: int
    end_ms: int | None  # None while open at the cut
    raw: bytes
    dims: dict[str, str]
    sessions: tuple[SessionFacts, ...]

    def overlaps(self, start_ms: int, end_ms: int) -> bool:
        """Activity in [start, end): the details-job interval rule (§3.2)."""
        return self.start_ms < end_ms and (self.end_ms is None or self.end_ms > start_ms)


def to_record(conversation: Conversation, cutoff_ms: int) -> ConversationRecord | None:
    """The record served for a conversation, or None when it starts at or after the cut."""
    if conversation.start >= cutoff_ms:
        return None
    doc = render_conversation(conversation, cutoff_ms)
    conversation_dims = _conversation_dims(doc)
    sessions = tuple(
        _session_facts(participant, session, cutoff_ms)
        for participant in conversation.participants
        for session in participant.sessions
        if session.segments[0].start < cutoff_ms
    )
    return ConversationRecord(
        conversation_id=conversation.id,
        start_ms=conversation.start,
        end_ms=conversation.end if conversation.end <= cutoff_ms else None,
        raw=json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
        dims=conversation_dims,
        sessions=sessions,
    )


def render_conversation(conversation: Conversation, cutoff_ms: int) -> Json:
    """The AnalyticsConversation JSON object as visible at the cut."""
    doc: Json = {
        "conversationId": conversation.id,
        "conversationStart": format_ms(conversation.start),
    }
    if conversation.end <= cutoff_ms:
        doc["conversationEnd"] = format_ms(conversation.end)
    doc.update(conversation.fields)
    doc["participants"] = [
        _render_participant(participant, cutoff_ms)
        for participant in conversation.participants
        if participant.sessions[0].segments[0].start < cutoff_ms
    ]
    return doc


def _render_participant(participant: Participant, cutoff_ms: int) -> Json:
    doc: Json = {"participantId": participant.id}
    if participant.name is not None:
        doc["participantName"] = participant.name
    doc["purpose"] = participant.purpose
    doc.update(participant.fields)
    if participant.attributes:
        doc["attributes"] = dict(participant.attributes)
    doc["sessions"] = [
        _render_session(session, cutoff_ms)
        for session in participant.sessions
        if session.segments[0].start < cutoff_ms
    ]
    return doc


def _render_session(session: Session, cutoff_ms: int) -> Json:
    doc: Json = {
        "sessionId": session.id,
        "mediaType": session.media_type,
        "direction": session.direction,
    }
    doc.update(session.fields)
    ended = session.segments[-1].end <= cutoff_ms
    if session.flow is not None:
        doc["flow"] = dict(session.flow) if ended else _open_flow(session.flow)
    metrics = [
        {"name": name, "value": value, "emitDate": format_ms(emit)}
        for name, value, emit in session.metrics
        if emit < cutoff_ms
    ]
    if metrics:
        doc["metrics"] = metrics
    doc["segments"] = [
        _render_segment(s, cutoff_ms) for s in session.segments if s.start < cutoff_ms
    ]
    return doc


def _open_flow(flow: Json) -> Json:
    # A flow still running has not exited or transferred yet.
    closing = ("exitReason", "transferType", "endingLanguage")
    return {key: value for key, value in flow.items() if key not in closing}


def _render_segment(segment: Any, cutoff_ms: int) -> Json:
    doc: Json = {"segmentStart": format_ms(segment.start)}
    ended = segment.end <= cutoff_ms
    if ended:
        doc["segmentEnd"] = format_ms(segment.end)
    doc["segmentType"] = segment.kind
    doc.update(segment.fields)
    if ended and segment.disconnect is not None:
        doc["disconnectType"] = segment.disconnect
    doc["conference"] = False
    return doc


def _conversation_dims(doc: Json) -> dict[str, str]:
    dims = {
        "conversationId": doc["conversationId"],
        "conversationInitiator": doc["conversationInitiator"],
        "originatingDirection": doc["originatingDirection"],
    }
    if doc.get("divisionIds"):
        dims["divisionId"] = doc["divisionIds"][0]
    if "externalTag" in doc:
        dims["externalTag"] = doc["externalTag"]
    for flag in ("customerParticipation", "selfServed"):
        if flag in doc:
            dims[flag] = "true" if doc[flag] else "false"
    return dims


def _session_facts(participant: Participant, session: Session, cutoff_ms: int) -> SessionFacts:
    dims: dict[str, str] = {"purpose": participant.purpose, "sessionId": session.id}
    for key in ("userId", "teamId"):
        if key in participant.fields:
            dims[key] = participant.fields[key]
    if participant.name is not None:
        dims["participantName"] = participant.name
    dims["mediaType"] = session.media_type
    dims["direction"] = session.direction
    fields = session.fields
    if fields:
        for key in _SESSION_DIMENSIONS:
            value = fields.get(key)
            if value is not None:
                dims[key] = value
        if fields.get("requestedRoutings"):
            dims["requestedRouting"] = fields["requestedRoutings"][0]
    _add_segment_dims(dims, session, cutoff_ms)
    metrics = tuple(
        (emit, name, value) for name, value, emit in session.metrics if emit < cutoff_ms
    )
    return SessionFacts(dims=dims, metrics=metrics)


def _add_segment_dims(dims: dict[str, str], session: Session, cutoff_ms: int) -> None:
    """Segment-level dimensions, taken from the first visible segment that has each one."""
    visible = [segment for segment in session.segments if segment.start < cutoff_ms]
    for segment in visible:
        for key in _SEGMENT_DIMENSIONS:
            if key in segment.fields and key not in dims:
                dims[key] = segment.fields[key]
        skills = segment.fields.get("requestedRoutingSkillIds")
        if skills and "requestedRoutingSkillId" not in dims:
            dims["requestedRoutingSkillId"] = skills[0]
    ended = [s for s in visible if s.end <= cutoff_ms and s.disconnect is not None]
    if ended:
        dims["disconnectType"] = ended[-1].disconnect or ""
