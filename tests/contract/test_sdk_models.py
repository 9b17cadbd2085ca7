"""The official SDK as an independent witness: what the simulator answers and what the client
sends must fit the models of `purecloudplatformclientv2` (269.0.0, the contract's version).

Each response the product reads is fetched from the simulator over loopback and
deserialized into the SDK's model: a member the model lacks (a simulator invention) or an
enum value its setter refuses fails the test. Each request body the client sent (recorded
by the simulator during real exports) is read into the SDK's request model the same way.
Skipped where the SDK is not installed (`make test` installs it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import duckdb_dest, exporter_for, simulator

sdk = pytest.importorskip("PureCloudPlatformClientV2")

JOBS = "/api/v2/analytics/conversations/details/jobs"
USER_JOBS = "/api/v2/analytics/users/details/jobs"
EXPORTS = "/api/v2/analytics/reporting/exports"
DAY = {"interval": "2024-05-08T00:00:00.000Z/2024-05-09T00:00:00.000Z"}


def unknown_members(data: Any, model: str, path: str = "") -> Iterator[str]:
    """Members of `data` that the SDK's `model` (a swagger type string) does not declare."""
    if data is None or model in ("str", "int", "float", "bool", "datetime", "date", "object"):
        return
    if match := re.fullmatch(r"list\[(.*)\]", model):
        for i, item in enumerate(data):
            yield from unknown_members(item, match.group(1), f"{path}[{i}]")
        return
    if match := re.fullmatch(r"dict\(([^,]*), (.*)\)", model):
        for key, value in data.items():
            yield from unknown_members(value, match.group(2), f"{path}.{key}")
        return
    cls = getattr(sdk.models, model)()
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for key, value in data.items():
        if key not in by_json:
            yield f"{path}.{key}" if path else key
        else:
            yield from unknown_members(value, cls.swagger_types[by_json[key]], f"{path}.{key}")


def fits(data: Any, model: str) -> Any:
    """`data` read into the SDK's `model`; every member known, every enum value allowed."""
    assert list(unknown_members(data, model)) == [], model
    client = sdk.api_client.ApiClient()
    return client._ApiClient__deserialize(data, model)  # the SDK's own JSON -> model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, httpx.Client]]:
    """A simulator after a real run of every export kind, and a client holding a token."""
    tmp = tmp_path_factory.mktemp("sdk")
    with simulator() as (sim, running):
        exporter = exporter_for(running, tmp)
        dest = duckdb_dest(tmp)
        exporter.export_conversations("2024-05-08/2024-05-09", dest=dest)
        exporter.export_users("2024-05-08/2024-05-09", dest=dest)
        exporter.export_aggregates(
            "2024-05-08/2024-05-09",
            granularity="PT1H",
            group_by=["queueId", "mediaType"],
            metrics=["nOffered", "tHandle"],
            dest=dest,
        )
        exporter.export_report("AGENT_PERFORMANCE_SUMMARY_VIEW", "2024-05-08/2024-05-09", dest=dest)
        token = httpx.post(
            running.login_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("sim-client", "sim-secret"),
        ).json()["access_token"]
        with httpx.Client(
            base_url=running.api_url, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            yield sim, running, client


def sent(sim: Any, method: str, path: str) -> list[Any]:
    return [json.loads(r.body) for r in sim.requests if r.method == method and r.path == path]


@pytest.mark.parametrize(
    ("path", "model"),
    [
        (JOBS + "/availability", "DataAvailabilityResponse"),
        (USER_JOBS + "/availability", "DataAvailabilityResponse"),
        (EXPORTS, "ReportingExportJobListing"),
        (EXPORTS + "/metadata", "ReportingExportMetadataJobListing"),
        ("/api/v2/organizations/limits/namespaces/analytics", "LimitsEntityListing"),
        ("/api/v2/routing/queues", "QueueEntityListing"),
        ("/api/v2/users?state=any", "UserEntityListing"),
        ("/api/v2/routing/wrapupcodes", "WrapupCodeEntityListing"),
        ("/api/v2/routing/skills", "SkillEntityListing"),
        ("/api/v2/routing/languages", "LanguageEntityListing"),
        ("/api/v2/authorization/divisions", "AuthzDivisionEntityListing"),
        ("/api/v2/presence/definitions", "OrganizationPresenceDefinitionEntityListing"),
        ("/api/v2/flows?deleted=true", "FlowEntityListing"),
        ("/api/v2/groups", "GroupEntityListing"),
    ],
)
def test_listings_fit_the_sdk(served: Any, path: str, model: str) -> None:
    _, _, client = served
    answer = client.get(path)
    assert answer.status_code == 200
    fits(answer.json(), model)


@pytest.mark.parametrize(("base", "results"), [
    (JOBS, "AnalyticsConversationAsyncQueryResponse"),
    (USER_JOBS, "AnalyticsUserDetailsAsyncQueryResponse"),
])  # fmt: skip
def test_a_job_from_submit_to_results_fits_the_sdk(served: Any, base: str, results: str) -> None:
    _, _, client = served
    submitted = client.post(base, json=DAY)
    assert submitted.status_code == 202
    job_id = fits(submitted.json(), "AsyncQueryResponse").job_id
    for _ in range(200):
        status = client.get(f"{base}/{job_id}").json()
        if fits(status, "AsyncQueryStatus").state == "FULFILLED":
            break
    page = client.get(f"{base}/{job_id}/results", params={"pageSize": 20}).json()
    assert page.get("conversations") or page.get("userDetails")
    fits(page, results)


def test_an_aggregates_answer_fits_the_sdk(served: Any) -> None:
    _, _, client = served
    body = DAY | {"granularity": "PT1H", "groupBy": ["queueId"], "metrics": ["nOffered"]}
    fits(client.post("/api/v2/analytics/conversations/aggregates/query", json=body).json(),
         "ConversationAggregateQueryResponse")  # fmt: skip


def test_a_reporting_export_fits_the_sdk(served: Any) -> None:
    sim, _, client = served
    (request,) = sent(sim, "POST", EXPORTS)
    answer = client.post(EXPORTS, json=request)
    assert answer.status_code == 200
    fits(answer.json(), "ReportingExportJobResponse")


@pytest.mark.parametrize(("method", "path", "model"), [
    ("POST", JOBS, "AsyncConversationQuery"),
    ("POST", USER_JOBS, "AsyncUserDetailsQuery"),
    ("POST", "/api/v2/analytics/conversations/aggregates/query", "ConversationAggregationQuery"),
    ("POST", EXPORTS, "ReportingExportJobRequest"),
])  # fmt: skip
def test_the_bodies_the_client_sends_fit_the_sdk(
    served: Any, method: str, path: str, model: str
) -> None:
    sim, _, _ = served
    bodies = sent(sim, method, path)
    assert bodies, f"the run sent no {method} {path}"
    for body in bodies:
        fits(body, model)


def test_the_sdk_is_the_contracts_version() -> None:
    from importlib.metadata import version

    assert version("purecloudplatformclientv2") == "269.0.0"


def test_the_product_does_not_load_the_sdk() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "genesys_export"
    users = [p for p in src.rglob("*.py") if "PureCloudPlatformClientV2" in p.read_text()]
    assert users == []
