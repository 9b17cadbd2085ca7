"""Checks a chunk's tables must pass before anything of it is written.

Pure and columnar (pyarrow compute hash kernels): no I/O, no loops over rows. Keys are
compared as row codes (`_codes`: one dictionary encoding per key column), several times
faster than an Acero group-by or join on a page and without Acero's worker-thread memory.
Each check reports how many rows it looked at, how many failed and a few example keys:

- `key_not_null`, `key_unique`: the table's key (`TableSpec.key`) identifies every row.
- `has_parent`: every child row's parent is in the chunk (participants -> conversations,
  participant_attributes and sessions -> participants, segments and session_metrics -> sessions).
- `end_not_before_start`: an end time, where present, is not before its start (conversations,
  segments, user intervals; in other tables every `*end*` / `*start*` timestamp pair).
- `duration_not_negative`: session metrics named `t*` (durations in ms) and `duration_ms`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.errors import ValidationFailed
from genesys_export.transform import schemas
from genesys_export.transform.tables import TableSpec

EXAMPLES = 3

# child table -> (parent table, the columns a child shares with its parent's key)
_PARENTS = {
    "participants": ("conversations", ("conversation_id",)),
    "participant_attributes": ("participants", ("conversation_id", "participant_id")),
    "sessions": ("participants", ("conversation_id", "participant_id")),
    "segments": ("sessions", ("conversation_id", "session_id")),
    "session_metrics": ("sessions", ("conversation_id", "session_id")),
}
_TIMES = {
    "conversations": [("conversation_start", "conversation_end")],
    "segments": [("segment_start", "segment_end")],
    "user_presence": [("start_time", "end_time")],
    "user_routing_status": [("start_time", "end_time")],
}


@dataclass(frozen=True)
class CheckResult:
    """One check on one table: rows looked at, rows failing, a few failing keys."""

    name: str
    table: str
    rows: int
    failures: int
    examples: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no row failed."""
        return self.failures == 0

    def plus(self, other: CheckResult) -> CheckResult:
        """The same check over both checks' rows."""
        examples = (*self.examples, *other.examples)[:EXAMPLES]
        return CheckResult(
            self.name, self.table, self.rows + other.rows, self.failures + other.failures, examples
        )

    def describe(self) -> str:
        """One line: `segments: key_unique failed for 2 of 40 rows (e.g. ...)`."""
        if self.ok:
            return f"{self.table}: {self.name} passed for {self.rows} rows"
        examples = f" (e.g. {'; '.join(self.examples)})" if self.examples else ""
        return f"{self.table}: {self.name} failed for {self.failures} of {self.rows} rows{examples}"


@dataclass(frozen=True)
class ValidationReport:
    """Every check run on a chunk's tables."""

    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The checks that found failing rows."""
        return tuple(check for check in self.checks if not check.ok)

    def raise_if_failed(self) -> None:
        """Raise ValidationFailed naming the first failed table and check (and how many more)."""
        failed = self.failed
        if not failed:
            return
        more = f"; and {len(failed) - 1} more failed checks" if len(failed) > 1 else ""
        raise ValidationFailed(f"validation failed: {failed[0].describe()}{more}")


def validate_conversation_tables(tables: Mapping[str, pa.Table]) -> ValidationReport:
    """Keys, parents, times and durations of the six conversation tables of a chunk."""
    return _validate(schemas.CONVERSATION_TABLES, tables)


def validate_conversation_pages(
    pages: Sequence[ValidationReport], conversation_ids: pa.Array | pa.ChunkedArray
) -> ValidationReport:
    """A chunk's checks from its pages' checks (`validate_conversation_tables` of each page).

    A conversation lies whole in one page and every key starts with `conversation_id`, so
    each check adds up page by page, except that a conversation must not appear in two
    pages: `key_unique` of `conversations` is checked on the ids of the whole chunk.
    """
    totals: dict[tuple[str, str], CheckResult] = {}
    for report in (_no_conversations(), *pages):
        for check in report.checks:
            seen = totals.get((check.name, check.table))
            totals[(check.name, check.table)] = seen.plus(check) if seen else check
    ids = pa.table({"conversation_id": conversation_ids})
    totals[("key_unique", "conversations")] = _unique_check(schemas.CONVERSATIONS, ids)
    return ValidationReport(tuple(totals.values()))


@functools.cache
def _no_conversations() -> ValidationReport:
    """Every conversation check on zero rows: the start of a chunk's totals."""
    empty = {spec.name: spec.schema.empty_table() for spec in schemas.CONVERSATION_TABLES}
    return validate_conversation_tables(empty)


