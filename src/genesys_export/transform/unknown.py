"""Members the API sends that the records lack: kept, never dropped, in `_extra`.

Every table has a nullable `_extra` string column holding, as a JSON object, the members of
the row's object that the records lack (null when there are none). Unknown members inside
objects the row embeds are kept under the embedding member's name, mirroring the shape:
`{"flow": {"newFlag": true}}`, or for an array of objects `{"mediaEndpointStats":
[{"jitter": 3}, null]}` (one entry per element, null where that element had none). Arrays a
table breaks out into its own rows (participants, sessions, segments, metrics) are not
repeated in the parent's `_extra`. A user-detail object's own unknown members land in each
of its interval rows under `"userDetail"`; an aggregate group's dimensions that were not
requested land under `"group"`. Members whose value is null may be left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pyarrow as pa

from genesys_export.transform.pages import ParsedPage

EXTRA_FIELD = pa.field("_extra", pa.string())


def has_unknown(actual: pa.DataType, model: pa.DataType, skip: Iterable[str] = ()) -> bool:
    """Whether a parsed type has members `model` lacks (ignoring `skip` at the top level)."""
    if pa.types.is_list(actual):
        return has_unknown(actual.value_type, model.value_type)
    if not pa.types.is_struct(actual) or model.num_fields == 0:
        return False
    skipped = set(skip)
    for f in actual:
        if f.name in skipped:
            continue
        i = model.get_field_index(f.name)
        if i < 0 or has_unknown(f.type, model.field(i).type):
            return True
    return False


def unknown_members(obj: Any, model: pa.StructType, skip: Iterable[str] = ()) -> Any:
    """The members of `obj` that `model` lacks, nested as described in the module docstring."""
    if not isinstance(obj, dict) or model.num_fields == 0:
        return None
    skipped = set(skip)
    found: dict[str, Any] = {}
    for name, value in obj.items():
        i = model.get_field_index(name)
        if i < 0:
            found[name] = value
        elif name not in skipped and (inner := _unknown_inside(value, model.field(i).type)):
            found[name] = inner
    return found or None


def _unknown_inside(value: Any, dtype: pa.DataType) -> Any:
    if pa.types.is_struct(dtype):
        return unknown_members(value, dtype)
    if pa.types.is_list(dtype) and pa.types.is_struct(dtype.value_type) and value:
        inner = [unknown_members(v, dtype.value_type) for v in value]
        return inner if any(v is not None for v in inner) else None
    return None


def extra_column(
    page: ParsedPage,
    records: pa.StructArray,
    model: pa.StructType,
    path: Sequence[str],
    *,
    skip: Iterable[str] = (),
) -> pa.Array:
    """`_extra` for the records at `path`: JSON of their unknown members, null when none.

    Columnar (all null) unless the page carries members the contract lacks at this level;
    only then are the records' objects read from the page's Python form.
    """
    skip = tuple(skip)
    if page.complete and not has_unknown(page.parsed_at(*path), model, skip):
        return pa.nulls(len(records), pa.string())
    found = [unknown_members(obj, model, skip) for obj in page.objects(*path)]
    return json_column(found)


def json_column(values: Sequence[Any]) -> pa.Array:
    """JSON text of each value, null for None."""
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())
