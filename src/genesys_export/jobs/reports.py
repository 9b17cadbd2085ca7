"""Reporting (view) exports: submit, track by listing, download safely, land as a table.

The real flow of Genesys Cloud API v2: POST /api/v2/analytics/reporting/exports; there is no
get-by-id, so the export is found by id in the paged listing; when COMPLETED its
`downloadUrl` leads, through the Downloads API's redirect, to a pre-signed URL on another
host. The bearer token goes only to the API host: the pre-signed URL is fetched by a client
that has no credentials at all. The file streams to disk while its sha256 is computed; a
dropped or truncated download is fetched again. Exports this run did not create are never
touched. Exports in flight together are run by `report_flights.py`.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Set
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from genesys_export import redact
from genesys_export.chunks import ChunkResult, ExportKind, Replacement, StreamChecks
from genesys_export.errors import JobFailed
from genesys_export.events import AuditEvent, Events
from genesys_export.http_client import Api
from genesys_export.intervals import bucket_edges, parse_duration
from genesys_export.jobs.lifecycle import body_hash
from genesys_export.reporting import CSV_DELIMITERS, ReportRequest, report_table_name
from genesys_export.transform.report_csv import ROW_NUMBER, CsvOptions, read_report
from genesys_export.transform.tables import UTC_MS, RunContext, TableSpec
from genesys_export.validate import validate_table

log = logging.getLogger(__name__)
EXPORTS = "/api/v2/analytics/reporting/exports"
METADATA = f"{EXPORTS}/metadata"
DONE = {"COMPLETED", "COMPLETED_WITH_PARTIAL_RESULTS"}
ENDED_BADLY = {"FAILED", "CANCELLED"}
# The org has too many exports in flight: submit again later (report_flights.py).
ORG_BUSY = "TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION"
LISTING_PAGE = 100
# Request members that change the file's shape: recorded with the data they produced.
CSV_SHAPE = (
    "exportFormat",
    "csvDelimiter",
    "hasFormatDurations",
    "durationFormat",
    "hasSummaryRow",
    "locale",
    "timeZone",
    "period",
)
_HEADER_SAMPLE = 1 << 20  # a header row longer than this is read as the record says
_DOWNLOAD_ID = re.compile(r"/api/v2/downloads/(?P<id>[^/?#]+)")


@dataclass(frozen=True)
class Download:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class ExportPacing:
    """How a run's reporting exports share one poll loop and wait out a busy org.

    Each export in flight has its own backoff ladder (`Polling`: the first poll just after
    the exports' typical latency once some have finished, then first x factor^n with
    jitter, up to cap), but one listing request serves them all: a poll also counts for
    every export due within `coalesce` of its current wait. An export the org refuses
    (ORG_BUSY) while none of the run's is in flight is submitted again after a wait that
    starts at the first poll wait and grows by `refused_factor` up to `refused_cap` s;
    after the poll deadline of such waits the run gives up (JobTimedOut).
    """

    coalesce: float = 0.5
    refused_factor: float = 2.0
    refused_cap: float = 60.0


def read_metadata(api: Api) -> dict[str, Any]:
    """The export metadata listing: one request, as the endpoint takes no paging parameters."""
    listing = api.get_json(METADATA)
    return {"entities": list(listing.get("entities") or [])}


def submit_export(api: Api, request: ReportRequest, events: Events) -> dict[str, Any]:
    body = request.body()
    response = api.request("POST", EXPORTS, json=body)
    entity: dict[str, Any] = response.json()
    events(
        AuditEvent.JOB_SUBMITTED,
        export_kind=ExportKind.REPORTING_EXPORT,
        job_id=entity.get("id"),
        run_id_server=entity.get("runId"),
        view_type=request.view_type,
        interval=request.interval.iso(),
        payload_sha256=body_hash(body),
        request_id=request.request_id,
        correlation_id=response.headers.get("ININ-Correlation-Id"),
    )
    return entity


def find_exports(api: Api, export_ids: Set[str]) -> dict[str, dict[str, Any]]:
    """The listing's entities with these ids, by id: one request for the first page
    (newest first, where exports in flight are), the next only while one is missing."""
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        listing = api.get_json(EXPORTS, pageNumber=page, pageSize=LISTING_PAGE)
        for entity in listing.get("entities") or []:
            if entity.get("id") in export_ids:
                found[str(entity["id"])] = dict(entity)
        if len(found) == len(export_ids) or page >= int(listing.get("pageCount") or 1):
            return found
        page += 1


def download(api: Api, download_url: str, target: Path, *, events: Events, job_id: str) -> Download:
    """Fetch the export's file to `target`, retrying drops and truncation."""
    policy = api.retry_policy(attempts=5)
    with httpx.Client(
        timeout=httpx.Timeout(300.0, connect=10.0), transport=api.transport
    ) as storage:
        result: Download = policy(_download_once, api, storage, download_url, target, job_id)
    events(
        AuditEvent.DOWNLOAD_FINISHED,
        job_id=job_id,
        bytes=result.size,
        sha256=result.sha256,
        url=redact.url(download_url),
    )
    return result


