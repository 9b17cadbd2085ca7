"""Reading one results page into its record type, with a clear error where it does not fit."""

from __future__ import annotations

import functools
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from genesys_export.errors import SchemaMismatch
from genesys_export.transform.tables import UTC_MS

_NEWLINES = bytes.maketrans(b"\r\n", b"  ")
_EXPECTED = {"string": "a string", "int64": "an integer", "double": "a number", "bool": "a boolean"}


class ParsedPage:
    """One results page: a one-element struct array typed exactly as its contract schema.

    `parsed_type` is the page's type as parsed, members the contract lacks included; where
    it has such members, `_extra` values come from `document` (the page as Python objects,
    parsed only when asked for). `complete` is false when the Arrow parse had to ignore
    them (their values clashed in type), so every level must look at `document`.
    """

    def __init__(
        self, row: pa.StructArray, parsed: pa.StructType, raw: bytes, *, complete: bool
    ) -> None:
        self.row = row
        self.parsed_type = parsed
        self.raw = raw
        self.complete = complete
        self._document: dict[str, Any] | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The page parsed by orjson; used only when unknown members must be recovered."""
        if self._document is None:
            self._document = orjson.loads(self.raw)
        return self._document

    def value(self, name: str) -> Any:
        """A top-level scalar member (`cursor`, `dataAvailabilityDate`) as a Python value."""
        return self.row.field(name)[0].as_py()

    def records(self, name: str) -> pa.StructArray:
        """The elements of a top-level array member, one struct per record."""
        return pc.list_flatten(self.row.field(name))

    def objects(self, *path: str) -> list[Any]:
        """The Python objects at `path` (array members), in the order `records` flattens them."""
        level: list[Any] = [self.document]
        for name in path:
            level = [x for obj in level for x in ((obj or {}).get(name) or ())]
        return level

    def parsed_at(self, *path: str) -> pa.DataType:
        """The parsed type of the records at `path` (null when the page has none)."""
        dtype: pa.DataType = self.parsed_type
        for name in path:
            i = dtype.get_field_index(name) if pa.types.is_struct(dtype) else -1
            if i < 0:
                return pa.null()
            dtype = dtype.field(i).type
            dtype = dtype.value_type if pa.types.is_list(dtype) else dtype
        return dtype


class _Lossy(Exception):
    """Type inference turned a string member into a timestamp: its text must be re-read."""


class _Misfit(Exception):
    """A member's inferred type cannot hold the contract's type."""


def read_page(page: bytes, schema: pa.Schema, *, what: str) -> ParsedPage:
    """Parse a results page into its contract types.

    The fast path lets `pyarrow.json` infer the types (far faster than an explicit schema
    with a hundred mostly absent members), checks them against the contract and casts.
    Where inference loses text or the page misfits, it falls back to an explicit schema.
    SchemaMismatch names the first member that does not fit.
    """
    if page.endswith((b"\n", b"\r")):  # a body's final newline: dropped, not translated
        page = page.rstrip(b"\r\n")
    if b"\n" in page or b"\r" in page:
        page = page.translate(_NEWLINES)  # raw newlines in JSON are whitespace, never in strings
    try:
        return _conformed(_parse(page, None, "infer"), schema, page, complete=True)
    except (pa.ArrowInvalid, _Misfit, _Lossy) as exc:
        first: Exception = exc
    if not isinstance(first, _Lossy):
        _raise_misfit(page, schema, what, first)
    last = first
    for unexpected in ("infer", "ignore"):  # "ignore": unknown members clashed in type
        try:
            table = _parse(page, schema, unexpected)
            return _conformed(table, schema, page, complete=unexpected == "infer")
        except (pa.ArrowInvalid, _Misfit, _Lossy) as exc:
            last = exc
    if isinstance(first, _Lossy):
        _raise_misfit(page, schema, what, last)
    raise SchemaMismatch(f"{what} does not fit the contract (see the chained error)") from last


def _raise_misfit(page: bytes, schema: pa.Schema, what: str, cause: Exception) -> None:
    """SchemaMismatch naming the first member that does not fit, if the walk finds one."""
    misfit = _misfit_in(page, schema)
    if misfit is not None:
        raise SchemaMismatch(f"{what}: {misfit}") from cause


def _conformed(table: pa.Table, schema: pa.Schema, raw: bytes, *, complete: bool) -> ParsedPage:
    if table.num_rows != 1:
        raise _Misfit(f"expected one JSON object, found {table.num_rows}")
    chunks = table.to_struct_array()
    row = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
    target = _page_target(row.type, pa.struct(list(schema)))
    return ParsedPage(row.cast(target), row.type, raw, complete=complete)


def _parse(page: bytes, schema: pa.Schema | None, unexpected: str) -> pa.Table:
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
    read = pj.ReadOptions(use_threads=False, block_size=max(len(page) + 1, 1 << 16))
    return pj.read_json(pa.BufferReader(page), read_options=read, parse_options=options)


@functools.lru_cache(maxsize=64)
def _page_target(parsed: pa.StructType, contract: pa.StructType) -> pa.DataType:
    """`_target` of a whole page; pages of one job mostly repeat their parsed type."""
    return _target(parsed, contract, "")


def _target(parsed: pa.DataType, contract: pa.DataType, path: str) -> pa.DataType:
    """The type to cast a parsed member to: the contract's, with maps as parsed.

    Raises _Misfit when the parsed type cannot hold the contract's, _Lossy when a string
    member was read as a timestamp.
    """
    if pa.types.is_null(parsed):
        return contract
    if pa.types.is_list(contract) and pa.types.is_list(parsed):
        return pa.list_(_target(parsed.value_type, contract.value_type, f"{path}[]"))
    if pa.types.is_struct(contract) and pa.types.is_struct(parsed):
        if contract.num_fields == 0:  # a map: its members are whatever the page holds
            return parsed
        prefix = f"{path}." if path else ""
        members = []
        for f in contract:
            i = parsed.get_field_index(f.name)
            found = f.type if i < 0 else _target(parsed.field(i).type, f.type, prefix + f.name)
            members.append(pa.field(f.name, found))
        return pa.struct(members)
    if pa.types.is_string(contract) and pa.types.is_timestamp(parsed):
        raise _Lossy(path)
    if _castable(parsed, contract):
        return contract
    raise _Misfit(f"{path}: expected {contract}, got {parsed}")


def _castable(parsed: pa.DataType, contract: pa.DataType) -> bool:
    """Whether a parsed scalar type holds the contract's: times from text, numbers from ints."""
    if pa.types.is_timestamp(contract):
        return bool(pa.types.is_string(parsed) or pa.types.is_timestamp(parsed))
    if pa.types.is_floating(contract):
        return bool(pa.types.is_integer(parsed) or pa.types.is_floating(parsed))
    return bool(parsed == contract)


