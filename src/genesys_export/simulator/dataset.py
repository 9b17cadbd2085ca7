"""Ground truth: what the simulated org's analytics hold, as pure functions of the seed.

Tests compare a client's output with these methods; the request handlers serve from the
same methods, so "what a job returns" and "the ground truth" cannot drift apart.

Conversations are generated per UTC day (the day they start in), rendered to their wire
JSON bytes once, and cached with those bytes, so jobs over the same days share one
rendering. The cache holds a bounded number of days (`cached_days`, least recently used
first out; an evicted day is generated again, identically), plus every day `prerender`
was asked for, which stays for the life of the Dataset. The
data-availability watermark is fixed for the life of a Dataset: conversations starting at
or after it do not exist yet, and those still running at it are served open.
"""

from __future__ import annotations

import gc
import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from genesys_export.simulator import aggregates, csvreport
from genesys_export.simulator.conversations import generate_day
from genesys_export.simulator.isotime import MS_PER_DAY, format_ms, to_ms
from genesys_export.simulator.reference import Organization, build_organization
from genesys_export.simulator.render import ConversationRecord, to_record
from genesys_export.simulator.users import StatusRecord, UserDay, generate_user_day

Json = dict[str, Any]
# A conversation never lasts a day (the longest story is an email of a few hours), so
# looking one day back from an interval start finds every conversation still running.
_LOOKBACK_DAYS = 1


