"""Reporting exports (§2): request validation, status over time, seeded history, signing.

* POST validates every required ReportingExportJobRequest field, the enums, the interval,
  period and IANA time zone, `selectedColumns` against the view's column ids, unknown
  ViewFilter members (400 `invalid.property`) and the view's `requiredFilters`
  (400 `bad.request` naming the filter). It answers 200 with status SUBMITTED (200 is
  inferred from "successful operation", UNVERIFIED). Which views require which filters
  is the simulator's choice (see `reports.py`); server-side rules are UNVERIFIED.
* Status: SUBMITTED for the first quarter of `export_latency`, then RUNNING with a rising
  percentageComplete, then COMPLETED (FAILED under `export_fail`,
  COMPLETED_WITH_PARTIAL_RESULTS under `partial_export`); both COMPLETED states carry a
  `downloadUrl` of `{api}/api/v2/downloads/{downloadId}` (the real host is `apps.{env}`,
  §2.6).
* The org's limit on exports in flight (`max_exports_in_flight`, default 5; the real
  number is UNVERIFIED, only the error type is in the contract's enum): a POST that
  arrives while the org already has that many exports SUBMITTED or RUNNING creates the
  export, but it is FAILED at once with `exportErrorMessagesType`
  TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION (the POST's answer and the listing say so). A
  refused export never counts, nor do the seeded history's (other users' old exports).
  `slow_export` faults make single exports take longer (`Export.extra_latency`).
* The listing is newest first (order UNVERIFIED), pageSize default 25 and at most 100
  (the maximum is ours), and starts with older exports "not made by this client" so that
  a client has to page and pick its own by id.
* Downloads redirect (303; the redirect status is UNVERIFIED) to a pre-signed URL on the
  storage listener, or answer UrlResponse `{url}` with `issueRedirect=false`:
  `{storage}/exports/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=...&X-Amz-Expires=900
  &X-Amz-Signature=<hex>`; the signature is an HMAC over key, date and expiry, and the
  URL stops working 900 s after it was issued (S3-style; Genesys' expiry is UNVERIFIED).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from genesys_export.simulator import csvreport, reports
from genesys_export.simulator.isotime import (
    MS_PER_DAY,
    IsoError,
    format_ms,
    parse_duration,
    parse_interval,
)
from genesys_export.simulator.problems import Problem, bad_request, invalid_value
from genesys_export.simulator.reference import stable_id
from genesys_export.simulator.vocabulary import (
    CSV_DELIMITERS,
    DURATION_FORMATS,
    EXPORT_FORMATS,
    VIEW_FILTER_KEYS,
    VIEW_TYPES,
)

Json = dict[str, Any]
URL_EXPIRES_SECONDS = 900
DOWNLOADABLE = ("COMPLETED", "COMPLETED_WITH_PARTIAL_RESULTS")
IN_FLIGHT = ("SUBMITTED", "RUNNING")
TOO_MANY = "TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION"
_REQUIRED = (
    "name",
    "timeZone",
    "exportFormat",
    "interval",
    "period",
    "viewType",
    "filter",
    "locale",
)
_BOOLEANS = (
    "read",
    "hasFormatDurations",
    "hasSplitFilters",
    "excludeEmptyRows",
    "hasSplitByMedia",
    "hasSummaryRow",
    "hasCustomParticipantAttributes",
    "includeDurationFormatInHeader",
)
# Response defaults for options the request left out (as in the contract's examples).
_DEFAULTS: Json = {
    "read": False,
    "hasFormatDurations": False,
    "hasSplitFilters": False,
    "excludeEmptyRows": False,
    "hasSplitByMedia": False,
    "hasSummaryRow": False,
    "csvDelimiter": "COMMA",
    "hasCustomParticipantAttributes": False,
    "includeDurationFormatInHeader": False,
}
_OPTIONAL = (
    *_BOOLEANS,
    "csvDelimiter",
    "durationFormat",
    "selectedColumns",
    "recipientEmails",
    "chartColumns",
)


def validate_request(body: Any) -> Json:
    """Validate a ReportingExportJobRequest; return the fields kept; raise Problem."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a ReportingExportJobRequest object")
    for name in _REQUIRED:
        if body.get(name) in (None, ""):
            raise bad_request(f"{name} is required in a ReportingExportJobRequest")
    _check_enums(body)
    _check_times(body)
    _check_filter(body)
    for name in _BOOLEANS:
        if name in body and not isinstance(body[name], bool):
            raise bad_request(f"{name} must be true or false")
    kept = {name: body[name] for name in _REQUIRED}
    kept.update({name: body[name] for name in _OPTIONAL if name in body})
    return kept


