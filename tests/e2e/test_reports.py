"""Reporting (view) exports end to end: CSV shapes, time zones, downloads, faults, reruns.

Ground truth is the file the simulator serves for the export (`sim.dataset.report_csv`),
parsed here with the stdlib `csv` module, never with the code under test.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from genesys_export.errors import SinkError
from genesys_export.simulator import Simulator
from tests.e2e import (
    SINKS,
    cli_env,
    duckdb_dest,
    exporter_for,
    invoke,
    parquet_dest,
    read,
    simulator,
)

VIEW = "AGENT_PERFORMANCE_SUMMARY_VIEW"
TABLE = "report_agent_performance_summary_view"
INTERVAL = "2024-05-01/2024-05-03"
EXPORTS = "/api/v2/analytics/reporting/exports"
# The key of a row in AGENT_PERFORMANCE_SUMMARY_VIEW: one per (bucket, agent, media type).
ROW_KEY = ("interval_start", "agent_id", "media_type")
COUNTS = ("offer", "answer", "handle", "transfer")
TOTALS = ("total_talk", "total_hold", "total_acw")  # durations, integer milliseconds
AVERAGES = ("avg_handle", "avg_talk", "avg_hold", "avg_acw")  # durations, maybe fractional
FORMATTED: dict[str, Any] = {
    "csv_delimiter": "SEMICOLON",
    "has_format_durations": True,
    "duration_format": "Hhmmss",
    "has_summary_row": True,
    "locale": "de-DE",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI reads `.env` and writes defaults in the working directory: keep it in tmp.
    monkeypatch.chdir(tmp_path)


# -- ground truth ---------------------------------------------------------------------------


def created_exports(sim: Simulator) -> list[dict[str, Any]]:
    """The request fields of every export a client submitted (seeded ones never move)."""
    mine = [e for e in sim.state.exports.values() if e.frozen_status is None]
    return [e.fields for e in sorted(mine, key=lambda e: e.created)]


def the_export(sim: Simulator) -> dict[str, Any]:
    (fields,) = created_exports(sim)
    return fields


def csv_records(raw: bytes, delimiter: str = ",") -> tuple[list[str], list[list[str]], list[int]]:
    """(header, data records, 1-based physical line where each data record starts)."""
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=delimiter)
    header = next(reader)
    records, lines, end = [], [], reader.line_num
    for record in reader:
        records.append(record)
        lines.append(end + 1)
        end = reader.line_num
    return header, records, lines


def truth(sim: Simulator, fields: dict[str, Any]) -> list[dict[str, str]]:
    """The data rows of the CSV the simulator serves for an export, by header."""
    delimiter = ";" if fields.get("csvDelimiter") == "SEMICOLON" else ","
    header, records, _ = csv_records(sim.dataset.report_csv(fields), delimiter)
    rows = [dict(zip(header, record, strict=True)) for record in records]
    return [row for row in rows if row["Interval Start"] != "Total"]


def local_instant(text: str, zone: str) -> datetime:
    """A CSV time read as a wall-clock time in `zone` (its offset ignored), in UTC."""
    wall = datetime.fromisoformat(text).replace(tzinfo=None)
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def en_us_number(text: str) -> float | None:
    """`248,109.4` -> 248109.4; an empty field (an average of nothing) -> None."""
    return float(text.replace(",", "")) if text else None


def by_key(table: pa.Table) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = table.to_pylist()
    keyed = {tuple(row[k] for k in ROW_KEY): row for row in rows}
    assert len(keyed) == len(rows), "a (bucket, agent, media type) landed twice"
    return keyed


def tuples(table: pa.Table, *names: str) -> Counter[tuple[Any, ...]]:
    """How often each combination of the named columns' values occurs in `table`."""
    return Counter(tuple(row.values()) for row in table.select(list(names)).to_pylist())


def audit(directory: Path, event: str) -> list[dict[str, Any]]:
    lines = (directory / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == event]


def api_requests(sim: Simulator) -> list[Any]:
    return [r for r in sim.requests if r.host == "api" and r.path.startswith("/api/v2/")]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def report_cli(dest: str, *extra: str, view: str = VIEW) -> list[str]:
    args = ["export", "report", "--view", view, "--interval", INTERVAL, "--dest", dest]
    return [*args, *extra]


