"""Conversation chunks: pages parked on disk as they arrive, checked and written page by page."""

from __future__ import annotations

import gc
import os
from datetime import UTC, datetime

import pyarrow as pa

from genesys_export.chunks import ChunkResult
from genesys_export.intervals import Interval
from genesys_export.jobs.conversations import SPECS, _dedupe, chunk_of, park_page
from genesys_export.transform.conversations import conversation_tables
from genesys_export.validate import validate_conversation_tables
from tests.transform.builders import (
    CTX,
    conversation,
    page,
    participant,
    session,
    two_conversations,
)

DAY = Interval(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))


def one(conversation_id: str) -> dict[str, object]:
    return conversation(conversation_id, [participant(f"{conversation_id}-p", [session("s")])])


def tables_of(result: ChunkResult) -> dict[str, pa.Table]:
    """Each table of a chunk, read back whole from its spooled pages."""
    return {
        spec.name: pa.concat_tables(list(table)) if not isinstance(table, pa.Table) else table
        for spec, table, _ in result.tables
    }


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_parked_pages_read_back_as_the_transformed_tables() -> None:
    """Two pages parked and read back: the same rows, schemas and checks as in memory."""
    raws = [page(two_conversations()), page([one("c3"), one("c4")])]
    in_memory = [conversation_tables(raw, CTX).tables for raw in raws]

    result = chunk_of(DAY, [park_page(raw, CTX) for raw in raws])

    written = tables_of(result)
    for spec in SPECS:
        expected = pa.concat_tables([tables[spec.name] for tables in in_memory])
        assert written[spec.name].schema.equals(spec.schema)
        assert written[spec.name].equals(expected), spec.name
    whole = validate_conversation_tables({spec.name: written[spec.name] for spec in SPECS})
    assert result.validation == whole
    assert result.validation.ok
    replacement = result.tables[0][2]
    assert sorted(replacement.keys.column("conversation_id").to_pylist()) == [
        "c1",
        "c2",
        "c3",
        "c4",
    ]
    assert replacement.partitions == {datetime(2024, 5, 1).date()}


def test_conversation_in_two_pages_fails_key_unique() -> None:
    """Each page passes alone; the chunk fails: a conversation may not be in two pages."""
    pages = [park_page(page([one("c1"), one("c2")]), CTX), park_page(page([one("c2")]), CTX)]
    assert all(p.validation.ok for p in pages)

    report = chunk_of(DAY, pages).validation

    failed = [(c.table, c.name, c.failures, c.examples) for c in report.failed]
    assert failed == [("conversations", "key_unique", 2, ("conversation_id=c2",))]


def test_empty_chunk_reports_every_check_on_zero_rows() -> None:
    result = chunk_of(DAY, [])

    empty = validate_conversation_tables({s.name: s.schema.empty_table() for s in SPECS})
    assert result.validation == empty
    assert all(table.num_rows == 0 for _, table, _ in result.tables)


def test_spool_files_close_when_the_chunk_is_dropped() -> None:
    gc.collect()  # descriptors earlier tests left to the collector close now, not mid-test
    before = open_fds()
    result = chunk_of(DAY, [park_page(page([one(f"c{i}")]), CTX) for i in range(5)])
    assert open_fds() == before + 5

    del result
    gc.collect()

    assert open_fds() == before


def test_dedupe_keeps_a_conversation_from_the_later_half_only() -> None:
    """Both halves of a split interval return c2: the later page keeps it, the earlier drops it."""
    first = park_page(page([one("c1"), one("c2")]), CTX)
    second = park_page(page([one("c2"), one("c3")]), CTX)

    kept = _dedupe([first, second])

    assert [p.conversation_ids.to_pylist() for p in kept] == [["c1"], ["c2", "c3"]]
    result = chunk_of(DAY, kept)
    assert result.validation.ok
    participants = tables_of(result)["participants"]
    assert participants.column("conversation_id").to_pylist() == ["c1", "c2", "c3"]