def _check_enums(body: Json) -> None:
    if not isinstance(body["name"], str) or not isinstance(body["locale"], str):
        raise bad_request("name and locale must be strings")
    checks = (
        ("viewType", VIEW_TYPES, "ViewTypeEnum"),
        ("exportFormat", EXPORT_FORMATS, "ExportFormatEnum"),
        ("csvDelimiter", CSV_DELIMITERS, "CsvDelimiterEnum"),
        ("durationFormat", DURATION_FORMATS, "DurationFormatEnum"),
    )
    for name, allowed, enum in checks:
        if name in body and body[name] not in allowed:
            raise invalid_value(body[name], enum, allowed)
    columns = body.get("selectedColumns")
    if columns is not None:
        available = tuple(column.id for column in reports.view(body["viewType"]).columns)
        if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
            raise bad_request("selectedColumns must be a list of {columnOrder, columnName}")
        for column in columns:
            if column.get("columnName") not in available:
                raise invalid_value(column.get("columnName"), "ColumnNameEnum", available)


def _check_times(body: Json) -> None:
    try:
        parse_interval(body["interval"])
        period = parse_duration(body["period"])
    except IsoError as exc:
        raise Problem(400, exc.code, str(exc)) from exc
    if period.is_zero:
        raise bad_request("period must be longer than zero, for example PT30M or P1D")
    try:
        ZoneInfo(body["timeZone"])
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise bad_request(
            f"timeZone {body['timeZone']!r} is not an IANA time zone "
            "(for example UTC, Etc/UTC or Europe/London)"
        ) from None
    try:
        csvreport.buckets(body)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


def _check_filter(body: Json) -> None:
    view_filter = body["filter"]
    if not isinstance(view_filter, dict):
        raise bad_request("filter must be a ViewFilter object ({} when the view needs none)")
    for key in view_filter:
        if key not in VIEW_FILTER_KEYS:
            raise Problem(
                400,
                "invalid.property",
                f"Value [{key}] is not a valid property for object [ViewFilter]",
                params={"value": key, "object": "ViewFilter"},
            )
    for required in reports.view(body["viewType"]).required_filters:
        if not view_filter.get(required):
            raise bad_request(
                f"view {body['viewType']} requires the filter {required!r}; "
                f"see GET /api/v2/analytics/reporting/exports/metadata"
            )


@dataclass
class Export:
    """One export: its request fields and how it progresses."""

    id: str
    run_id: str
    fields: Json
    created: float  # simulator clock
    download_id: str
    fails: bool = False
    partial: bool = False  # ends COMPLETED_WITH_PARTIAL_RESULTS (`partial_export`)
    ragged: bool | None = None  # its CSV is malformed (`ragged_csv`); None: file not built
    frozen_status: str | None = None  # seeded exports never move
    frozen_percentage: float = 1.0
    error_type: str | None = None
    shown: Json | None = None  # request fields the record shows, when the org's settings won
    refused: bool = False  # FAILED at once: the org had too many exports in flight
    extra_latency: float = 0.0  # seconds beyond the simulator's export_latency (slow_export)

    def ends(self, latency: float) -> float:
        """Clock time at which this export of a client leaves SUBMITTED/RUNNING."""
        return self.created if self.refused else self.created + latency + self.extra_latency


