"""A reporting-export CSV, normalized into typed Arrow record batches in bounded memory.

Reading: pyarrow's streaming CSV reader parses the file one block (1 MiB) at a time, on a
thread one block ahead (UTF-8 BOM, quoted delimiters, doubled quotes, newlines inside
fields), every column as text; columns are then normalized in parallel (Arrow kernels
release the GIL) by rules this module owns:

* An empty field is null. A summary row (first cell `Total`, `Totals` or `Summary`, any
  case; or the file's last row when `summary_last_row`) is removed and counted.
* Column names become snake_case, unique: `Avg Handle` -> avg_handle, `% Answered` ->
  pct_answered, a leading digit gets `col_`, a repeat gets `_2`. `column_map` renames
  (keyed by the header as written or by its snake_case name).
* Types, first rule that applies:
  1. `type_overrides[name]`;
  2. a name that identifies rather than measures stays a string: last word `id`, `ids` or
     `uuid`, or a word `name`, `dnis`, `ani`, `phone`, `email`, `address`, `extension`;
  3. the non-empty values of the first block (summary rows excluded) decide:
     all `true`/`false` -> bool; all `h:mm:ss` or `1h 02m 03s` -> duration; all one
     date-time layout (ISO-8601 with or without offset, or the locale's `5/1/2024 1:30 PM`,
     `01.05.2024 13:30`, ...) -> timestamp; all integers in the locale's grouping, without
     leading zeros -> int64, or float64 when the name says ratio (`avg`, `pct`, `percent`,
     `rate`, `ratio`, `level`, `score`); all decimals -> float64; anything else, or no
     value at all, -> string.
  A later value that does not fit raises SchemaMismatch naming its line and column; pin
  the column with `type_overrides`.
* Values: durations (`26:03:10`, `1:02:03.5`, `1h 02m 03s`, or plain milliseconds) ->
  int64 ms (a Seconds-format export stays float64 seconds: request milliseconds); numbers
  in the locale's separators (en-US `1,234.5`, de-DE `1.234,5`, fr-FR `1 234,5`; a
  trailing `%` is dropped, the number kept as shown); timestamps, written in the export's
  time zone unless they carry an offset, -> `timestamp[ms, UTC]` (for the hour repeated
  by a DST change, see `_Localizer`).

Keys: `key_columns` (the view's natural key), or else `_row_number`: the row's 1-based
position among the file's data rows (summary rows not counted), with `_request_id` when the
caller passes it. A position, not a hash of the row: a report may hold identical rows that
are all real, which a content hash cannot tell apart, and a rerun replaces the request's
rows as a whole (by period bucket) anyway. Rows whose key columns hold a null are kept
(never dropped silently) and counted in `stats.rows_missing_key`; the caller decides what a
missing key means for its sink. `_run_id`, `_extracted_at` and the caller's extra columns
(`_request_id`, `_interval_start`, ...) follow the data columns.

Memory: pyarrow's reader would read 32 blocks ahead; `_PacedFile` lets it read only
`_READ_AHEAD` blocks past the ones parsed. We hold two blocks. Nothing grows with the file.

Errors carry the 1-based physical line: on the (rare) error path the file is re-read with
the `csv` module, which counts lines, to find where the offending record starts. Errors
surface mid-stream, after earlier batches were yielded: write inside a transaction.
"""

from __future__ import annotations

import csv
import io
import os
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from genesys_export.errors import ConfigError, SchemaMismatch
from genesys_export.transform.tables import (
    RUN_FIELDS,
    UTC_MS,
    RunContext,
    TableSpec,
    with_run_columns,
)

ColumnType = Literal["string", "int64", "float64", "timestamp", "duration", "bool"]
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "timestamp": UTC_MS,
    "duration": pa.int64(),  # milliseconds
    "bool": pa.bool_(),
}
ROW_NUMBER = "_row_number"
_HEADER_BLOCK = 64 << 10
_READ_AHEAD = 3  # blocks the reader may read past the ones parsed
_PACE_WAIT = 0.5  # seconds a read waits for the parser; then it reads anyway (a huge record)
_PERCENT = "[\\s\u00a0\u202f]?%?$"  # an optional (non-breaking) space and percent sign

