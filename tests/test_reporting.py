import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from genesys_export.errors import ConfigError
from genesys_export.reporting import (
    EXPORT_ERROR_TYPES,
    VIEW_TYPES,
    ReportRequest,
    build_report_request,
    check_required_filters,
    csv_options_for,
    normalize_view_type,
    report_table_name,
)

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "genesys-api"
REQUIRED = [
    "name",
    "timeZone",
    "exportFormat",
    "interval",
    "period",
    "viewType",
    "filter",
    "locale",
]

# The metadata example of the contract (examples/reporting-exports.metadata.listing.json),
# trimmed, so the required-filter tests run without the contract folder.
METADATA = {
    "entities": [
        {
            "viewType": "QUEUE_PERFORMANCE_DETAIL_VIEW",
            "requiredFilters": ["queueIds"],
            "supportedFilters": ["mediaTypes", "queueIds", "directions"],
        },
        {"viewType": "AGENT_STATUS_SUMMARY_VIEW", "requiredFilters": []},
    ]
}


def contract(relative: str) -> Any:
    path = CONTRACT / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent (no ../shared beside this checkout)")
    return json.loads(path.read_text())


def request(**overrides: Any) -> ReportRequest:
    args: dict[str, Any] = {
        "view": "QUEUE_PERFORMANCE_DETAIL_VIEW",
        "interval": "2024-05-01/2024-05-02",
        "period": "PT30M",
        "time_zone": "Europe/London",
        "filter_json": '{"queueIds": ["q1"]}',
        "locale": "en-US",
    }
    args.update(overrides)
    return build_report_request(**args)


def test_view_types_are_the_137_of_the_contract() -> None:
    """The embedded view types are the contract's 137, in its order."""
    assert len(VIEW_TYPES) == 137 == len(set(VIEW_TYPES))
    assert len(EXPORT_ERROR_TYPES) == 20
    definitions = contract("schemas/reporting-exports.json")["definitions"]
    assert (
        list(VIEW_TYPES)
        == definitions["ReportingExportJobRequest"]["properties"]["viewType"]["enum"]
    )
    errors = definitions["ReportingExportJobResponse"]["properties"]["exportErrorMessagesType"]
    assert list(EXPORT_ERROR_TYPES) == errors["enum"]


def test_body_has_every_required_field_and_nothing_invented() -> None:
    """The body carries all required fields and validates with unknown properties forbidden."""
    body = request().body()
    assert set(REQUIRED) <= set(body)
    assert body["exportFormat"] == "CSV"
    assert body["interval"] == "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"
    schema = contract("schemas/reporting-exports.json")
    definitions = copy.deepcopy(schema["definitions"])
    strict = definitions["ReportingExportJobRequest"] | {"additionalProperties": False}
    assert set(strict["required"]) == set(REQUIRED)
    jsonschema.Draft7Validator({**strict, "definitions": definitions}).validate(body)


def test_the_contract_example_request_is_reproduced() -> None:
    """Built from the example's inputs, the body equals the contract's example request."""
    example = contract("examples/reporting-export.request.json")
    built = request(
        interval=example["interval"],
        time_zone=example["timeZone"],
        filter_json=json.dumps(example["filter"]),
        name=example["name"],
        has_summary_row=True,
    )
    assert built.body() == example


def test_shape_options_are_pinned() -> None:
    """Options that change the CSV's columns are sent explicitly, so defaults can't drift."""
    body = request().body()
    assert body["csvDelimiter"] == "COMMA"
    assert body["hasFormatDurations"] is False
    assert body["durationFormat"] == "Milliseconds"
    assert body["hasSummaryRow"] is False
    for name in ("hasSplitFilters", "hasSplitByMedia", "hasCustomParticipantAttributes"):
        assert body[name] is False
    assert body["includeDurationFormatInHeader"] is False


def test_request_id_ignores_the_name_but_not_the_data() -> None:
    """Same data asked for -> same id, whatever the name; another filter -> another id."""
    first = request(name="first")
    assert first.request_id == request(name="second").request_id
    assert len(first.request_id) == 64
    assert first.request_id != request(filter_json='{"queueIds": ["q2"]}').request_id
    assert first.request_id != request(period="P1D").request_id


