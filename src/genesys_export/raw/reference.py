"""Replaying reference listings: the dimension history again, from the listings as received.

Each listing of an entity was kept as one job (`jobs.reference.list_entity`); a run's jobs
of one entity are its complete listing. Replayed oldest run first, each complete listing
opens and closes the versions it did live, at the time it was made (`extracted_at`), so
the `dim_*` tables equal those of the runs that fetched the listings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from genesys_export.landing import Landing, write_versions
from genesys_export.raw.zone import Manifest, RawZone
from genesys_export.transform.dimensions import BY_NAME, listed


def replay_reference(landing: Landing, zone: RawZone, jobs: Iterable[Manifest]) -> None:
    """Each run's complete listings, entity by entity, in the order they were made."""
    listings: dict[tuple[str, str], list[Manifest]] = {}
    for job in sorted(jobs, key=lambda j: (j.extracted_at, j.run_id, j.job_id)):
        listings.setdefault((job.run_id, str(job.request["entity"])), []).append(job)
    for (_, name), parts in listings.items():
        entity = BY_NAME[name]
        pages = [
            (str(part.request["path"]), records(zone, part))
            for part in sorted(parts, key=lambda p: int(p.request["listing"]))
        ]
        found, deleted = listed(entity, pages)
        write_versions(landing, entity, found, deleted, parts[0].extracted_at)


def records(zone: RawZone, job: Manifest) -> list[dict[str, object]]:
    """The entities of every page of one listing, as received."""
    found: list[dict[str, object]] = []
    for file in job.files:
        found += json.loads(zone.read_body(job, file)).get("entities") or []
    return found