_SUMMARY = r"^\s*(?:totals?|summary)\s*$"
_SUMMARY_LEADS = pa.array(["t", "T", "s", "S", " ", "\t", "\n", "\f", "\r"])  # RE2's \s
_BOOL = r"^(?i:true|false)$"
_CLOCK = r"^-?\d+:[0-5]\d:[0-5]\d(?:[.,]\d+)?$"
_WHOLE_CLOCK = r"^\d+:[0-5]\d:[0-5]\d$"
_HMS = r"^(\d+)h ?([0-5]?\d)m ?([0-5]?\d)s$"  # durationFormat Hms: 1h 02m 03s
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
# Languages writing 1.234,5 (CLDR); their regions listed below write 1,234.5 or 1'234.5.
_COMMA_DECIMAL = frozenset({
    "de", "fr", "es", "it", "pt", "nl", "ru", "pl", "sv", "da", "nb", "nn", "no", "fi", "cs",
    "sk", "tr", "hu", "ro", "id", "uk", "el", "bg", "hr", "sl", "sr", "lt", "lv", "et", "ca",
    "eu", "gl", "vi", "is",
})  # fmt: skip
_DOT_DECIMAL_REGIONS = frozenset({"es-mx", "es-us", "de-ch", "it-ch", "de-li"})


@dataclass(frozen=True, kw_only=True)
class CsvOptions:
    """How to read one reporting-export CSV; see the module docstring for the rules.

    `time_zone` and `locale` are those of the export request (times in the file are local
    to it). `type_overrides` and `key_columns` use final column names (after `column_map`).
    Types: string, int64, float64, timestamp, duration (-> int64 ms) and bool.
    """

    delimiter: str = ","
    time_zone: str = "UTC"
    locale: str = "en-US"
    column_map: Mapping[str, str] = field(default_factory=dict, hash=False)
    type_overrides: Mapping[str, str] = field(default_factory=dict, hash=False)
    key_columns: tuple[str, ...] = ()
    summary_last_row: bool = False
    # Bytes per parsed block (a batch): bigger blocks mean fewer, larger Arrow calls.
    block_size: int = 4 << 20

    def __post_init__(self) -> None:
        if self.delimiter not in (",", ";"):
            raise ConfigError(f"CSV delimiter {self.delimiter!r}: use ',' or ';'")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"time zone {self.time_zone!r} is not an IANA time zone") from None
        for name, kind in self.type_overrides.items():
            if kind not in ARROW_TYPES:
                raise ConfigError(
                    f"type_overrides[{name!r}] = {kind!r}; use one of {', '.join(ARROW_TYPES)}"
                )


@dataclass(frozen=True)
class ReportStats:
    """What reading a report did. `ambiguous_times`: values in a repeated DST hour."""

    rows: int = 0
    summary_rows_removed: int = 0
    rows_missing_key: int = 0
    bytes_read: int = 0
    ambiguous_times: int = 0


@dataclass(frozen=True)
class _Column:
    position: int
    header: str  # as written in the file
    name: str
    kind: ColumnType
    layout: str | None = None  # timestamps: "iso", "iso_tz" or a strptime format


class _Unfit(Exception):
    """A value does not fit its column's type (pyarrow's casts raise ArrowInvalid instead)."""


def read_report(
    path: Path,
    options: CsvOptions,
    ctx: RunContext,
    *,
    extra_columns: Mapping[str, pa.Scalar] | None = None,
) -> ReportStream:
    """Open a reporting-export CSV and decide its schema from the first block.

    Iterate the result for record batches (once); `stats` is complete after iteration.
    `extra_columns` are constant per file (e.g. `_request_id`, `_interval_start`,
    `_partial`); their names must start with `_`.
    """
    return ReportStream(path, options, ctx, dict(extra_columns or {}))


