"""API names -> column names, and the columns of parsed records.

Column names are snake_case of the API names (`mediaStatsMinConversationRFactor` ->
`media_stats_min_conversation_r_factor`), nested struct members too.
"""

from __future__ import annotations

import re

import pyarrow as pa

_UPPER_RUN = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_START = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """snake_case of an API name: `mediaStatsMinConversationRFactor` -> `..._r_factor`."""
    return _WORD_START.sub(r"\1_\2", _UPPER_RUN.sub(r"\1_\2", name)).lower()


def snake_type(dtype: pa.DataType) -> pa.DataType:
    """The same type with every nested struct member renamed to snake_case (same layout)."""
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(snake_case(f.name), snake_type(f.type)) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(snake_type(dtype.value_type))
    return dtype


# --- columns from parsed records ---


_Renamed = tuple[tuple[str, str, pa.DataType, pa.DataType], ...]
_RENAMED: dict[int, tuple[pa.StructType, _Renamed]] = {}


def _renamed(known: pa.StructType) -> _Renamed:
    """(api name, column name, parsed type, column type) per member of `known`.

    Remembered by identity, not by value: hashing a pyarrow type formats it as text, which
    for a contract model costs more than the walk it would save. Callers pass the module's
    models (or types built once from them), so the memo stays small; it holds each type, so
    an id is never reused while its entry exists.
    """
    entry = _RENAMED.get(id(known))
    if entry is None or entry[0] is not known:
        renamed = tuple((f.name, snake_case(f.name), f.type, snake_type(f.type)) for f in known)
        entry = _RENAMED[id(known)] = (known, renamed)
    return entry[1]


def record_columns(records: pa.StructArray, known: pa.StructType) -> dict[str, pa.Array]:
    """The `known` members of parsed records as snake_case columns of the table types."""
    columns = {}
    for name, column, dtype, target in _renamed(known):
        i = records.type.get_field_index(name)
        child = records.field(i) if i >= 0 else pa.nulls(len(records), dtype)
        if child.type != dtype:
            child = child.cast(dtype)
        columns[column] = child if target == dtype else child.view(target)
    return columns
