"""Generates one UTC day of conversations, deterministic from (seed, day).

The model is that of analytics conversation details: conversation -> participants ->
sessions -> segments + metrics. Stories generated (shares are per conversation, roughly):

* inbound voice: customer + IVR (a few end there, self-served) + ACD + agent; some callers
  abandon in queue; some calls ring an agent who does not answer first (tNotResponding);
  some are blind-transferred through a second queue to a second agent;
* outbound voice: agent dials (dialing, contacting) an external party; some go unanswered;
* chat, message, email, callback, video: customer + ACD + agent; emails wait long in queue,
  so a few are always still open at the data-availability watermark;
* a few voice and chat conversations carry an extra cobrowse or screenshare session;
* two conversations a day start at 23:45-23:58 and run 25-45 minutes, spanning midnight.

Metric rules (all integer milliseconds, emitted when the measured period ends):
tAcd = queue wait; tAnswered = tAcd + tAlert of the answering agent; tTalk = sum of the
agent's interact segments; tHeld = one metric per hold segment; tAcw = wrap-up segment;
tHandle = tTalk + sum(tHeld) + tAcw (+ tDialing + tContacting on outbound calls).
These follow Genesys' published metric definitions; the units are UNVERIFIED (§3.5).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from genesys_export.simulator.reference import Entity, Organization

Json = dict[str, Any]

_SECOND = 1000
_MINUTE = 60 * _SECOND
# Share of conversations starting in each UTC hour: a contact center busy from 08 to 18.
_HOURLY_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 10, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1)
_MEDIA = ("voice", "chat", "message", "email", "callback", "video")
_MEDIA_WEIGHTS = (50, 12, 12, 10, 8, 3)
_DNIS = ("tel:+18005550100", "tel:+18005550111", "tel:+442035550123")
_MESSAGE_TYPES = ("sms", "whatsapp", "facebook", "webmessaging")
_EMAIL_SUBJECTS = ("Invoice question", "Change of address", "Order #4471 not delivered", "")


@dataclass(slots=True)
class Segment:
    """A segment; `end` is always known to the generator, hidden by the renderer if later."""

    start: int
    end: int
    kind: str
    fields: Json = field(default_factory=dict)
    disconnect: str | None = None


@dataclass(slots=True)
class Session:
    """A session with its segments and metrics `(name, value, emit_ms)`."""

    id: str
    media_type: str
    direction: str
    fields: Json = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    metrics: list[tuple[str, int, int]] = field(default_factory=list)
    flow: Json | None = None


@dataclass(slots=True)
class Participant:
    """A participant; `attributes` is the participant attribute map, when it has one."""

    id: str
    purpose: str
    name: str | None
    fields: Json = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    attributes: dict[str, str] | None = None


@dataclass(slots=True)
class Conversation:
    """A whole conversation as generated (before any data-availability cut)."""

    id: str
    start: int
    end: int
    fields: Json
    participants: list[Participant]


def generate_day(org: Organization, seed: int, day_ms: int, count: int) -> list[Conversation]:
    """The `count` conversations starting in the UTC day at `day_ms`, by start time."""
    rng = random.Random(f"genesys-export-simulator:{seed}:{day_ms}")
    factory = _Factory(org.on(day_ms), rng)
    starts = sorted(day_ms + _random_offset(rng) for _ in range(max(0, count - 2)))
    late = [day_ms + 86_400_000 - rng.randint(2, 15) * _MINUTE for _ in range(min(2, count))]
    conversations = [factory.conversation(start, long=False) for start in starts]
    conversations += [factory.conversation(start, long=True) for start in sorted(late)]
    conversations.sort(key=lambda conv: (conv.start, conv.id))
    return conversations


def _random_offset(rng: random.Random) -> int:
    hour = rng.choices(range(24), weights=_HOURLY_WEIGHTS)[0]
    return hour * 3_600_000 + rng.randrange(3_600_000)


class _Factory:
    """Builds conversations; holds the org and the day's random stream."""

    def __init__(self, org: Organization, rng: random.Random) -> None:
        self.org = org
        self.rng = rng

    def new_id(self) -> str:
        # A version-4 UUID from the day's stream, formatted by hand: uuid.UUID is the
        # slowest part of generating a day otherwise.
        bits = (self.rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def duration(self, median_ms: float, low_ms: int, high_ms: int) -> int:
        value = self.rng.lognormvariate(0.0, 0.6) * median_ms
        return int(min(max(value, low_ms), high_ms))

    def conversation(self, start: int, *, long: bool) -> Conversation:
        rng = self.rng
        media = "voice" if long else rng.choices(_MEDIA, weights=_MEDIA_WEIGHTS)[0]
        outbound = media == "voice" and not long and rng.random() < 0.2
        story = _Story(self, start, media, long=long, outbound=outbound)
        participants = story.outbound() if outbound else story.inbound()
        end = max(seg.end for p in participants for s in p.sessions for seg in s.segments)
        return Conversation(
            id=self.new_id(),
            start=start,
            end=end,
            fields=self.conversation_fields(media, outbound, story.self_served),
            participants=participants,
        )

    def conversation_fields(self, media: str, outbound: bool, self_served: bool) -> Json:
        rng = self.rng
        fields: Json = {
            "originatingDirection": "outbound" if outbound else "inbound",
            "conversationInitiator": "agent" if outbound else "customer",
        }
        if media in ("chat", "message"):
            fields["customerParticipation"] = rng.random() < 0.9
        if rng.random() < 0.97:
            fields["divisionIds"] = [rng.choice(self.org.divisions).id]
        if media == "voice" and rng.random() < 0.8:
            fields["mediaStatsMinConversationMos"] = round(rng.uniform(3.4, 4.5), 2)
            fields["mediaStatsMinConversationRFactor"] = round(rng.uniform(70.0, 93.0), 1)
        if rng.random() < 0.05:
            fields["externalTag"] = f"crm-{rng.randrange(10**6):06d}"
        if self_served:
            fields["selfServed"] = True
        return fields


class _Story:
    """One conversation's timeline: who joins when, and what they measure."""

    def __init__(
        self, factory: _Factory, start: int, media: str, *, long: bool, outbound: bool
    ) -> None:
        self.f = factory
        self.rng = factory.rng
        self.start = start
        self.media = media
        self.long = long
        self.direction = "outbound" if outbound else "inbound"
        self.self_served = False
        self.shared = self._shared_session_fields()

    def _shared_session_fields(self) -> Json:
        rng = self.rng
        number = f"tel:+1{rng.randint(201, 989)}555{rng.randrange(10000):04d}"
        if self.media in ("voice", "callback"):
            dnis = rng.choice(_DNIS)
            if self.direction == "outbound":
                return {"ani": dnis, "dnis": number}
            return {"ani": number, "dnis": dnis}
        if self.media == "email":
            sender = f"customer{rng.randrange(10**5)}@example.com"
            return {"addressFrom": sender, "addressTo": "support@example-contact.com"}
        if self.media == "message":
            message_type = rng.choice(_MESSAGE_TYPES)
            return {"addressFrom": number, "addressTo": "+18005550199", "messageType": message_type}
        return {}

    # -- inbound -----------------------------------------------------------------------

    def inbound(self) -> list[Participant]:
        customer = self._external_party("customer")
        participants = [customer]
        t = self.start
        if self.media == "voice":
            self.self_served = not self.long and self.rng.random() < 0.05
            ivr, t = self._ivr(t)
            participants.append(ivr)
            if self.self_served:
                return self._close_customer(participants, t, "peer")
        queue = self.rng.choice(self.f.org.queues)
        may_abandon = self.media in ("voice", "chat", "message", "video") and not self.long
        abandons = may_abandon and self.rng.random() < 0.08
        acd_ms = self._queue_wait()
        if abandons:
            participants.append(self._acd(t, queue, acd_ms, answered=False))
            return self._close_customer(participants, t + acd_ms, "endpoint")
        return self._answered(participants, t, queue, acd_ms)

    def _answered(
        self, participants: list[Participant], t: int, queue: Entity, acd_ms: int
    ) -> list[Participant]:
        rng = self.rng
        users = rng.sample(self.f.org.users, k=min(3, len(self.f.org.users)))
        # Some calls first ring an agent who does not answer; the queue wait goes on.
        unanswered = users.pop() if rng.random() < 0.05 and len(users) > 1 else None
        ring_at = t + acd_ms
        if unanswered is not None:
            acd_ms += 15 * _SECOND
        participants.append(self._acd(t, queue, acd_ms, answered=True))
        if unanswered is not None:
            participants.append(self._not_responding(unanswered, ring_at, queue))
        transfer = not self.long and rng.random() < 0.1 and len(users) > 1
        first, talk_end = self._agent(users[0], queue, t + acd_ms, acd_ms, transfer=transfer)
        participants.append(first)
        if transfer:
            second_queue = rng.choice(self.f.org.queues)
            wait = self._queue_wait()
            participants.append(self._acd(talk_end, second_queue, wait, answered=True))
            second, talk_end = self._agent(
                users[1], second_queue, talk_end + wait, wait, transfer=False
            )
            participants.append(second)
        self._maybe_cobrowse(participants, talk_end)
        return self._close_customer(participants, talk_end, rng.choice(("endpoint", "peer")))

    def _queue_wait(self) -> int:
        medians = {"email": 40 * _MINUTE, "message": 2 * _MINUTE, "callback": 6 * _MINUTE}
        high = 3 * 3_600_000 if self.media == "email" else 20 * _MINUTE
        return self.f.duration(medians.get(self.media, 30 * _SECOND), 2 * _SECOND, high)

    def _ivr(self, t: int) -> tuple[Participant, int]:
        flow = self.rng.choice(self.f.org.flows[:2])
        ivr_ms = self.f.duration(35 * _SECOND, 8 * _SECOND, 3 * _MINUTE)
        session = self._session({})
        disconnect = "peer" if self.self_served else "transfer"
        session.segments.append(Segment(t, t + ivr_ms, "ivr", disconnect=disconnect))
        session.metrics += [("nFlow", 1, t), ("tFlow", ivr_ms, t + ivr_ms)]
        session.metrics.append(("tIvr", ivr_ms, t + ivr_ms))
        session.flow = self._flow(flow, transfer=not self.self_served)
        participant = Participant(self.f.new_id(), "ivr", flow.name, sessions=[session])
        if self.rng.random() < 0.3:
            participant.attributes = {"IVR Menu Path": "1>3>2", "Language": "en-us"}
        return participant, t + ivr_ms

    def _flow(self, flow: Entity, *, transfer: bool) -> Json:
        doc: Json = {
            "flowId": flow.id,
            "flowName": flow.name,
            "flowVersion": "12.0",
            "flowType": "INBOUNDCALL",
            "entryType": "dnis",
            "entryReason": self.shared.get("dnis", ""),
            "exitReason": "TRANSFER" if transfer else "DISCONNECT",
            "issuedCallback": False,
            "startingLanguage": "en-us",
            "endingLanguage": "en-us",
        }
        if transfer:
            doc["transferType"] = "ACD"
        return doc

    def _acd(self, t: int, queue: Entity, wait: int, *, answered: bool) -> Participant:
        session = self._session({"usedRouting": "Standard", "requestedRoutings": ["Standard"]})
        if self.media == "voice":
            session.fields["flowInType"] = "ivr"
        fields: Json = {"queueId": queue.id}
        if self.rng.random() < 0.5:
            fields["requestedRoutingSkillIds"] = [self.rng.choice(self.f.org.skills).id]
        if self.rng.random() < 0.2:
            fields["requestedLanguageId"] = self.rng.choice(self.f.org.languages).id
        if self.media == "email":
            fields["subject"] = self.rng.choice(_EMAIL_SUBJECTS)
        disconnect = "transfer" if answered else "peer"
        session.segments.append(Segment(t, t + wait, "interact", fields, disconnect))
        session.metrics.append(("nOffered", 1, t))
        if answered:
            session.metrics.append(("tAcd", wait, t + wait))
            if wait > 20 * _SECOND and self.media == "voice":
                session.metrics.append(("nOverSla", 1, t + wait))
        else:
            session.metrics.append(("tAbandon", wait, t + wait))
            if wait < 10 * _SECOND:
                session.metrics.append(("tShortAbandon", wait, t + wait))
        return Participant(self.f.new_id(), "acd", queue.name, sessions=[session])

    def _not_responding(self, user: Entity, t: int, queue: Entity) -> Participant:
        session = self._session({"usedRouting": "Standard"})
        ring = 15 * _SECOND
        segment = Segment(t, t + ring, "alert", {"queueId": queue.id}, "noAnswerTransfer")
        session.segments.append(segment)
        session.metrics += [("tAlert", ring, t + ring), ("tNotResponding", ring, t + ring)]
        return self._agent_participant(user, session)

    def _agent(
        self, user: Entity, queue: Entity, alert_at: int, acd_ms: int, *, transfer: bool
    ) -> tuple[Participant, int]:
        """An agent who answers at the end of an alert; returns (participant, talk end)."""
        session = self._session({"usedRouting": "Standard"})
        if self.media == "voice":
            session.fields["recording"] = True
        queue_fields: Json = {"queueId": queue.id}
        alert_ms = self.f.duration(5 * _SECOND, 1 * _SECOND, 30 * _SECOND)
        answer = alert_at + alert_ms
        session.segments.append(Segment(alert_at, answer, "alert", dict(queue_fields)))
        session.metrics += [
            ("tAlert", alert_ms, answer),
            ("tAnswered", acd_ms + alert_ms, answer),
            ("nConnected", 1, answer),
        ]
        talk_end = self._talk(session, answer, queue_fields, transfer=transfer)
        self._wrap_up(session, talk_end, queue_fields)
        return self._agent_participant(user, session), talk_end

    def _talk(self, session: Session, t: int, queue_fields: Json, *, transfer: bool) -> int:
        """Interact segments with holds in between; adds talk/hold metrics; returns the end."""
        medians = {"chat": 8 * _MINUTE, "message": 10 * _MINUTE, "email": 5 * _MINUTE}
        talk_ms = self.f.duration(medians.get(self.media, 4 * _MINUTE), 20 * _SECOND, 40 * _MINUTE)
        if self.long:
            talk_ms = self.rng.randint(25, 45) * _MINUTE
        holds = self.rng.choice((0, 0, 0, 1, 2)) if self.media in ("voice", "callback") else 0
        pieces = self._split(talk_ms, holds + 1)
        for index, piece in enumerate(pieces):
            session.segments.append(Segment(t, t + piece, "interact", dict(queue_fields)))
            t += piece
            if index < holds:
                hold_ms = self.f.duration(30 * _SECOND, 5 * _SECOND, 3 * _MINUTE)
                session.segments.append(Segment(t, t + hold_ms, "hold", dict(queue_fields)))
                t += hold_ms
                session.metrics += [("tHeld", hold_ms, t), ("tHeldComplete", hold_ms, t)]
        session.segments[-1].disconnect = "transfer" if transfer else "client"
        session.metrics += [("tTalk", talk_ms, t), ("tTalkComplete", talk_ms, t)]
        if transfer:
            session.metrics += [("nTransferred", 1, t), ("nBlindTransferred", 1, t)]
        return t

    def _split(self, total: int, parts: int) -> list[int]:
        cuts = sorted(self.rng.randint(1, total - 1) for _ in range(parts - 1))
        bounds = [0, *cuts, total]
        return [b - a for a, b in itertools.pairwise(bounds)]

    def _wrap_up(self, session: Session, t: int, queue_fields: Json) -> None:
        handle = sum(value for name, value, _ in session.metrics if name in _HANDLE_PARTS)
        if self.rng.random() < 0.9:
            acw = self.f.duration(30 * _SECOND, 3 * _SECOND, 5 * _MINUTE)
            fields = dict(queue_fields)
            fields["wrapUpCode"] = self.rng.choice(self.f.org.wrap_up_codes).id
            if self.rng.random() < 0.2:
                fields["wrapUpNote"] = 'Customer asked, "can you call back?"\nSee CRM.'
            session.segments.append(Segment(t, t + acw, "wrapup", fields))
            t += acw
            session.metrics.append(("tAcw", acw, t))
            handle += acw
        session.metrics.append(("tHandle", handle, t))

    def _agent_participant(self, user: Entity, session: Session) -> Participant:
        participant = Participant(self.f.new_id(), "agent", user.name, sessions=[session])
        participant.fields["userId"] = user.id
        if self.rng.random() < 0.7:
            # The team is a function of the user, not of the random stream.
            teams = self.f.org.teams
            participant.fields["teamId"] = teams[int(user.id[:8], 16) % len(teams)].id
        return participant

    # -- outbound ----------------------------------------------------------------------

    def outbound(self) -> list[Participant]:
        rng = self.rng
        user = rng.choice(self.f.org.users)
        queue = rng.choice(self.f.org.queues) if rng.random() < 0.6 else None
        queue_fields: Json = {"queueId": queue.id} if queue else {}
        session = self._session({"recording": True})
        dial, ring = rng.randint(1, 4) * _SECOND, self.f.duration(12 * _SECOND, 3 * _SECOND, 40_000)
        t = self.start
        session.segments.append(Segment(t, t + dial, "dialing", dict(queue_fields)))
        session.segments.append(
            Segment(t + dial, t + dial + ring, "contacting", dict(queue_fields))
        )
        session.metrics += [("nOutbound", 1, t), ("nOutboundAttempted", 1, t)]
        t += dial + ring
        session.metrics += [("tDialing", dial, self.start + dial), ("tContacting", ring, t)]
        agent = self._agent_participant(user, session)
        if rng.random() < 0.2:
            session.segments[-1].disconnect = "endpoint"
            self._wrap_up(session, t, queue_fields)
            return [agent]
        session.metrics += [("nOutboundConnected", 1, t), ("nConnected", 1, t)]
        external = self._external_party("external")
        talk_end = self._talk(session, t, queue_fields, transfer=False)
        self._wrap_up(session, talk_end, queue_fields)
        segment = Segment(t, talk_end, "interact", disconnect="peer")
        external.sessions[0].segments.append(segment)
        external.sessions[0].fields["peerId"] = session.id
        return [agent, external]

    # -- shared pieces -----------------------------------------------------------------

    def _session(self, extra: Json) -> Session:
        fields = dict(self.shared)
        fields.update({key: value for key, value in extra.items() if value is not None})
        return Session(self.f.new_id(), self.media, self.direction, fields)

    def _external_party(self, purpose: str) -> Participant:
        rng = self.rng
        session = self._session({})
        if self.media == "voice":
            session.fields["edgeId"] = rng.choice(self.f.org.edges).id
            session.fields["provider"] = "Edge"
        if self.media == "callback":
            session.fields["callbackNumbers"] = [self.shared["ani"]]
            session.fields["callbackUserName"] = rng.choice(("Pat Doe", "Sam Roe", "Kim Lee"))
        name = rng.choice(("Mobile Number, New York", "Jordan Lee", "Unknown", 'R. "Bob" Ray'))
        participant = Participant(self.f.new_id(), purpose, name, sessions=[session])
        if rng.random() < 0.4:
            participant.attributes = {
                "AccountType": rng.choice(("Gold", "Silver", "Bronze")),
                "CaseNumber": f"{rng.randrange(10**8):08d}",
            }
            if rng.random() < 0.3:
                participant.attributes["Customer Segment"] = "SMB, EMEA"
        return participant

    def _close_customer(
        self, participants: list[Participant], end: int, disconnect: str
    ) -> list[Participant]:
        customer = participants[0].sessions[0]
        customer.segments.append(Segment(self.start, end, "interact", disconnect=disconnect))
        # peerId of every internal session points back at the customer's session (§3.5).
        for participant in participants[1:]:
            participant.sessions[0].fields["peerId"] = customer.id
        return participants

    def _maybe_cobrowse(self, participants: list[Participant], talk_end: int) -> None:
        if self.media not in ("voice", "chat") or self.rng.random() >= 0.08:
            return
        agent = participants[-1]
        start = agent.sessions[0].segments[1].start
        media = self.rng.choice(("cobrowse", "screenshare"))
        for participant in (participants[0], agent):
            session = Session(self.f.new_id(), media, self.direction)
            session.segments.append(Segment(start, talk_end, "interact", disconnect="client"))
            if participant is agent and media == "cobrowse":
                session.metrics.append(("nCobrowseSessions", 1, start))
            participant.sessions.append(session)


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)
_HANDLE_PARTS = frozenset({"tTalk", "tHeld", "tDialing", "tContacting"})