# -- one clean export per sink, shared by the tests that only read it -------------------------


class Landed:
    """A default export of VIEW over INTERVAL, run once per sink for this module."""

    def __init__(self, sim: Simulator, dest: str, directory: Path, summary: dict[str, Any]):
        self.sim, self.dest, self.directory, self.summary = sim, dest, directory, summary
        self.table = read(dest, TABLE)
        self.fields = the_export(sim)


@pytest.fixture(scope="module", params=SINKS)
def landed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Landed:
    dest_in: Callable[[Path], str] = request.param
    directory = tmp_path_factory.mktemp("landed")
    with simulator() as (sim, running):
        result = exporter_for(running, directory).export_report(
            VIEW, INTERVAL, dest=dest_in(directory)
        )
    return Landed(sim, dest_in(directory), directory, result.summary)


def test_default_export_lands_every_csv_row_typed(landed: Landed) -> None:
    """A default export lands one row per data row of the served CSV, with the CSV's
    values typed (UTC timestamps, int64 counts and millisecond totals) and the run columns
    `_run_id`, `_extracted_at`, `_request_id` and `_partial` = false."""
    table, expected = landed.table, truth(landed.sim, landed.fields)

    assert table.num_rows == len(expected) > 0
    assert landed.summary["rows"] == {TABLE: len(expected)}
    schema = table.schema
    for name in ("interval_start", "interval_end", "_interval_start"):
        assert schema.field(name).type == pa.timestamp("ms", tz="UTC")
    for name in (*COUNTS, *TOTALS):
        assert schema.field(name).type == pa.int64(), name
    assert schema.field("agent_id").type == pa.string()
    assert schema.field("answer_pct").type == pa.float64()
    rows = by_key(table)
    for csv_row in expected:
        key = (
            datetime.fromisoformat(csv_row["Interval Start"]),
            csv_row["Agent Id"],
            csv_row["Media Type"],
        )
        row = rows[key]
        assert row["interval_end"] == datetime.fromisoformat(csv_row["Interval End"])
        assert row["agent_name"] == csv_row["Agent Name"]
        assert row["offer"] == int(csv_row["Offer"])
        assert row["total_talk"] == int(csv_row["Total Talk"])
        assert row["avg_handle"] == en_us_number(csv_row["Avg Handle"])
    (submitted,) = audit(landed.directory, "job.submitted")
    assert set(table.column("_run_id").to_pylist()) == {landed.summary["run_id"]}
    assert set(table.column("_request_id").to_pylist()) == {submitted["request_id"]}
    assert set(table.column("_partial").to_pylist()) == {False}
    assert table.column("_extracted_at").null_count == 0


def test_download_token_goes_to_the_api_host_only(landed: Landed) -> None:
    """The Downloads API call on the API host carries the bearer token; the pre-signed
    storage URL it redirects to is fetched without any Authorization header."""
    requests = landed.sim.requests
    storage = [r for r in requests if r.host == "storage"]
    downloads = [r for r in requests if r.path.startswith("/api/v2/downloads/")]

    assert [r.status for r in storage] == [200]
    assert all("authorization" not in r.headers for r in storage)
    assert [r.status for r in downloads] == [303]
    assert downloads[0].host == "api"
    assert downloads[0].headers["authorization"].startswith("Bearer ")
    (submit,) = [r for r in requests if r.method == "POST" and r.path == EXPORTS]
    assert downloads[0].headers["authorization"] == submit.headers["authorization"]


def test_exports_of_others_are_never_touched(landed: Landed) -> None:
    """The run changes nothing but its own export: one POST of an export, no DELETE or
    PATCH, no request naming an export by id, and only its own file downloaded."""
    requests = landed.sim.requests
    changes = [(r.method, r.path) for r in requests if r.method != "GET"]
    download_id = _download_id(landed)

    assert changes == [("POST", "/oauth/token"), ("POST", EXPORTS)]
    gets = {r.path for r in requests if r.method == "GET" and r.host == "api"}
    assert gets == {
        EXPORTS,
        f"{EXPORTS}/metadata",
        f"/api/v2/downloads/{download_id}",
    }
    assert {r.path for r in requests if r.host == "storage"} == {f"/exports/{download_id}.csv"}


