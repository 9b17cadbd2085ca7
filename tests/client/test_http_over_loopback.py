"""The API client over real loopback HTTP against the simulator: auth, retries, budget."""

from __future__ import annotations

import logging
import threading

import pytest

from genesys_export.errors import AuthError, ClientError
from genesys_export.http_client import Api
from tests.conftest import settings_for

AVAILABILITY = "/api/v2/analytics/conversations/details/jobs/availability"
JOBS = "/api/v2/analytics/conversations/details/jobs"


class Sleeps:
    """Records requested waits and sleeps a tiny fraction of them (tests stay fast)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def api_paths(sim, route_prefix: str = "/api/v2") -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in sim.requests if r.path.startswith(route_prefix)]


def test_token_is_fetched_with_basic_auth_and_a_bare_grant(sim_factory) -> None:
    """The token request carries Basic credentials and only grant_type=client_credentials."""
    with sim_factory() as (sim, running), Api(settings_for(running)) as api:
        api.get_json(AVAILABILITY)
    token_requests = [r for r in sim.requests if r.path == "/oauth/token"]
    assert len(token_requests) == 1
    assert token_requests[0].headers["authorization"].startswith("Basic ")
    assert sim.stats.tokens_issued == 1


def test_token_is_renewed_before_it_expires(sim_factory) -> None:
    """Within the margin of expires_in a new token is fetched before the next call, so the
    server never sees an expired token."""
    clock = Clock()
    with sim_factory(token_ttl=3600) as (sim, running):
        with Api(settings_for(running, token_margin=60), clock=clock) as api:
            api.get_json(AVAILABILITY)
            clock.now += 3600 - 59  # inside the margin
            api.get_json(AVAILABILITY)
    assert sim.stats.tokens_issued == 2
    assert sim.stats.unauthorized == 0


def test_a_revoked_token_is_renewed_once_and_the_request_resent(sim_factory) -> None:
    """After revocation the API answers 401; the client renews and the call still succeeds."""
    with sim_factory(faults="revoke:after=2") as (sim, running), Api(settings_for(running)) as api:
        for _ in range(4):
            assert "dataAvailabilityDate" in api.get_json(AVAILABILITY)
    statuses = [status for path, status in api_paths(sim)]
    assert statuses.count(401) == 1
    assert sim.stats.tokens_issued == 2


def test_concurrent_callers_share_one_renewal(sim_factory) -> None:
    """Eight threads hitting a revoked token share one renewal: the first token and one
    more are issued, however the threads interleave."""
    with sim_factory(faults="revoke:after=1") as (sim, running), Api(settings_for(running)) as api:
        api.get_json(AVAILABILITY)
        threads = [threading.Thread(target=api.get_json, args=(AVAILABILITY,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sim.stats.tokens_issued == 2


def test_refused_credentials_raise_auth_error_with_exit_3(sim_factory) -> None:
    with sim_factory() as (_, running):
        settings = settings_for(running)
        bad = settings.with_options(
            credentials=type(settings.credentials)(
                client_id="sim-client",
                client_secret=type(settings.credentials.client_secret)("nope"),
            )
        )
        with Api(bad) as api, pytest.raises(AuthError) as err:
            api.get_json(AVAILABILITY)
    assert err.value.exit_code == 3
    assert "nope" not in str(err.value)


def test_429s_are_retried_honouring_retry_after(sim_factory) -> None:
    """A burst of 429 with Retry-After 2 is waited out exactly, then the call succeeds."""
    sleeps = Sleeps()
    with sim_factory(faults="429:burst=3,retry_after=2") as (sim, running):
        with Api(settings_for(running), sleep=sleeps) as api:
            assert "dataAvailabilityDate" in api.get_json(AVAILABILITY)
    assert [p for p in api_paths(sim)] == [(AVAILABILITY, 429)] * 3 + [(AVAILABILITY, 200)]
    assert sleeps.waits.count(2.0) >= 3
    assert api.stats.rate_limited == 3 and api.stats.retries == 3


@pytest.mark.parametrize("faults", ["5xx:burst=2,status=503", "drop:burst=2"])
def test_server_errors_and_dropped_connections_are_retried(sim_factory, faults: str) -> None:
    with (
        sim_factory(faults=faults) as (sim, running),
        Api(settings_for(running), sleep=Sleeps()) as api,
    ):
        assert "dataAvailabilityDate" in api.get_json(AVAILABILITY)
    assert api.stats.retries == 2
    assert len(api_paths(sim)) >= 2


def test_a_400_is_not_retried_and_names_the_request(sim_factory) -> None:
    """A bad request is final: one attempt, and the error carries status, code and id."""
    with sim_factory() as (sim, running), Api(settings_for(running), sleep=Sleeps()) as api:
        with pytest.raises(ClientError) as err:
            api.request("POST", JOBS, json={"interval": "not-an-interval"})
    assert [status for path, status in api_paths(sim)] == [400]
    assert err.value.status == 400 and err.value.correlation_id
    assert f"POST {running.api_url}{JOBS}" in str(err.value)
    assert api.stats.retries == 0


def test_a_storm_of_requests_stays_within_the_servers_budget(sim_factory) -> None:
    """Four threads firing as fast as they can never draw a 429 from the budget: the
    client's bucket keeps every 60 s window under the simulator's limit."""
    with sim_factory(budget_per_minute=1200) as (sim, running):
        with Api(settings_for(running, budget_per_minute=1200)) as api:

            def fire() -> None:
                for _ in range(30):
                    api.get_json(AVAILABILITY)

            threads = [threading.Thread(target=fire) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert sim.stats.too_many_requests == 0
    assert sim.stats.max_requests_per_minute <= 1200
    assert api.stats.requests == 120


def test_without_the_budget_the_same_storm_is_refused(sim_factory) -> None:
    """The control: a client allowed more than the server gets 429s and waits them out."""
    sleeps = Sleeps()
    with sim_factory(budget_per_minute=60) as (sim, running):
        with Api(settings_for(running, budget_per_minute=100_000), sleep=sleeps) as api:
            for _ in range(70):
                api.get_json(AVAILABILITY)
    assert sim.stats.too_many_requests > 0
    assert api.stats.rate_limited == sim.stats.too_many_requests


def test_secrets_and_tokens_never_reach_logs_or_errors(sim_factory, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with sim_factory(faults="revoke:after=1;429:burst=1,after=2") as (sim, running):
        with Api(settings_for(running), sleep=Sleeps()) as api:
            api.get_json(AVAILABILITY)
            api.get_json(AVAILABILITY)
            api.get_json(AVAILABILITY)
            with pytest.raises(ClientError) as err:
                api.request("POST", JOBS, json={"interval": "x"})
    tokens = {
        r.headers["authorization"].removeprefix("Bearer ")
        for r in sim.requests
        if r.headers.get("authorization", "").startswith("Bearer ")
    }
    assert tokens
    text = caplog.text + str(err.value) + repr(api) + repr(api.auth)
    for secret in ("sim-secret", *tokens):
        assert secret not in text