class ReportStream:
    """Typed record batches of one report, streamed; `.schema` is known before the first."""

    def __init__(
        self, path: Path, options: CsvOptions, ctx: RunContext, extras: dict[str, pa.Scalar]
    ) -> None:
        self._path, self._options, self._ctx, self._extras = path, options, ctx, extras
        self._numbers = _Numbers.for_locale(options.locale)
        self._counts: Counter[str] = Counter()
        self._ragged: list[pv.InvalidRow] = []
        self._localizers: list[_Localizer] = []
        self._iteration: Generator[pa.RecordBatch, None, None] | None = None
        headers = _read_header(path, options)
        self._file = _PacedFile(path, ahead=_READ_AHEAD)
        try:
            self._reader = self._open(headers)  # parses the first block: may find a ragged row
            self._pending = self._next_raw()
            sample = self._sample()
            self._columns = _plan_columns(headers, sample, options, self._numbers)
            self._converters = [self._converter(c, sample) for c in self._columns]
            self.schema = self._build_schema()
        except BaseException:
            self._file.close()
            raise

    # -- public surface -------------------------------------------------------------------

    def spec(self, table_name: str, *, partition_by: str | None = None) -> TableSpec:
        """The destination table: key = `key_columns`, or `_row_number` (with `_request_id`).

        Partitioned by `partition_by`, else the first of `_interval_start` (never null,
        one partition per request), `interval_start`, `_extracted_at` that is a timestamp.
        """
        if partition_by is None:
            stamps = [f.name for f in self.schema if pa.types.is_timestamp(f.type)]
            order = ("_interval_start", "interval_start", "_extracted_at")
            partition_by = next(name for name in order if name in stamps)
        key = self._options.key_columns or (
            ("_request_id", ROW_NUMBER) if "_request_id" in self._extras else (ROW_NUMBER,)
        )
        return TableSpec(table_name, self.schema, tuple(key), partition_by)

    @property
    def stats(self) -> ReportStats:
        c = self._counts
        return ReportStats(
            rows=c["rows"],
            summary_rows_removed=c["summary"],
            rows_missing_key=c["missing_key"],
            bytes_read=c["bytes"],
            ambiguous_times=sum(localize.ambiguous for localize in self._localizers),
        )

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self._iteration is not None:
            raise RuntimeError("a ReportStream is read once; call read_report again")
        self._iteration = self._batches()
        return self._iteration

    def close(self) -> None:
        """Stop reading and release the file (the end of iteration does it too).

        `stats.bytes_read` is final afterwards.
        """
        if self._iteration is not None:
            self._iteration.close()  # waits for the parsing thread before the reader closes
        self._release()

    def _release(self) -> None:
        if not self._file.closed:
            self._reader.close()
            self._counts["bytes"] = self._file.tell()
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------

    def _open(self, headers: list[str]) -> pv.CSVStreamingReader:
        def on_ragged(row: pv.InvalidRow) -> str:
            self._ragged.append(row)
            return "error"

        try:
            return pv.open_csv(
                self._file,
                # One parsing thread (ours, parsing ahead) leaves the cores to the conversions.
                read_options=pv.ReadOptions(use_threads=False, block_size=self._options.block_size),
                parse_options=_parse_options(self._options, on_ragged),
                convert_options=pv.ConvertOptions(
                    column_types={h: pa.string() for h in headers},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    null_values=[""],  # only empty fields: "N/A" in a number column is an error
                ),
            )
        except pa.ArrowInvalid as exc:
            raise self._parse_error(exc) from exc

    def _next_raw(self) -> pa.RecordBatch | None:
        """The next non-empty block of text columns, or None at the end of the file."""
        while True:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                return None
            except pa.ArrowInvalid as exc:
                raise self._parse_error(exc) from exc
            finally:
                self._file.consumed()
            if batch.num_rows:
                return batch

    def _parse_error(self, exc: pa.ArrowInvalid) -> SchemaMismatch:
        if not self._ragged:
            return SchemaMismatch(f"report CSV {self._path.name} could not be read: {exc}")
        row = self._ragged[0]
        found = _physical_line(self._path, self._options.delimiter, fields=row.expected_columns)
        line, actual = found or (f"near record {row.number}", row.actual_columns)
        return SchemaMismatch(
            f"report CSV line {line} has {actual} fields, expected {row.expected_columns}"
        )

    def _sample(self) -> pa.RecordBatch | None:
        """The first block without its summary rows: what decides the column types."""
        if self._pending is None:
            return None
        summary = self._summary_rows(self._pending, maybe_last=True)
        return self._pending.filter(pc.invert(summary))

    def _summary_rows(self, raw: pa.RecordBatch, *, maybe_last: bool) -> pa.Array:
        """True where the first cell says Total/Summary, or on the file's last row if asked."""
        first = raw.column(0)
        # The regex runs only where the cell could match: its first character leads a
        # summary word or is whitespace. Usually that is no row at all.
        lead = pc.is_in(pc.utf8_slice_codeunits(first, 0, 1), value_set=_SUMMARY_LEADS)
        candidates = pc.indices_nonzero(pc.fill_null(lead, False))
        found = pc.match_substring_regex(pc.take(first, candidates), _SUMMARY, ignore_case=True)
        hits = set(pc.filter(candidates, pc.fill_null(found, False)).to_pylist())
        summary = pa.array([i in hits for i in range(raw.num_rows)]) if hits else _no_rows(raw)
        if maybe_last and self._options.summary_last_row and not summary[-1].as_py():
            summary = pc.or_(summary, pa.array([False] * (raw.num_rows - 1) + [True]))
        return summary

    def _batches(self) -> Generator[pa.RecordBatch, None, None]:
        """Finished batches: key checks, then the run and extra columns."""
        try:
            # closing() first: an abandoned iteration waits for the parsing thread, and only
            # then is the reader closed under it.
            with closing(self._normalized()) as blocks:
                for data in blocks:
                    if self._options.key_columns:
                        self._count_missing_keys(data)
                    if data.num_rows:
                        yield self._with_meta_columns(data)
        finally:
            self._release()

    def _normalized(self) -> Generator[pa.RecordBatch, None, None]:
        """Data columns per block; the next block is parsed on a thread meanwhile (one ahead)."""
        # Arrow kernels release the GIL: columns convert in parallel, one per core.
        workers = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="report-csv")
        parser = ThreadPoolExecutor(1, thread_name_prefix="report-csv-parse")
        with parser, workers:
            raw, self._pending = self._pending, None
            while raw is not None:
                ahead = parser.submit(self._next_raw)
                # Only a "last row is the summary" rule has to wait for the lookahead.
                is_last = self._options.summary_last_row and ahead.result() is None
                yield self._normalize(raw, workers, is_last=is_last)
                raw = ahead.result()

    # -- normalizing ------------------------------------------------------------------------

    def _normalize(
        self, raw: pa.RecordBatch, workers: ThreadPoolExecutor, *, is_last: bool
    ) -> pa.RecordBatch:
        """One block's text columns -> typed data columns, without its summary rows."""
        first_record = self._counts["records"]
        self._counts["records"] += raw.num_rows
        summary = self._summary_rows(raw, maybe_last=is_last)
        removed = pc.sum(summary).as_py() or 0
        positions = None
        if removed:
            self._counts["summary"] += removed
            positions = pc.indices_nonzero(pc.invert(summary))
            raw = raw.filter(pc.invert(summary))

        def convert(i: int) -> pa.Array:
            column = self._columns[i]
            values = raw.column(column.position)
            return self._convert(column, self._converters[i], values, first_record, positions)

        arrays = list(workers.map(convert, range(len(self._columns))))
        names = [c.name for c in self._columns]
        if not self._options.key_columns:
            arrays.append(_positions(self._counts["rows"] + 1, raw.num_rows))
            names.append(ROW_NUMBER)
        self._counts["rows"] += raw.num_rows
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def _convert(
        self,
        column: _Column,
        convert: Callable[[pa.Array], pa.Array],
        values: pa.Array,
        first_record: int,
        positions: pa.Array | None,
    ) -> pa.Array:
        try:
            return convert(values)
        except (pa.ArrowInvalid, _Unfit):
            pass
        bad = _first_unfit(values, convert)
        record = first_record + (positions[bad].as_py() if positions is not None else bad)
        found = _physical_line(self._path, self._options.delimiter, record=record)
        where = f"line {found[0]}" if found else f"data row {record + 1}"
        shown = str(values[bad].as_py())[:40]
        raise SchemaMismatch(
            f"report CSV {where}, column {column.header!r} ({column.name}): {shown!r} is not "
            f"a {column.kind} as the first block decided; set type_overrides "
            f"{{{column.name!r}: 'string'}} (or the right type) for this column"
        )

    def _converter(
        self, column: _Column, sample: pa.RecordBatch | None
    ) -> Callable[[pa.Array], pa.Array]:
        values = sample.column(column.position) if sample is not None else pa.array([], pa.string())
        if column.kind == "int64" or column.kind == "float64":
            return _NumberParser(self._numbers, ARROW_TYPES[column.kind], values)
        if column.kind == "duration":
            return partial(
                _parse_duration, numbers=_NumberParser(self._numbers, pa.float64(), values)
            )
        if column.kind == "bool":
            return _parse_bool
        if column.kind == "timestamp":
            localize = _Localizer(self._options.time_zone)
            self._localizers.append(localize)
            return _TimestampParser(column.layout or "iso", localize)
        return lambda values: values

    def _with_meta_columns(self, data: pa.RecordBatch) -> pa.RecordBatch:
        table = with_run_columns(pa.Table.from_batches([data]), self._ctx)
        for name, value in self._extras.items():
            table = table.append_column(name, pa.repeat(value, table.num_rows))
        columns = [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in table.columns]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def _count_missing_keys(self, data: pa.RecordBatch) -> None:
        missing = pa.repeat(pa.scalar(False), data.num_rows)
        for name in self._options.key_columns:
            missing = pc.or_(missing, pc.is_null(data.column(name)))
        self._counts["missing_key"] += pc.sum(missing).as_py() or 0

    def _build_schema(self) -> pa.Schema:
        fields = [pa.field(c.name, ARROW_TYPES[c.kind]) for c in self._columns]
        if not self._options.key_columns:
            fields.append(pa.field(ROW_NUMBER, pa.int64(), nullable=False))
        fields.extend(RUN_FIELDS)
        taken = {f.name for f in fields}
        for name, value in self._extras.items():
            if not name.startswith("_") or name in taken:
                raise ValueError(f"extra column {name!r} must start with '_' and be new")
            fields.append(pa.field(name, value.type, nullable=not value.is_valid))
        return pa.schema(fields)


