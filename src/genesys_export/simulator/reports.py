"""Reporting-export views: metadata, validation of view-specific options, and the CSV.

CSV format (the real file format is undocumented, §2.6; these are the simulator's choices):

* UTF-8 with a byte-order mark; RFC 4180 quoting (fields holding the delimiter, a double
  quote or a line break are quoted, quotes doubled); lines end with CRLF;
* delimiter `,` or `;` from `csvDelimiter` (default COMMA);
* a header row of view-specific column names; `includeDurationFormatInHeader` appends the
  unit, e.g. `Total Talk (ms)`;
* one row per (period bucket, entity[, media type]); buckets start at the interval start
  and step by `period` in `timeZone` (calendar units follow the zone's wall clock);
* `Interval Start` / `Interval End` are ISO-8601 local times with offset in `timeZone`,
  e.g. `2024-05-01T00:00:00-04:00` (unambiguous across DST changes);
* counts are plain integers; totals of durations are integer milliseconds; averages are
  milliseconds with one decimal; percentages have one decimal. With `durationFormat`
  Hhmmss (or `hasFormatDurations` and no durationFormat) durations are `hh:mm:ss` (hours
  may exceed 24), Seconds gives seconds with three decimals, Hms gives `1h 02m 03s`;
* decimals follow `locale`: en and unknown locales `1,234.5`; de, es, it, nl, pt, da, tr,
  id `1.234,5`; fr, sv, nb, fi, pl, cs, ru `1 234,5` (no-break space);
* a value that cannot be computed (an average of nothing) is an empty field;
* `hasSummaryRow` adds a last row whose first cell is `Total`;
* `excludeEmptyRows` drops rows whose counts are all zero;
* `selectedColumns` picks and orders columns by their ids (see the metadata).

Row counts: `report_rows` rows are spread evenly over the buckets, at most one row per
(bucket, entity[, media type]). The figures are deterministic from the seed and the
request but are NOT derived from the conversations the details jobs return.
Ignored options: hasSplitFilters, hasSplitByMedia, hasCustomParticipantAttributes,
recipientEmails, chartColumns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

Json = dict[str, Any]
BOM = "\ufeff"


class Kind(Enum):
    """How a column's values are made and written."""

    TIME = "time"
    TEXT = "text"
    COUNT = "count"
    DURATION = "duration"
    AVERAGE = "average"
    PERCENT = "percent"


@dataclass(frozen=True)
class Column:
    """A column of a view: id (as in the metadata), header text, kind."""

    id: str
    header: str
    kind: Kind


@dataclass(frozen=True)
class View:
    """What the simulator knows of a view type."""

    view_type: str
    entity: str  # "agent" or "queue"
    by_media: bool
    columns: tuple[Column, ...]
    required_filters: tuple[str, ...] = ()
    measures: str = "performance"  # or "status": presence time instead of interaction counts


def _columns(*specs: tuple[str, str, Kind]) -> tuple[Column, ...]:
    return tuple(Column(id_, header, kind) for id_, header, kind in specs)


