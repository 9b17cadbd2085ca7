"""Reporting (view) exports, the request side: what to ask Genesys for, validated.

Pure: no HTTP. `build_report_request` turns command-line text into a `ReportRequest`,
whose `body()` is a complete `ReportingExportJobRequest` (POST
/api/v2/analytics/reporting/exports) and whose `request_id` identifies the data asked for,
so a rerun of the same request replaces its earlier rows.

Every option that changes the CSV's shape (delimiter, duration format, summary row, split
filters, header suffixes) is pinned in the body rather than left to server defaults, so
the file we download is the file `transform.report_csv` expects.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from genesys_export.errors import ConfigError
from genesys_export.intervals import Interval, iana_zone, parse_duration, parse_interval
from genesys_export.transform.report_csv import CsvOptions

# ReportingExportJobRequest.viewType: all 137 values of the official Python SDK 269.0.0.
# The API adds values over time.
VIEW_TYPES: tuple[str, ...] = (
    "QUEUE_PERFORMANCE_SUMMARY_VIEW",
    "QUEUE_PERFORMANCE_DETAIL_VIEW",
    "INTERACTION_SEARCH_VIEW",
    "AGENT_PERFORMANCE_SUMMARY_VIEW",
    "AGENT_PERFORMANCE_DETAIL_VIEW",
    "AGENT_STATUS_SUMMARY_VIEW",
    "AGENT_STATUS_DETAIL_VIEW",
    "AGENT_EVALUATION_SUMMARY_VIEW",
    "AGENT_EVALUATION_DETAIL_VIEW",
    "AGENT_QUEUE_DETAIL_VIEW",
    "AGENT_INTERACTION_DETAIL_VIEW",
    "ABANDON_INSIGHTS_VIEW",
    "SKILLS_PERFORMANCE_VIEW",
    "SURVEY_FORM_PERFORMANCE_SUMMARY_VIEW",
    "SURVEY_FORM_PERFORMANCE_DETAIL_VIEW",
    "DNIS_PERFORMANCE_SUMMARY_VIEW",
    "DNIS_PERFORMANCE_DETAIL_VIEW",
    "WRAP_UP_PERFORMANCE_SUMMARY_VIEW",
    "AGENT_WRAP_UP_PERFORMANCE_DETAIL_VIEW",
    "QUEUE_ACTIVITY_SUMMARY_VIEW",
    "QUEUE_ACTIVITY_DETAIL_VIEW",
    "AGENT_QUEUE_ACTIVITY_SUMMARY_VIEW",
    "QUEUE_AGENT_DETAIL_VIEW",
    "QUEUE_INTERACTION_DETAIL_VIEW",
    "AGENT_SCHEDULE_DETAIL_VIEW",
    "IVR_PERFORMANCE_SUMMARY_VIEW",
    "IVR_PERFORMANCE_DETAIL_VIEW",
    "ANSWER_INSIGHTS_VIEW",
    "HANDLE_INSIGHTS_VIEW",
    "TALK_INSIGHTS_VIEW",
    "HOLD_INSIGHTS_VIEW",
    "ACW_INSIGHTS_VIEW",
    "WAIT_INSIGHTS_VIEW",
    "AGENT_WRAP_UP_PERFORMANCE_INTERVAL_DETAIL_VIEW",
    "FLOW_OUTCOME_SUMMARY_VIEW",
    "FLOW_OUTCOME_PERFORMANCE_DETAIL_VIEW",
    "FLOW_OUTCOME_PERFORMANCE_INTERVAL_DETAIL_VIEW",
    "FLOW_DESTINATION_SUMMARY_VIEW",
    "FLOW_DESTINATION_DETAIL_VIEW",
    "API_USAGE_VIEW",
    "SCHEDULED_CALLBACKS_VIEW",
    "CONTENT_SEARCH_VIEW",
    "LANDING_PAGE",
    "DASHBOARD_SUMMARY",
    "DASHBOARD_DETAIL",
    "DASHBOARD_USERS",
    "DASHBOARD_USERS_DETAIL",
    "JOURNEY_ACTION_MAP_SUMMARY_VIEW",
    "JOURNEY_OUTCOME_SUMMARY_VIEW",
    "JOURNEY_SEGMENT_SUMMARY_VIEW",
    "AGENT_DEVELOPMENT_DETAIL_VIEW",
    "AGENT_DEVELOPMENT_DETAIL_ME_VIEW",
    "AGENT_DEVELOPMENT_SUMMARY_VIEW",
    "AGENT_PERFORMANCE_ME_VIEW",
    "AGENT_STATUS_ME_VIEW",
    "AGENT_EVALUATION_ME_VIEW",
    "AGENT_SCORECARD_VIEW",
    "AGENT_SCORECARD_ME_VIEW",
    "AGENT_GAMIFICATION_LEADERSHIP_VIEW",
    "AGENT_SCHEDULE_ME_VIEW",
    "BOT_PERFORMANCE_SUMMARY_VIEW",
    "BOT_PERFORMANCE_DETAIL_VIEW",
    "SCHEDULED_EXPORTS_VIEW",
    "TOPIC_TREND_SUMMARY_VIEW",
    "TOPIC_TREND_DETAIL_VIEW",
    "ACTION_MAP_BLOCKED_CONSTRAINTS_DETAIL_VIEW",
    "ACTION_MAP_BLOCKED_CONSTRAINTS_INTERVAL_DETAIL_VIEW",
    "FLOW_MILESTONE_PERFORMANCE_DETAIL_VIEW",
    "FLOW_MILESTONE_PERFORMANCE_INTERVAL_DETAIL_VIEW",
    "AGENT_TOPIC_SUMMARY_VIEW",
    "AGENT_TOPIC_DETAIL_VIEW",
    "QUEUE_TOPIC_SUMMARY_VIEW",
    "QUEUE_TOPIC_DETAIL_VIEW",
    "FLOW_TOPIC_SUMMARY_VIEW",
    "FLOW_TOPIC_DETAIL_VIEW",
    "AGENT_INTERACTIONS_ME_VIEW",
    "ALERT_RULES_VIEW",
    "CONFIGURE_ALERT_RULE_VIEW",
    "PREDICTIVE_ROUTING_VIEW",
    "PREDICTIVE_ROUTING_QUEUE_OVERVIEW",
    "PREDICTIVE_ROUTING_MODEL_VIEW",
    "PREDICTIVE_ROUTING_IMPACT_VIEW",
    "DATA_ACTIONS_PERFORMANCE_SUMMARY_VIEW",
    "DATA_ACTIONS_PERFORMANCE_DETAIL_VIEW",
    "AGENT_TIMELINE_SUMMARY_VIEW",
    "AGENT_TIMELINE_DETAIL_VIEW",
    "AGENT_LOGIN_LOGOUT_SUMMARY_VIEW",
    "AGENT_LOGIN_LOGOUT_DETAIL_VIEW",
    "CAMPAIGN_PERFORMANCE_SUMMARY_VIEW",
    "CAMPAIGN_PERFORMANCE_DETAIL_VIEW",
    "KNOWLEDGE_PERFORMANCE_VIEW",
    "AGENT_SCORECARD_INSIGHTS_SUMMARY_VIEW",
    "AGENT_SCORECARD_INSIGHTS_DETAIL_VIEW",
    "QUEUE_WRAPUP_DETAIL_VIEW",
    "INTERACTION_DETAIL_VIEW",
    "CAMPAIGN_INTERACTION_DETAIL_VIEW",
    "CAMPAIGN_ATTEMPT_DETAIL_VIEW",
    "WORKITEM_PERFORMANCE_SUMMARY_VIEW",
    "AGENT_ASSIST_PERFORMANCE_VIEW",
    "CONTACT_CENTER_PERFORMANCE_VIEW",
    "QUEUE_ROUTING_PERFORMANCE_VIEW",
    "AGENT_WORKITEM_PERFORMANCE_SUMMARY_VIEW",
    "AGENT_WORKITEM_PERFORMANCE_DETAIL_VIEW",
    "QUEUE_WORKITEM_PERFORMANCE_SUMMARY_VIEW",
    "QUEUE_WORKITEM_PERFORMANCE_DETAIL_VIEW",
    "EMAIL_AGENT_PERFORMANCE_SUMMARY_VIEW",
    "EMAIL_AGENT_PERFORMANCE_DETAIL_VIEW",
    "MESSAGING_AGENT_PERFORMANCE_SUMMARY_VIEW",
    "MESSAGING_AGENT_PERFORMANCE_DETAIL_VIEW",
    "EMAIL_QUEUE_PERFORMANCE_SUMMARY_VIEW",
    "EMAIL_QUEUE_PERFORMANCE_DETAIL_VIEW",
    "MESSAGING_QUEUE_PERFORMANCE_SUMMARY_VIEW",
    "MESSAGING_QUEUE_PERFORMANCE_DETAIL_VIEW",
    "SOCIAL_LISTENING_VIEW",
    "SOCIAL_LISTENING_POSTS_VIEW",
    "AGENT_PERFORMANCE_TIMELINE_DETAIL_VIEW",
    "DASHBOARD_SLIDESHOWS",
    "DASHBOARD_SLIDESHOWS_DETAIL",
    "AGENT_COPILOT_PERFORMANCE_VIEW",
    "AGENT_ASSIGNED_EVALUATION_ME_VIEW",
    "VIRTUAL_AGENT_PERFORMANCE_VIEW",
    "CONTENT_EXPLORATION_VIEW",
    "EVALUATION_PERFORMANCE_SUMMARY_VIEW",
    "EVALUATION_PERFORMANCE_DETAIL_VIEW",
    "EVALUATION_PERFORMANCE_QUESTION_GROUP_DETAIL_VIEW",
    "EVALUATION_PERFORMANCE_QUESTION_DETAIL_VIEW",
    "QUEUE_WORKITEM_ACTIVITY_SUMMARY_VIEW",
    "QUEUE_WORKITEM_ACTIVITY_DETAIL_VIEW",
    "DIGITAL_ADOPTION_VIEW",
    "DIGITAL_INTENT_VIEW",
    "DIGITAL_PERFORMANCE_VIEW",
    "COPILOT_USAGE_VIEW",
    "PREDICTIVE_ROUTING_THROUGHPUT_VIEW",
    "QUEUE_SKILL_EXPRESSION_PERFORMANCE_VIEW",
    "AGENTIC_VIRTUAL_AGENT_PERFORMANCE_VIEW",
    "CALLBACK_QUEUE_PERFORMANCE_SUMMARY_VIEW",
    "CALLBACK_QUEUE_PERFORMANCE_DETAIL_VIEW",
)

# ReportingExportJobResponse.exportErrorMessagesType (20 values): why a job FAILED.
EXPORT_ERROR_TYPES: tuple[str, ...] = (
    "FAILED_CONVERTING_EXPORT_JOB",
    "FAILED_NO_DATA_EXPORT_JOB_FOUND",
    "FAILED_GETTING_DATA_FROM_SERVICE",
    "FAILED_GENERATING_TEMP_FILE",
    "FAILED_SAVING_FILE_TO_S3",
    "FAILED_NOTIFYING_SKYWALKER_OF_DOWNLOAD",
    "FAILED_BUILDING_DOWNLOAD_URL_FROM_SKYWALKER_RESPONSE",
    "FAILED_CONVERTING_EXPORT_JOB_TO_QUEUE_PERFORMANCE_JOB",
    "EXPORT_TYPE_NOT_IMPLEMENTED",
    "REACHED_MAXIMUM_ATTEMPT_OF_RETRY",
    "FAILED_LONG_RUNNING_EXPORT",
    "TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION",
    "FAILED_AS_EXPORT_FILE_SIZE_IS_GREATER_THAN_10MB",
    "NOT_AUTHORIZED_TO_VIEW_EXPORT",
    "STATIC_LINK_EXPORT_FAILED",
    "TOO_MANY_SEARCH_CRITERIA",
    "SEARCH_CRITERIA_VALUES_EXCEED_LIMIT",
    "EXPORT_EMAIL_FILE_SIZE_EXCEEDED_LIMIT",
    "CIRCUIT_BREAKER_OPEN_FOR_VIEW_TYPE",
    "BAD_REQUEST_SCHEDULED_RUN",
)

CSV_DELIMITERS: dict[str, str] = {"COMMA": ",", "SEMICOLON": ";"}
DURATION_FORMATS = ("Seconds", "Milliseconds", "Hhmmss", "Hms")
CsvDelimiter = Literal["COMMA", "SEMICOLON"]

_VIEW_SEPARATORS = re.compile(r"[\s\-.]+")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True, kw_only=True)
class ReportRequest:
    """One reporting export to submit: a view over an interval, cut into periods.

    Times in the exported CSV are in `time_zone`; `locale` localizes numbers and headers.
    `filter` is a ViewFilter object (e.g. `{"queueIds": [...]}`); treat it as read-only.
    The shape options default to what `transform.report_csv` reads best: comma-separated,
    durations in milliseconds, no summary row, no split or custom-attribute columns.
    """

    view_type: str
    start: datetime
    end: datetime
    period: str
    time_zone: str
    filter: dict[str, Any] = field(default_factory=dict, hash=False)
    locale: str = "en-US"
    name: str | None = None
    csv_delimiter: CsvDelimiter = "COMMA"
    has_format_durations: bool = False
    duration_format: str | None = None  # None: Hhmmss with has_format_durations, else ms
    has_summary_row: bool = False
    exclude_empty_rows: bool = True

    def __post_init__(self) -> None:
        if self.view_type not in VIEW_TYPES:
            raise ConfigError(_unknown_view_message(self.view_type))
        Interval(self.start, self.end)  # raises unless both bounds are timezone-aware
        if self.end <= self.start:
            raise ConfigError(f"report interval: the end {self.end} must be after the start")
        if self.csv_delimiter not in CSV_DELIMITERS:
            raise ConfigError(f"csv delimiter {self.csv_delimiter!r}: use COMMA or SEMICOLON")
        if self.duration_format is not None and self.duration_format not in DURATION_FORMATS:
            raise ConfigError(
                f"duration format {self.duration_format!r}: "
                f"use one of {', '.join(DURATION_FORMATS)}"
            )

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)

    def body(self) -> dict[str, Any]:
        """The ReportingExportJobRequest: every required field, and every shape option pinned."""
        return {
            "name": self.name or f"genesys-export {self.view_type} {self.interval.iso()}",
            "timeZone": self.time_zone,
            "exportFormat": "CSV",
            "interval": self.interval.iso(),
            "period": self.period,
            "viewType": self.view_type,
            "filter": json.loads(json.dumps(self.filter)),  # a copy the caller can't mutate
            "locale": self.locale,
            "read": False,
            "hasFormatDurations": self.has_format_durations,
            "durationFormat": self.effective_duration_format,
            "hasSummaryRow": self.has_summary_row,
            "excludeEmptyRows": self.exclude_empty_rows,
            "csvDelimiter": self.csv_delimiter,
            # Each of these adds or renames columns; off keeps one stable table per view.
            "hasSplitFilters": False,
            "hasSplitByMedia": False,
            "hasCustomParticipantAttributes": False,
            "includeDurationFormatInHeader": False,
        }

    @property
    def effective_duration_format(self) -> str:
        """What the body pins: the two duration options can't disagree in the request."""
        if self.duration_format is not None:
            return self.duration_format
        return "Hhmmss" if self.has_format_durations else "Milliseconds"

    @property
    def request_id(self) -> str:
        """sha256 of the canonical body without `name`: same data asked for, same id."""
        return _digest(self.body(), "name")

    @property
    def family_id(self) -> str:
        """Like request_id, without the interval: the same view, filter and shape asked for
        another interval. Rows of one family and one period bucket are the same data."""
        return _digest(self.body(), "name", "interval")