# -- header, names and types --------------------------------------------------------------


def _parse_options(
    options: CsvOptions, on_ragged: Callable[[pv.InvalidRow], str]
) -> pv.ParseOptions:
    return pv.ParseOptions(
        delimiter=options.delimiter, newlines_in_values=True, invalid_row_handler=on_ragged
    )


def _read_header(path: Path, options: CsvOptions) -> list[str]:
    """The header as pyarrow parses it (BOM dropped, quotes resolved).

    Opening a reader parses (and type-infers) a first block, so a small block is tried
    first; a first row longer than it needs the configured block size.
    """
    parse = _parse_options(options, lambda row: "skip")  # ragged rows: reported when read
    small = min(_HEADER_BLOCK, options.block_size)
    for block_size in dict.fromkeys((small, options.block_size)):
        try:
            with pa.OSFile(str(path)) as source:
                read = pv.ReadOptions(use_threads=False, block_size=block_size)
                reader = pv.open_csv(source, read_options=read, parse_options=parse)
                return list(reader.schema.names)
        except pa.ArrowInvalid as exc:
            if "Empty CSV" in str(exc):
                raise SchemaMismatch(f"report CSV {path.name} is empty: no header row") from exc
            if block_size == options.block_size:
                raise SchemaMismatch(f"report CSV {path.name} could not be read: {exc}") from exc
    raise AssertionError("unreachable: the last block size raises or returns")


