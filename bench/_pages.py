"""Realistic conversation-details results pages, generated lazily for the benchmarks.

Each conversation looks like the contract's example (`conversation-details-job.results.page1.json`):
a customer, an IVR with a flow and its outcomes, an ACD queue and one or two agents, each with
one or two sessions carrying segments, metrics and (for the customer) media endpoint stats;
agents and customers carry a few participant attributes. Pages are compact JSON, as the API
sends them, and only one page exists at a time.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

EPOCH_MS = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1000)
# 10,000 conversations a day: a chunk of 10 pages is one UTC day, as a sync chunks by day.
SPACING_MS = 8_640
QUEUES = [f"5b1d2c3e-9f8a-4b7c-a6d5-e4f3a2b1c{n:03d}" for n in range(40)]
AGENTS = [f"d4c3b2a1-0f9e-4d8c-b7a6-5e4d3c2b{n:04d}" for n in range(400)]
WRAPUPS = [f"7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4{n:03d}" for n in range(25)]
ATTRIBUTE_NAMES = ["AccountType", "CaseNumber", "Language", "Region", "Intent", "Priority"]
Record = dict[str, Any]


def iter_pages(conversations: int, *, page_size: int = 1000, seed: int = 7) -> Iterator[bytes]:
    """Yield results pages (raw JSON bytes) holding `conversations` conversations in all."""
    rng = random.Random(seed)
    done = 0
    while done < conversations:
        size = min(page_size, conversations - done)
        batch = [_conversation(rng, done + i) for i in range(size)]
        done += size
        page: Record = {"conversations": batch, "dataAvailabilityDate": _iso(EPOCH_MS, 86_400_000)}
        if done < conversations:
            page["cursor"] = f"cursor-{done}"
        yield orjson.dumps(page)


def _iso(base: int, ms: int) -> str:
    """`base + ms` (epoch milliseconds) as the API writes times: `2024-05-01T14:02:11.015Z`."""
    at = base + ms
    return f"{_second(at // 1000)}.{at % 1000:03d}Z"


@functools.lru_cache(maxsize=1 << 16)
def _second(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _conversation(rng: random.Random, n: int) -> Record:
    start = EPOCH_MS + n * SPACING_MS
    ivr_ms, wait_ms = rng.randint(5_000, 60_000), rng.randint(1_000, 120_000)
    agents = 1 if rng.random() < 0.8 else 2
    talk_ms = [rng.randint(30_000, 900_000) for _ in range(agents)]
    end_ms = ivr_ms + wait_ms + sum(talk_ms) + 30_000 * agents
    participants = [
        _customer(rng, start, end_ms),
        _ivr(rng, start, ivr_ms),
        _acd(rng, start, ivr_ms, wait_ms),
    ]
    at = ivr_ms + wait_ms
    for talk in talk_ms:
        participants.append(_agent(rng, start, at, talk))
        at += talk + 30_000
    conv: Record = {
        "conversationId": _uuid(rng),
        "conversationStart": _iso(start, 0),
        "conversationEnd": _iso(start, end_ms),
        "originatingDirection": "inbound",
        "conversationInitiator": "customer",
        "customerParticipation": True,
        "divisionIds": ["b9c8d7e6-f5a4-4b3c-9d2e-1f0a9b8c7d6e"],
        "mediaStatsMinConversationMos": round(rng.uniform(3.5, 4.5), 2),
        "mediaStatsMinConversationRFactor": round(rng.uniform(70, 93), 1),
        "participants": participants,
    }
    if rng.random() < 0.05:
        conv["surveys"] = [{"surveyId": _uuid(rng), "surveyPromoterScore": rng.randint(0, 10)}]
    return conv


def _attributes(rng: random.Random) -> dict[str, str]:
    names = rng.sample(ATTRIBUTE_NAMES, rng.randint(1, 4))
    return {name: f"{name.lower()}-{rng.randint(0, 999)}" for name in names}


def _segment(start: int, a: int, b: int, kind: str, disconnect: str | None) -> Record:
    seg: Record = {
        "segmentStart": _iso(start, a),
        "segmentEnd": _iso(start, b),
        "segmentType": kind,
        "conference": False,
    }
    if disconnect:
        seg["disconnectType"] = disconnect
    return seg


def _metric(start: int, at: int, name: str, value: int) -> Record:
    return {"name": name, "value": value, "emitDate": _iso(start, at)}


def _customer(rng: random.Random, start: int, end_ms: int) -> Record:
    session = {
        "sessionId": _uuid(rng),
        "mediaType": "voice",
        "direction": "inbound",
        "ani": f"tel:+1212555{rng.randint(0, 9999):04d}",
        "dnis": "tel:+18005550100",
        "provider": "Edge",
        "recording": True,
        "mediaEndpointStats": [
            {
                "codecs": ["audio/opus"],
                "minMos": round(rng.uniform(3.5, 4.5), 2),
                "maxLatencyMs": rng.randint(10, 90),
                "receivedPackets": end_ms // 20,
                "eventTime": _iso(start, end_ms),
            }
        ],
        "metrics": [],
        "segments": [_segment(start, 0, end_ms, "interact", "peer")],
    }
    return {
        "participantId": _uuid(rng),
        "participantName": "Mobile Number, New York",
        "purpose": "customer",
        "attributes": _attributes(rng),
        "sessions": [session],
    }


def _ivr(rng: random.Random, start: int, ivr_ms: int) -> Record:
    outcome = _uuid(rng)
    flow = {
        "flowId": "f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f",
        "flowName": "Main IVR",
        "flowVersion": "12.0",
        "flowType": "INBOUNDCALL",
        "entryType": "dnis",
        "exitReason": "TRANSFER",
        "transferType": "ACD",
        "outcomes": [
            {
                "flowOutcomeId": outcome,
                "flowOutcomeValue": "SUCCESS",
                "flowOutcome": f"{outcome}:SUCCESS",
                "flowOutcomeStartTimestamp": _iso(start, 500),
                "flowOutcomeEndTimestamp": _iso(start, ivr_ms),
            }
        ],
    }
    session = {
        "sessionId": _uuid(rng),
        "mediaType": "voice",
        "direction": "inbound",
        "flow": flow,
        "metrics": [
            _metric(start, 500, "nFlow", 1),
            _metric(start, ivr_ms, "tFlow", ivr_ms),
            _metric(start, ivr_ms, "tFlowOut", ivr_ms),
        ],
        "segments": [_segment(start, 0, ivr_ms, "ivr", "transfer")],
    }
    return {
        "participantId": _uuid(rng),
        "participantName": "Main IVR",
        "purpose": "ivr",
        "sessions": [session],
    }


def _acd(rng: random.Random, start: int, ivr_ms: int, wait_ms: int) -> Record:
    queue = rng.choice(QUEUES)
    seg = _segment(start, ivr_ms, ivr_ms + wait_ms, "interact", "transfer")
    seg["queueId"] = queue
    session = {
        "sessionId": _uuid(rng),
        "mediaType": "voice",
        "requestedRoutings": ["Standard"],
        "usedRouting": "Standard",
        "metrics": [
            _metric(start, ivr_ms, "nOffered", 1),
            _metric(start, ivr_ms + wait_ms, "tAcd", wait_ms),
        ],
        "segments": [seg],
    }
    return {
        "participantId": _uuid(rng),
        "participantName": "Support",
        "purpose": "acd",
        "sessions": [session],
    }


def _agent(rng: random.Random, start: int, at: int, talk_ms: int) -> Record:
    queue = rng.choice(QUEUES)
    alert, hold, acw = rng.randint(2_000, 9_000), rng.randint(0, talk_ms // 4), 30_000
    a, b, c = at + alert, at + alert + talk_ms // 2, at + alert + talk_ms // 2 + hold
    d, e = at + alert + talk_ms, at + alert + talk_ms + acw
    segments = [
        _segment(start, at, a, "alert", None),
        _segment(start, a, b, "interact", None),
        _segment(start, b, c, "hold", None),
        _segment(start, c, d, "interact", "client"),
        _segment(start, d, e, "wrapup", None),
    ]
    for seg in segments:
        seg["queueId"] = queue
    segments[-1]["wrapUpCode"] = rng.choice(WRAPUPS)
    metrics = [
        _metric(start, at, "tAlert", alert),
        _metric(start, a, "tAnswered", a - at),
        _metric(start, c, "tHeld", hold),
        _metric(start, d, "tTalk", talk_ms - hold),
        _metric(start, d, "tTalkComplete", talk_ms - hold),
        _metric(start, d, "tHeldComplete", hold),
        _metric(start, e, "tAcw", acw),
        _metric(start, e, "tHandle", talk_ms + acw),
        _metric(start, e, "nConnected", 1),
    ]
    sessions = [
        {
            "sessionId": _uuid(rng),
            "mediaType": "voice",
            "direction": "inbound",
            "requestedRoutings": ["Standard"],
            "usedRouting": "Standard",
            "metrics": metrics,
            "segments": segments,
        }
    ]
    if rng.random() < 0.3:
        sessions.append(
            {
                "sessionId": _uuid(rng),
                "mediaType": "callback",
                "direction": "outbound",
                "callbackNumbers": ["tel:+12125550147"],
                "metrics": [_metric(start, e, "nOutbound", 1)],
                "segments": [_segment(start, e, e + 5_000, "dialing", "client")],
            }
        )
    return {
        "participantId": _uuid(rng),
        "participantName": "Agent",
        "purpose": "agent",
        "userId": rng.choice(AGENTS),
        "attributes": _attributes(rng),
        "sessions": sessions,
    }
