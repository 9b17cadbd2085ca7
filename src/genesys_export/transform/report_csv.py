"""A reporting-export CSV, normalized into typed Arrow record batches in bounded memory.

Reading: pyarrow's streaming CSV reader parses the file one block (1 MiB) at a time, on a
thread one block ahead (UTF-8 BOM, quoted delimiters, doubled quotes, newlines inside
fields), every column as text; columns are then normalized in parallel (Arrow kernels
release the GIL) by rules this module owns:

* An empty field is null. A summary row (first cell `Total`, `Totals` or `Summary`, any
  case; or the file's last row when `summary_last_row`) is removed and counted.
* Column names and types: `csv_columns`; value parsers: `csv_values`; local times across
  DST changes: `local_times`; paced reading and error lines: `csv_file`.

Keys: `key_columns` (the view's natural key), or else `_row_number`: the row's 1-based
position among the file's data rows (summary rows not counted), with `_request_id` when the
caller passes it. A position, not a hash of the row: a report may hold identical rows that
are all real, which a content hash cannot tell apart, and a rerun replaces the request's
rows as a whole (by period bucket) anyway. Rows whose key columns hold a null are kept
(never dropped silently) and counted in `stats.rows_missing_key`; the caller decides what a
missing key means for its sink. `_run_id`, `_extracted_at` and the caller's extra columns
(`_request_id`, `_interval_start`, ...) follow the data columns.

Errors carry the 1-based physical line of the offending record (`csv_file`). They
surface mid-stream, after earlier batches were yielded: write inside a transaction.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from genesys_export.closing import Closing
from genesys_export.errors import ConfigError, SchemaMismatch
from genesys_export.intervals import iana_zone
from genesys_export.transform.csv_columns import ARROW_TYPES, Column, plan_columns
from genesys_export.transform.csv_file import READ_AHEAD, PacedFile, physical_line
from genesys_export.transform.csv_values import (
    NumberParser,
    Numbers,
    Unfit,
    first_unfit,
    parse_bool,
    parse_duration,
)
from genesys_export.transform.local_times import Localizer, TimestampParser
from genesys_export.transform.tables import (
    RUN_FIELDS,
    RunContext,
    TableSpec,
    with_run_columns,
)

ROW_NUMBER = "_row_number"


_HEADER_BLOCK = 64 << 10


_SUMMARY = r"^\s*(?:totals?|summary)\s*$"


_SUMMARY_LEADS = pa.array(["t", "T", "s", "S", " ", "\t", "\n", "\f", "\r"])  # RE2's \s


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
        iana_zone(self.time_zone, option="time zone")
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


class ReportStream(Closing):
    """Typed record batches of one report, streamed; `.schema` is known before the first."""

    def __init__(
        self, path: Path, options: CsvOptions, ctx: RunContext, extras: dict[str, pa.Scalar]
    ) -> None:
        self._path, self._options, self._ctx, self._extras = path, options, ctx, extras
        self._numbers = Numbers.for_locale(options.locale)
        self._counts: Counter[str] = Counter()
        self._ragged: list[pv.InvalidRow] = []
        self._localizers: list[Localizer] = []
        self._iteration: Generator[pa.RecordBatch, None, None] | None = None
        headers = _read_header(path, options)
        self._file = PacedFile(path, ahead=READ_AHEAD)
        try:
            self._reader = self._open(headers)  # parses the first block: may find a ragged row
            self._pending = self._next_raw()
            sample = self._sample()
            self._columns = plan_columns(headers, sample, options, self._numbers)
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
        found = physical_line(self._path, self._options.delimiter, fields=row.expected_columns)
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
        column: Column,
        convert: Callable[[pa.Array], pa.Array],
        values: pa.Array,
        first_record: int,
        positions: pa.Array | None,
    ) -> pa.Array:
        try:
            return convert(values)
        except (pa.ArrowInvalid, Unfit):
            pass
        bad = first_unfit(values, convert)
        record = first_record + (positions[bad].as_py() if positions is not None else bad)
        found = physical_line(self._path, self._options.delimiter, record=record)
        where = f"line {found[0]}" if found else f"data row {record + 1}"
        shown = str(values[bad].as_py())[:40]
        raise SchemaMismatch(
            f"report CSV {where}, column {column.header!r} ({column.name}): {shown!r} is not "
            f"a {column.kind} as the first block decided; set type_overrides "
            f"{{{column.name!r}: 'string'}} (or the right type) for this column"
        )

    def _converter(
        self, column: Column, sample: pa.RecordBatch | None
    ) -> Callable[[pa.Array], pa.Array]:
        values = sample.column(column.position) if sample is not None else pa.array([], pa.string())
        if column.kind == "int64" or column.kind == "float64":
            return NumberParser(self._numbers, ARROW_TYPES[column.kind], values)
        if column.kind == "duration":
            return partial(
                parse_duration, numbers=NumberParser(self._numbers, pa.float64(), values)
            )
        if column.kind == "bool":
            return parse_bool
        if column.kind == "timestamp":
            localize = Localizer(self._options.time_zone)
            self._localizers.append(localize)
            return TimestampParser(column.layout or "iso", localize)
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


def _no_rows(batch: pa.RecordBatch) -> pa.Array:
    return pa.repeat(pa.scalar(False), batch.num_rows)


def _positions(first: int, count: int) -> pa.Array:
    """first, first + 1, ... (`count` of them) as int64."""
    return pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count)), first - 1)
