"""The simulated organization: queues, agents, wrap-up codes, divisions, flows, presences.

Everything is a pure function of the seed, so two simulators with the same seed name the
same ids. A few agent and queue names carry a comma, a double quote or a newline on
purpose: they travel into participant names and report CSVs, where they exercise quoting.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace

_FIRST = (
    "Dana", "Alex", "Priya", "Jonas", "Mei", "Carlos", "Fatima", "Liam", "Olga", "Kwame",
    "Sofia", "Hiro", "Amara", "Noah", "Elif", "Mateo", "Ingrid", "Ravi", "Chloe", "Tariq",
    "Lena", "Diego", "Aiko", "Samir", "Freya", "Tomasz", "Nia", "Pavel", "Zara", "Emil",
)  # fmt: skip
_LAST = (
    "Smith", "Moreno", "Patel", "Berg", "Chen", "Silva", "Haddad", "Murphy", "Ivanova",
    "Mensah", "Rossi", "Tanaka", "Okafor", "Weber", "Yilmaz", "Garcia", "Larsen", "Iyer",
    "Martin", "Aziz", "Fischer", "Lopez", "Sato", "Khan", "Nilsen", "Nowak", "Adeyemi",
    "Horvat", "Malik", "Lund",
)  # fmt: skip

# Index -> awkward display name; chosen so CSV writers and readers must quote properly.
_AWKWARD_USER_NAMES = {
    1: "Moreno, Alex",
    4: 'Mei "May" Chen',
    7: "Liam Murphy\nTeam Lead",
}

_QUEUE_NAMES = (
    "Support",
    "Sales",
    "Billing, Accounts",
    "Technical Support - Tier 2",
    'VIP "Gold" Customers',
    "Retention",
    "Claims",
    "Collections",
)
_WRAP_UP_NAMES = (
    "Resolved",
    "Follow-up required",
    "Billing question",
    "Escalated",
    "Wrong number",
    "Sale completed",
    "Callback scheduled",
    "No answer",
)
_DIVISION_NAMES = ("Home", "North America", "EMEA")
_SKILL_NAMES = ("English", "Spanish", "Billing", "Technical", "Claims")
_LANGUAGE_NAMES = ("en-us", "es", "de")
_FLOW_NAMES = ("Main IVR", "After Hours IVR", "Billing IVR")


@dataclass(frozen=True)
class Entity:
    """Something with an id and a display name (a queue, a user, a wrap-up code...)."""

    id: str
    name: str


@dataclass(frozen=True)
class Organization:
    """Reference entities of the simulated org, a pure function of (seed, sizes)."""

    users: tuple[Entity, ...]
    queues: tuple[Entity, ...]
    wrap_up_codes: tuple[Entity, ...]
    divisions: tuple[Entity, ...]
    skills: tuple[Entity, ...]
    languages: tuple[Entity, ...]
    flows: tuple[Entity, ...]
    teams: tuple[Entity, ...]
    edges: tuple[Entity, ...]
    presence_ids: dict[str, str]
    # Agents who left and a queue that was removed: they appear in conversations before
    # FORMER_UNTIL_MS only. The directory lists the agents as deleted users; a deleted
    # queue is listed nowhere, as in Genesys.
    former_users: tuple[Entity, ...] = ()
    former_queues: tuple[Entity, ...] = ()

    def on(self, day_ms: int) -> Organization:
        """The org as it was on the UTC day at `day_ms` (former staff before the cutoff)."""
        if day_ms >= FORMER_UNTIL_MS:
            return self
        return replace(
            self,
            users=self.users + self.former_users,
            queues=self.queues + self.former_queues,
        )

    def user_name(self, user_id: str) -> str:
        """The display name of a user id (the id itself when unknown)."""
        everyone = (*self.users, *self.former_users)
        return next((user.name for user in everyone if user.id == user_id), user_id)


FORMER_UNTIL_MS = 1_714_521_600_000  # 2024-05-01T00:00:00Z


def stable_id(seed: int, *parts: object) -> str:
    """A UUID-shaped id derived from the seed and a path of names: same input, same id."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def build_organization(seed: int, *, users: int, queues: int = 6) -> Organization:
    """The org for a seed: `users` agents, `queues` queues and fixed-size small sets."""
    if users < 1 or not 1 <= queues <= len(_QUEUE_NAMES):
        raise ValueError(f"need at least one user and 1..{len(_QUEUE_NAMES)} queues")

    def entities(kind: str, names: tuple[str, ...] | list[str]) -> tuple[Entity, ...]:
        return tuple(Entity(stable_id(seed, kind, i), name) for i, name in enumerate(names))

    presences = (
        "AVAILABLE", "AWAY", "BUSY", "OFFLINE", "IDLE", "ON_QUEUE", "MEAL", "TRAINING",
        "MEETING", "BREAK",
    )  # fmt: skip
    return Organization(
        users=entities("user", [_user_name(i) for i in range(users)]),
        queues=entities("queue", list(_QUEUE_NAMES[:queues])),
        wrap_up_codes=entities("wrapup", _WRAP_UP_NAMES),
        divisions=entities("division", _DIVISION_NAMES),
        skills=entities("skill", _SKILL_NAMES),
        languages=entities("language", _LANGUAGE_NAMES),
        flows=entities("flow", _FLOW_NAMES),
        teams=entities("team", ("Team Aurora", "Team Boreal", "Team Cirrus")),
        edges=entities("edge", ("edge-a", "edge-b")),
        presence_ids={name: stable_id(seed, "presence", name) for name in presences},
        former_users=entities("former-user", ["Robin Former", "Sasha Left"]),
        former_queues=entities("former-queue", ["Legacy Queue"]),
    )


def _user_name(index: int) -> str:
    if index in _AWKWARD_USER_NAMES:
        return _AWKWARD_USER_NAMES[index]
    first = _FIRST[index % len(_FIRST)]
    last = _LAST[(index * 7 + index // len(_FIRST)) % len(_LAST)]
    return f"{first} {last}"
