"""The login host and the bearer-token gate of the API host."""

from __future__ import annotations

from typing import Any

from tests.simulator.conftest import CONVERSATION_JOBS


def test_token_grant_matches_contract(harness: Any, contract: Any) -> None:
    """Basic credentials + grant_type=client_credentials yield a bearer token."""
    with harness(token_ttl=600) as h:
        response = h.client.post(
            h.running.login_url + "/oauth/token",
            auth=("sim-client", "sim-secret"),
            data={"grant_type": "client_credentials"},
        )
        assert response.status_code == 200
        body = response.json()
        contract.validate("oauth.json", "TokenResponse", body)
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 600
        assert response.headers["ININ-Correlation-Id"]
        assert h.sim.stats.tokens_issued == 1


def test_wrong_credentials_are_refused(harness: Any, contract: Any) -> None:
    """A wrong secret gets 401 invalid_client in the observed OAuth error shape."""
    with harness() as h:
        response = h.client.post(
            h.running.login_url + "/oauth/token",
            auth=("sim-client", "wrong"),
            data={"grant_type": "client_credentials"},
        )
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_client",
            "description": "authentication failed",
            "error_description": "authentication failed",
        }
        contract.validate("oauth.json", "TokenErrorResponse", response.json())


def test_token_request_with_extra_fields_is_invalid(harness: Any) -> None:
    """A scope or the client id in the body is refused: the official SDKs send neither."""
    with harness() as h:
        url = h.running.login_url + "/oauth/token"
        for extra in ({"scope": "analytics"}, {"client_id": "sim-client"}):
            data = {"grant_type": "client_credentials", **extra}
            response = h.client.post(url, auth=("sim-client", "sim-secret"), data=data)
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_request"
        response = h.client.post(
            url, auth=("sim-client", "sim-secret"), data={"grant_type": "password"}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_grant_type"


def test_api_refuses_missing_unknown_and_expired_tokens(harness: Any, contract: Any) -> None:
    """Without a usable bearer token every API call is 401 with an ErrorBody."""
    with harness(token_ttl=300) as h:
        url = h.running.api_url + CONVERSATION_JOBS + "/availability"
        missing = h.client.get(url)
        unknown = h.client.get(url, headers={"Authorization": "Bearer nope"})
        token = h.token()
        assert h.api("GET", CONVERSATION_JOBS + "/availability", token=token).status_code == 200
        h.clock.advance(301)
        expired = h.api("GET", CONVERSATION_JOBS + "/availability", token=token)
        for response, code in (
            (missing, "authentication.required"),
            (unknown, "bad.credentials"),
            (expired, "credentials.expired"),
        ):
            assert response.status_code == 401
            body = response.json()
            contract.validate("errors.json", "ErrorBody", body)
            assert body["code"] == code
            assert body["status"] == 401
            assert body["contextId"] == response.headers["ININ-Correlation-Id"]
        assert h.sim.stats.unauthorized == 3


def test_every_api_response_has_tracing_and_rate_limit_headers(harness: Any) -> None:
    """Correlation id and inin-ratelimit-* headers come with successes and errors alike."""
    with harness(budget_per_minute=120) as h:
        ok = h.api("GET", CONVERSATION_JOBS + "/availability")
        missing = h.api("GET", CONVERSATION_JOBS + "/nope")
        for response in (ok, missing):
            assert response.headers["ININ-Correlation-Id"]
            assert response.headers["inin-ratelimit-allowed"] == "120"
            assert int(response.headers["inin-ratelimit-count"]) >= 1
            assert "inin-ratelimit-reset" in response.headers
        assert missing.status_code == 404
        assert missing.json()["code"] == "not.found"
