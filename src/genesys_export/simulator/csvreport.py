"""Builds the CSV of a reporting export; the format is described in `reports.py`.

`ragged()` breaks a built file the way the `ragged_csv` fault describes (see `faults.py`).
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from genesys_export.simulator.isotime import parse_duration, parse_interval
from genesys_export.simulator.reference import Entity, Organization
from genesys_export.simulator.reports import BOM, Column, Kind, View, view

Json = dict[str, Any]
# A cell before formatting: text, an integer (count or ms), or a fraction (numerator, denominator).
Cell = str | int | tuple[float, int]
MAX_BUCKETS = 100_000

_DECIMAL_COMMA_DOT = frozenset({"de", "es", "it", "nl", "pt", "da", "tr", "id"})
_DECIMAL_COMMA_SPACE = frozenset({"fr", "sv", "nb", "fi", "pl", "cs", "ru"})
_UNIT_SUFFIX = {"Milliseconds": "ms", "Hhmmss": "hh:mm:ss", "Seconds": "s", "Hms": "h m s"}


@dataclass(frozen=True)
class CsvOptions:
    """The request fields that shape the file."""

    delimiter: str
    duration_format: str
    group_separator: str
    decimal_separator: str
    summary_row: bool
    exclude_empty_rows: bool
    units_in_header: bool
    selected: tuple[str, ...] | None

    @functools.cached_property
    def translation(self) -> dict[int, str]:
        """str.translate table from en-US number punctuation to this locale's."""
        return str.maketrans({",": self.group_separator, ".": self.decimal_separator})

    @classmethod
    def of(cls, export: Json) -> CsvOptions:
        """Options from a ReportingExportJobRequest or Response."""
        language = str(export.get("locale") or "en").replace("_", "-").split("-")[0].lower()
        group, decimal = ",", "."
        if language in _DECIMAL_COMMA_DOT:
            group, decimal = ".", ","
        elif language in _DECIMAL_COMMA_SPACE:
            group, decimal = "\u00a0", ","
        selected = export.get("selectedColumns") or None
        return cls(
            delimiter=";" if export.get("csvDelimiter") == "SEMICOLON" else ",",
            duration_format=_duration_format(export),
            group_separator=group,
            decimal_separator=decimal,
            summary_row=bool(export.get("hasSummaryRow")),
            exclude_empty_rows=bool(export.get("excludeEmptyRows")),
            units_in_header=bool(export.get("includeDurationFormatInHeader")),
            selected=_selected_ids(selected) if selected else None,
        )


def _duration_format(export: Json) -> str:
    # An explicit durationFormat wins; hasFormatDurations alone means hh:mm:ss.
    if export.get("durationFormat"):
        return str(export["durationFormat"])
    return "Hhmmss" if export.get("hasFormatDurations") else "Milliseconds"


def _selected_ids(selected: list[Json]) -> tuple[str, ...]:
    ordered = sorted(selected, key=lambda item: item.get("columnOrder", 0))
    return tuple(str(item.get("columnName")) for item in ordered)


def buckets(export: Json) -> list[tuple[datetime, datetime]]:
    """The period buckets of an export's interval in its time zone (last one may be short)."""
    start, end = parse_interval(export["interval"])
    step, zone = parse_duration(export["period"]), ZoneInfo(export["timeZone"])
    if step.is_zero:
        raise ValueError("period must be longer than zero")
    edges = [start]
    while edges[-1] < end:
        edges.append(min(step.add_to(edges[-1], zone), end))
        if len(edges) > MAX_BUCKETS + 1:
            raise ValueError(
                f"period {export['period']} gives more than {MAX_BUCKETS} rows per entity"
            )
    return list(itertools.pairwise(edges))


def report_csv(org: Organization, seed: int, export: Json, rows: int) -> bytes:
    """The CSV file of an export: a pure function of (org, seed, export fields, rows)."""
    spec, options = view(export["viewType"]), CsvOptions.of(export)
    columns = _chosen_columns(spec, options)
    zone = ZoneInfo(export["timeZone"])
    rng = random.Random(f"genesys-export-simulator:report:{seed}:{_content_key(export)}")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=options.delimiter, lineterminator="\r\n")
    writer.writerow([_header(column, options) for column in columns])
    formatters = [(column.id, _formatter(column, options)) for column in columns]
    produced: list[dict[str, Cell]] = []
    for row in _rows(org, spec, export, rows, zone, rng):
        if options.exclude_empty_rows and _is_empty(row, spec):
            continue
        if options.summary_row:
            produced.append(row)
        writer.writerow([format_cell(row[column_id]) for column_id, format_cell in formatters])
    if options.summary_row:
        total = _summary(produced, spec)
        writer.writerow([format_cell(total[column_id]) for column_id, format_cell in formatters])
    return (BOM + out.getvalue()).encode("utf-8")


