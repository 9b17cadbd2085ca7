"""The reporting-export faults: partial_export and ragged_csv."""

from __future__ import annotations

import csv
import io
from typing import Any

from genesys_export.simulator import FaultKind, FaultPlan, Simulator
from genesys_export.simulator.csvreport import ragged
from tests.simulator.conftest import EXPORTS

REQUEST = {
    "name": "Agent performance, May 1st",
    "timeZone": "UTC",
    "exportFormat": "CSV",
    "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
    "period": "PT6H",
    "viewType": "AGENT_PERFORMANCE_SUMMARY_VIEW",
    "filter": {},
    "locale": "en-US",
}


def _submit(h: Any, **changes: Any) -> str:
    response = h.api("POST", EXPORTS, json={**REQUEST, **changes})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _listed(h: Any) -> dict[str, dict[str, Any]]:
    listing = h.api("GET", EXPORTS, params={"pageSize": 100}).json()
    return {entity["id"]: entity for entity in listing["entities"]}


def _download(h: Any, export: dict[str, Any]) -> bytes:
    redirect = h.api("GET", export["downloadUrl"].removeprefix(h.running.api_url))
    assert redirect.status_code == 303, redirect.text
    response = h.client.get(redirect.headers["Location"])
    assert response.status_code == 200, response.text
    return bytes(response.content)


def _records(raw: bytes, delimiter: str = ",") -> list[list[str]]:
    text = raw.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_grammar_reads_and_writes_the_report_faults() -> None:
    """Both kinds parse with n (default 1) and describe() writes them back."""
    plan = FaultPlan.parse("partial_export;ragged_csv:n=3")
    assert [(rule.kind, rule.n) for rule in plan.rules] == [
        (FaultKind.PARTIAL_EXPORT, 1),
        (FaultKind.RAGGED_CSV, 3),
    ]
    assert plan.describe() == "partial_export:n=1;ragged_csv:n=3"
    assert FaultPlan.parse(plan.describe()) == plan


def test_partial_export_ends_with_partial_results_and_a_working_download(
    harness: Any, contract: Any
) -> None:
    """partial_export:n=1 ends the first export that does not fail (export_fail takes the
    first) COMPLETED_WITH_PARTIAL_RESULTS with a downloadUrl that serves the export's CSV;
    the next export completes normally."""
    with harness(faults="export_fail;partial_export:n=1", export_latency=0.0) as h:
        failed, partial, complete = (_submit(h) for _ in range(3))
        listed = _listed(h)

        contract.validate("reporting-exports.json", "ReportingExportJobResponse", listed[partial])
        assert listed[failed]["status"] == "FAILED"
        assert listed[partial]["status"] == "COMPLETED_WITH_PARTIAL_RESULTS"
        assert listed[partial]["percentageComplete"] == 1.0
        assert listed[complete]["status"] == "COMPLETED"
        assert _download(h, listed[partial]) == h.sim.dataset.report_csv(REQUEST)
        assert h.sim.stats.faults_injected == {"export_fail": 1, "partial_export": 1}


def test_ragged_csv_gives_the_middle_data_row_one_field_too_many(harness: Any) -> None:
    """ragged_csv:n=1 makes the first CSV built have exactly one data row, row k//2 of k
    (the Total row not counted), one field longer than the header; downloading it again
    gives the same bytes, and the next export's file is clean."""
    shape = {"csvDelimiter": "SEMICOLON", "hasSummaryRow": True}
    with harness(faults="ragged_csv:n=1", export_latency=0.0, report_rows=40) as h:
        first, second = _submit(h, **shape), _submit(h, **shape)
        listed = _listed(h)
        ragged = _download(h, listed[first])
        again = _download(h, listed[first])
        clean = _download(h, listed[second])

    header, *data = _records(ragged, ";")
    *rows, total = data
    assert len(rows) == 40 and total[0] == "Total"
    long_rows = [i for i, row in enumerate(data) if len(row) != len(header)]
    assert long_rows == [20]
    assert len(rows[20]) == len(header) + 1
    assert again == ragged
    assert clean == h.sim.dataset.report_csv({**REQUEST, **shape})
    assert h.sim.stats.faults_injected == {"ragged_csv": 1}


def test_ragged_csv_splits_the_name_where_an_unquoted_delimiter_would() -> None:
    """The long row is the clean row with its agent name cut at the first space."""
    sim = Simulator(seed=7, users=10, report_rows=12)
    clean = sim.dataset.report_csv(REQUEST)
    header, *clean_rows = _records(clean)
    _, *broken_rows = _records(ragged(clean, REQUEST))

    middle = len(clean_rows) // 2
    name = header.index("Agent Name")
    first, rest = clean_rows[middle][name].split(" ", 1)
    row = clean_rows[middle]
    expected = [*row[:name], first, rest, *row[name + 1 :]]
    assert broken_rows[middle] == expected
    assert broken_rows[:middle] + broken_rows[middle + 1 :] == (
        clean_rows[:middle] + clean_rows[middle + 1 :]
    )
