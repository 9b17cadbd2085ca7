"""Conversation details: one async job per chunk into the six conversation tables.

A conversation is replaced whole: every chunk deletes, in all six tables, the rows of the
conversations it carries before appending their new rows, so a conversation seen in two
chunks (it spanned midnight) or exported again later leaves no stale children and no
duplicates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.errors import JobFailed
from genesys_export.intervals import Interval
from genesys_export.jobs.lifecycle import CONVERSATION_DETAILS, DetailsChunks, run_job
from genesys_export.pipeline import ChunkResult, concat_pages, replacement_for
from genesys_export.transform.conversations import ConversationPage, conversation_tables
from genesys_export.transform.schemas import (
    CONVERSATIONS,
    PARTICIPANT_ATTRIBUTES,
    PARTICIPANTS,
    SEGMENTS,
    SESSION_METRICS,
    SESSIONS,
)
from genesys_export.validate import validate_conversation_tables

log = logging.getLogger(__name__)
SPECS = (CONVERSATIONS, PARTICIPANTS, PARTICIPANT_ATTRIBUTES, SESSIONS, SEGMENTS, SESSION_METRICS)
SMALLEST_SPLIT = timedelta(hours=1)


def chunk_of(interval: Interval, pages: list[ConversationPage]) -> ChunkResult:
    """A chunk's pages as six tables, each replacing the chunk's conversations, validated.

    Every key of the six tables starts with `conversation_id`, so deleting the chunk's
    conversations frees every key it writes: `fresh_keys`.
    """
    tables = concat_pages(pages, SPECS)
    conversations = tables[CONVERSATIONS.name]
    replacement = replacement_for(conversations, ["conversation_id"], "conversation_start")
    return ChunkResult(
        interval=interval,
        tables=[(spec, tables[spec.name], replacement) for spec in SPECS],
        validation=validate_conversation_tables(tables),
        fresh_keys=True,
    )


@dataclass(frozen=True)
class ConversationChunks(DetailsChunks):
    """Produces conversation chunks for `run_chunks`."""

    def __call__(self, interval: Interval) -> ChunkResult:
        return chunk_of(interval, self._pages(interval))

    def _pages(self, interval: Interval) -> list[ConversationPage]:
        """All pages for the interval; a job that keeps failing is retried in two halves."""
        body = {"interval": interval.iso(), "order": "asc", "orderBy": "conversationStart"}
        try:
            return run_job(
                self.api,
                CONVERSATION_DETAILS,
                body,
                page_size=self.page_size,
                read_page=lambda raw: conversation_tables(raw, self.ctx),
                cursor_of=lambda page: page.cursor,
                polling=self.polling,
                events=self.run.event,
                max_attempts=self.max_attempts,
                rng=self.rng,
            )
        except JobFailed:
            if interval.length / 2 < SMALLEST_SPLIT:
                raise
            log.warning("jobs for %s keep failing; trying it in two halves", interval)
            mid = interval.start + interval.length / 2
            halves = (Interval(interval.start, mid), Interval(mid, interval.end))
            pages = [p for half in halves for p in self._pages(half)]
            return _dedupe(pages)


def _dedupe(pages: list[ConversationPage]) -> list[ConversationPage]:
    """Halves of one interval both return a conversation active in both: keep the last."""
    seen: set[str] = set()
    kept: list[ConversationPage] = []
    for page in reversed(pages):
        ids = page.conversation_ids.to_pylist()
        if seen.isdisjoint(ids):
            kept.append(page)
        else:
            kept.append(_without(page, seen))
        seen.update(ids)
    return kept[::-1]


def _without(page: ConversationPage, drop: set[str]) -> ConversationPage:
    tables = {
        name: t.filter(pc.invert(pc.is_in(t.column("conversation_id"), pa.array(sorted(drop)))))
        for name, t in page.tables.items()
    }
    ids = tables[CONVERSATIONS.name].column("conversation_id").combine_chunks()
    return ConversationPage(
        tables=tables,
        cursor=page.cursor,
        data_availability=page.data_availability,
        conversation_ids=ids,
    )