def _download_once(
    api: Api, storage: httpx.Client, download_url: str, target: Path, job_id: str
) -> Download:
    location = _presigned_location(api, download_url)
    request = storage.build_request("GET", location)
    request.headers.pop("Authorization", None)  # a pre-signed URL carries its own credentials
    response = storage.send(request, stream=True)
    try:
        response.raise_for_status()
        return _stream_to(response, target)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code >= 500:
            raise httpx.RemoteProtocolError(f"storage answered {exc.response.status_code}") from exc
        raise JobFailed(
            f"download refused by storage ({exc.response.status_code}) at {redact.url(location)}",
            job_id=job_id,
        ) from exc
    finally:
        response.close()


def _presigned_location(api: Api, download_url: str) -> str:
    """Ask the Downloads API (with the token, on the API host) where the file is."""
    match = _DOWNLOAD_ID.search(httpx.URL(download_url).path)
    if match is None:
        return download_url  # not a Downloads API URL: fetched as given, without a token
    response = api.request(
        "GET", f"/api/v2/downloads/{match['id']}", params={"issueRedirect": "true"}
    )
    if response.is_redirect:
        return str(
            response.next_request.url if response.next_request else response.headers["Location"]
        )
    return str(response.json()["url"])  # issueRedirect=false answers UrlResponse {url}


def _stream_to(response: httpx.Response, target: Path) -> Download:
    digest, size = hashlib.sha256(), 0
    expected = response.headers.get("Content-Length")
    with target.open("wb") as out:
        for block in response.iter_bytes(1 << 20):
            out.write(block)
            digest.update(block)
            size += len(block)
    if expected is not None and int(expected) != size:
        raise httpx.RemoteProtocolError(f"download truncated: {size} of {expected} bytes")
    return Download(target, digest.hexdigest(), size)


@contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="genesys-export-") as name:
        yield Path(name)


def report_replacement(request: ReportRequest, schema: pa.Schema) -> tuple[Replacement, str]:
    """Which existing rows a request's rows replace, and the partition column.

    With an `interval_start` column, by period bucket within the request's family (same
    view, filter and shape): another request over an overlapping interval replaces the
    shared buckets instead of adding them twice. Without one, exactly the rows of an
    earlier run of the same request.
    """
    if "interval_start" in schema.names and pa.types.is_timestamp(
        schema.field("interval_start").type
    ):
        step = parse_duration(request.period, name="--period")
        starts = bucket_edges(request.interval, step, request.time_zone)[:-1]
        keys = pa.table(
            {
                "_request_family": pa.array([request.family_id] * len(starts), pa.string()),
                "interval_start": pa.array(starts, UTC_MS),
            }
        )
        return Replacement(keys, frozenset(s.date() for s in starts)), "interval_start"
    keys = pa.table({"_request_id": pa.array([request.request_id], pa.string())})
    return Replacement(keys, frozenset({request.start.date()})), "_interval_start"