def test_unknown_view_suggests_close_matches() -> None:
    """A misspelt view names the closest view types."""
    with pytest.raises(ConfigError) as err:
        request(view="AGENT_PERFORMANCE_SUMARY_VIEW")
    message = str(err.value)
    assert message.startswith(
        "view 'AGENT_PERFORMANCE_SUMARY_VIEW' is not a reporting view type; did you mean: "
    )
    assert "AGENT_PERFORMANCE_SUMMARY_VIEW" in message and message.endswith("?")


def test_a_view_far_from_any_points_at_the_list() -> None:
    with pytest.raises(ConfigError, match="VIEW_TYPES"):
        normalize_view_type("zzz")


@pytest.mark.parametrize(
    "spelling",
    [
        "agent_performance_summary_view",
        "Agent-Performance-Summary-View",
        " AGENT PERFORMANCE SUMMARY VIEW ",
    ],
)
def test_view_accepts_lower_snake_and_dashed_spellings(spelling: str) -> None:
    assert request(view=spelling).view_type == "AGENT_PERFORMANCE_SUMMARY_VIEW"


def test_interval_dates_mean_midnight_utc_and_offsets_convert() -> None:
    built = request(interval="2024-05-01T02:00:00+02:00/2024-05-03")
    assert built.start == datetime(2024, 5, 1, tzinfo=UTC)
    assert built.end == datetime(2024, 5, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("interval", "2024-05-02/2024-05-01", "--interval"),
        ("interval", "2024-05-01", "--interval"),
        ("period", "30 minutes", "--period"),
        ("period", "PT0M", "--period"),
        ("time_zone", "Mars/Olympus", "--time-zone"),
        ("time_zone", "../etc", "--time-zone"),
        ("filter_json", "{queueIds:", "--filter"),
        ("filter_json", '["q1"]', "--filter"),
        ("locale", "english please", "--locale"),
    ],
)
def test_bad_input_names_the_option(field: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        request(**{field: value})


@pytest.mark.parametrize("period", ["P1D", "PT30M", "P1DT12H", "pt15m"])
def test_iso_durations_are_accepted_as_periods(period: str) -> None:
    assert request(period=period).period == period.upper()


def test_no_filter_is_an_empty_view_filter() -> None:
    assert request(filter_json=None).body()["filter"] == {}


def test_missing_required_filters_are_named() -> None:
    """The metadata's requiredFilters for the view must be present and non-empty."""
    for filter_json in ("{}", '{"queueIds": []}', '{"mediaTypes": ["voice"]}'):
        with pytest.raises(ConfigError, match="requires filter\\(s\\) queueIds"):
            check_required_filters(request(filter_json=filter_json), METADATA)
    check_required_filters(request(), METADATA)


def test_views_without_required_filters_or_metadata_pass() -> None:
    check_required_filters(request(view="AGENT_STATUS_SUMMARY_VIEW", filter_json="{}"), METADATA)
    check_required_filters(request(view="API_USAGE_VIEW", filter_json="{}"), METADATA)


def test_required_filters_against_the_contract_example() -> None:
    listing = contract("examples/reporting-exports.metadata.listing.json")
    with pytest.raises(ConfigError, match="queueIds"):
        check_required_filters(request(filter_json='{"mediaTypes": ["voice"]}'), listing)


def test_table_name_is_the_view_in_snake_case() -> None:
    assert (
        report_table_name("AGENT_PERFORMANCE_SUMMARY_VIEW")
        == "report_agent_performance_summary_view"
    )


def test_csv_options_follow_the_request() -> None:
    built = request(csv_delimiter="SEMICOLON", locale="de-DE", time_zone="Europe/Berlin")
    options = csv_options_for(built, key_columns=("interval_start",))
    assert (options.delimiter, options.locale, options.time_zone) == (";", "de-DE", "Europe/Berlin")
    assert built.body()["csvDelimiter"] == "SEMICOLON"


def test_constructed_requests_are_checked_too() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="not a reporting view type"):
        ReportRequest(view_type="NOPE", start=start, end=start, period="P1D", time_zone="UTC")
    with pytest.raises(ConfigError, match="after the start"):
        ReportRequest(
            view_type="API_USAGE_VIEW", start=start, end=start, period="P1D", time_zone="UTC"
        )


def test_formatted_durations_pin_a_matching_duration_format() -> None:
    """hasFormatDurations alone asks for hh:mm:ss; an explicit durationFormat wins."""
    assert request(has_format_durations=True).body()["durationFormat"] == "Hhmmss"
    assert request(duration_format="Hms").body()["durationFormat"] == "Hms"
    with pytest.raises(ConfigError, match="duration format"):
        request(duration_format="Minutes")
