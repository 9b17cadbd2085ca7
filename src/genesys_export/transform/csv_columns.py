"""How each report CSV column is named and typed.

* Column names become snake_case, unique: `Avg Handle` -> avg_handle, `% Answered` ->
  pct_answered, a leading digit gets `col_`, a repeat gets `_2`. `column_map` renames
  (keyed by the header as written or by its snake_case name).
* Types, first rule that applies:
  1. `type_overrides[name]`;
  2. a name that identifies rather than measures stays a string: last word `id`, `ids` or
     `uuid`, or a word `name`, `dnis`, `ani`, `phone`, `email`, `address`, `extension`;
  3. the non-empty values of the first block (summary rows excluded) decide:
     all `true`/`false` -> bool; all `h:mm:ss` or `1h 02m 03s` -> duration; all one
     date-time layout (_ISO-8601 with or without offset, or the locale's `5/1/2024 1:30 PM`,
     `01.05.2024 13:30`, ...) -> timestamp; all integers in the locale's grouping, without
     leading zeros -> int64, or float64 when the name says ratio (`avg`, `pct`, `percent`,
     `rate`, `ratio`, `level`, `score`); all decimals -> float64; anything else, or no
     value at all, -> string.
  A later value that does not fit raises SchemaMismatch naming its line and column; pin
  the column with `type_overrides`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.errors import ConfigError, SchemaMismatch
from genesys_export.transform.csv_values import HMS, Numbers, all_match
from genesys_export.transform.names import snake_case
from genesys_export.transform.tables import UTC_MS

if TYPE_CHECKING:  # report_csv imports this module
    from genesys_export.transform.report_csv import CsvOptions

_NOT_A_NAME = re.compile(r"[^0-9a-z]+")
ColumnType = Literal["string", "int64", "float64", "timestamp", "duration", "bool"]


ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "timestamp": UTC_MS,
    "duration": pa.int64(),  # milliseconds
    "bool": pa.bool_(),
}


_BOOL = r"^(?i:true|false)$"


_CLOCK = r"^-?\d+:[0-5]\d:[0-5]\d(?:[.,]\d+)?$"


_ISO = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?$"


_ISO_TZ = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"


_NUMERIC_DATE = r"^\d{1,2}[/.]\d{1,2}[/.]\d{2}(?:\d{2})?\b"


_FOUR_DIGIT_YEAR = r"^\d{1,2}[/.]\d{1,2}[/.]\d{4}\b"  # strptime's %Y would read "24" as 24 AD


# strptime layouts tried in order (the longest first: strptime must consume the whole value).
_MONTH_FIRST: tuple[str, ...] = (
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%m/%d/%Y", "%m/%d/%y %I:%M %p", "%m/%d/%y",
)  # fmt: skip


_DAY_FIRST: tuple[str, ...] = (
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
    "%d.%m.%Y", "%d/%m/%y %H:%M", "%d.%m.%y",
)  # fmt: skip


_MONTH_FIRST_LOCALES = frozenset({"en", "en-us", "en-ph", "es-us"})


_IDENTITY_LAST = frozenset({"id", "ids", "uuid"})


_IDENTITY_ANY = frozenset({"name", "dnis", "ani", "phone", "email", "address", "extension"})


_RATIO_WORDS = frozenset({"avg", "average", "pct", "percent", "rate", "ratio", "level", "score"})


@dataclass(frozen=True)
class Column:
    position: int
    header: str  # as written in the file
    name: str
    kind: ColumnType
    layout: str | None = None  # timestamps: "iso", "iso_tz" or a strptime format


def column_name(header: str) -> str:
    """A column header as a snake_case name: `% Answered` -> pct_answered, `avgHandle` -> ...

    The API-name rule (`names.snake_case`) on the header's ASCII letters and digits, `%`,
    `#` and `&` spelled as words, every other run of characters one `_`, and `col_` before
    a leading digit.
    """
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    text = text.replace("%", " pct ").replace("#", " num ").replace("&", " and ")
    text = _NOT_A_NAME.sub("_", snake_case(text)).strip("_")
    return f"col_{text}" if text[:1].isdigit() else text


def _column_names(headers: list[str], column_map: Mapping[str, str]) -> list[str]:
    """Unique final names: column_map (by header or snake name), else unique snake_case."""
    snakes = [column_name(h) or f"column_{i + 1}" for i, h in enumerate(headers)]
    unknown = set(column_map) - set(headers) - set(snakes)
    if unknown:
        raise SchemaMismatch(
            f"column_map names {sorted(unknown)}, which the report CSV lacks; "
            f"its columns are: {', '.join(headers)}"
        )
    names: list[str] = []
    for header, snake in zip(headers, snakes, strict=True):
        mapped = column_map.get(header, column_map.get(snake))
        if mapped is None:
            names.append(snake if snake not in names else _next_free(snake, names))
        elif mapped in names:
            raise ConfigError(f"column_map: two columns would be named {mapped!r}")
        else:
            names.append(mapped)
    if any(n.startswith("_") for n in names):
        raise ConfigError("column_map: names starting with '_' are reserved for added columns")
    return names


def _next_free(name: str, taken: list[str]) -> str:
    return next(f"{name}_{n}" for n in range(2, len(taken) + 3) if f"{name}_{n}" not in taken)


def plan_columns(
    headers: list[str], sample: pa.RecordBatch | None, options: CsvOptions, numbers: Numbers
) -> list[Column]:
    names = _column_names(headers, options.column_map)
    for label, wanted in (
        ("type_overrides", set(options.type_overrides)),
        ("key_columns", set(options.key_columns)),
    ):
        if wanted - set(names):
            raise SchemaMismatch(
                f"{label} names {sorted(wanted - set(names))}, which the report CSV lacks; "
                f"its columns are: {', '.join(names)}"
            )
    month_first = options.locale.lower() in _MONTH_FIRST_LOCALES
    columns = []
    for i, (header, name) in enumerate(zip(headers, names, strict=True)):
        values = sample.column(i).drop_null() if sample is not None else pa.array([], pa.string())
        kind, layout = _infer(name, values, numbers, month_first)
        forced = options.type_overrides.get(name)
        if forced is not None:
            kind = forced  # type: ignore[assignment]  # checked by CsvOptions
            layout = layout or _timestamp_layout(values, month_first)
        columns.append(Column(i, header, name, kind, layout))
    return columns


def _infer(
    name: str, values: pa.Array, numbers: Numbers, month_first: bool
) -> tuple[ColumnType, str | None]:
    """A column's type from its name and its non-empty sample values (module docstring)."""
    words = name.split("_")
    if len(values) == 0 or words[-1] in _IDENTITY_LAST or _IDENTITY_ANY & set(words):
        return "string", None
    if all_match(values, _BOOL):
        return "bool", None
    if all_match(values, _CLOCK) or all_match(values, HMS):
        return "duration", None
    layout = _timestamp_layout(values, month_first)
    if layout is not None:
        return "timestamp", layout
    if all_match(values, numbers.pattern(integer=True)):
        return ("float64" if _RATIO_WORDS & set(words) else "int64"), None
    if all_match(values, numbers.pattern(integer=False)):
        return "float64", None
    return "string", None


def _timestamp_layout(values: pa.Array, month_first: bool) -> str | None:
    if len(values) == 0:
        return None
    if all_match(values, _ISO_TZ):
        return "iso_tz"
    if all_match(values, _ISO):
        return "iso"
    if not all_match(values, _NUMERIC_DATE):
        return None
    year = "%Y" if all_match(values, _FOUR_DIGIT_YEAR) else "%y"
    for layout in _MONTH_FIRST if month_first else _DAY_FIRST:
        if (
            year in layout
            and pc.strptime(values, format=layout, unit="ms", error_is_null=True).null_count == 0
        ):
            return layout
    return None
