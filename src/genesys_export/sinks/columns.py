"""The Arrow work every sink shares: rows fitted to a table, keys matched, schemas widened.

A sink stores a table as its spec says, whatever produced the rows: `conform` gives rows
exactly the columns of a schema, `matches_any` finds the rows a replacement names,
`keep_last` makes a batch an upsert, and `widened` is what a table becomes when a later
spec adds columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.errors import SinkError
from genesys_export.transform.tables import TableSpec
from genesys_export.validate import row_codes


def conform(table: pa.Table, schema: pa.Schema, *, name: str, fill: bool = False) -> pa.Table:
    """`table` with exactly `schema`'s columns, in its order and types.

    Columns are matched by name. A column the rows lack is a SinkError naming table `name`
    or, with `fill` (rows of an older, narrower file), all nulls; an impossible cast or a
    null in a non-nullable column is a SinkError.
    """
    present = set(table.column_names)  # a fresh list per access: look it up once
    missing = [f for f in schema if f.name not in present]
    if missing and not fill:
        names = [f.name for f in missing]
        raise SinkError(f"table {name}: columns {names} are missing from the rows written")
    if (
        not missing
        and table.schema.equals(schema)
        and not any(table.column(f.name).null_count for f in schema if not f.nullable)
    ):
        return table  # the usual case; casting would copy nothing but still cost a pass
    columns = [
        table.column(f.name) if f.name in present else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    try:
        return pa.table(columns, names=schema.names).cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise SinkError(f"table {name}: rows do not fit its schema ({exc})") from exc


def conform_keys(spec: TableSpec, keys: pa.Table) -> pa.Table:
    """Replacement keys cast to the types of the spec's columns of the same names."""
    unknown = [name for name in keys.column_names if name not in spec.schema.names]
    if unknown or not keys.column_names:
        raise SinkError(
            f"table {spec.name}: replacement keys {unknown or '[]'} are not its columns"
        )
    schema = pa.schema([spec.schema.field(name) for name in keys.column_names])
    try:
        return keys.cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise SinkError(f"table {spec.name}: replacement keys do not fit ({exc})") from exc


def keep_last(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Rows of `table` with the last occurrence of each key kept (an upsert within a batch)."""
    if table.num_rows < 2:
        return table
    index = pa.array(range(table.num_rows), pa.int64())
    probe = table.select(list(key)).append_column("__row", index)
    last = probe.group_by(list(key), use_threads=False).aggregate([("__row", "max")])
    if last.num_rows == table.num_rows:
        return table
    rows = last.column("__row_max")
    return table.take(pc.take(rows, pc.sort_indices(rows)))  # rows stay in table order


def row_dates(table: pa.Table, spec: TableSpec) -> pa.Array:
    """The UTC date of `spec.partition_by` for each row (its partition), as date32."""
    column = table.column(spec.partition_by)
    if column.null_count:
        raise SinkError(
            f"table {spec.name}: {column.null_count} rows have no {spec.partition_by}, "
            "which picks their partition"
        )
    if pa.types.is_timestamp(column.type):
        # Dropping the zone keeps the UTC wall time; a zoned cast to date would not.
        column = pc.cast(column, pa.timestamp(column.type.unit))
    return pc.cast(column, pa.date32()).combine_chunks()


def matches_any(table: pa.Table, keys: pa.Table) -> pa.BooleanArray:
    """For each row of `table`: do its `keys.column_names` values equal a row of `keys`?

    Null equals null: an absent dimension is a value of the key like any other.
    """
    names = keys.column_names
    if len(names) == 1:
        column = table.column(names[0]).combine_chunks()
        return pc.is_in(column, value_set=keys.column(0).combine_chunks())
    # Codes of the keys and the rows together, null equal to null (a join would not match
    # nulls): a row matches when its code is one of the keys'.
    both = pa.concat_tables([keys, table.select(names).cast(keys.schema)])
    codes = row_codes(both, names)
    return pc.is_in(codes.slice(keys.num_rows), value_set=codes.slice(0, keys.num_rows))


def widened(current: pa.Schema | None, spec: pa.Schema) -> pa.Schema:
    """The table's schema after `spec` was written: columns added later are nullable."""
    if current is None:
        return spec
    return pa.schema(
        [*current, *(f.with_nullable(True) for f in spec if f.name not in current.names)]
    )


def deletion_mask(batch: pa.Table, key_sets: Iterable[pa.Table]) -> pa.BooleanArray:
    """Rows of an old file's batch that match any of `key_sets` (deletes, appended keys)."""
    mask = pa.repeat(pa.scalar(False), batch.num_rows)
    for keys in key_sets:
        if keys.num_rows:
            mask = pc.or_(mask, matches_any(batch, keys))
    return mask


def any_true(mask: pa.BooleanArray) -> bool:
    return bool(pc.any(mask).as_py())
