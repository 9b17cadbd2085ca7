"""The one exception the request handlers raise: an API error with its ErrorBody parts.

Codes and message templates are the generic `x-inin-error-codes` of API v2; Genesys
documents no analytics-specific codes, so the simulator uses the generic ones
(`bad.request`, `invalid.value`, ...) with messages that say what to change.
"""

from __future__ import annotations


class Problem(Exception):
    """An API error: HTTP status, ErrorBody code, message and optional messageParams."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        params: dict[str, str] | None = None,
        template: str | None = None,
        limit: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.params = params or {}
        self.template = template
        self.limit = limit


def bad_request(message: str) -> Problem:
    """400 `bad.request` with a message naming what to change."""
    return Problem(400, "bad.request", message)


def invalid_value(
    value: object, field_type: str, allowed: tuple[str, ...] | None = None
) -> Problem:
    """400 `invalid.value` in the contract's message shape, naming the bad value."""
    allowable = ", ".join(allowed) if allowed else "see the API documentation"
    return Problem(
        400,
        "invalid.value",
        f"Value [{value}] is not valid for field type [{field_type}]. "
        f"Allowable values are: {allowable}",
        params={"value": str(value), "fieldType": field_type, "allowableValues": allowable},
        template="Value [{value}] is not valid for field type [{fieldType}]. "
        "Allowable values are: {allowableValues}",
    )


def invalid_query_param(value: object, name: str, allowed: str) -> Problem:
    """400 `invalid.query.param.value` for a query parameter out of range."""
    return Problem(
        400,
        "invalid.query.param.value",
        f"Value [{value}] is not valid for parameter [{name}]. Allowable values are: {allowed}",
        params={"value": str(value), "parameter": name, "allowableValues": allowed},
    )


def not_found(what: str) -> Problem:
    """404 `not.found` naming the missing resource."""
    return Problem(404, "not.found", f"The requested resource was not found: {what}")
