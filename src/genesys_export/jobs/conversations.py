"""Conversation details: async jobs into the six conversation tables.

A job covers one or more pieces of the export (UTC days by default, see
`request_plan`). Its results come ordered by conversation start, so each piece is
committed, with its checkpoint, as soon as the results pass its end: a long job loses at
most one piece to a crash, and a rerun resumes with a job for the rest.

A conversation is replaced whole: every chunk deletes, in all six tables, the rows of the
conversations it carries before appending their new rows, so a conversation seen in two
chunks (it spanned midnight) or exported again later leaves no stale children and no
duplicates.

Each results page is transformed, validated and parked on disk as it arrives
(`park_page`); only its conversation ids stay in memory, so a chunk of any size costs about
one page of memory until it is written, one page at a time.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.chunks import ChunkResult, PlannedJob, Replacement
from genesys_export.errors import JobExpired, JobFailed
from genesys_export.intervals import Interval
from genesys_export.jobs.lifecycle import (
    CONVERSATION_DETAILS,
    DetailsProducer,
    run_job,
    stream_job,
)
from genesys_export.spool import SpooledTable, SpooledTables
from genesys_export.transform.conversations import conversation_tables
from genesys_export.transform.schemas import (
    CONVERSATIONS,
    PARTICIPANT_ATTRIBUTES,
    PARTICIPANTS,
    SEGMENTS,
    SESSION_METRICS,
    SESSIONS,
)
from genesys_export.transform.tables import RunContext
from genesys_export.validate import (
    ValidationReport,
    validate_conversation_pages,
    validate_conversation_tables,
)

log = logging.getLogger(__name__)
SPECS = (CONVERSATIONS, PARTICIPANTS, PARTICIPANT_ATTRIBUTES, SESSIONS, SEGMENTS, SESSION_METRICS)
SMALLEST_SPLIT = timedelta(hours=1)


@dataclass(frozen=True)
class ParkedPage:
    """A results page once read: its tables on disk, what its chunk needs of it in memory."""

    tables: SpooledTables
    cursor: str | None
    conversation_ids: pa.Array
    starts: tuple[datetime, ...]  # each conversation's start, in the order of the ids
    validation: ValidationReport

    @property
    def days(self) -> frozenset[date]:
        """UTC dates of its conversations' starts (the Parquet partitions they land in)."""
        return frozenset(start.astimezone(UTC).date() for start in self.starts)


def park_page(raw: bytes, ctx: RunContext) -> ParkedPage:
    """One results page as the six tables, checked, then parked on disk."""
    page = conversation_tables(raw, ctx)
    return _park(page.tables, page.cursor)


def _park(tables: dict[str, pa.Table], cursor: str | None) -> ParkedPage:
    conversations = tables[CONVERSATIONS.name]
    return ParkedPage(
        tables=SpooledTables(tables),
        cursor=cursor,
        conversation_ids=conversations.column("conversation_id").combine_chunks(),
        starts=tuple(conversations.column("conversation_start").to_pylist()),
        validation=validate_conversation_tables(tables),
    )


def chunk_of(interval: Interval, pages: Sequence[ParkedPage]) -> ChunkResult:
    """A chunk's pages as six tables, each replacing the chunk's conversations, validated.

    Every key of the six tables starts with `conversation_id`, so deleting the chunk's
    conversations frees every key it writes: `fresh_keys`.
    """
    ids = pa.chunked_array([p.conversation_ids for p in pages], pa.string()).combine_chunks()
    replacement = Replacement(
        keys=pa.table({"conversation_id": ids}),
        partitions=frozenset().union(*(p.days for p in pages)),
    )
    spooled = [p.tables for p in pages]
    return ChunkResult(
        interval=interval,
        tables=[(spec, SpooledTable(spooled, spec.name), replacement) for spec in SPECS],
        validation=validate_conversation_pages([p.validation for p in pages], ids),
        fresh_keys=True,
    )