def _download_id(landed: Landed) -> str:
    (mine,) = [e for e in landed.sim.state.exports.values() if e.frozen_status is None]
    return mine.download_id


def test_summary_counts_the_api_requests_made(landed: Landed) -> None:
    """The run summary's `requests` is the number of API requests the run made."""
    assert landed.summary["requests"] == len(api_requests(landed.sim))


# -- CSV shapes and time zones ---------------------------------------------------------------


def test_formatted_csv_lands_the_same_values_as_the_default(tmp_path: Path) -> None:
    """Semicolons, hh:mm:ss durations, a summary row and de-DE numbers land the same rows
    and values as the default export of the same data (durations to the second), with
    the same column names (the BOM is not part of the first), and the summary row removed
    and counted in the audit."""
    plain_dest, formatted_dest = duckdb_dest(tmp_path, "plain"), duckdb_dest(tmp_path, "fmt")
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_report(VIEW, INTERVAL, dest=plain_dest)
        exporter.export_report(VIEW, INTERVAL, dest=formatted_dest, **FORMATTED)
        plain_fields, formatted_fields = created_exports(sim)
        raw = sim.dataset.report_csv(formatted_fields)
    plain, formatted = read(plain_dest, TABLE), read(formatted_dest, TABLE)

    assert raw.startswith(b"\xef\xbb\xbf") and csv_records(raw, ";")[1][-1][0] == "Total"
    assert formatted.column_names[0] == "interval_start"
    assert set(formatted.column_names) == set(plain.column_names)
    assert formatted.num_rows == plain.num_rows == len(truth(sim, plain_fields))
    plain_rows, formatted_rows = by_key(plain), by_key(formatted)
    assert plain_rows.keys() == formatted_rows.keys()
    for key, want in plain_rows.items():
        got = formatted_rows[key]
        for name in ("interval_end", "agent_name", *COUNTS, "answer_pct"):
            assert got[name] == want[name], (key, name)
        for name in (*TOTALS, *AVERAGES):
            if want[name] is None:
                assert got[name] is None, (key, name)
            else:  # hh:mm:ss holds whole seconds: at most half a second off
                assert abs(got[name] - want[name]) <= 500, (key, name)
    (_, finished) = audit(tmp_path, "validation.finished")
    assert finished["summary_rows_removed"] == 1
    assert finished["rows"] == formatted.num_rows


def test_local_report_times_land_as_utc_instants(tmp_path: Path) -> None:
    """With time zone Europe/London the CSV's bucket times are London wall-clock times;
    the table holds their UTC instants, including the 23-hour day of the spring change."""
    dest = duckdb_dest(tmp_path)
    interval = "2024-03-30T00:00:00Z/2024-03-31T23:00:00Z"  # two London days
    with simulator() as (sim, running):
        exporter_for(running, tmp_path).export_report(
            VIEW, interval, time_zone="Europe/London", dest=dest
        )
        expected = truth(sim, the_export(sim))
    table = read(dest, TABLE)

    bounds = ("Interval Start", "Interval End")
    buckets = {tuple(local_instant(row[b], "Europe/London") for b in bounds) for row in expected}
    landed = set(tuples(table, "interval_start", "interval_end"))
    assert landed == buckets
    london = ZoneInfo("Europe/London")
    spring_day = (
        datetime(2024, 3, 31, tzinfo=london).astimezone(UTC),
        datetime(2024, 4, 1, tzinfo=london).astimezone(UTC),
    )
    assert spring_day in landed
    assert spring_day[1] == datetime(2024, 3, 31, 23, tzinfo=UTC)
    assert table.num_rows == len(expected)


