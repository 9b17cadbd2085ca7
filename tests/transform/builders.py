"""Small synthetic results pages for the transform and validation tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from genesys_export.transform.tables import RunContext
from tests.shared import CONTRACT

EXTRACTED = datetime(2024, 5, 3, 6, 0, tzinfo=UTC)
CTX = RunContext("run-1", EXTRACTED, settled_before=datetime(2024, 5, 2, tzinfo=UTC))


def contract_page(name: str) -> bytes:
    """The raw bytes of a contract example, or skip where ../shared is absent."""
    path = Path(CONTRACT) / "examples" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (no ../shared beside this checkout)")
    return path.read_bytes()


def page(conversations: list[dict[str, Any]], **top: Any) -> bytes:
    """A conversation details results page, compact like the API sends it."""
    return orjson.dumps({"conversations": conversations, **top})


def segment(start: str, end: str | None, kind: str = "interact", **more: Any) -> dict[str, Any]:
    found = {"segmentStart": start, "segmentType": kind, **more}
    if end is not None:
        found["segmentEnd"] = end
    return found


def metric(name: str, value: Any, emitted: str = "2024-05-01T10:00:05.000Z") -> dict[str, Any]:
    return {"name": name, "value": value, "emitDate": emitted}


def session(session_id: str, **more: Any) -> dict[str, Any]:
    defaults = {
        "sessionId": session_id,
        "mediaType": "voice",
        "segments": [segment("2024-05-01T10:00:00.000Z", "2024-05-01T10:01:00.000Z")],
        "metrics": [metric("tTalk", 60000)],
    }
    return defaults | more


def participant(participant_id: str, sessions: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"participantId": participant_id, "purpose": "agent", "sessions": sessions, **more}


def conversation(
    conversation_id: str, participants: list[dict[str, Any]], **more: Any
) -> dict[str, Any]:
    return {
        "conversationId": conversation_id,
        "conversationStart": "2024-05-01T10:00:00.000Z",
        "conversationEnd": "2024-05-01T10:05:00.000Z",
        "participants": participants,
        **more,
    }


def two_conversations() -> list[dict[str, Any]]:
    """c1: customer (1 session, 2 segments), agent (2 sessions); c2: still open, 1 session."""
    customer = participant(
        "p1",
        [
            session(
                "s1",
                segments=[
                    segment("2024-05-01T10:00:00.000Z", "2024-05-01T10:00:30.000Z", "alert"),
                    segment("2024-05-01T10:00:30.000Z", "2024-05-01T10:05:00.000Z"),
                ],
                metrics=[metric("nOffered", 1), metric("tAcd", 30000)],
            )
        ],
        purpose="customer",
        attributes={"AccountType": "Gold", "CaseNumber": "00123456"},
    )
    agent = participant(
        "p2",
        [session("s2"), session("s3", mediaType="callback", metrics=[])],
        userId="u1",
        attributes={"Language": "fr"},
    )
    open_one = conversation("c2", [participant("p3", [session("s4")])])
    del open_one["conversationEnd"]
    return [conversation("c1", [customer, agent]), open_one]