def _misfit_in(page: bytes, schema: pa.Schema) -> str | None:
    """Where the page first departs from the contract, e.g. `conversations[0].x: expected ...`."""
    try:
        document = orjson.loads(page)
    except orjson.JSONDecodeError:
        return "the body is not valid JSON"
    return misfit(document, pa.struct(list(schema)), "")


def misfit(value: Any, dtype: pa.DataType, path: str) -> str | None:
    """The first place `value` does not fit `dtype` (null fits anything), or None."""
    if value is None:
        return None
    if pa.types.is_list(dtype):
        if not isinstance(value, list):
            return _mismatch(path, "an array", value)
        found = (misfit(v, dtype.value_type, f"{path}[{i}]") for i, v in enumerate(value))
        return next((m for m in found if m), None)
    if pa.types.is_struct(dtype):
        return _object_misfit(value, dtype, path)
    if pa.types.is_timestamp(dtype):
        return None if _is_time(value) else _mismatch(path, "an ISO-8601 date-time", value)
    if _fits_scalar(value, dtype):
        return None
    return _mismatch(path, _EXPECTED.get(str(dtype), str(dtype)), value)


def _object_misfit(value: Any, dtype: pa.StructType, path: str) -> str | None:
    if not isinstance(value, dict):
        return _mismatch(path, "an object", value)
    members = ((f.name, f.type) for f in dtype)
    if dtype.num_fields == 0:  # a map<string,string>
        members = ((name, pa.string()) for name in value)
    prefix = f"{path}." if path else ""
    found = (misfit(value.get(name), t, prefix + name) for name, t in members)
    return next((m for m in found if m), None)


def _fits_scalar(value: Any, dtype: pa.DataType) -> bool:
    if pa.types.is_string(dtype):
        return isinstance(value, str)
    if pa.types.is_boolean(dtype):
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not pa.types.is_integer(dtype) or (isinstance(value, int) and -(2**63) <= value < 2**63)


def _is_time(value: Any) -> bool:
    """Whether the JSON reader takes `value` as a `timestamp[ms, UTC]`."""
    if not isinstance(value, str):
        return False
    try:
        _parse(orjson.dumps({"t": value}), pa.schema([pa.field("t", UTC_MS)]), "error")
    except pa.ArrowInvalid:
        return False
    return True


def _mismatch(path: str, expected: str, value: Any) -> str:
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    kinds |= {list: "an array", dict: "an object"}
    return f"{path or 'the body'}: expected {expected}, got {kinds.get(type(value), 'a value')}"