def snake_case(header: str) -> str:
    """A column header as a snake_case name: `% Answered` -> pct_answered, `avgHandle` -> ..."""
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    text = text.replace("%", " pct ").replace("#", " num ").replace("&", " and ")
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    return f"col_{text}" if text[:1].isdigit() else text


def _column_names(headers: list[str], column_map: Mapping[str, str]) -> list[str]:
    """Unique final names: column_map (by header or snake name), else unique snake_case."""
    snakes = [snake_case(h) or f"column_{i + 1}" for i, h in enumerate(headers)]
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


def _plan_columns(
    headers: list[str], sample: pa.RecordBatch | None, options: CsvOptions, numbers: _Numbers
) -> list[_Column]:
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
        columns.append(_Column(i, header, name, kind, layout))
    return columns


def _infer(
    name: str, values: pa.Array, numbers: _Numbers, month_first: bool
) -> tuple[ColumnType, str | None]:
    """A column's type from its name and its non-empty sample values (module docstring)."""
    words = name.split("_")
    if len(values) == 0 or words[-1] in _IDENTITY_LAST or _IDENTITY_ANY & set(words):
        return "string", None
    if _all_match(values, _BOOL):
        return "bool", None
    if _all_match(values, _CLOCK) or _all_match(values, _HMS):
        return "duration", None
    layout = _timestamp_layout(values, month_first)
    if layout is not None:
        return "timestamp", layout
    if _all_match(values, numbers.pattern(integer=True)):
        return ("float64" if _RATIO_WORDS & set(words) else "int64"), None
    if _all_match(values, numbers.pattern(integer=False)):
        return "float64", None
    return "string", None


def _all_match(values: pa.Array, pattern: str) -> bool:
    """Every non-null value matches; a mismatch among the first 1000 answers early."""
    if len(values) > 1000 and not pc.all(pc.match_substring_regex(values[:1000], pattern)).as_py():
        return False
    return bool(pc.all(pc.match_substring_regex(values, pattern)).as_py())


def _timestamp_layout(values: pa.Array, month_first: bool) -> str | None:
    if len(values) == 0:
        return None
    if _all_match(values, _ISO_TZ):
        return "iso_tz"
    if _all_match(values, _ISO):
        return "iso"
    if not _all_match(values, _NUMERIC_DATE):
        return None
    year = "%Y" if _all_match(values, _FOUR_DIGIT_YEAR) else "%y"
    for layout in _MONTH_FIRST if month_first else _DAY_FIRST:
        if (
            year in layout
            and pc.strptime(values, format=layout, unit="ms", error_is_null=True).null_count == 0
        ):
            return layout
    return None


