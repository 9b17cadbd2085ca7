"""The routes: one method per endpoint of the contract the simulator plays.

Endpoints that the contract says do not exist (GET, PATCH or DELETE of a reporting export
by id, a metadata entry by view type) fall through to 404 `not.found` like any unknown
path.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genesys_export.simulator import csvreport, directory, exports, jobs, reports
from genesys_export.simulator.faults import FaultKind
from genesys_export.simulator.isotime import format_ms, parse_interval, to_ms
from genesys_export.simulator.problems import Problem, invalid_query_param, not_found
from genesys_export.simulator.vocabulary import VIEW_TYPES
from genesys_export.simulator.wire import (
    UNBOUND_STORAGE_URL,
    HttpRequest,
    Reply,
    json_reply,
    parse_json,
    raw_json_reply,
)

if TYPE_CHECKING:
    from genesys_export.simulator.app import Call, Simulator

Json = dict[str, Any]
Handler = Callable[["Call"], Reply]
EXPORT_PAGE_SIZE_MAX = 100
_CACHED_FILES = 4
_EXPORTS = "/api/v2/analytics/reporting/exports"
# The limits endpoints answer a LimitsEntityListing: `entities` of Limit, nothing else
# (the official SDK's model). The analytics keys and values are the
# simulator's own limits (the contract found no analytics limit names or values, §6.2).
_LIMITS_PATH = "/api/v2/organizations/limits/namespaces/{namespace}"


@dataclass(frozen=True)
class Route:
    """A matched route: its label (method + path template), handler and path parameters."""

    label: str
    handler: Handler
    params: dict[str, str]


class Handlers:
    """Endpoint implementations over a Simulator's state."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        for kind in jobs.JobKind:
            base = kind.path
            self._add("POST", base, self.submit_job)
            if kind.is_details:
                self._add("GET", base + "/availability", self.availability)
            self._add("GET", base + "/{jobId}", self.job_status)
            self._add("DELETE", base + "/{jobId}", self.delete_job)
            self._add("GET", base + "/{jobId}/results", self.job_results)
        self._add("POST", "/api/v2/analytics/conversations/aggregates/query", self.aggregate)
        self._add("GET", _LIMITS_PATH, self.limits)
        self._add("GET", _LIMITS_PATH + "/defaults", self.limits)
        self._add("POST", _EXPORTS, self.submit_export)
        self._add("GET", _EXPORTS, self.list_exports)
        self._add("GET", _EXPORTS + "/metadata", self.export_metadata)
        self._add("GET", "/api/v2/downloads/{downloadId}", self.download)
        for listing in directory.LISTINGS:
            self._add("GET", listing.path, self._lister(listing))

    def _lister(self, listing: directory.Listing) -> Handler:
        """GET of a reference listing (queues, users, ...): one page of entities."""

        def handler(call: Call) -> Reply:
            doc = self.sim.directory.listing(listing, call.request.query)
            return json_reply(200, doc)

        return handler

    def _add(self, method: str, template: str, handler: Handler) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self.routes.append((method, re.compile(regex), f"{method} {template}", handler))

    def match(self, request: HttpRequest) -> Route | None:
        """The route of a request; first match wins (so .../availability beats {jobId})."""
        for method, pattern, label, handler in self.routes:
            found = pattern.fullmatch(request.path)
            if found and method == request.method:
                return Route(label, handler, found.groupdict())
        return None

    # -- async jobs ----------------------------------------------------------------------

    def submit_job(self, call: Call) -> Reply:
        """POST .../jobs -> 202 {jobId}."""
        kind = _kind(call.request)
        max_days = self.sim.job_config.max_interval_days
        query = jobs.validate_query(kind, parse_json(call.request), max_days, self.sim.dataset)
        with self.sim.locked():
            self._admit(call.now)
            faulted = kind.is_details  # job faults target details and user details jobs
            fails = faulted and self.sim.take_fault(FaultKind.FAIL_JOB) is not None
            expires = faulted and not fails and self.sim.take_fault(FaultKind.EXPIRE) is not None
            slow = self.sim.take_fault(FaultKind.SLOW_JOBS) if faulted else None
            dropped = _dropped(self.sim, kind, query)
            job = jobs.Job(
                id=_new_id(),
                kind=kind,
                query=query,
                submitted=call.now,
                latency=self.sim.job_config.latency_of(kind, query)
                + (slow.seconds if slow else 0.0),
                fails=fails,
                expires_on_read=expires,
                drop=dropped,
            )
            self.sim.state.jobs[job.id] = job
            self.sim.bump("jobs_submitted")
        return json_reply(202, {"jobId": job.id})

    def _admit(self, now: float) -> None:
        """Refuse a job past the org's concurrent-job or submission-rate limit (429)."""
        config = self.sim.job_config
        jobs_now = self.sim.state.jobs.values()
        running = sum(
            1 for j in jobs_now if j.cancelled_at is None and now < j.submitted + j.latency
        )
        recent = sum(1 for j in jobs_now if now - j.submitted < 1.0)
        for count, limit, key in (
            (running, config.max_concurrent, "details.jobs.concurrent.access.max"),
            (recent, config.submits_per_second, "details.jobs.rate.per.second"),
        ):
            if count >= limit:
                self.sim.bump("jobs_refused")
                raise Problem(
                    429,
                    "too.many.requests",
                    f"Rate limit exceeded the maximum [{limit}] for [{key}]",
                    limit={"key": key, "namespace": "analytics", "value": limit},
                )
        self.sim.max_jobs_running = max(self.sim.max_jobs_running, running + 1)

    def availability(self, call: Call) -> Reply:
        """GET .../details/jobs/availability -> DataAvailabilityResponse."""
        return json_reply(200, {"dataAvailabilityDate": self._availability()})

    def _availability(self) -> str:
        return format_ms(to_ms(self.sim.dataset.data_availability))

    def _job(self, call: Call) -> jobs.Job:
        job = self.sim.state.jobs.get(call.params["jobId"])
        if job is None or job.kind is not _kind(call.request):
            raise not_found(f"job {call.params['jobId']}")
        return job

    def job_status(self, call: Call) -> Reply:
        """GET .../details/jobs/{jobId} -> AsyncQueryStatus."""
        with self.sim.locked():
            job = self._job(call)
            state = jobs.state_of(job, call.now, self.sim.job_config)
            return json_reply(200, jobs.status_doc(job, state, self.sim.job_config, self.sim.wall))

    def delete_job(self, call: Call) -> Reply:
        """DELETE .../details/jobs/{jobId} -> 204; the job reads CANCELLED afterwards."""
        with self.sim.locked():
            job = self._job(call)
            if job.cancelled_at is None:
                job.cancelled_at = call.now
            job.results = None  # a cancelled job's results are never read again
            self.sim.bump("jobs_deleted")
        return Reply(204)

    def job_results(self, call: Call) -> Reply:
        """GET .../details/jobs/{jobId}/results -> one page."""
        config = self.sim.job_config
        with self.sim.locked():
            job = self._job(call)
            state = jobs.state_of(job, call.now, config)
            if state is jobs.JobState.FULFILLED and job.expires_on_read:
                job.expired, state = True, jobs.JobState.EXPIRED
            problem = jobs.results_problem(job, state)
            if problem is not None:
                raise problem
        if job.kind is jobs.JobKind.AGGREGATES:
            size = jobs.aggregate_page_size(job)
        else:
            size = jobs.page_size(call.request.query, config.page_size_max)
        items = jobs.materialize(job, self.sim.dataset)
        cursor = call.request.query.get("cursor") or None
        with self.sim.locked():
            size = self._maybe_short(job, items, cursor, size)
            page, following = jobs.next_page(job, items, cursor, size)
            repeatable = following is not None and cursor is not None
            if repeatable and self.sim.take_fault(FaultKind.REPEAT_CURSOR) is not None:
                following = cursor
        return raw_json_reply(200, jobs.page_body(job.kind, page, following, self._availability()))

    def _maybe_short(self, job: jobs.Job, items: list[bytes], cursor: str | None, size: int) -> int:
        offset = 0 if cursor is None else job.cursors.get(cursor, 0)
        remaining = len(items) - offset
        if remaining > 1 and size > 1 and self.sim.take_fault(FaultKind.SHORT_PAGES):
            return max(1, min(size, remaining) // 2)
        return size

    # -- aggregates and limits -----------------------------------------------------------

    def aggregate(self, call: Call) -> Reply:
        """POST .../conversations/aggregates/query -> ConversationAggregateQueryResponse."""
        return json_reply(200, self.sim.dataset.aggregate(parse_json(call.request)))

    def limits(self, call: Call) -> Reply:
        """GET /api/v2/organizations/limits/namespaces/{namespace}[/defaults]."""
        namespace = call.params["namespace"]
        values = self._limit_values().get(namespace)
        if values is None:
            raise not_found(f"limits of namespace {namespace}")
        entities = [{"key": k, "namespace": namespace, "value": v} for k, v in values.items()]
        # LimitsEntityListing (SDK 269.0.0) has `entities` only: no paging members.
        return json_reply(200, {"entities": entities})

    def _limit_values(self) -> dict[str, dict[str, int]]:
        limits = self.sim.dataset.limits
        return {
            "analytics": {
                "aggregates.query.max.buckets": limits.max_buckets,
                "aggregates.query.max.cells": limits.max_cells,
                "details.job.max.interval.days": self.sim.job_config.max_interval_days,
                "details.jobs.concurrent.access.max": self.sim.job_config.max_concurrent,
                "details.jobs.rate.per.second": self.sim.job_config.submits_per_second,
            },
            "platform.api": {
                "client.credentials.token.rate.per.minute": self.sim.budget_per_minute,
            },
        }

    # -- reporting exports ---------------------------------------------------------------

    def submit_export(self, call: Call) -> Reply:
        """POST /api/v2/analytics/reporting/exports -> 200 ReportingExportJobResponse
        (FAILED at once, TOO_MANY_REQUESTS_FROM_AN_ORGANIZATION, past the org's limit)."""
        fields = exports.validate_request(parse_json(call.request))
        with self.sim.locked():
            refused = exports.over_limit(
                self.sim.state.exports.values(),
                call.now,
                self.sim.export_latency,
                self.sim.max_exports_in_flight,
            )
            fails = not refused and self.sim.take_fault(FaultKind.EXPORT_FAIL) is not None
            partial = (
                not refused
                and not fails
                and self.sim.take_fault(FaultKind.PARTIAL_EXPORT) is not None
            )
            slow = None if refused else self.sim.take_fault(FaultKind.SLOW_EXPORT)
            export = exports.new_export(
                fields,
                call.now,
                fails=fails,
                partial=partial,
                org_settings=self.sim.org_export_settings,
                settings_shown=self.sim.org_settings_shown,
                refused=refused,
                extra_latency=slow.seconds if slow else 0.0,
            )
            self.sim.state.exports[export.id] = export
            self.sim.bump("exports_submitted")
            return json_reply(200, self._export_doc(export, call))

    def _export_doc(self, export: exports.Export, call: Call) -> Json:
        status = exports.progress(export, call.now, self.sim.export_latency)
        return exports.response_doc(export, status, self.sim.wall_ms, call.request.base_url)

    def list_exports(self, call: Call) -> Reply:
        """GET /api/v2/analytics/reporting/exports?pageNumber&pageSize, newest first."""
        number = _int_param(call.request.query, "pageNumber", 1, 1, 10**6)
        size = _int_param(call.request.query, "pageSize", 25, 1, EXPORT_PAGE_SIZE_MAX)
        with self.sim.locked():
            newest_first = sorted(
                enumerate(self.sim.state.exports.values()),
                key=lambda pair: (pair[1].created, pair[0]),
                reverse=True,
            )
            total = len(newest_first)
            chosen = [export for _, export in newest_first[(number - 1) * size : number * size]]
            entities = [self._export_doc(export, call) for export in chosen]
        return json_reply(200, _listing(entities, number, size, total))

    def export_metadata(self, call: Call) -> Reply:
        """GET /api/v2/analytics/reporting/exports/metadata: one entity per view type."""
        entities = [reports.metadata(view_type) for view_type in VIEW_TYPES]
        return json_reply(200, _listing(entities, 1, len(entities), len(entities), paged=False))

    def download(self, call: Call) -> Reply:
        """GET /api/v2/downloads/{downloadId}: 303 to a pre-signed URL, or UrlResponse."""
        download_id = call.params["downloadId"]
        with self.sim.locked():
            export = self._completed_export(download_id, call.now)
            self.sim.bump("downloads")
        key = f"{download_id}.{export.fields['exportFormat'].lower()}"
        storage = self.sim.storage_url or UNBOUND_STORAGE_URL
        url = self.sim.signer.sign(storage, key, self.sim.wall_ms(call.now))
        if call.request.query.get("issueRedirect", "true").lower() == "false":
            return json_reply(200, {"url": url})
        return Reply(303, (("Location", url),))

    def _completed_export(self, download_id: str, now: float) -> exports.Export:
        for export in self.sim.state.exports.values():
            if export.download_id == download_id:
                status = exports.progress(export, now, self.sim.export_latency)[0]
                if status in exports.DOWNLOADABLE:
                    return export
        raise not_found(f"download {download_id}")

    # -- storage host --------------------------------------------------------------------

    def storage(self, request: HttpRequest, now: float) -> Reply:
        """The pre-signed download listener: S3-like, refuses any Authorization header."""
        if "authorization" in request.headers:
            return _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
            )
        if request.method not in ("GET", "HEAD"):
            return _s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
        key = request.path.removeprefix("/exports/")
        refusal = self.sim.signer.check(key, request.query, self.sim.wall_ms(now))
        if not request.path.startswith("/exports/") or refusal is not None:
            code, message = refusal or ("NoSuchKey", "The specified key does not exist.")
            return _s3_error(404 if code == "NoSuchKey" else 403, code, message)
        with self.sim.locked():
            export = self._export_for_key(key, now)
            if export is None:
                return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
            truncate = self.sim.take_fault(FaultKind.DOWNLOAD_DROP) is not None
        body = self._file(export)
        return Reply(200, _file_headers(export, key, body), body, truncate=truncate)

    def _export_for_key(self, key: str, now: float) -> exports.Export | None:
        try:
            return self._completed_export(key.rsplit(".", 1)[0], now)
        except Problem:
            return None

    def _file(self, export: exports.Export) -> bytes:
        downloads = self.sim.state.downloads
        with self.sim.locked():
            cached = downloads.get(export.download_id)
        if cached is None:
            pdf = export.fields["exportFormat"] == "PDF"
            cached = _PDF if pdf else self.sim.dataset.report_csv(export.fields)
            if not pdf and self._is_ragged(export):
                cached = csvreport.ragged(cached, export.fields)
        with self.sim.locked():
            # Files can be large (report_rows is a benchmark knob): keep the last few only.
            downloads[export.download_id] = cached
            downloads.move_to_end(export.download_id)
            while len(downloads) > _CACHED_FILES:
                downloads.popitem(last=False)
        return cached

    def _is_ragged(self, export: exports.Export) -> bool:
        """Whether this export's CSV is malformed: decided when its file is first built."""
        with self.sim.locked():
            if export.ragged is None:
                export.ragged = self.sim.take_fault(FaultKind.RAGGED_CSV) is not None
            return export.ragged


