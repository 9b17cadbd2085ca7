"""User details: agent presence and routing status, async jobs into two tables.

Results come one user at a time (ordered by user, not by time), so a job's rows are
committed together, as one chunk covering the job's interval. A record that spans two
jobs' intervals is returned by both; it carries the same key (user, start time, status)
in both, so the second write replaces the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from genesys_export.chunks import ChunkResult, PlannedJob, concat_pages, replacement_for
from genesys_export.intervals import Interval
from genesys_export.jobs.lifecycle import USER_DETAILS, DetailsProducer, run_job
from genesys_export.transform.schemas import USER_PRESENCE, USER_ROUTING_STATUS
from genesys_export.transform.users import UserPage, user_tables
from genesys_export.validate import validate_user_tables

SPECS = (USER_PRESENCE, USER_ROUTING_STATUS)


def user_query(interval: Interval, user_ids: Sequence[str] = ()) -> dict[str, Any]:
    """An AsyncUserDetailsQuery, optionally for some users only."""
    body: dict[str, Any] = {"interval": interval.iso(), "order": "asc"}
    if user_ids:
        predicates = [{"type": "dimension", "dimension": "userId", "value": u} for u in user_ids]
        body["userFilters"] = [{"type": "or", "predicates": predicates}]
    return body


@dataclass(frozen=True)
class UserProducer(DetailsProducer):
    """Produces user-details chunks: one per planned job."""

    user_ids: tuple[str, ...] = ()

    def __call__(self, job: PlannedJob, turn: Callable[[], None]) -> Iterator[ChunkResult]:
        pages = run_job(
            self.api,
            USER_DETAILS,
            user_query(job.interval, self.user_ids),
            read_page=lambda raw: user_tables(raw, self.ctx),
            cursor_of=lambda page: page.cursor,
            turn=turn,
            first_poll=job.first_poll,
            **self.job_options(),
        )
        yield user_chunk(job.interval, pages)


def user_chunk(interval: Interval, pages: Sequence[UserPage]) -> ChunkResult:
    """A chunk's pages as the two tables, each replacing the rows sharing its keys."""
    tables = concat_pages(pages, SPECS)
    return ChunkResult(
        interval=interval,
        tables=[
            (
                spec,
                tables[spec.name],
                replacement_for(tables[spec.name], spec.key, spec.partition_by),
            )
            for spec in SPECS
        ],
        validation=validate_user_tables(tables),
    )