def test_column_map_and_type_overrides_shape_the_table(tmp_path: Path) -> None:
    """`column_map` renames columns (by header or snake_case name) and `type_overrides`
    retypes them (by final name) in the landed table; values stay those of the CSV."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        exporter_for(running, tmp_path).export_report(
            VIEW,
            INTERVAL,
            dest=dest,
            column_map={"Agent Name": "agent", "media_type": "channel"},
            type_overrides={"transfer": "float64", "offer": "string"},
        )
        expected = truth(sim, the_export(sim))
    table = read(dest, TABLE)

    assert "agent_name" not in table.column_names and "media_type" not in table.column_names
    assert table.schema.field("agent").type == pa.string()
    assert table.schema.field("channel").type == pa.string()
    assert table.schema.field("transfer").type == pa.float64()
    assert table.schema.field("offer").type == pa.string()
    assert tuples(table, "agent", "channel", "offer", "transfer") == Counter(
        (row["Agent Name"], row["Media Type"], row["Offer"], float(row["Transfer"]))
        for row in expected
    )


# -- downloads and faults --------------------------------------------------------------------


def test_a_dropped_download_is_fetched_again_and_lands_whole(tmp_path: Path) -> None:
    """download_drop:n=1 cuts the first download short; it is fetched again, the table
    holds every row of the file, and the audit's sha256 is that of the served file."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults="download_drop:n=1") as (sim, running):
        result = exporter_for(running, tmp_path).export_report(VIEW, INTERVAL, dest=dest)
        fields = the_export(sim)
        served = sim.dataset.report_csv(fields)
        expected = truth(sim, fields)
    table = read(dest, TABLE)

    assert sim.stats.faults_injected == {"download_drop": 1}
    assert [r.status for r in sim.requests if r.host == "storage"] == [200, 200]
    assert table.num_rows == len(expected)
    assert tuples(table, "agent_id", "total_talk") == Counter(
        (row["Agent Id"], int(row["Total Talk"])) for row in expected
    )
    (download,) = audit(tmp_path, "download.finished")
    assert download["sha256"] == hashlib.sha256(served).hexdigest()
    assert download["bytes"] == len(served)
    assert result.summary["retries"] >= 1


def test_a_failed_export_exits_4_and_writes_nothing(tmp_path: Path) -> None:
    """export_fail: the CLI exits 4 with one line naming FAILED_GETTING_DATA_FROM_SERVICE,
    no traceback, and the destination gets no table."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults="export_fail:n=1") as (sim, running):
        result = invoke(report_cli(dest), cli_env(running))

    assert result.exit_code == 4
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "FAILED_GETTING_DATA_FROM_SERVICE" in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert sim.stats.downloads == 0
    with pytest.raises(SinkError, match="has no table"):
        read(dest, TABLE)


def test_a_ragged_csv_exits_4_naming_the_line_and_keeps_the_table(tmp_path: Path) -> None:
    """ragged_csv: a file with a row one field too long (past the first parsed block)
    exits 4 with that row's line number, and the rows an earlier run landed for the same
    request are unchanged: the replacement is rolled back."""
    dest = duckdb_dest(tmp_path)
    # ~3 MB of CSV: the malformed middle row lies beyond the first 1 MiB block.
    big = {"report_rows": 18_000}
    period = "PT10M"
    with simulator(**big) as (_, running):
        exporter_for(running, tmp_path).export_report(VIEW, INTERVAL, period=period, dest=dest)
    before = read(dest, TABLE)
    with simulator(faults="ragged_csv:n=1", **big) as (sim, running):
        result = invoke(report_cli(dest, "--period", period), cli_env(running))
        _, records, lines = csv_records(sim.dataset.report_csv(the_export(sim)))

    assert result.exit_code == 4
    ragged_line = lines[len(records) // 2]
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and f"line {ragged_line} " in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sim.stats.faults_injected == {"ragged_csv": 1}
    after = read(dest, TABLE)
    assert before.num_rows == len(records)
    assert after.equals(before)


def test_partial_results_land_flagged(tmp_path: Path) -> None:
    """partial_export: an export that ends COMPLETED_WITH_PARTIAL_RESULTS lands, every row
    flagged `_partial`, and the summary warns about it."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults="partial_export:n=1") as (sim, running):
        result = exporter_for(running, tmp_path).export_report(VIEW, INTERVAL, dest=dest)
        expected = truth(sim, the_export(sim))
    table = read(dest, TABLE)

    assert sim.stats.faults_injected == {"partial_export": 1}
    assert table.num_rows == len(expected) > 0
    assert set(table.column("_partial").to_pylist()) == {True}
    assert any("partial results" in warning for warning in result.summary["warnings"])
    states = [e["state"] for e in audit(tmp_path, "job.state")]
    assert states[-1] == "COMPLETED_WITH_PARTIAL_RESULTS"


