"""Type-2 history of a dimension: which versions a complete listing closes and opens.

A dimension table keys each version by `(id, _valid_from)`; `_valid_to` is NULL while the
version is current (`_is_current`). Against the current versions, a complete listing:

- opens a first version for an id never seen;
- closes the current version (`_valid_to` = now) and opens a new one when a tracked
  attribute changed, or when an id marked deleted is listed again;
- for an id the listing lacks, or lists as deleted, closes the current version and opens
  a `_deleted` one carrying the last attributes, so names of deleted entities stay;
- changes nothing for an unchanged id: a rerun with nothing changed adds no version.

The rows returned are upserted by key in one transaction: closed versions replace
themselves, new versions are added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.transform.tables import UTC_MS, RunContext, TableSpec

HISTORY_FIELDS = (
    pa.field("_valid_from", UTC_MS, nullable=False),
    pa.field("_valid_to", UTC_MS),
    pa.field("_is_current", pa.bool_(), nullable=False),
    pa.field("_deleted", pa.bool_(), nullable=False),
)
Row = dict[str, Any]


def versions(
    spec: TableSpec,
    current: pa.Table | None,
    listed: pa.Table,
    deleted: Iterable[str],
    tracked: Sequence[str],
    ctx: RunContext,
) -> pa.Table:
    """The versions to upsert so the table reflects `listed` as of `ctx.extracted_at`."""
    now = ctx.extracted_at.replace(microsecond=ctx.extracted_at.microsecond // 1000 * 1000)
    live = _current(current)
    gone = set(deleted)
    out: list[Row] = []
    for row in listed.to_pylist():
        old, is_deleted = live.pop(row["id"], None), row["id"] in gone
        if old is None or _differs(old, row, tracked) or old["_deleted"] != is_deleted:
            out += [_closed(old, now, ctx)] if old else []
            out.append(_opened(row, now, ctx, deleted=is_deleted))
    for old in live.values():
        if not old["_deleted"]:
            out += [_closed(old, now, ctx), _opened(old, now, ctx, deleted=True)]
    return pa.Table.from_pylist(out, schema=spec.schema)


def _current(table: pa.Table | None) -> dict[str, Row]:
    if table is None or table.num_rows == 0:
        return {}
    rows = table.filter(pc.equal(table.column("_is_current"), True)).to_pylist()
    return {row["id"]: row for row in rows}


def _differs(old: Row, new: Row, tracked: Sequence[str]) -> bool:
    return any(old.get(name) != new.get(name) for name in tracked)


def _closed(old: Row, now: datetime, ctx: RunContext) -> Row:
    return old | {"_valid_to": now, "_is_current": False, **_lineage(ctx)}


def _opened(row: Row, now: datetime, ctx: RunContext, *, deleted: bool) -> Row:
    history = {"_valid_from": now, "_valid_to": None, "_is_current": True, "_deleted": deleted}
    return row | history | _lineage(ctx)


def _lineage(ctx: RunContext) -> Row:
    return {"_run_id": ctx.run_id, "_extracted_at": ctx.extracted_at}