def validate_user_tables(tables: Mapping[str, pa.Table]) -> ValidationReport:
    """Keys, times and durations of `user_presence` and `user_routing_status`."""
    return _validate(schemas.USER_TABLES, tables)


def validate_table(
    spec: TableSpec, table: pa.Table, *, key_unique: bool = True
) -> ValidationReport:
    """Keys, and each `*end*` not before its `*start*`, of a table such as aggregates or reports.

    `key_unique=False` skips the uniqueness check for a key unique by construction.
    """
    keys = _key_checks(spec, table, unique=key_unique)
    checks = [*keys, *_time_checks(spec, table, _time_pairs(table))]
    return ValidationReport(tuple(checks))


def _validate(specs: tuple[TableSpec, ...], tables: Mapping[str, pa.Table]) -> ValidationReport:
    """Every check that applies to each table present (absent parents make orphans)."""
    checks: list[CheckResult] = []
    for spec in specs:
        table = tables.get(spec.name)
        if table is None:
            continue
        checks += _key_checks(spec, table)
        if spec.name in _PARENTS:
            parent, columns = _PARENTS[spec.name]
            checks.append(_parent_check(spec, table, tables.get(parent), columns))
        checks += _time_checks(spec, table, _TIMES.get(spec.name, []))
        checks += _duration_checks(spec, table)
    return ValidationReport(tuple(checks))


def _key_checks(spec: TableSpec, table: pa.Table, *, unique: bool = True) -> list[CheckResult]:
    """`key_not_null` and (with `unique`) `key_unique` over the spec's key columns."""
    keys = table.select(list(spec.key))
    required = keys.select([k for k in spec.key if not spec.schema.field(k).nullable])
    missing = keys.filter(_any_null(required)) if required.num_columns else keys.slice(0, 0)
    not_null = _result("key_not_null", spec, table.num_rows, missing)
    return [not_null, _unique_check(spec, keys)] if unique else [not_null]


def _unique_check(spec: TableSpec, keys: pa.Table) -> CheckResult:
    """`key_unique`: rows sharing their key with another row; `keys` holds the key columns."""
    codes = row_codes(keys, spec.key)
    if _distinct(codes) == keys.num_rows:
        return CheckResult("key_unique", spec.name, keys.num_rows, 0)
    counts = pc.value_counts(codes)
    shared = counts.filter(pc.greater(counts.field("counts"), 1))
    first_rows = pc.index_in(shared.field("values"), value_set=codes)
    return CheckResult(
        "key_unique",
        spec.name,
        keys.num_rows,
        pc.sum(shared.field("counts")).as_py() or 0,
        _examples(keys.take(first_rows)),
    )


def _parent_check(
    spec: TableSpec, table: pa.Table, parent: pa.Table | None, columns: tuple[str, ...]
) -> CheckResult:
    """`has_parent`: rows whose parent key is absent from the parent table, or null."""
    children = table.select(list(columns))
    if parent is None:
        return _result("has_parent", spec, table.num_rows, children)
    # Codes are numbered in order of first appearance, parents first: a child's key is a
    # parent's exactly when its code is below the number of distinct parent keys.
    codes = row_codes(pa.concat_tables([parent.select(list(columns)), children]), columns)
    parents = _distinct(codes.slice(0, parent.num_rows))
    orphan = pc.greater_equal(codes.slice(parent.num_rows), parents)
    orphan = pc.or_(orphan, _any_null(children))  # a null key has no parent, as in a join
    return _result("has_parent", spec, table.num_rows, children.filter(orphan))