# -- reruns ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_rerun_replaces_its_rows_and_another_interval_adds(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """Running the same request again replaces its rows (same count, all from the second
    run); a request for another interval adds its own rows beside them."""
    dest = dest_in(tmp_path)
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_report(VIEW, INTERVAL, dest=dest)
        first = read(dest, TABLE)
        second_run = exporter.export_report(VIEW, INTERVAL, dest=dest).summary["run_id"]
        rerun = read(dest, TABLE)
        third_run = exporter.export_report(VIEW, "2024-05-03/2024-05-04", dest=dest)
        created = created_exports(sim)
        expected = [len(truth(sim, fields)) for fields in created]
    final = read(dest, TABLE)

    assert first.num_rows == rerun.num_rows == expected[0]
    assert set(rerun.column("_run_id").to_pylist()) == {second_run}
    assert final.num_rows == expected[0] + expected[2]
    runs = Counter(final.column("_run_id").to_pylist())
    assert runs == {second_run: expected[0], third_run.summary["run_id"]: expected[2]}


@pytest.mark.parametrize("dest_in", SINKS)
def test_an_overlapping_interval_replaces_the_shared_periods(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """05-01..05-03 then 05-02..05-04 of the same view: the shared day lands once, from
    the later export, and the first export's other day stays."""
    dest = dest_in(tmp_path)
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path)
        first = exporter.export_report(VIEW, INTERVAL, dest=dest).summary["run_id"]
        second = exporter.export_report(VIEW, "2024-05-02/2024-05-04", dest=dest).summary["run_id"]
    table = read(dest, TABLE)
    keys = list(zip(*(table.column(c).to_pylist() for c in ROW_KEY), strict=True))
    assert len(keys) == len(set(keys)) > 0
    by_day: dict[Any, set[str]] = {}
    for start, run in zip(
        table.column("interval_start").to_pylist(), table.column("_run_id").to_pylist(), strict=True
    ):
        by_day.setdefault(start.date().isoformat(), set()).add(run)
    assert by_day["2024-05-01"] == {first}
    assert by_day["2024-05-02"] == by_day["2024-05-03"] == {second}


def test_two_duration_formats_share_one_parquet_table(tmp_path: Path) -> None:
    """A view exported with millisecond durations, then with hh:mm:ss durations, into the
    same Parquet destination holds both requests' rows (as it does in DuckDB)."""
    dest = parquet_dest(tmp_path)
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_report(VIEW, INTERVAL, dest=dest)
        exporter.export_report(VIEW, INTERVAL, dest=dest, **FORMATTED)
        counts = [len(truth(sim, fields)) for fields in created_exports(sim)]

    assert read(dest, TABLE).num_rows == sum(counts)


# -- refusals ------------------------------------------------------------------------------


def test_a_misspelt_view_exits_2_suggesting_the_right_one(tmp_path: Path) -> None:
    """An unknown view exits 2 with a "did you mean" naming the closest view, before any
    request is made."""
    with simulator() as (sim, running):
        result = invoke(
            report_cli(duckdb_dest(tmp_path), view="AGENT_PERFORMANCE_SUMARY_VIEW"),
            cli_env(running),
        )

    assert result.exit_code == 2
    (error,) = error_lines(result.stderr)
    assert "did you mean" in error and "AGENT_PERFORMANCE_SUMMARY_VIEW" in error
    assert sim.requests == []


