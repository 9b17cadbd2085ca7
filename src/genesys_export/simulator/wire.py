"""Requests and replies as the simulator's handlers see them, independent of the server.

The HTTP server (`server.py`) and the WSGI adapter both translate to and from these, so
every behaviour, including the misbehaviour of fault injection, lives in one place.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from genesys_export.simulator.problems import Problem

# Where pre-signed URLs point while the simulator is not served on a port (WSGI use).
UNBOUND_STORAGE_URL = "http://storage.simulator.invalid"


@dataclass(frozen=True)
class HttpRequest:
    """One request: lower-case header names; `query` keeps the last value of a repeated key."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    host: str = "api"  # "api" (API and login host) or "storage" (pre-signed downloads)
    base_url: str = "http://127.0.0.1"  # scheme://host[:port] the client used


@dataclass(frozen=True)
class Reply:
    """One answer. `drop` closes the connection unanswered; `truncate` sends half the body
    under the full Content-Length and then closes (a download cut mid-stream)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drop: bool = False
    truncate: bool = False

    def with_headers(self, *headers: tuple[str, str]) -> Reply:
        """The same reply with more headers."""
        return Reply(self.status, self.headers + headers, self.body, self.drop, self.truncate)


def dumps(doc: Any) -> bytes:
    """Compact UTF-8 JSON, the way the API sends it."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def json_reply(status: int, doc: Any) -> Reply:
    """A JSON reply."""
    return Reply(status, (("Content-Type", "application/json"),), dumps(doc))


def raw_json_reply(status: int, body: bytes) -> Reply:
    """A JSON reply whose body is already encoded (pages assembled from cached bytes)."""
    return Reply(status, (("Content-Type", "application/json"),), body)


def error_reply(problem: Problem, correlation_id: str) -> Reply:
    """The ErrorBody reply for a Problem; `contextId` repeats the correlation id (§6.3)."""
    doc: dict[str, Any] = {
        "message": problem.message,
        "code": problem.code,
        "status": problem.status,
        "contextId": correlation_id,
        "details": [],
        "errors": [],
    }
    if problem.params:
        doc["messageParams"] = problem.params
        if problem.template:
            doc["messageWithParams"] = problem.template
    if problem.limit:
        doc["limit"] = problem.limit
    return json_reply(problem.status, doc)


def parse_json(request: HttpRequest) -> Any:
    """The JSON body of a request; 400 `bad.request` when it is not JSON."""
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "bad.request", "The request body is not valid JSON") from None


def new_correlation_id() -> str:
    """A fresh ININ-Correlation-Id (random: correlation ids are not part of the dataset)."""
    return str(uuid.uuid4())
