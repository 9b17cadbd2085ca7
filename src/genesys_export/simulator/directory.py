"""Reference listings: the org's queues, users, wrap-up codes, ... as the directory APIs list them.

Built from the same `Organization` the conversations come from, so every id an analytics
row carries is listed (or was, before a test deleted it). Listings page like the real ones:
`pageNumber` (from 1) and `pageSize` (default 25) in; `entities`, `pageSize`, `pageNumber`,
`total`, `pageCount`, `selfUri`, `firstUri`, `lastUri` and, while more follow, `nextUri`
out. A `pageSize` above the simulator's ceiling is refused with 400, as the API refuses
values past its (undocumented) maximum. Presence definitions come in one response.

What each listing leaves out follows the API: deleted queues, wrap-up codes, skills,
languages and groups are gone; users are listed by `state` (`active` by default, `any` for
all, deleted included); deleted divisions only under `/divisions/deleted`; flows with
`deleted=true` only; presence definitions by `deactivated` (FALSE by default).

Tests change the org between runs with `rename`, `delete` and `add`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from genesys_export.simulator.problems import Problem, bad_request, invalid_query_param
from genesys_export.simulator.reference import Organization, stable_id

Json = dict[str, Any]
DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True)
class Listing:
    """One listing endpoint: its path, the entities behind it, and who it leaves out."""

    path: str
    kind: str
    paged: bool = True


LISTINGS = (
    Listing("/api/v2/routing/queues", "queues"),
    Listing("/api/v2/users", "users"),
    Listing("/api/v2/routing/wrapupcodes", "wrapupcodes"),
    Listing("/api/v2/routing/skills", "skills"),
    Listing("/api/v2/routing/languages", "languages"),
    Listing("/api/v2/authorization/divisions", "divisions"),
    Listing("/api/v2/authorization/divisions/deleted", "divisions"),
    Listing("/api/v2/presence/definitions", "presence", paged=False),
    Listing("/api/v2/flows", "flows"),
    Listing("/api/v2/groups", "groups"),
)
_PRESENCE_SPELLING = {  # analytics spelling -> presence definitions' spelling
    "AVAILABLE": "Available", "AWAY": "Away", "BUSY": "Busy", "OFFLINE": "Offline",
    "IDLE": "Idle", "ON_QUEUE": "OnQueue", "MEAL": "Meal", "TRAINING": "Training",
    "MEETING": "Meeting", "BREAK": "Break",
}  # fmt: skip
_GROUP_NAMES = ("Supervisors", "Night shift", "Billing specialists")
_FLOW_TYPES = ("INBOUNDCALL", "INBOUNDCALL", "INQUEUECALL")


@dataclass
class Directory:
    """Every reference entity of the org, each kind an ordered id -> record map."""

    seed: int
    page_size_max: int = 500
    records: dict[str, dict[str, Json]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, org: Organization, seed: int, *, page_size_max: int = 500) -> Directory:
        directory = cls(seed, page_size_max)
        home = org.divisions[0]
        division = {"id": home.id, "name": home.name, "selfUri": f"/divisions/{home.id}"}
        made = {
            "queues": [
                {"description": f"{q.name} queue", "division": division} for q in org.queues
            ],
            "users": [_user(u.name, division) for u in org.users],
            "wrapupcodes": [{"division": division} for _ in org.wrap_up_codes],
            "skills": [{"state": "active", "division": division} for _ in org.skills],
            "languages": [{"state": "active"} for _ in org.languages],
            "divisions": [
                {"description": f"{d.name} division", "homeDivision": i == 0}
                for i, d in enumerate(org.divisions)
            ],
            "flows": [
                {"type": _FLOW_TYPES[i % 3], "division": division, "active": True, "system": False}
                for i, _ in enumerate(org.flows)
            ],
        }
        entities = {
            "queues": org.queues,
            "users": org.users,
            "wrapupcodes": org.wrap_up_codes,
            "skills": org.skills,
            "languages": org.languages,
            "divisions": org.divisions,
            "flows": org.flows,
        }
        for kind, listed in entities.items():
            directory.records[kind] = {
                e.id: {"id": e.id, "name": e.name, **extra}
                for e, extra in zip(listed, made[kind], strict=True)
            }
        directory.records["users"] |= {
            u.id: {"id": u.id, "name": u.name, **_user(u.name, division), "state": "deleted"}
            for u in org.former_users
        }
        directory.records["presence"] = {
            pid: _presence(pid, name, division["id"]) for name, pid in org.presence_ids.items()
        }
        directory.records["groups"] = {
            gid: {"id": gid, "name": name, "type": "official", "state": "active"}
            for gid, name in ((stable_id(seed, "group", i), n) for i, n in enumerate(_GROUP_NAMES))
        }
        return directory

    # -- changes a test makes between runs -----------------------------------------------

    def rename(self, kind: str, entity_id: str, name: str) -> None:
        with self._lock:
            self.records[kind][entity_id]["name"] = name

    def delete(self, kind: str, entity_id: str) -> None:
        """Delete (or, for presence definitions, deactivate) an entity."""
        with self._lock:
            record = self.records[kind][entity_id]
            self.deleted.setdefault(kind, set()).add(entity_id)
            if kind == "users":
                record["state"] = "deleted"
            elif kind == "flows":
                record["deleted"] = True
            elif kind == "presence":
                record["deactivated"] = True

    def add(self, kind: str, name: str) -> str:
        """A new entity of `kind`; its id."""
        with self._lock:
            entity_id = stable_id(self.seed, kind, "added", len(self.records[kind]), name)
            template = dict(next(iter(self.records[kind].values())))
            self.records[kind][entity_id] = template | {"id": entity_id, "name": name}
            return entity_id

    # -- listings ------------------------------------------------------------------------

    def listing(self, listing: Listing, query: dict[str, str]) -> Json:
        with self._lock:
            entities = [dict(r) for r in self._visible(listing, query)]
        if not listing.paged:
            return {"total": len(entities), "entities": entities, "selfUri": listing.path}
        size = _int(query, "pageSize", DEFAULT_PAGE_SIZE)
        number = _int(query, "pageNumber", 1)
        if not 1 <= size <= self.page_size_max:
            raise bad_request(
                f"pageSize {size} is out of range; the maximum is {self.page_size_max}"
            )
        count = max(1, -(-len(entities) // size))
        page = entities[(number - 1) * size : number * size]
        doc: Json = {
            "entities": page,
            "pageSize": size,
            "pageNumber": number,
            "total": len(entities),
            "pageCount": count,
            "selfUri": _page_uri(listing.path, size, number),
            "firstUri": _page_uri(listing.path, size, 1),
            "lastUri": _page_uri(listing.path, size, count),
        }
        if number < count:
            doc["nextUri"] = _page_uri(listing.path, size, number + 1)
        if number > 1:
            doc["previousUri"] = _page_uri(listing.path, size, number - 1)
        return doc

    def _visible(self, listing: Listing, query: dict[str, str]) -> list[Json]:
        kind, gone = listing.kind, self.deleted.get(listing.kind, set())
        records = list(self.records[kind].values())
        if kind == "users":
            state = query.get("state", "active")
            if state not in ("active", "inactive", "deleted", "any"):
                raise invalid_query_param(state, "state", "active, inactive, deleted, any")
            return [r for r in records if state == "any" or r["state"] == state]
        if kind == "flows":
            return [r for r in records if query.get("deleted") == "true" or not r.get("deleted")]
        if kind == "presence":
            wanted = query.get("deactivated", "FALSE").upper() == "TRUE"
            return [r for r in records if r["deactivated"] == wanted]
        if kind == "divisions":
            deleted_only = listing.path.endswith("/deleted")
            return [r for r in records if (r["id"] in gone) == deleted_only]
        return [r for r in records if r["id"] not in gone]


def _user(name: str, division: Json) -> Json:
    handle = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isalnum() or ch == ".")
    return {
        "email": f"{handle}@example.com",
        "username": f"{handle}@example.com",
        "state": "active",
        "division": division,
        "title": "Agent",
        "department": "Contact Center",
    }


def _presence(presence_id: str, analytics_name: str, division_id: str) -> Json:
    spelled = _PRESENCE_SPELLING[analytics_name]
    label = "On Queue" if spelled == "OnQueue" else spelled
    return {
        "id": presence_id,
        "name": label,
        "type": "System",
        "languageLabels": {"en_US": label},
        "systemPresence": spelled,
        "divisionId": division_id,
        "deactivated": False,
    }


def _int(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        raise Problem(400, "bad.request", f"{name} must be an integer") from None


def _page_uri(path: str, size: int, number: int) -> str:
    return f"{path}?pageSize={size}&pageNumber={number}"