def _digest(body: dict[str, Any], *leave_out: str) -> str:
    kept = {k: v for k, v in body.items() if k not in leave_out}
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_report_request(
    view: str,
    interval: str,
    period: str,
    time_zone: str,
    filter_json: str | None = None,
    locale: str = "en-US",
    *,
    name: str | None = None,
    csv_delimiter: CsvDelimiter = "COMMA",
    has_format_durations: bool = False,
    duration_format: str | None = None,
    has_summary_row: bool = False,
    exclude_empty_rows: bool = True,
) -> ReportRequest:
    """Validate command-line text into a ReportRequest; errors name the option and the fix.

    `view` may be given in any case, with `-`, `.` or spaces for `_`
    (`agent-performance-summary-view`). A date alone in `interval` means midnight UTC.
    """
    start_end = parse_interval(interval)
    return ReportRequest(
        view_type=normalize_view_type(view),
        start=start_end.start,
        end=start_end.end,
        period=_check_period(period),
        time_zone=_check_time_zone(time_zone),
        filter=_parse_filter(filter_json),
        locale=_check_locale(locale),
        name=name,
        csv_delimiter=csv_delimiter,
        has_format_durations=has_format_durations,
        duration_format=duration_format,
        has_summary_row=has_summary_row,
        exclude_empty_rows=exclude_empty_rows,
    )