# -- value parsing ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Numbers:
    """A locale's decimal mark and the digit-group marks it may use."""

    decimal: str
    grouping: str

    @classmethod
    def for_locale(cls, locale: str) -> _Numbers:
        tag = locale.replace("_", "-").lower()
        if tag.split("-")[0] in _COMMA_DECIMAL and tag not in _DOT_DECIMAL_REGIONS:
            return cls(",", ". \u00a0\u202f")
        return cls(".", ",' \u00a0\u202f\u2019")

    def pattern(self, *, integer: bool, marks: str | None = None) -> str:
        """A whole value in this locale; `marks` narrows the group marks (faster regex)."""
        group = self.grouping if marks is None else marks.replace("%", "")
        whole = r"0|[1-9]\d*" + (rf"|[1-9]\d{{0,2}}(?:[{group}]\d{{3}})+" if group else "")
        if integer:
            return rf"^-?(?:{whole})$"
        point = re.escape(self.decimal)
        number = rf"^-?(?:(?:{whole})(?:{point}\d+)?|{point}\d+)(?:[eE][-+]?\d+)?"
        return number + _PERCENT

    def marks_in(self, values: pa.Array) -> str:
        """The group marks and `%` that occur in `values`."""
        return "".join(
            m for m in self.grouping + "%" if pc.any(pc.match_substring(values, m)).as_py()
        )


class _NumberParser:
    """One numeric column: text in the locale -> int64 or float64.

    The common case, no group marks, is one cast. Otherwise the values are first checked
    against the locale's grouping (so en-US `1,5` or de-DE `1.5` is an error, not 15), then
    the marks are removed. Which marks occur is learnt from the sample and widened on demand.
    """

    def __init__(self, numbers: _Numbers, target: pa.DataType, sample: pa.Array) -> None:
        self._numbers, self._target = numbers, target
        self._marks = numbers.marks_in(sample)
        self._plain = not self._marks

    def __call__(self, values: pa.Array) -> pa.Array:
        if self._plain and self._may_be_plain(values):
            try:
                return pc.cast(self._point(values), self._target)
            except pa.ArrowInvalid:
                self._plain = False  # a failed cast costs a full pass: don't retry per block
        if not self._fits(values):
            self._marks = self._numbers.marks_in(values)
            if not self._fits(values):
                raise _Unfit
        for mark in self._marks:
            values = pc.replace_substring(values, mark, "")
        return pc.cast(self._point(values), self._target)

    def _may_be_plain(self, values: pa.Array) -> bool:
        # In a comma-decimal locale a "." is a group mark: 1.5 must not pass as 1.5.
        return self._numbers.decimal == "." or not pc.any(pc.match_substring(values, ".")).as_py()

    def _point(self, values: pa.Array) -> pa.Array:
        return values if self._numbers.decimal == "." else pc.replace_substring(values, ",", ".")

    def _fits(self, values: pa.Array) -> bool:
        integer = pa.types.is_integer(self._target)
        return _all_match(values, self._numbers.pattern(integer=integer, marks=self._marks))


def _parse_duration(values: pa.Array, numbers: _NumberParser) -> pa.Array:
    """`h:mm:ss[.fff]` (hours may pass 24), `1h 02m 03s` or plain milliseconds -> int64 ms."""
    if pc.any(pc.match_substring(values, "h")).as_py():
        values = pc.replace_substring_regex(values, _HMS, r"\1:\2:\3")
    if _all_match(values, _WHOLE_CLOCK):  # the usual form: arithmetic on hhmmss as a number
        hhmmss = pc.cast(pc.replace_substring(values, ":", ""), pa.int64())
        hours = pc.divide(hhmmss, 10_000)
        minutes_seconds = pc.subtract(hhmmss, pc.multiply(hours, 10_000))
        minutes = pc.divide(minutes_seconds, 100)
        seconds = pc.subtract(minutes_seconds, pc.multiply(minutes, 100))
        total = pc.add(pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60), seconds)
        return pc.multiply(total, 1000)
    if not pc.any(pc.match_substring(values, ":")).as_py():  # all milliseconds
        return pc.cast(pc.round(numbers(values)), pa.int64())
    parts = pc.split_pattern(values, ":", max_splits=2)
    clock = pc.fill_null(pc.equal(pc.list_value_length(parts), 3), False)
    n_clock = pc.sum(clock).as_py() or 0
    if n_clock == len(values):
        return _clock_ms(parts)
    plain = pc.if_else(clock, pa.scalar(None, pa.string()), values)
    ms = pc.cast(pc.round(numbers(plain)), pa.int64())
    if n_clock == 0:
        return ms
    return pc.replace_with_mask(ms, clock, _clock_ms(pc.filter(parts, clock)))


def _clock_ms(parts: pa.Array) -> pa.Array:
    """[h, mm, ss.fff] lists -> ms; a leading `-` negates."""
    hours_text = pc.list_element(parts, 0)
    hours = pc.abs(pc.cast(hours_text, pa.int64()))
    minutes = pc.cast(pc.list_element(parts, 1), pa.int64())
    seconds = pc.cast(pc.replace_substring(pc.list_element(parts, 2), ",", "."), pa.float64())
    for part in (minutes, seconds):
        low, high = pc.min_max(part).values()
        if low.is_valid and (low.as_py() < 0 or high.as_py() >= 60):
            raise _Unfit
    total = pc.add(
        pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60_000),
        pc.cast(pc.round(pc.multiply(seconds, 1000)), pa.int64()),
    )
    return pc.if_else(pc.starts_with(hours_text, "-"), pc.negate(total), total)


