"""A reporting export's request and CSV options, read back from a kept job's manifest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genesys_export.intervals import parse_interval
from genesys_export.reporting import ReportRequest
from genesys_export.transform.report_csv import CsvOptions


def report_request(body: Mapping[str, Any]) -> ReportRequest:
    """The ReportRequest whose `body()` is `body` (so its request and family ids match)."""
    interval = parse_interval(str(body["interval"]), name="interval")
    return ReportRequest(
        view_type=body["viewType"],
        start=interval.start,
        end=interval.end,
        period=body["period"],
        time_zone=body["timeZone"],
        filter=dict(body.get("filter") or {}),
        locale=body["locale"],
        name=body.get("name"),
        csv_delimiter=body["csvDelimiter"],
        has_format_durations=bool(body["hasFormatDurations"]),
        duration_format=body.get("durationFormat"),
        has_summary_row=bool(body["hasSummaryRow"]),
        exclude_empty_rows=bool(body["excludeEmptyRows"]),
    )


def csv_options(value: Mapping[str, Any]) -> CsvOptions:
    """CsvOptions from their `dataclasses.asdict` form as kept in a manifest."""
    fields = dict(value)
    fields["key_columns"] = tuple(fields.get("key_columns") or ())
    return CsvOptions(**fields)