@dataclass(frozen=True)
class ConversationProducer(DetailsProducer):
    """Produces conversation chunks, one per piece of each planned job."""

    def __call__(self, job: PlannedJob, turn: Callable[[], None]) -> Iterator[ChunkResult]:
        pieces = list(job.pieces)
        expired = 0
        while len(pieces) > 1:
            span = Interval(pieces[0].start, job.interval.end)
            rest = PlannedJob(span, tuple(pieces), job.first_poll)
            try:
                for result in self._stream(rest, turn):
                    pieces.pop(0)
                    yield result
                return
            except JobExpired as exc:  # results expired after some pieces were used
                expired += 1
                if expired >= self.max_attempts:
                    raise
                log.warning("%s; asking a new job for %s", exc, rest.interval)
            except JobFailed:
                half = len(pieces) // 2
                log.warning("jobs for %s keep failing; trying it in two halves", rest.interval)
                for part in (pieces[:half], pieces[half:]):
                    span = Interval(part[0].start, part[-1].end)
                    yield from self(PlannedJob(span, tuple(part), job.first_poll / 2), turn)
                return
        if pieces:
            yield chunk_of(pieces[0], self._pages(pieces[0], turn))

    def _stream(self, job: PlannedJob, turn: Callable[[], None]) -> Iterator[ChunkResult]:
        """The job's pieces, each as soon as the results (ordered by start) pass it."""
        pieces = job.pieces
        ends = [piece.end for piece in pieces]
        index, parked = 0, list[ParkedPage]()
        for page in stream_job(
            self.api,
            CONVERSATION_DETAILS,
            _query(job.interval),
            read_page=lambda raw: park_page(raw, self.ctx),
            cursor_of=lambda page: page.cursor,
            turn=turn,
            first_poll=job.first_poll,
            **self.job_options(),
        ):
            for at, part in _by_piece(page, ends, index):
                while index < at:
                    yield chunk_of(pieces[index], parked)
                    index, parked = index + 1, []
                parked.append(part)
        for piece in pieces[index:]:
            yield chunk_of(piece, parked)
            parked = []

    def _pages(self, interval: Interval, turn: Callable[[], None]) -> list[ParkedPage]:
        """All pages for the interval; a job that keeps failing is retried in two halves."""
        try:
            return run_job(
                self.api,
                CONVERSATION_DETAILS,
                _query(interval),
                read_page=lambda raw: park_page(raw, self.ctx),
                cursor_of=lambda page: page.cursor,
                turn=turn,
                **self.job_options(),
            )
        except JobFailed:
            if interval.length / 2 < SMALLEST_SPLIT:
                raise
            log.warning("jobs for %s keep failing; trying it in two halves", interval)
            mid = interval.start + interval.length / 2
            halves = (Interval(interval.start, mid), Interval(mid, interval.end))
            pages = [p for half in halves for p in self._pages(half, turn)]
            return _dedupe(pages)


def _query(interval: Interval) -> dict[str, Any]:
    return {"interval": interval.iso(), "order": "asc", "orderBy": "conversationStart"}


def _by_piece(page: ParkedPage, ends: list[datetime], current: int) -> list[tuple[int, ParkedPage]]:
    """The page cut where its conversations' starts cross piece ends: (piece, part) in
    order. A conversation starting before the current piece (it began before the job's
    interval) belongs to the current piece."""
    last = len(ends) - 1
    at = [max(current, min(last, bisect_right(ends, start))) for start in page.starts]
    if not at or at[0] == at[-1]:
        return [(at[0] if at else current, page)]
    ids = page.conversation_ids.to_pylist()
    parts = []
    for piece in sorted(set(at)):
        keep = pa.array([i for i, a in zip(ids, at, strict=True) if a == piece], pa.string())
        tables = {}
        for spec in SPECS:
            table = page.tables.read(spec.name)
            tables[spec.name] = table.filter(pc.is_in(table["conversation_id"], keep))
        parts.append((piece, _park(tables, page.cursor)))
    return parts


def _dedupe(pages: list[ParkedPage]) -> list[ParkedPage]:
    """Halves of one interval both return a conversation active in both: keep the last."""
    seen: set[str] = set()
    kept: list[ParkedPage] = []
    for page in reversed(pages):
        ids = page.conversation_ids.to_pylist()
        if seen.isdisjoint(ids):
            kept.append(page)
        else:
            kept.append(_without(page, seen))
        seen.update(ids)
    return kept[::-1]


def _without(page: ParkedPage, drop: set[str]) -> ParkedPage:
    """The page without the conversations in `drop`, parked again."""
    dropped = pa.array(sorted(drop), pa.string())
    tables = {}
    for spec in SPECS:
        table = page.tables.read(spec.name)
        tables[spec.name] = table.filter(pc.invert(pc.is_in(table["conversation_id"], dropped)))
    return _park(tables, page.cursor)