_T, _X, _N, _D, _A, _P = Kind.TIME, Kind.TEXT, Kind.COUNT, Kind.DURATION, Kind.AVERAGE, Kind.PERCENT
_INTERVAL = (("INTERVAL_START", "Interval Start", _T), ("INTERVAL_END", "Interval End", _T))
_AGENT_PERFORMANCE = _columns(
    *_INTERVAL,
    ("AGENT_ID", "Agent Id", _X), ("AGENT_NAME", "Agent Name", _X),
    ("MEDIA_TYPE", "Media Type", _X),
    ("OFFER", "Offer", _N), ("ANSWER", "Answer", _N), ("ANSWER_PERCENT", "Answer %", _P),
    ("HANDLE", "Handle", _N), ("AVG_HANDLE", "Avg Handle", _A), ("TOTAL_TALK", "Total Talk", _D),
    ("AVG_TALK", "Avg Talk", _A), ("TOTAL_HOLD", "Total Hold", _D), ("AVG_HOLD", "Avg Hold", _A),
    ("TOTAL_ACW", "Total ACW", _D), ("AVG_ACW", "Avg ACW", _A), ("TRANSFER", "Transfer", _N),
)  # fmt: skip
_QUEUE_PERFORMANCE = _columns(
    *_INTERVAL,
    ("QUEUE_ID", "Queue Id", _X), ("QUEUE_NAME", "Queue Name", _X),
    ("MEDIA_TYPE", "Media Type", _X),
    ("OFFER", "Offer", _N), ("ANSWER", "Answer", _N), ("ABANDON", "Abandon", _N),
    ("ABANDON_PERCENT", "Abandon %", _P), ("SERVICE_LEVEL_PERCENT", "Service Level %", _P),
    ("AVG_WAIT", "ASA", _A), ("HANDLE", "Handle", _N), ("AVG_HANDLE", "Avg Handle", _A),
    ("TOTAL_TALK", "Total Talk", _D), ("AVG_TALK", "Avg Talk", _A),
    ("TOTAL_HOLD", "Total Hold", _D), ("AVG_ACW", "Avg ACW", _A), ("TRANSFER", "Transfer", _N),
)  # fmt: skip
_AGENT_STATUS = _columns(
    *_INTERVAL,
    ("AGENT_ID", "Agent Id", _X), ("AGENT_NAME", "Agent Name", _X),
    ("LOGGED_IN", "Logged In", _D), ("ON_QUEUE", "On Queue", _D), ("OFF_QUEUE", "Off Queue", _D),
    ("AVAILABLE", "Available", _D), ("BUSY", "Busy", _D), ("AWAY", "Away", _D),
    ("BREAK", "Break", _D), ("MEAL", "Meal", _D), ("MEETING", "Meeting", _D),
    ("TRAINING", "Training", _D), ("IDLE", "Idle", _D), ("INTERACTING", "Interacting", _D),
    ("NOT_RESPONDING", "Not Responding", _D), ("ON_QUEUE_PERCENT", "On Queue %", _P),
)  # fmt: skip
_GENERIC = _columns(
    *_INTERVAL,
    ("ENTITY_ID", "Entity Id", _X), ("ENTITY_NAME", "Entity Name", _X),
    ("MEDIA_TYPE", "Media Type", _X), ("COUNT", "Count", _N),
    ("TOTAL_DURATION", "Total Duration", _D), ("AVG_DURATION", "Avg Duration", _A),
    ("PERCENT", "Percent", _P),
)  # fmt: skip

_VIEWS = {
    view.view_type: view
    for view in (
        View("AGENT_PERFORMANCE_SUMMARY_VIEW", "agent", True, _AGENT_PERFORMANCE),
        View("AGENT_PERFORMANCE_DETAIL_VIEW", "agent", True, _AGENT_PERFORMANCE, ("userIds",)),
        View("QUEUE_PERFORMANCE_SUMMARY_VIEW", "queue", True, _QUEUE_PERFORMANCE),
        View("QUEUE_PERFORMANCE_DETAIL_VIEW", "queue", True, _QUEUE_PERFORMANCE, ("queueIds",)),
        View("QUEUE_AGENT_DETAIL_VIEW", "agent", True, _AGENT_PERFORMANCE, ("queueIds",)),
        View("AGENT_STATUS_SUMMARY_VIEW", "agent", False, _AGENT_STATUS, measures="status"),
        View("AGENT_STATUS_DETAIL_VIEW", "agent", False, _AGENT_STATUS, ("userIds",), "status"),
    )
}
_SUPPORTED_FILTERS = (
    "mediaTypes",
    "queueIds",
    "userIds",
    "directions",
    "wrapUpCodes",
    "divisionIds",
)


def view(view_type: str) -> View:
    """The simulator's definition of a view type (a generic one for most of the 137)."""
    return _VIEWS.get(view_type) or View(view_type, "queue", True, _GENERIC)


def metadata(view_type: str) -> Json:
    """The ReportingExportMetadataJobResponse of one view type."""
    spec = view(view_type)
    return {
        "id": view_type,
        "name": view_type,
        "viewType": view_type,
        "dateLimitations": "The interval can not exceed 1 year",
        "requiredFilters": list(spec.required_filters),
        "supportedFilters": list(_SUPPORTED_FILTERS),
        "requiredColumnIds": ["INTERVAL_START"],
        "dependentColumnIds": {},
        "availableColumnIds": [column.id for column in spec.columns],
        "selfUri": f"/api/v2/analytics/reporting/exports/metadata/{view_type}",
    }