def _parse_bool(values: pa.Array) -> pa.Array:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    true = pc.is_in(text, value_set=pa.array(["true", "yes", "1"]))
    false = pc.is_in(text, value_set=pa.array(["false", "no", "0"]))
    if not pc.all(pc.or_(pc.or_(true, false), pc.is_null(values))).as_py():
        raise _Unfit
    return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), true)


class _TimestampParser:
    """One timestamp column's text in its layout -> `timestamp[ms, UTC]`."""

    def __init__(self, layout: str, localize: _Localizer) -> None:
        self._layout, self._localize = layout, localize
        self._unit = "ms"  # "ns" once a value carries sub-millisecond digits (then truncated)

    def __call__(self, values: pa.Array) -> pa.Array:
        if self._layout not in ("iso", "iso_tz"):
            return self._localize(pc.strptime(values, format=self._layout, unit="ms"))
        zone = "UTC" if self._layout == "iso_tz" else None
        try:
            parsed = pc.cast(values, pa.timestamp(self._unit, zone))
        except pa.ArrowInvalid:
            if self._unit == "ns":
                raise
            self._unit = "ns"
            parsed = pc.cast(values, pa.timestamp("ns", zone))
        parsed = pc.cast(parsed, pa.timestamp("ms", zone), safe=False)
        return parsed if zone else self._localize(parsed)  # an offset in the value wins


class _Localizer:
    """Local wall-clock times of one column -> UTC, across DST changes.

    A time in the hour repeated when clocks go back names two instants. Reports list
    times in order, so within a run of consecutive rows in the repeated hour, a step
    backwards on the wall clock starts the second pass (the later instant) until the run
    ends. A time in a spring-forward gap cannot come from a real export: it is an error.
    """

    def __init__(self, time_zone: str) -> None:
        self._name, self._zone = time_zone, ZoneInfo(time_zone)
        self.ambiguous = 0
        self._second_pass = False
        self._previous: int | None = None  # last ambiguous local value, if the last row was

    def __call__(self, local: pa.Array) -> pa.Array:
        low, high = pc.min_max(pc.cast(local, pa.int64())).values()
        if not low.is_valid:
            return pa.nulls(len(local), UTC_MS)
        offsets, repeated_hours = _zone_changes(self._zone, low.as_py(), high.as_py())
        if len(offsets) == 1:  # no DST change near: one subtraction (assume_timezone is slower)
            self._previous = None
            offset_ms = int(next(iter(offsets)).total_seconds() * 1000)
            return pc.cast(pc.subtract(pc.cast(local, pa.int64()), offset_ms), UTC_MS)
        early = pc.assume_timezone(
            local, timezone=self._name, ambiguous="earliest", nonexistent="raise"
        )
        repeated = _within(local, repeated_hours)
        if repeated is None:
            self._previous = None
            return pc.cast(early, UTC_MS)
        late = pc.assume_timezone(
            local, timezone=self._name, ambiguous="latest", nonexistent="raise"
        )
        rows = pc.indices_nonzero(repeated).to_pylist()
        self.ambiguous += len(rows)
        later = self._second_pass_rows(rows, local, len(local))
        if not later:
            return pc.cast(early, UTC_MS)
        mask = pa.array([i in later for i in range(len(local))])
        return pc.cast(pc.replace_with_mask(early, mask, pc.filter(late, mask)), UTC_MS)

    def _second_pass_rows(self, rows: list[int], local: pa.Array, n: int) -> set[int]:
        values = pc.cast(pc.take(local, pa.array(rows)), pa.int64()).to_pylist()
        later: set[int] = set()
        previous_row = -1 if self._previous is not None else -2
        for row, value in zip(rows, values, strict=True):
            if row != previous_row + 1:  # a run of the repeated hour starts afresh
                self._second_pass, self._previous = False, None
            if self._previous is not None and value < self._previous:
                self._second_pass = True
            if self._second_pass:
                later.add(row)
            self._previous, previous_row = value, row
        if rows[-1] != n - 1:
            self._previous = None
        return later