def file_options(
    record: Mapping[str, Any], file: Download, requested: CsvOptions
) -> tuple[CsvOptions, dict[str, Any], tuple[str, ...]]:
    """How to read the file Genesys wrote: options, its shape, and what disagreed.

    An org's own export settings can win over the request (another delimiter, a summary
    row, formatted durations), so the shape is the export record's, not the request's.
    The header then has the last word on the delimiter: where record and file disagree,
    the file is read as it is, with a warning. Summary rows and formatted durations are
    recognized in the data itself.
    """
    shape = {k: record[k] for k in CSV_SHAPE if k in record}
    said = CSV_DELIMITERS.get(str(record.get("csvDelimiter")), requested.delimiter)
    found = header_delimiter(file.path)
    warnings: tuple[str, ...] = ()
    if found is not None and found != said:
        warnings = (
            f"export {record.get('id')}: its record says delimiter {said!r} but the file "
            f"uses {found!r}; the file was read as it is",
        )
        said = found
        shape["csvDelimiter"] = next(k for k, v in CSV_DELIMITERS.items() if v == found)
    return replace(requested, delimiter=said), shape, warnings


def header_delimiter(path: Path) -> str | None:
    """`,` or `;`, as the file's header row is delimited (a UTF-8 BOM skipped); None when
    the header alone cannot tell (a single column)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        first = f.readline(_HEADER_SAMPLE)
    try:
        return csv.Sniffer().sniff(first, delimiters=",;").delimiter
    except csv.Error:
        return None


def validated_batches(spec: TableSpec, stream: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
    """The report's rows as tables, each batch checked before it is written.

    Positional keys are unique by construction and are not checked again.
    """
    positional = ROW_NUMBER in spec.key
    for batch in stream:
        table = pa.Table.from_batches([batch], schema=spec.schema)
        validate_table(spec, table, key_unique=not positional).raise_if_failed()
        yield table


@contextmanager
def report_chunk(
    request: ReportRequest,
    file: Download,
    options: CsvOptions,
    ctx: RunContext,
    *,
    partial: bool,
    shape: Mapping[str, Any] | None = None,
) -> Iterator[ChunkResult]:
    """The CSV as a chunk for `report_<view>` that replaces this request's rows.

    Its one table streams batch by batch while it is written (write it inside the
    `with`); its keys are new once the replacement is deleted, so it is inserted. A
    malformed file (a ragged row, a value that fits no type) raises while it streams, and
    the writer rolls the chunk back: nothing of the file is written.
    """
    extras = {
        "_request_id": pa.scalar(request.request_id, pa.string()),
        "_request_family": pa.scalar(request.family_id, pa.string()),
        "_interval_start": pa.scalar(request.start, UTC_MS),
        "_partial": pa.scalar(partial, pa.bool_()),
    }
    name = report_table_name(request.view_type)
    with read_report(file.path, options, ctx, extra_columns=extras) as stream:
        replacement, partition_by = report_replacement(request, stream.schema)
        spec = stream.spec(name, partition_by=partition_by)

        def checks() -> StreamChecks:
            stats = stream.stats
            missing = stats.rows_missing_key
            return StreamChecks(
                {
                    "table": name,
                    "rows": stats.rows,
                    "summary_rows_removed": stats.summary_rows_removed,
                    "rows_missing_key": missing,
                    "ambiguous_times": stats.ambiguous_times,
                },
                (f"{missing} row(s) of {name} lack key columns {spec.key}",) if missing else (),
            )

        yield ChunkResult(
            request.interval,
            [(spec, validated_batches(spec, stream), replacement)],
            checks,
            written={
                "dataset": name,
                "request_id": request.request_id,
                "csv_sha256": file.sha256,
                "csv_shape": dict(shape)
                if shape is not None
                else {k: v for k, v in request.body().items() if k in CSV_SHAPE},
            },
            fresh_keys=True,
        )
