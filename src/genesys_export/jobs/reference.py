"""Reference (dimension) data: every queue, user, wrap-up code, ... listed completely.

Each entity is one or more listings read to the end: page listings with the largest page
the API accepts (500 first; a 400 for the page size halves it and starts over), until
`pageNumber` reaches `pageCount`; presence definitions come in one response per
`deactivated` value. Requests go through the run's budget and retries like every other;
a listing that cannot be completed raises, so deletions are only ever inferred from a
complete one. Deleted and deactivated entities are listed where the API can: users with
`state=any`, flows with `deleted=true`, deactivated presence definitions, deleted divisions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from genesys_export.capture import RawCapture, RawJob, capturing
from genesys_export.chunks import ExportKind
from genesys_export.errors import ClientError
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import Api
from genesys_export.transform.dimensions import Entity, listed

Json = dict[str, Any]
FIRST_PAGE_SIZE = 500
SMALLEST_PAGE_SIZE = 25


def list_entity(
    api: Api, entity: Entity, events: Events, raw: RawCapture | None = None
) -> tuple[list[Json], set[str]]:
    """Every record of `entity` as the API lists it, one per id (the last listing wins),
    and the ids of those the listings say are deleted. With `raw`, each listing's pages
    are kept as received (a job per listing), for replay."""
    started, pages = api.clock(), 0
    listings: list[tuple[str, list[Json]]] = []
    for index, (path, params) in enumerate(entity.listings):
        request = {"entity": entity.name, "listing": index, "path": path, "params": dict(params)}
        job_id = f"{entity.name}-{index}"
        with capturing(raw, ExportKind.REFERENCE, job_id, request, ext="json") as kept:
            records, read = (
                _read_pages(api, path, params, kept)
                if entity.paged
                else _read_one(api, path, params, kept)
            )
        pages += read
        listings.append((path, records))
    found, deleted = listed(entity, listings)
    events(
        AuditEvent.JOB_FINISHED,
        export_kind=ExportKind.REFERENCE,
        entity=entity.name,
        pages=pages,
        records=len(found),
        latency_s=round(api.clock() - started, 3),
        state="LISTED",
    )
    return found, deleted


def _read_pages(
    api: Api, path: str, params: Mapping[str, str], kept: RawJob
) -> tuple[list[Json], int]:
    size = FIRST_PAGE_SIZE
    while True:
        try:
            return _pages_of(api, path, params, size, kept)
        except ClientError as exc:
            if exc.status != 400 or size <= SMALLEST_PAGE_SIZE:
                raise
            size //= 2  # the ceiling is not documented: ask for smaller pages, from page 1


def _pages_of(
    api: Api, path: str, params: Mapping[str, str], size: int, kept: RawJob
) -> tuple[list[Json], int]:
    records: list[Json] = []
    number = 1
    while True:
        doc = _get(api, path, {"pageSize": size, "pageNumber": number, **params}, kept)
        records += doc.get("entities") or []
        if number >= int(doc.get("pageCount") or 1) or not doc.get("nextUri"):
            return records, number
        number += 1


def _read_one(
    api: Api, path: str, params: Mapping[str, str], kept: RawJob
) -> tuple[list[Json], int]:
    return list(_get(api, path, dict(params), kept).get("entities") or []), 1


def _get(api: Api, path: str, params: Mapping[str, Any], kept: RawJob) -> Json:
    """One listing page, its body kept as received."""
    body = api.request("GET", path, params=dict(params)).content
    kept.save(body)
    doc: Json = json.loads(body)
    return doc