def test_a_missing_required_filter_exits_2_before_submitting(tmp_path: Path) -> None:
    """QUEUE_PERFORMANCE_DETAIL_VIEW requires queueIds (simulator metadata): without it the
    export exits 2 naming the filter, and no export is POSTed."""
    with simulator() as (sim, running):
        result = invoke(
            report_cli(duckdb_dest(tmp_path), view="QUEUE_PERFORMANCE_DETAIL_VIEW"),
            cli_env(running),
        )

    assert result.exit_code == 2
    (error,) = error_lines(result.stderr)
    assert "queueIds" in error and "--filter" in error
    assert [r.path for r in api_requests(sim)] == [f"{EXPORTS}/metadata"]
    assert sim.stats.exports_submitted == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [("--time-zone", "Mars/Olympus_Mons"), ("--period", "one day")],
)
def test_a_bad_time_zone_or_period_exits_2_naming_the_option(
    tmp_path: Path, option: str, value: str
) -> None:
    """A time zone that is not IANA, or a period that is not ISO-8601, exits 2 with a line
    naming the option, and nothing is asked of the API."""
    with simulator() as (sim, running):
        result = invoke(report_cli(duckdb_dest(tmp_path), option, value), cli_env(running))

    assert result.exit_code == 2
    (error,) = error_lines(result.stderr)
    assert option in error
    assert sim.requests == []


# -- the org's export settings win over the request -----------------------------------------

ORG_SETTINGS: dict[str, Any] = {
    "csvDelimiter": "SEMICOLON",
    "hasSummaryRow": True,
    "hasFormatDurations": True,
}


def landed_with_org_settings(
    tmp_path: Path, settings: dict[str, Any], *, shown: bool
) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """(plain export, export under the org's settings, its summary): same seed, same data."""
    plain_dest, org_dest = duckdb_dest(tmp_path, "plain"), duckdb_dest(tmp_path, "org")
    with simulator() as (_, running):
        exporter_for(running, tmp_path).export_report(VIEW, INTERVAL, dest=plain_dest)
    with simulator(org_export_settings=settings, org_settings_shown=shown) as (sim, running):
        summary = exporter_for(running, tmp_path).export_report(VIEW, INTERVAL, dest=org_dest)
        assert the_export(sim) | settings == the_export(sim)  # the file was written so
    return read(plain_dest, TABLE), read(org_dest, TABLE), summary.summary


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"csvDelimiter": "SEMICOLON"}, id="delimiter"),
        pytest.param({"hasSummaryRow": True}, id="summary-row"),
        pytest.param({"hasFormatDurations": True}, id="formatted-durations"),
        pytest.param(ORG_SETTINGS, id="all"),
    ],
)
def test_a_file_shaped_by_the_orgs_settings_lands_like_the_requested_one(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    """The request asks for commas, no summary row and milliseconds; the org's settings win
    and the export record says so. The file is read as the record says: same rows and
    values as a plain export (formatted durations to the second), no warning."""
    plain, shaped, summary = landed_with_org_settings(tmp_path, settings, shown=True)
    assert summary["warnings"] == []
    plain_rows, shaped_rows = by_key(plain), by_key(shaped)
    assert shaped_rows.keys() == plain_rows.keys() and len(shaped_rows) > 0
    for key, want in plain_rows.items():
        for name in ("agent_name", *COUNTS):
            assert shaped_rows[key][name] == want[name], (key, name)
        for name in TOTALS:
            assert abs((shaped_rows[key][name] or 0) - (want[name] or 0)) <= 500, (key, name)
    (written,) = audit(tmp_path, "table.written")[-1:]
    shape = written["csv_shape"]
    assert {k: shape.get(k) for k in settings} == settings  # what the file is, not the request


def test_when_record_and_file_disagree_the_file_wins_with_a_warning(tmp_path: Path) -> None:
    """The record repeats the request (COMMA) while the file uses semicolons: the file is
    read as it is, the rows land, and the run warns about the disagreement."""
    plain, shaped, summary = landed_with_org_settings(tmp_path, ORG_SETTINGS, shown=False)
    assert by_key(shaped).keys() == by_key(plain).keys()
    (warning,) = summary["warnings"]
    assert "says delimiter ','" in warning and "uses ';'" in warning
    (written,) = audit(tmp_path, "table.written")[-1:]
    assert written["csv_shape"]["csvDelimiter"] == "SEMICOLON"
