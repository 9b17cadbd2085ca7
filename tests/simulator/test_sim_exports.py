"""Reporting exports: submit, list, metadata, download through the storage host, CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from genesys_export.simulator.exports import max_in_flight
from tests.simulator.conftest import EXPORTS

REQUEST = {
    "name": "Agent performance, May 1st",
    "timeZone": "America/New_York",
    "exportFormat": "CSV",
    "interval": "2024-05-01T04:00:00.000Z/2024-05-02T04:00:00.000Z",
    "period": "PT6H",
    "viewType": "AGENT_PERFORMANCE_SUMMARY_VIEW",
    "filter": {},
    "locale": "en-US",
}


def _submit(h: Any, **changes: Any) -> dict[str, Any]:
    response = h.api("POST", EXPORTS, json={**REQUEST, **changes})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _find(h: Any, export_id: str) -> dict[str, Any]:
    page = 1
    while True:
        listing = h.api("GET", EXPORTS, params={"pageNumber": page, "pageSize": 10}).json()
        for entity in listing["entities"]:
            if entity["id"] == export_id:
                return dict(entity)
        if page >= listing["pageCount"]:
            raise AssertionError(f"export {export_id} not listed")
        page += 1


def _download(h: Any, export: dict[str, Any]) -> httpx.Response:
    redirect = h.api("GET", export["downloadUrl"].removeprefix(h.running.api_url))
    assert redirect.status_code == 303
    location = redirect.headers["Location"]
    assert location.startswith(h.running.storage_url + "/exports/")
    return h.client.get(location)


def test_export_lifecycle_and_download(harness: Any, contract: Any) -> None:
    """SUBMITTED -> RUNNING -> COMPLETED, then the downloadUrl redirects to the file,
    which equals Dataset.report_csv; no token reaches the storage host."""
    with harness(export_latency=4.0) as h:
        submitted = _submit(h)
        contract.validate("reporting-exports.json", "ReportingExportJobResponse", submitted)
        assert submitted["status"] == "SUBMITTED" and "downloadUrl" not in submitted
        h.clock.advance(2.0)
        running = _find(h, submitted["id"])
        assert running["status"] == "RUNNING" and 0 < running["percentageComplete"] < 1
        h.clock.advance(2.0)
        done = _find(h, submitted["id"])
        contract.validate("reporting-exports.json", "ReportingExportJobResponse", done)
        assert done["status"] == "COMPLETED" and done["percentageComplete"] == 1.0
        assert done["downloadUrl"].startswith(h.running.api_url + "/api/v2/downloads/")
        file = _download(h, done)
        assert file.status_code == 200
        assert file.content == h.sim.dataset.report_csv(REQUEST)
        storage = [r for r in h.sim.requests if r.host == "storage"]
        assert storage and all("authorization" not in r.headers for r in storage)


def test_listing_is_paged_newest_first_with_older_exports(harness: Any, contract: Any) -> None:
    """The listing pre-holds other exports, pages with pageCount, newest first."""
    with harness() as h:
        mine = _submit(h)
        first = h.api("GET", EXPORTS).json()
        contract.validate("reporting-exports.json", "ReportingExportJobListing", first)
        assert first["entities"][0]["id"] == mine["id"]
        assert first["pageSize"] == 25 and first["total"] == 28 and first["pageCount"] == 2
        assert "nextUri" in first
        created = [e["createdDateTime"] for e in first["entities"]]
        assert created == sorted(created, reverse=True)
        second = h.api("GET", EXPORTS, params={"pageNumber": 2}).json()
        assert len(second["entities"]) == 3
        statuses = {e["status"] for e in first["entities"] + second["entities"]}
        assert {"COMPLETED", "FAILED", "RUNNING"} <= statuses
        bad = h.api("GET", EXPORTS, params={"pageSize": 1000})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid.query.param.value"


def test_metadata_lists_every_view(harness: Any, contract: Any) -> None:
    """One metadata entity per view type; some views require filters."""
    with harness() as h:
        body = h.api("GET", EXPORTS + "/metadata").json()
        contract.validate("reporting-exports.json", "ReportingExportMetadataJobListing", body)
        required = {e["viewType"]: e["requiredFilters"] for e in body["entities"]}
        assert len(required) == 137
        assert required["AGENT_PERFORMANCE_SUMMARY_VIEW"] == []
        assert required["QUEUE_PERFORMANCE_DETAIL_VIEW"] == ["queueIds"]
        assert required["AGENT_STATUS_DETAIL_VIEW"] == ["userIds"]


def test_export_request_validation(harness: Any, contract: Any) -> None:
    """Every required field, enum, time and filter rule is checked with a 400."""
    with harness() as h:
        cases = [
            ({"name": None}, "bad.request", "name is required"),
            ({"viewType": "QUEUE_PERFORMANCE_VIEW"}, "invalid.value", "QUEUE_PERFORMANCE_VIEW"),
            ({"exportFormat": "XLSX"}, "invalid.value", "XLSX"),
            ({"csvDelimiter": "TAB"}, "invalid.value", "TAB"),
            ({"durationFormat": "Minutes"}, "invalid.value", "Minutes"),
            ({"timeZone": "Europe/Atlantis"}, "bad.request", "Europe/Atlantis"),
            ({"interval": "2024-05-01"}, "bad.request", "interval"),
            ({"period": "daily"}, "bad.request", "daily"),
            ({"filter": {"queueId": ["x"]}}, "invalid.property", "queueId"),
            ({"viewType": "QUEUE_PERFORMANCE_DETAIL_VIEW"}, "bad.request", "queueIds"),
            (
                {"selectedColumns": [{"columnOrder": 0, "columnName": "NOPE"}]},
                "invalid.value",
                "NOPE",
            ),
        ]
        for changes, code, text in cases:
            body = {
                key: value for key, value in {**REQUEST, **changes}.items() if value is not None
            }
            response = h.api("POST", EXPORTS, json=body)
            assert response.status_code == 400, changes
            contract.validate("errors.json", "ErrorBody", response.json())
            assert response.json()["code"] == code, response.json()
            assert text in response.json()["message"]


def test_export_endpoints_that_do_not_exist_are_404(harness: Any) -> None:
    """There is no GET, PATCH or DELETE of an export by id (§2.1)."""
    with harness() as h:
        export_id = _submit(h)["id"]
        for method in ("GET", "PATCH", "DELETE"):
            response = h.api(method, f"{EXPORTS}/{export_id}")
            assert response.status_code == 404
            assert response.json()["code"] == "not.found"


def test_exports_past_the_orgs_in_flight_limit_fail_at_once(harness: Any, contract: Any) -> None:
    """With a limit of 2, a third export submitted while two are SUBMITTED or RUNNING is
    created FAILED with TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION (answer and listing say
    so); it takes no place itself, and once one finishes the next export is accepted. The
    seeded history (one of it frozen RUNNING) never counts."""
    with harness(max_exports_in_flight=2, export_latency=4.0) as h:
        first, second = _submit(h), _submit(h)
        h.clock.advance(2.0)  # both RUNNING now
        refused = _submit(h)
        contract.validate("reporting-exports.json", "ReportingExportJobResponse", refused)
        assert [e["status"] for e in (first, second)] == ["SUBMITTED", "SUBMITTED"]
        assert refused["status"] == "FAILED"
        assert refused["exportErrorMessagesType"] == "TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION"
        assert "downloadUrl" not in refused
        listed = _find(h, refused["id"])
        assert listed["status"] == "FAILED"
        assert listed["exportErrorMessagesType"] == "TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION"
        assert _find(h, first["id"])["status"] == "RUNNING"
        again = _submit(h)
        assert again["exportErrorMessagesType"] == "TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION"
        h.clock.advance(2.0)  # the first two are COMPLETED: room for two again
        assert _find(h, first["id"])["status"] == "COMPLETED"
        third, fourth = _submit(h), _submit(h)
        assert third["status"] == fourth["status"] == "SUBMITTED"
        assert _submit(h)["status"] == "FAILED"
        h.clock.advance(4.0)
        assert _find(h, third["id"])["status"] == "COMPLETED"
        assert _find(h, refused["id"])["status"] == "FAILED"  # a refusal stays refused
        assert max_in_flight(h.sim.state.exports.values(), h.sim.export_latency) == 2


def test_without_a_limit_every_export_is_accepted(harness: Any) -> None:
    with harness(max_exports_in_flight=None, export_latency=60.0) as h:
        statuses = {_submit(h)["status"] for _ in range(8)}
        assert statuses == {"SUBMITTED"}
        assert max_in_flight(h.sim.state.exports.values(), h.sim.export_latency) == 8


def test_slow_export_finishes_after_a_later_one(harness: Any) -> None:
    """slow_export:seconds=3,n=1: the first export takes 3 s longer than the second."""
    with harness(faults="slow_export:seconds=3,n=1", export_latency=1.0) as h:
        slow, quick = _submit(h), _submit(h)
        h.clock.advance(1.5)
        assert _find(h, quick["id"])["status"] == "COMPLETED"
        assert _find(h, slow["id"])["status"] == "RUNNING"
        h.clock.advance(3.0)
        assert _find(h, slow["id"])["status"] == "COMPLETED"
        assert h.sim.stats.faults_injected == {"slow_export": 1}


def test_storage_refuses_authorization_and_bad_signatures(harness: Any, contract: Any) -> None:
    """The pre-signed host answers 400 to any Authorization header (and records it) and
    403 to a tampered signature; issueRedirect=false returns the URL as UrlResponse."""
    with harness(export_latency=0.0) as h:
        export = _find(h, _submit(h)["id"])
        download_path = export["downloadUrl"].removeprefix(h.running.api_url)
        url = h.api("GET", download_path, params={"issueRedirect": "false"}).json()
        contract.validate("reporting-exports.json", "UrlResponse", url)
        with_token = h.client.get(
            url["url"], headers={"Authorization": f"Bearer {h.default_token}"}
        )
        assert with_token.status_code == 400
        assert b"InvalidArgument" in with_token.content
        refused = [r for r in h.sim.requests if r.host == "storage"][-1]
        assert refused.headers["authorization"] == f"Bearer {h.default_token}"
        tampered = h.client.get(url["url"][:-4] + "0000")
        assert tampered.status_code == 403
        assert h.client.get(url["url"]).status_code == 200
        missing = h.api("GET", "/api/v2/downloads/unknown")
        assert missing.status_code == 404
        assert h.client.get(h.running.storage_url + "/exports/x.csv").status_code == 403


def test_csv_options(harness: Any) -> None:
    """Semicolons, BOM, de-DE decimals, hh:mm:ss durations, a Total row, quoted names."""
    with harness(export_latency=0.0, report_rows=40) as h:
        export = _find(
            h,
            _submit(
                h,
                csvDelimiter="SEMICOLON",
                locale="de-DE",
                hasFormatDurations=True,
                hasSummaryRow=True,
                includeDurationFormatInHeader=True,
            )["id"],
        )
        raw = _download(h, export).content
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
        header, body, total = rows[0], rows[1:-1], rows[-1]
        assert header[:5] == [
            "Interval Start",
            "Interval End",
            "Agent Id",
            "Agent Name",
            "Media Type",
        ]
        assert "Total Talk (hh:mm:ss)" in header
        assert len(body) == 40 and total[0] == "Total"
        talk = header.index("Total Talk (hh:mm:ss)")
        assert all(row[talk].count(":") == 2 for row in body)
        percent = header.index("Answer %")
        assert any("," in row[percent] for row in body if row[percent])
        assert body[0][0].endswith("-04:00")  # local time of America/New_York in May
        names = {row[3] for row in body}
        assert {"Moreno, Alex", 'Mei "May" Chen', "Liam Murphy\nTeam Lead"} & names


def test_csv_defaults_are_comma_and_milliseconds(harness: Any) -> None:
    """Without options: comma-separated, integer milliseconds, no summary row."""
    with harness(report_rows=12) as h:
        raw = h.sim.dataset.report_csv({**REQUEST, "viewType": "QUEUE_PERFORMANCE_SUMMARY_VIEW"})
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0][2:4] == ["Queue Id", "Queue Name"]
        assert len(rows) == 13 and rows[-1][0] != "Total"
        talk = rows[0].index("Total Talk")
        assert all(row[talk].isdigit() for row in rows[1:])
        status = h.sim.dataset.report_csv({**REQUEST, "viewType": "AGENT_STATUS_SUMMARY_VIEW"})
        assert "On Queue" in status.decode("utf-8-sig").splitlines()[0]