def progress(export: Export, now: float, latency: float) -> tuple[str, float, float]:
    """(status, percentageComplete, clock time of the last change) at clock time `now`."""
    if export.frozen_status is not None:
        return export.frozen_status, export.frozen_percentage, export.created + 60
    if export.refused:
        return "FAILED", 0.0, export.created
    latency += export.extra_latency
    elapsed = now - export.created
    if elapsed >= latency:
        return _final_status(export), 1.0, export.created + latency
    if elapsed < latency * 0.25:
        return "SUBMITTED", 0.0, export.created
    return "RUNNING", round(elapsed / latency, 2), export.created + latency * 0.25


def in_flight(exports: Iterable[Export], now: float, latency: float) -> int:
    """How many exports of the org's clients are SUBMITTED or RUNNING at clock time `now`
    (the seeded history never counts)."""
    return sum(
        1
        for export in exports
        if export.frozen_status is None and progress(export, now, latency)[0] in IN_FLIGHT
    )


def over_limit(exports: Iterable[Export], now: float, latency: float, limit: int | None) -> bool:
    """Whether an export submitted at `now` is refused by the org's in-flight limit."""
    return limit is not None and in_flight(exports, now, latency) >= limit


def max_in_flight(exports: Iterable[Export], latency: float) -> int:
    """The most exports of clients that were SUBMITTED or RUNNING at one instant so far
    (refused ones were never in flight): the simulator's timeline, for tests."""
    edges: list[tuple[float, int]] = []
    for export in exports:
        if export.frozen_status is None and not export.refused:
            edges += [(export.created, 1), (export.ends(latency), -1)]
    most = current = 0
    for _, step in sorted(edges):  # an end sorts before a start at the same instant
        current += step
        most = max(most, current)
    return most


def _final_status(export: Export) -> str:
    if export.fails:
        return "FAILED"
    return "COMPLETED_WITH_PARTIAL_RESULTS" if export.partial else "COMPLETED"


def response_doc(
    export: Export, status: tuple[str, float, float], wall_ms: Callable[[float], int], api_url: str
) -> Json:
    """The ReportingExportJobResponse of an export in a given progress state."""
    state, percentage, modified = status
    doc: Json = {"id": export.id, "name": export.fields["name"], "runId": export.run_id}
    doc["status"] = state
    doc.update({key: export.fields[key] for key in ("timeZone", "exportFormat", "interval")})
    doc.update({key: export.fields[key] for key in ("viewType", "period", "filter")})
    doc["read"] = export.fields.get("read", False)
    doc["createdDateTime"] = format_ms(wall_ms(export.created))
    doc["modifiedDateTime"] = format_ms(wall_ms(max(modified, export.created)))
    doc["locale"] = export.fields["locale"]
    doc["percentageComplete"] = percentage
    shape = export.shown if export.shown is not None else export.fields
    for key, default in _DEFAULTS.items():
        doc.setdefault(key, shape.get(key, default))
    doc.update({k: shape[k] for k in _OPTIONAL if k in shape and k not in doc})
    doc["exportAllowedToRerun"] = True
    doc["enabled"] = False
    doc["selfUri"] = f"/api/v2/analytics/reporting/exports/{export.id}"
    if state == "FAILED":
        reason = TOO_MANY if export.refused else export.error_type
        doc["exportErrorMessagesType"] = reason or "FAILED_GETTING_DATA_FROM_SERVICE"
    if state in DOWNLOADABLE:
        doc["downloadUrl"] = f"{api_url}/api/v2/downloads/{export.download_id}"
    return doc