def _zone_changes(
    zone: ZoneInfo, low: int, high: int
) -> tuple[set[timedelta], list[tuple[int, int]]]:
    """The UTC offsets in force around local times low..high, and the repeated hours.

    Local values are epoch milliseconds of the wall clock read as UTC. Scans day by day
    (two days of margin cover any offset); a fall in the offset is bisected to the second
    and gives the local range [start, end) that the wall clock shows twice.
    """
    day = timedelta(days=1)
    instant = datetime.fromtimestamp(low // 1000, UTC) - 2 * day
    last = datetime.fromtimestamp(high // 1000, UTC) + 2 * day
    offsets, repeated = {_offset(zone, instant)}, []
    while instant < last:
        before, after = _offset(zone, instant), _offset(zone, instant + day)
        offsets.add(after)
        if after < before:
            change = _offset_change(zone, instant, instant + day)
            repeated.append((_epoch_ms(change + after), _epoch_ms(change + before)))
        instant += day
    return offsets, repeated


def _within(local: pa.Array, ranges: list[tuple[int, int]]) -> pa.Array | None:
    """True where a local time lies in one of the ranges; None when none does."""
    inside = None
    for start, end in ranges:
        hit = pc.and_(
            pc.greater_equal(local, pa.scalar(start, local.type)),
            pc.less(local, pa.scalar(end, local.type)),
        )
        inside = hit if inside is None else pc.or_(inside, hit)
    if inside is None or not pc.any(inside).as_py():
        return None
    return pc.fill_null(inside, False)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _offset_change(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first instant in (low, high] with the offset of `high` (bisection)."""
    target = _offset(zone, high)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        low, high = (low, middle) if _offset(zone, middle) == target else (middle, high)
    return high.replace(microsecond=0)


def _no_rows(batch: pa.RecordBatch) -> pa.Array:
    return pa.repeat(pa.scalar(False), batch.num_rows)


def _positions(first: int, count: int) -> pa.Array:
    """first, first + 1, ... (`count` of them) as int64."""
    return pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count)), first - 1)


class _PacedFile(io.RawIOBase):
    """A file pyarrow's CSV reader reads through, at most `ahead` blocks past the parser.

    The reader's I/O thread otherwise queues 32 blocks (128 MiB at 4 MiB blocks). Each read
    takes a credit; each parsed block (`consumed`) gives one back. A read that waits longer
    than `_PACE_WAIT` goes ahead anyway: a record spanning many blocks must not deadlock.
    Not memory-mapped: mapped pages would count in RSS.

    `close` first answers every read with end-of-file and waits for a read in progress:
    pyarrow's thread must be out of this Python code before the interpreter may exit.
    """

    def __init__(self, path: Path, *, ahead: int) -> None:
        super().__init__()
        self._raw = path.open("rb", buffering=0)
        self._credits = threading.Semaphore(ahead)
        self._idle = threading.Condition()
        self._reading = 0
        self._stopped = False
        self._at_end = False  # end-of-file was answered: pyarrow's thread reads no more

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        with self._idle:
            if self._stopped:
                self._at_end = True
                self._idle.notify_all()
                return 0
            self._reading += 1
        read = 0
        try:
            self._credits.acquire(timeout=_PACE_WAIT)
            read = 0 if self._stopped else (self._raw.readinto(buffer) or 0)
            return read
        finally:
            with self._idle:
                self._reading -= 1
                self._at_end = self._at_end or read == 0
                self._idle.notify_all()

    def consumed(self) -> None:
        self._credits.release()

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        with self._idle:
            self._stopped = True
            self._credits.release(_READ_AHEAD + 1)  # wake a waiting read
            # A reader abandoned mid-file may still be reading ahead: let it see the end.
            self._idle.wait_for(lambda: self._reading == 0 and self._at_end, timeout=_PACE_WAIT)
        self._raw.close()
        super().close()


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


# -- error path ---------------------------------------------------------------------------


def _first_unfit(values: pa.Array, convert: Callable[[pa.Array], pa.Array]) -> int:
    """The first position whose value makes `convert` fail (binary search on prefixes)."""
    fits, fails = 0, len(values)
    while fails - fits > 1:
        middle = (fits + fails) // 2
        try:
            convert(values.slice(0, middle))
            fits = middle
        except (pa.ArrowInvalid, _Unfit):
            fails = middle
    return fails - 1


def _physical_line(
    path: Path, delimiter: str, *, record: int | None = None, fields: int | None = None
) -> tuple[int, int] | None:
    """(1-based line where a record starts, its field count), or None if not found.

    `record`: a data record's 0-based position (header and blank lines not counted, as
    pyarrow counts); `fields`: the first record whose field count differs. Error path only.
    """
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
            reader = csv.reader(text, delimiter=delimiter)
            end, position = 0, -1  # the header is position -1
            for row in reader:
                start, end = end + 1, reader.line_num
                if not row:
                    continue
                if (fields is not None and len(row) != fields) or position == record:
                    return start, len(row)
                position += 1
    except csv.Error:
        return None
    return None