def _dropped(sim: Simulator, kind: jobs.JobKind, query: Json) -> jobs.Drop | None:
    """What a drop_conversations fault leaves out of a conversation job, if one applies."""
    if kind is not jobs.JobKind.CONVERSATIONS:
        return None
    start, end = (to_ms(t) for t in parse_interval(query["interval"]))
    rule = sim.take_drop(start, end)
    if rule is None:
        return None
    start, end = rule.day_bounds_ms() or (start, end)
    return jobs.Drop(count=rule.n or 1, start_ms=start, end_ms=end)


def _kind(request: HttpRequest) -> jobs.JobKind:
    if "/aggregates/" in request.path:
        return jobs.JobKind.AGGREGATES
    if "/analytics/users/" in request.path:
        return jobs.JobKind.USERS
    return jobs.JobKind.CONVERSATIONS


def _new_id() -> str:
    return str(uuid.uuid4())


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise invalid_query_param(text, name, f"an integer from {low} to {high}")
    return value


def _listing(
    entities: list[Json], number: int, size: int, total: int, *, paged: bool = True
) -> Json:
    count = math.ceil(total / size) if total else 0
    doc: Json = {"entities": entities, "pageSize": size, "pageNumber": number, "total": total}
    doc["pageCount"] = count
    if paged:
        uri = f"{_EXPORTS}?pageSize={size}&pageNumber="
        doc.update(firstUri=f"{uri}1", selfUri=f"{uri}{number}", lastUri=f"{uri}{max(count, 1)}")
        if number < count:
            doc["nextUri"] = f"{uri}{number + 1}"
        if number > 1:
            doc["previousUri"] = f"{uri}{number - 1}"
    return doc


def _s3_error(status: int, code: str, message: str) -> Reply:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    return Reply(status, (("Content-Type", "application/xml"),), body)


def _file_headers(export: exports.Export, key: str, body: bytes) -> tuple[tuple[str, str], ...]:
    pdf = export.fields["exportFormat"] == "PDF"
    content_type = "application/pdf" if pdf else "text/csv; charset=utf-8"
    return (
        ("Content-Type", content_type),
        ("Content-Disposition", f'attachment; filename="{key}"'),
        ("ETag", f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'),
    )


# A minimal one-page PDF: the simulator renders no real PDF report.
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