def seeded_history(seed: int, now: float, now_wall_ms: int, count: int) -> list[Export]:
    """Older exports of other users of the org, oldest first (deterministic from the seed
    and the day); `now` is the clock time and `now_wall_ms` the matching wall time."""
    rng = random.Random(f"genesys-export-simulator:exports:{seed}")
    views = (
        "QUEUE_PERFORMANCE_SUMMARY_VIEW",
        "AGENT_PERFORMANCE_SUMMARY_VIEW",
        "AGENT_STATUS_SUMMARY_VIEW",
        "INTERACTION_SEARCH_VIEW",
    )
    history = []
    for index in range(count):
        age_days = count - index + 1
        view_type = views[index % len(views)]
        day_text = format_ms(now_wall_ms - age_days * MS_PER_DAY)[:10]
        fields: Json = {
            "name": f"{view_type.replace('_', ' ').title()} - {day_text}",
            "timeZone": rng.choice(("UTC", "America/New_York", "Europe/London")),
            "exportFormat": "CSV",
            "interval": f"{day_text}T00:00:00.000Z/{day_text}T23:59:59.999Z",
            "period": "P1D",
            "viewType": view_type,
            "filter": {"mediaTypes": ["voice"]} if index % 3 else {},
            "locale": "en-US",
            "read": rng.random() < 0.5,
        }
        export = Export(
            id=stable_id(seed, "export", index),
            run_id=stable_id(seed, "export-run", index),
            fields=fields,
            created=now - age_days * 86_400.0,
            download_id=hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:16],
            frozen_status="COMPLETED",
        )
        if index % 9 == 4:
            export.frozen_status, export.frozen_percentage = "FAILED", 0.0
            export.error_type = "FAILED_LONG_RUNNING_EXPORT"
        elif index == count - 1:
            export.frozen_status, export.frozen_percentage = "RUNNING", 0.42
        history.append(export)
    return history


def new_export(
    fields: Json,
    now: float,
    *,
    fails: bool,
    partial: bool = False,
    org_settings: Json | None = None,
    settings_shown: bool = True,
    refused: bool = False,
    extra_latency: float = 0.0,
) -> Export:
    """A freshly submitted export. The org's export settings (`org_settings`: csvDelimiter,
    hasSummaryRow, hasFormatDurations, ...) win over the request's; the record shows them
    unless `settings_shown` is false (then it shows the request, and disagrees with the file).
    A `refused` export is FAILED from the start (TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION).
    """
    written = fields | (org_settings or {})
    return Export(
        id=str(uuid.uuid4()),
        run_id=str(uuid.uuid4()),
        fields=written,
        shown=None if settings_shown else fields,
        created=now,
        download_id=uuid.uuid4().hex[:16],
        fails=fails,
        partial=partial,
        refused=refused,
        extra_latency=extra_latency,
    )


class UrlSigner:
    """Signs and checks pre-signed storage URLs."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, storage_url: str, key: str, now_ms: int) -> str:
        """A pre-signed URL for `key`, valid URL_EXPIRES_SECONDS from `now_ms`."""
        date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms // 1000))
        signature = self._signature(key, date, str(URL_EXPIRES_SECONDS))
        return (
            f"{storage_url}/exports/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}"
            f"&X-Amz-Expires={URL_EXPIRES_SECONDS}&X-Amz-Signature={signature}"
        )

    def check(self, key: str, query: dict[str, str], now_ms: int) -> tuple[str, str] | None:
        """None when the query signs `key` and is unexpired, else an S3-style (code, message)."""
        date, expires = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        given = query.get("X-Amz-Signature", "")
        if not given:
            return (
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Signature parameter",
            )
        if not hmac.compare_digest(given, self._signature(key, date, expires)):
            return "SignatureDoesNotMatch", "The request signature we calculated does not match"
        signed_at = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        if now_ms / 1000 > signed_at + int(expires):
            return "AccessDenied", "Request has expired"
        return None

    def _signature(self, key: str, date: str, expires: str) -> str:
        message = f"{key}\n{date}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