class Dataset:
    """The simulated org's conversations, user presence, aggregates and report files."""

    def __init__(
        self,
        *,
        seed: int,
        conversations_per_day: int,
        users: int,
        data_availability: datetime,
        report_rows: int,
        max_aggregate_buckets: int = 2000,
        max_aggregate_cells: int = 20000,
        cached_days: int = 8,
    ) -> None:
        if data_availability.tzinfo is None:
            raise ValueError("data_availability must be timezone-aware (UTC)")
        if conversations_per_day < 0 or report_rows < 0:
            raise ValueError("conversations_per_day and report_rows must not be negative")
        self.seed = seed
        self.conversations_per_day = conversations_per_day
        self.report_rows = report_rows
        self.org: Organization = build_organization(seed, users=users)
        self.data_availability = data_availability
        self.limits = aggregates.AggregateLimits(max_aggregate_buckets, max_aggregate_cells)
        self._cutoff_ms = to_ms(data_availability)
        self._cached_days = max(1, cached_days)
        self._days: OrderedDict[int, list[ConversationRecord]] = OrderedDict()
        self._kept: dict[int, list[ConversationRecord]] = {}  # prerendered days
        self._lock = threading.Lock()

    # -- conversations -----------------------------------------------------------------

    def conversations(self, start: datetime, end: datetime) -> list[Json]:
        """The AnalyticsConversation objects a details job over [start, end) returns."""
        return [json.loads(r.raw) for r in self.conversation_records(to_ms(start), to_ms(end))]

    def conversation_records(self, start_ms: int, end_ms: int) -> list[ConversationRecord]:
        """Records with activity in [start, end), ordered by (conversationStart, id)."""
        return [r for r in self._candidates(start_ms, end_ms) if r.overlaps(start_ms, end_ms)]

    def records_touching(self, start_ms: int, end_ms: int) -> list[ConversationRecord]:
        """Like conversation_records but also those ending exactly at `start_ms` (whose last
        metrics are emitted at that instant), for aggregates."""
        return [
            r
            for r in self._candidates(start_ms, end_ms)
            if r.start_ms < end_ms and (r.end_ms is None or r.end_ms >= start_ms)
        ]

    def prerender(self, start_ms: int, end_ms: int) -> int:
        """Generate and render, ahead of any request, every conversation a details job over
        [start, end) can return (those starting in it, and those of the day before, which
        may still run at its start), and keep them for the life of the Dataset. Returns
        how many conversations are kept for the interval. Memory: about 50 MB per day of
        6,452 conversations."""
        kept = 0
        for day in self._day_span(start_ms, end_ms):
            kept += len(self._day(day, keep=True))
        return kept

    def _day_span(self, start_ms: int, end_ms: int) -> range:
        """The UTC days (epoch ms) whose conversations may have activity in [start, end)."""
        first_day = (start_ms // MS_PER_DAY - _LOOKBACK_DAYS) * MS_PER_DAY
        last_day = min(end_ms - 1, self._cutoff_ms) // MS_PER_DAY * MS_PER_DAY
        return range(first_day, last_day + 1, MS_PER_DAY)

    def _candidates(self, start_ms: int, end_ms: int) -> list[ConversationRecord]:
        records: list[ConversationRecord] = []
        for day in self._day_span(start_ms, end_ms):
            records.extend(self._day(day))
        return records

    def _day(self, day_ms: int, *, keep: bool = False) -> list[ConversationRecord]:
        with self._lock:
            if day_ms in self._kept:
                return self._kept[day_ms]
            day = self._days.pop(day_ms, None)
            if day is None:
                day = self._generate(day_ms)
            if keep:
                self._kept[day_ms] = day
                return day
            self._days[day_ms] = day
            while len(self._days) > self._cached_days:
                self._days.popitem(last=False)
            return day

    def _generate(self, day_ms: int) -> list[ConversationRecord]:
        # Generating makes millions of short-lived objects and no reference cycles; with
        # the collector on, each of its full passes would also walk every day kept so far
        # (a third of the time at 6,452 conversations a day over 31 days).
        collecting = gc.isenabled()
        gc.disable()
        try:
            generated = generate_day(self.org, self.seed, day_ms, self.conversations_per_day)
            records = [to_record(c, self._cutoff_ms) for c in generated]
        finally:
            if collecting:
                gc.enable()
        return [record for record in records if record is not None]

    # -- users -------------------------------------------------------------------------

    def user_details(self, start: datetime, end: datetime) -> list[Json]:
        """The AnalyticsUserDetail objects a user details job over [start, end) returns:
        every presence and routing-status record overlapping the interval, by userId."""
        start_ms, end_ms = to_ms(start), to_ms(end)
        details = []
        for index, user in sorted(enumerate(self.org.users), key=lambda pair: pair[1].id):
            days = [
                generate_user_day(self.seed, index, user.id, day)
                for day in self._day_span(start_ms, end_ms)
            ]
            detail = self._user_detail(user.id, days, start_ms, end_ms)
            if detail is not None:
                details.append(detail)
        return details

    def _user_detail(
        self, user_id: str, days: list[UserDay], start_ms: int, end_ms: int
    ) -> Json | None:
        presence = self._records(
            [r for day in days for r in day.presence], start_ms, end_ms, "systemPresence"
        )
        routing = self._records(
            [r for day in days for r in day.routing], start_ms, end_ms, "routingStatus"
        )
        if not presence and not routing:
            return None
        detail: Json = {"userId": user_id}
        if presence:
            for record in presence:
                record["organizationPresenceId"] = self.org.presence_ids[record["systemPresence"]]
            detail["primaryPresence"] = presence
        if routing:
            detail["routingStatus"] = routing
        return detail

    def _records(
        self, records: list[StatusRecord], start_ms: int, end_ms: int, key: str
    ) -> list[Json]:
        docs = []
        for record in records:
            if record.start >= self._cutoff_ms or not (
                record.start < end_ms and record.end > start_ms
            ):
                continue
            doc: Json = {"startTime": format_ms(record.start)}
            if record.end <= self._cutoff_ms:
                doc["endTime"] = format_ms(record.end)
            doc[key] = record.status
            docs.append(doc)
        return docs

    # -- aggregates and reports --------------------------------------------------------

    def aggregate(self, query: Json) -> Json:
        """The ConversationAggregateQueryResponse for a query body; raises
        `problems.Problem` (400) for a query the endpoint refuses."""
        plan = aggregates.plan_query(query, self.limits)
        records = self.records_touching(plan.start_ms, plan.end_ms)
        return aggregates.compute(plan, records, self.limits.max_cells)

    def report_csv(self, export: Json) -> bytes:
        """The CSV a reporting export (request or response fields) produces."""
        return csvreport.report_csv(self.org, self.seed, export, self.report_rows)