def normalize_view_type(view: str) -> str:
    """The VIEW_TYPES member `view` names, or ConfigError suggesting the closest ones."""
    candidate = _VIEW_SEPARATORS.sub("_", view.strip()).upper()
    if candidate not in VIEW_TYPES:
        raise ConfigError(_unknown_view_message(view))
    return candidate


def _unknown_view_message(view: str) -> str:
    candidate = _VIEW_SEPARATORS.sub("_", view.strip()).upper()
    close = difflib.get_close_matches(candidate, VIEW_TYPES, n=3, cutoff=0.6)
    if close:
        return f"view {view!r} is not a reporting view type; did you mean: {', '.join(close)}?"
    return (
        f"view {view!r} is not a reporting view type; use one of the {len(VIEW_TYPES)} in "
        "genesys_export.reporting.VIEW_TYPES, e.g. AGENT_PERFORMANCE_SUMMARY_VIEW"
    )


def _check_period(period: str) -> str:
    parse_duration(period, name="--period")
    return period.strip().upper()


def _check_time_zone(time_zone: str) -> str:
    iana_zone(time_zone, option="--time-zone")
    return time_zone


def _check_locale(locale: str) -> str:
    if not _LOCALE.match(locale):
        raise ConfigError(f"--locale: {locale!r} is not a locale; use e.g. en-US, de-DE or fr-FR")
    return locale.replace("_", "-")