def _any_null(keys: pa.Table) -> pa.Array:
    """Per row: whether any of `keys`' columns is null there."""
    null = pc.is_null(keys.column(0))
    for column in keys.columns[1:]:
        null = pc.or_(null, pc.is_null(column))
    return null


def row_codes(table: pa.Table, columns: Sequence[str]) -> pa.Array:
    """One int64 per row, equal for two rows exactly when their `columns` are (null equal to
    null), numbered 0, 1, ... in order of first appearance."""
    codes: pa.Array | None = None
    for name in columns:
        column = table.column(name).combine_chunks()
        encoded = pc.dictionary_encode(column, null_encoding="encode")
        indices = encoded.indices.cast(pa.int64())
        if codes is None:
            codes = indices
        else:  # pairs of dense codes, each below the row count: no overflow under 2**31 rows
            pairs = pc.add(pc.multiply(codes, len(encoded.dictionary)), indices)
            codes = pc.dictionary_encode(pairs).indices.cast(pa.int64())
    if codes is None:
        raise ValueError("a key needs at least one column")
    return codes


def _distinct(codes: pa.Array) -> int:
    """How many distinct codes: the largest plus one, as codes are dense."""
    largest = pc.max(codes).as_py()
    return 0 if largest is None else int(largest) + 1


def _time_checks(
    spec: TableSpec, table: pa.Table, pairs: list[tuple[str, str]]
) -> list[CheckResult]:
    """`end_not_before_start` for each (start, end) column pair; open ends pass."""
    checks = []
    for start, end in pairs:
        before = pc.fill_null(pc.less(table.column(end), table.column(start)), False)
        shown = table.select([c for c in spec.key if c in table.column_names] or [end])
        checks.append(_result("end_not_before_start", spec, table.num_rows, shown.filter(before)))
    return checks


def _time_pairs(table: pa.Table) -> list[tuple[str, str]]:
    """(start, end) timestamp columns paired by name: `interval_end` with `interval_start`."""
    times = {f.name for f in table.schema if pa.types.is_timestamp(f.type)}
    return [
        (name.replace("end", "start"), name)
        for name in sorted(times)
        if "end" in name and name.replace("end", "start") in times
    ]


def _duration_checks(spec: TableSpec, table: pa.Table) -> list[CheckResult]:
    """`duration_not_negative`: `t*` session metric values and `duration_ms`."""
    if spec.name == "session_metrics":
        durations = pc.starts_with(table.column("name"), "t")
        values = table.column("value")
    elif "duration_ms" in table.column_names:
        values = table.column("duration_ms")
        durations = pc.is_valid(values)
    else:
        return []
    negative = pc.fill_null(pc.and_(durations, pc.less(values, 0)), False)
    rows = pc.sum(pc.fill_null(durations, False).cast(pa.int64())).as_py() or 0
    return [_result("duration_not_negative", spec, rows, table.filter(negative))]


def _result(name: str, spec: TableSpec, rows: int, failing: pa.Table) -> CheckResult:
    columns = [c for c in spec.key if c in failing.column_names] or failing.column_names
    return CheckResult(name, spec.name, rows, failing.num_rows, _examples(failing.select(columns)))


def _examples(keys: pa.Table) -> tuple[str, ...]:
    """A few failing keys as `column=value, ...` (only these rows reach Python)."""
    head = keys.slice(0, EXAMPLES).to_pylist()
    return tuple(", ".join(f"{k}={_show(v)}" for k, v in row.items()) for row in head)


def _show(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
