"""Exceptions raised by genesys_export.

GenesysExportError          .exit_code: what the command line exits with
├── ConfigError             bad or missing settings or input; fix it, don't retry      -> 2
├── AuthError               token endpoint refused the client credentials             -> 3
├── ApiError                non-2xx; .status .code .method .url (redacted) .correlation_id -> 4
│   ├── RateLimited         429; .retry_after (seconds or None)                        retried
│   ├── ServerError         5xx                                                        retried
│   └── ClientError         other 4xx                                              not retried
│       └── PermissionDenied  401 after a fresh token, or 403                          -> 3
├── ApiUnreachable          network still failing after retries; chains the httpx error -> 4
├── JobError                .job_id                                                    -> 4
│   ├── JobFailed           server reported failure; .server_message
│   ├── JobExpired          results expired before we read them
│   └── JobTimedOut         our polling deadline passed
├── PaginationLoop          the server repeated a cursor                               -> 4
├── SchemaMismatch          a record or file doesn't fit its export kind's schema      -> 4
├── ValidationFailed        a chunk failed its checks; nothing of it was written       -> 4
├── RawDataError            a raw landing-zone file is missing, short or corrupt      -> 4
├── SinkError               write or commit failed; chains the driver error            -> 5
├── CheckpointError         unreadable, or belongs to another export kind              -> 5
├── Stopped                 the run was stopped (Ctrl-C, another chunk failed)        -> 130
├── NotifyFailed            a webhook kept failing (only with --strict-notify)        -> 5
├── CellsDiffer             reconciliation: settled cells still differ; .summary      -> 6
└── LockHeld                another run holds the destination's lock                   -> 2
    └── ForeignLock         another program holds it open (DuckDB's file lock)         -> 5
"""

from __future__ import annotations

from typing import Any


class GenesysExportError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class ConfigError(GenesysExportError):
    """A setting, argument or input is missing or wrong; the message names it and the fix."""

    exit_code = 2


class AuthError(GenesysExportError):
    """The token endpoint refused the client credentials."""

    exit_code = 3


class ApiError(GenesysExportError):
    """The Genesys API answered with a non-2xx status."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        code: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.code = code
        self.correlation_id = correlation_id
        where = f"{method} {url}"
        extra = f" [{code}]" if code else ""
        cid = f" (correlation id {correlation_id})" if correlation_id else ""
        super().__init__(f"{where}: {status}{extra} {message}{cid}".rstrip())


class RateLimited(ApiError):
    """429 Too Many Requests."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class ServerError(ApiError):
    """5xx from the API."""


class ClientError(ApiError):
    """A 4xx other than 429: the request itself is wrong and is never retried."""


class PermissionDenied(ClientError):
    """403, or 401 with a freshly issued token: the OAuth client lacks a role or permission."""

    exit_code = 3


class ApiUnreachable(GenesysExportError):
    """The network kept failing after every retry."""

    exit_code = 4


class JobError(GenesysExportError):
    """A server-side job did not deliver its results."""

    exit_code = 4

    def __init__(self, message: str, *, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id}: {message}")


class JobFailed(JobError):
    """The server reported the job FAILED (or CANCELLED)."""

    def __init__(self, message: str, *, job_id: str, server_message: str | None = None) -> None:
        self.server_message = server_message
        super().__init__(message, job_id=job_id)


class JobExpired(JobError):
    """The job's results expired before they were read."""


class JobTimedOut(JobError):
    """The job did not finish before our polling deadline."""


class PaginationLoop(GenesysExportError):
    """The server handed back a cursor it had already given."""

    exit_code = 4


class SchemaMismatch(GenesysExportError):
    """A record or file does not fit the schema of its export kind."""

    exit_code = 4


class ValidationFailed(GenesysExportError):
    """A chunk failed its checks (keys, parents, times); nothing of it was written."""

    exit_code = 4


class RawDataError(GenesysExportError):
    """A file of the raw landing zone is missing, short, or not what its manifest says."""

    exit_code = 4


class SinkError(GenesysExportError):
    """Writing to or committing the destination failed."""

    exit_code = 5


class CheckpointError(GenesysExportError):
    """A checkpoint could not be read or belongs to something else."""

    exit_code = 5


class Stopped(GenesysExportError):
    """The run was stopped while this work waited; committed chunks stay committed."""

    exit_code = 130


class NotifyFailed(GenesysExportError):
    """A downstream notification kept failing; data and checkpoints are committed."""

    exit_code = 5


class CellsDiffer(GenesysExportError):
    """Reconciliation found settled cells where the details and the aggregates differ.

    Raised after the run: the `reconciliation` table and the audit trail hold every cell;
    `.summary` is the run summary (cells compared, cells that differ, the worst cells).
    """

    exit_code = 6

    def __init__(self, message: str, *, summary: dict[str, Any]) -> None:
        self.summary = summary
        super().__init__(message)


class LockHeld(GenesysExportError):
    """Another run holds the destination's lock."""

    exit_code = 2


class ForeignLock(LockHeld):
    """Another program holds the destination open (DuckDB's own file lock): a destination
    failure rather than a second run."""

    exit_code = 5
