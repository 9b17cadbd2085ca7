"""The simulator's answers and the client's requests, read by the official Genesys SDK.

The official Python SDK (PureCloudPlatformClientV2 269.0.0, the version the API contract
was taken from) carries the API's models: their members (`attribute_map`), member types,
the enum values their setters accept, and each endpoint's query parameters. Every export
kind, the `check` command and a few injected faults run over loopback HTTP against the
simulator; every answer the client read is deserialized into the model the SDK declares
for its endpoint, and every request body the simulator received into the SDK's request
model. Serialized back, each must equal what was on the wire: a member the SDK does not
know is dropped, an enum value it does not know becomes "outdated_sdk_version", a value
of another type is converted, and any of these is a difference.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from genesys_export.check import run_check
from genesys_export.errors import JobFailed
from genesys_export.simulator import Simulator
from tests.e2e import duckdb_dest, exporter_for, simulator

sdk = pytest.importorskip("PureCloudPlatformClientV2")

JOBS = r"/api/v2/analytics/(conversations|users)/details/jobs"
EXPORTS = "/api/v2/analytics/reporting/exports"
# (route pattern, SDK response model), first match wins: the model each endpoint's SDK
# method declares as its response_type.
RESPONSE_MODELS = (
    (f"POST {JOBS}", "AsyncQueryResponse"),
    (f"GET {JOBS}/availability", "DataAvailabilityResponse"),
    (f"GET {JOBS}/[^/]+", "AsyncQueryStatus"),
    ("GET /api/v2/analytics/conversations/details/jobs/[^/]+/results",
     "AnalyticsConversationAsyncQueryResponse"),
    ("GET /api/v2/analytics/users/details/jobs/[^/]+/results",
     "AnalyticsUserDetailsAsyncQueryResponse"),
    ("POST /api/v2/analytics/conversations/aggregates/query",
     "ConversationAggregateQueryResponse"),
    (f"POST {EXPORTS}", "ReportingExportJobResponse"),
    (f"GET {EXPORTS}", "ReportingExportJobListing"),
    (f"GET {EXPORTS}/metadata", "ReportingExportMetadataJobListing"),
    ("GET /api/v2/organizations/limits/namespaces/analytics", "LimitsEntityListing"),
)  # fmt: skip
# Routes whose 2xx answer has no body to read.
BODILESS = (f"DELETE {JOBS}/[^/]+", "GET /api/v2/downloads/[^/]+")
REQUEST_MODELS = (
    ("POST /api/v2/analytics/conversations/details/jobs", "AsyncConversationQuery"),
    ("POST /api/v2/analytics/users/details/jobs", "AsyncUserDetailsQuery"),
    ("POST /api/v2/analytics/conversations/aggregates/query", "ConversationAggregationQuery"),
    (f"POST {EXPORTS}", "ReportingExportJobRequest"),
)
# A failed job, an expired one (a 404 on its results) and a 429: the client reads the
# status of each and the ErrorBody of the refusals; a failed and a partial export (the
# listing also carries the simulator's seeded exports, in every status).
VIEW = "AGENT_PERFORMANCE_SUMMARY_VIEW"
FAULTS = "fail_job:n=1;expire:n=1;429:burst=1,after=6;export_fail:n=1;partial_export:n=1"


@dataclass(frozen=True)
class Exchange:
    """One request the client sent and the answer it read."""

    method: str
    path: str
    query: tuple[str, ...]
    status: int
    body: bytes

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        return json.loads(self.body)


class RecordingTransport(httpx.BaseTransport):
    """Real loopback HTTP, keeping every answer's body for the SDK to read."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        url = request.url
        exchange = Exchange(
            request.method,
            url.path,
            tuple(sorted(url.params.keys())),
            response.status_code,
            response.content,
        )
        with self._lock:
            self.exchanges.append(exchange)
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class Traffic:
    """What went over the wire while the client ran every export kind."""

    exchanges: list[Exchange]
    sim: Simulator
    running: Any

    def api(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.startswith("/api/v2/")]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    directory = tmp_path_factory.mktemp("sdk")
    transport = RecordingTransport()
    with simulator(faults=FAULTS, conversations_per_day=120) as (sim, running):
        exporter = replace(exporter_for(running, directory), transport=transport)
        exporter.export_conversations("2024-05-01/2024-05-04", dest=duckdb_dest(directory, "c"))
        exporter.export_users("2024-05-01/2024-05-03", dest=duckdb_dest(directory, "u"))
        users = [user.id for user in sim.dataset.org.users[:2]]
        exporter.export_users(
            "2024-05-02/2024-05-03", dest=duckdb_dest(directory, "u"), user_ids=users
        )
        exporter.export_aggregates(
            "2024-05-08/2024-05-10",
            granularity="PT1H",
            group_by=["queueId", "mediaType", "direction"],
            metrics=["nOffered", "tHandle", "tAcd", "oServiceLevel"],
            time_zone="Europe/London",
            filter_json=json.dumps(
                {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
            ),
            dest=duckdb_dest(directory, "a"),
        )
        with pytest.raises(JobFailed):
            exporter.export_report(VIEW, "2024-05-01/2024-05-03", dest=duckdb_dest(directory))
        exporter.export_report(VIEW, "2024-05-01/2024-05-03", dest=duckdb_dest(directory, "r"))
        run_check(exporter.settings, transport=transport)
        yield Traffic(list(transport.exchanges), sim, running)


# -- comparing the wire with what the SDK kept ----------------------------------------


def deserialize(data: Any, model: str) -> Any:
    """What the SDK makes of a JSON document as `model` (its ApiClient's own reader)."""
    return sdk.ApiClient()._ApiClient__deserialize(data, model)


def kept(data: Any, model: str) -> Any:
    """`data` read into `model` and serialized back to JSON by the SDK."""
    return sdk.ApiClient().sanitize_for_serialization(deserialize(data, model))


def differences(sent: Any, back: Any, path: str = "$") -> list[str]:
    """Where `back` (the SDK's round trip) differs from `sent` (the wire)."""
    if isinstance(sent, dict):
        if not isinstance(back, dict):
            return [f"{path}: object became {back!r}"]
        found = []
        for name, value in sent.items():
            if name not in back:
                if value is not None:
                    found.append(f"{path}.{name}: not a member of the SDK model")
            else:
                found += differences(value, back[name], f"{path}.{name}")
        return found
    if isinstance(sent, list):
        if not isinstance(back, list) or len(back) != len(sent):
            return [f"{path}: list became {back!r}"]
        return [
            d
            for i, (a, b) in enumerate(zip(sent, back, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if (sent == back and type(sent) is type(back)) or _same_instant(sent, back):
        return []
    if isinstance(sent, int) and isinstance(back, float) and sent == back:
        return []  # a JSON integer read into a number member
    return [f"{path}: {sent!r} became {back!r}"]


def _same_instant(sent: Any, back: Any) -> bool:
    if not isinstance(sent, str) or not isinstance(back, str) or "T" not in sent:
        return False
    try:
        return datetime.fromisoformat(sent) == datetime.fromisoformat(back)
    except ValueError:
        return False


def findings(documents: list[Any], model: str) -> list[str]:
    """Distinct differences over many documents (array indexes folded)."""
    found = {
        re.sub(r"\[\d+\]", "[]", d) for doc in documents for d in differences(doc, kept(doc, model))
    }
    return sorted(found)


# -- the endpoints' query parameters, as the SDK's API methods declare them -----------


@dataclass(frozen=True)
class SdkEndpoint:
    method: str
    pattern: str
    query: frozenset[str]


def sdk_endpoints() -> list[SdkEndpoint]:
    """Every endpoint of the SDK's API classes the product talks to, most literal first."""
    found = []
    for api in (sdk.AnalyticsApi, sdk.OrganizationApi, sdk.DownloadsApi):
        for _, function in inspect.getmembers(api, inspect.isfunction):
            source = inspect.getsource(function)
            path = re.search(r"resource_path = '([^']+)'", source)
            verb = re.search(r"call_api\(resource_path, '(\w+)'", source)
            if path and verb:
                pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path[1]))
                query = frozenset(re.findall(r"query_params\['(\w+)'\]", source))
                found.append(SdkEndpoint(verb[1], pattern, query))
    return sorted(found, key=lambda e: e.pattern.count("[^/]+"))


def sdk_endpoint(exchange: Exchange, endpoints: list[SdkEndpoint]) -> SdkEndpoint | None:
    for endpoint in endpoints:
        if endpoint.method == exchange.method and re.fullmatch(endpoint.pattern, exchange.path):
            return endpoint
    return None


def response_model(exchange: Exchange) -> str | None:
    for pattern, model in RESPONSE_MODELS:
        if re.fullmatch(pattern, exchange.route):
            return model
    return None


# -- tests ------------------------------------------------------------------------------


def test_every_endpoint_the_product_uses_was_answered(traffic: Traffic) -> None:
    """The run reached every endpoint below (so no test here passes on nothing), and every
    API route it called has an SDK model here or no body."""
    answered = {e.route for e in traffic.api() if e.status < 400}
    for pattern in [p for p, _ in RESPONSE_MODELS] + list(BODILESS):
        assert any(re.fullmatch(pattern, route) for route in answered), pattern
    unmodelled = {
        e.route
        for e in traffic.api()
        if response_model(e) is None and not any(re.fullmatch(p, e.route) for p in BODILESS)
    }
    assert unmodelled == set()
    assert {e.status for e in traffic.api()} >= {200, 202, 204, 303, 404, 429}


@pytest.mark.parametrize("model", sorted({m for _, m in RESPONSE_MODELS}))
def test_answers_keep_every_member_in_the_sdk_model(traffic: Traffic, model: str) -> None:
    documents = [e.json() for e in traffic.api() if e.status < 300 and response_model(e) == model]
    assert documents
    assert findings(documents, model) == []


def test_refusals_are_sdk_error_bodies(traffic: Traffic) -> None:
    """The 404 of expired results and the 429: `ErrorBody`, its `limit` a `Limit`."""
    documents = [e.json() for e in traffic.api() if e.status >= 400]
    assert {d["code"] for d in documents} >= {"not.found", "too.many.requests"}
    assert findings(documents, "ErrorBody") == []


@pytest.mark.parametrize(("route", "model"), REQUEST_MODELS)
def test_request_bodies_build_the_sdk_request_model(
    traffic: Traffic, route: str, model: str
) -> None:
    """Every body the simulator received, as the SDK's request model, loses nothing."""
    bodies = [
        json.loads(r.body)
        for r in traffic.sim.requests
        if re.fullmatch(route, f"{r.method} {r.path}")
    ]
    assert bodies
    assert findings(bodies, model) == []


def test_query_parameters_are_ones_the_sdk_declares(traffic: Traffic) -> None:
    endpoints = sdk_endpoints()
    unknown = set()
    for exchange in traffic.api():
        endpoint = sdk_endpoint(exchange, endpoints)
        assert endpoint is not None, exchange.route
        unknown |= {f"{exchange.route} ?{name}" for name in exchange.query} - {
            f"{exchange.route} ?{name}" for name in endpoint.query
        }
    assert {re.sub(r"/[0-9a-f-]{16,}", "/{id}", u) for u in unknown} == set()


def test_the_sdk_signs_in_as_the_client_does_and_reads_a_download_url(traffic: Traffic) -> None:
    """The SDK's own client-credentials grant works against the simulator, sends what the
    client sends, and the SDK's `get_download` (no redirect) names the file the client was
    redirected to."""
    client = sdk.ApiClient(host=traffic.running.api_url)
    client.get_client_credentials_token("sim-client", "sim-secret")
    grants = [
        (r.headers.get("authorization"), r.headers.get("content-type"), r.body)
        for r in traffic.sim.requests
        if r.path == "/oauth/token"
    ]
    assert len(set(grants)) == 1  # the client's grants and the SDK's, alike
    redirect = next(e for e in traffic.api() if e.status == 303)
    download_id = redirect.path.rsplit("/", 1)[1]
    answer = sdk.DownloadsApi(client).get_download(download_id, issue_redirect=False)
    fetched = [e.path for e in traffic.exchanges if e.path.startswith("/exports/")]
    assert httpx.URL(answer.url).path in fetched