def ragged(body: bytes, export: Json) -> bytes:
    """`body` (a file of `report_csv` for `export`) with one data row a field too long.

    Of its k data rows (the summary row not counted), row k//2 gets its first name-like
    cell split at the first space into two fields, as an unquoted delimiter inside the
    name would; without such a cell an empty field is appended. A file without data rows
    is returned unchanged.
    """
    options = CsvOptions.of(export)
    text = body.decode("utf-8").removeprefix(BOM)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter))
    header, data = records[0], records[1:]
    rows = len(data) - (1 if options.summary_row and data else 0)
    if rows == 0:
        return body
    row = data[rows // 2]
    names = [i for i, title in enumerate(header) if title.endswith("Name")]
    if names and " " in row[names[0]]:
        first, rest = row[names[0]].split(" ", 1)
        row[names[0] : names[0] + 1] = [first, rest]
    else:
        row.append("")
    out = io.StringIO()
    csv.writer(out, delimiter=options.delimiter, lineterminator="\r\n").writerows(records)
    return (BOM + out.getvalue()).encode("utf-8")


def _content_key(export: Json) -> str:
    # Only what defines the data seeds the figures: the same request gives the same numbers
    # whether it is passed as the request or as the server's response (ids, status...).
    content = {key: export.get(key) for key in ("viewType", "interval", "period", "timeZone")}
    content["filter"] = export.get("filter") or {}
    return json.dumps(content, sort_keys=True)


def _chosen_columns(spec: View, options: CsvOptions) -> list[Column]:
    if options.selected is None:
        return list(spec.columns)
    by_id = {column.id: column for column in spec.columns}
    return [by_id[column_id] for column_id in options.selected if column_id in by_id]


def _header(column: Column, options: CsvOptions) -> str:
    if options.units_in_header and column.kind in (Kind.DURATION, Kind.AVERAGE):
        return f"{column.header} ({_UNIT_SUFFIX[options.duration_format]})"
    return column.header


def _rows(
    org: Organization, spec: View, export: Json, rows: int, zone: ZoneInfo, rng: random.Random
) -> Iterator[dict[str, Cell]]:
    combos = _combos(org, spec, export.get("filter") or {})
    periods = buckets(export)
    if not combos:
        return
    base, extra = divmod(rows, len(periods))
    for index, (start, end) in enumerate(periods):
        count = min(len(combos), base + (1 if index < extra else 0))
        start_text = start.astimezone(zone).isoformat(timespec="seconds")
        end_text = end.astimezone(zone).isoformat(timespec="seconds")
        period_ms = int((end - start).total_seconds() * 1000)
        for entity, media in combos[:count]:
            row: dict[str, Cell] = {"INTERVAL_START": start_text, "INTERVAL_END": end_text}
            row.update(_identity(spec, entity, media))
            row.update(_figures(spec, rng, period_ms))
            yield row


def _combos(org: Organization, spec: View, view_filter: Json) -> list[tuple[Entity, str]]:
    key, pool = ("userIds", org.users) if spec.entity == "agent" else ("queueIds", org.queues)
    wanted = view_filter.get(key)
    entities = [entity for entity in pool if not wanted or entity.id in wanted]
    if not spec.by_media:
        return [(entity, "") for entity in entities]
    media = [m for m in (view_filter.get("mediaTypes") or _ALL_MEDIA) if m in _ALL_MEDIA]
    return [(entity, medium) for entity in entities for medium in media]


_ALL_MEDIA = ("voice", "chat", "email", "message", "callback", "video", "cobrowse", "screenshare")


def _identity(spec: View, entity: Entity, media: str) -> dict[str, Cell]:
    if spec.entity == "agent":
        cells: dict[str, Cell] = {"AGENT_ID": entity.id, "AGENT_NAME": entity.name}
    else:
        cells = {"QUEUE_ID": entity.id, "QUEUE_NAME": entity.name}
    cells.update({"ENTITY_ID": entity.id, "ENTITY_NAME": entity.name, "MEDIA_TYPE": media})
    return cells


def _figures(spec: View, rng: random.Random, period_ms: int) -> dict[str, Cell]:
    if spec.measures == "status":
        return _status_figures(rng, period_ms)
    offer = 0 if rng.random() < 0.15 else _between(rng, 1, 40)
    answer = offer - _between(rng, 0, offer // 5)
    talk = answer * _between(rng, 60_000, 600_000)
    hold = _between(rng, 0, answer) * _between(rng, 10_000, 90_000)
    acw = answer * _between(rng, 5_000, 60_000)
    wait = answer * _between(rng, 5_000, 120_000)
    within_sla = _between(rng, 0, answer)
    return {
        "OFFER": offer, "ANSWER": answer, "ABANDON": offer - answer, "HANDLE": answer,
        "TRANSFER": _between(rng, 0, answer // 6), "COUNT": offer,
        "ANSWER_PERCENT": (answer * 100.0, offer),
        "ABANDON_PERCENT": ((offer - answer) * 100.0, offer),
        "SERVICE_LEVEL_PERCENT": (within_sla * 100.0, answer), "PERCENT": (answer * 100.0, offer),
        "TOTAL_TALK": talk, "TOTAL_HOLD": hold, "TOTAL_ACW": acw,
        "TOTAL_DURATION": talk + hold + acw,
        "AVG_HANDLE": (float(talk + hold + acw), answer), "AVG_TALK": (float(talk), answer),
        "AVG_HOLD": (float(hold), answer), "AVG_ACW": (float(acw), answer),
        "AVG_WAIT": (float(wait), answer), "AVG_DURATION": (float(talk + hold + acw), answer),
    }  # fmt: skip


def _status_figures(rng: random.Random, period_ms: int) -> dict[str, Cell]:
    logged_in = 0 if rng.random() < 0.15 else _between(rng, period_ms // 4, period_ms)
    on_queue = _between(rng, 0, logged_in)
    off_parts = _split(rng, logged_in - on_queue, 7)
    on_parts = _split(rng, on_queue, 3)
    off_names = ("AVAILABLE", "BUSY", "AWAY", "BREAK", "MEAL", "MEETING", "TRAINING")
    cells: dict[str, Cell] = {"LOGGED_IN": logged_in, "ON_QUEUE": on_queue}
    cells["OFF_QUEUE"] = logged_in - on_queue
    cells.update(zip(off_names, off_parts, strict=True))
    cells.update(zip(("IDLE", "INTERACTING", "NOT_RESPONDING"), on_parts, strict=True))
    cells["ON_QUEUE_PERCENT"] = (on_queue * 100.0, logged_in)
    return cells


def _between(rng: random.Random, low: int, high: int) -> int:
    # randint() is the slowest part of a large file; this is the same distribution.
    return low + int(rng.random() * (high - low + 1))


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(_between(rng, 0, total) for _ in range(parts - 1))
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _is_empty(row: dict[str, Cell], spec: View) -> bool:
    counted = [c.id for c in spec.columns if c.kind in (Kind.COUNT, Kind.DURATION)]
    return all(row.get(column_id) == 0 for column_id in counted)


def _summary(rows: list[dict[str, Cell]], spec: View) -> dict[str, Cell]:
    total: dict[str, Cell] = {}
    for column in spec.columns:
        values = [row[column.id] for row in rows]
        if column.kind in (Kind.COUNT, Kind.DURATION):
            total[column.id] = sum(int(value) for value in values if isinstance(value, int))
        elif column.kind in (Kind.AVERAGE, Kind.PERCENT):
            fractions = [value for value in values if isinstance(value, tuple)]
            total[column.id] = (sum(f[0] for f in fractions), sum(f[1] for f in fractions))
        else:
            total[column.id] = ""
    total[spec.columns[0].id] = "Total"
    return total


def _formatter(column: Column, options: CsvOptions) -> Callable[[Cell], str]:
    """The function that writes one column's cells (chosen once per file, not per cell)."""

    def write(value: Cell) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, tuple):
            numerator, denominator = value
            if denominator == 0:
                return ""
            if column.kind is Kind.PERCENT:
                return _decimal(numerator / denominator, 1, options)
            return _duration(numerator / denominator, options, average=True)
        if column.kind is Kind.COUNT or options.duration_format == "Milliseconds":
            return str(value)
        return _duration(float(value), options, average=False)

    return write


def _duration(ms: float, options: CsvOptions, *, average: bool) -> str:
    style = options.duration_format
    if style in ("Hhmmss", "Hms"):
        hours, rest = divmod(round(ms / 1000), 3600)
        minutes, seconds = divmod(rest, 60)
        if style == "Hms":
            return f"{hours}h {minutes:02d}m {seconds:02d}s"
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if style == "Seconds":
        return _decimal(ms / 1000, 3, options)
    return _decimal(ms, 1, options) if average else str(int(ms))


def _decimal(value: float, places: int, options: CsvOptions) -> str:
    text = f"{value:,.{places}f}"
    if options.group_separator == "," and options.decimal_separator == ".":
        return text
    return text.translate(options.translation)