def _parse_filter(filter_json: str | None) -> dict[str, Any]:
    if filter_json is None or not filter_json.strip():
        return {}
    try:
        value = json.loads(filter_json)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--filter is not valid JSON ({exc.msg} at character {exc.pos}); "
            'use an object, e.g. {"queueIds": ["<queue id>"]}'
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"--filter must be a JSON object, not {type(value).__name__}; "
            'e.g. {"queueIds": ["<queue id>"]}'
        )
    return value


def check_required_filters(request: ReportRequest, metadata_listing: Mapping[str, Any]) -> None:
    """Raise ConfigError naming each filter the view requires that the request lacks.

    `metadata_listing` is the body of GET /api/v2/analytics/reporting/exports/metadata (all
    pages merged into `entities`). A filter counts as missing when absent, null or empty.
    A view the listing doesn't describe is not checked: the server still validates.
    """
    entity = next(
        (
            e
            for e in metadata_listing.get("entities") or []
            if e.get("viewType") == request.view_type
        ),
        None,
    )
    if entity is None:
        return
    required = entity.get("requiredFilters") or []
    missing = [name for name in required if request.filter.get(name) in (None, [], {}, "")]
    if missing:
        example = json.dumps({name: ["<id>"] for name in missing})
        raise ConfigError(
            f"view {request.view_type} requires filter(s) {', '.join(missing)}; "
            f"add them to --filter, e.g. {example}"
        )


def report_table_name(view_type: str) -> str:
    """`report_<view type in snake_case>`: AGENT_PERFORMANCE_SUMMARY_VIEW -> report_agent_..."""
    return "report_" + _VIEW_SEPARATORS.sub("_", view_type.strip()).lower()


def csv_options_for(
    request: ReportRequest,
    *,
    column_map: Mapping[str, str] | None = None,
    type_overrides: Mapping[str, str] | None = None,
    key_columns: tuple[str, ...] = (),
) -> CsvOptions:
    """How to read the CSV this request produces: its delimiter, time zone and locale."""
    return CsvOptions(
        delimiter=CSV_DELIMITERS[request.csv_delimiter],
        time_zone=request.time_zone,
        locale=request.locale,
        column_map=dict(column_map or {}),
        type_overrides=dict(type_overrides or {}),
        key_columns=key_columns,
    )
