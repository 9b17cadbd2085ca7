"""Local times of a report CSV -> UTC, through the DST changes of the export's time zone.

Timestamps are written in the export's time zone unless they carry an offset; for the hour
a DST change repeats, see `Localizer`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from genesys_export.transform.tables import (
    UTC_MS,
)


class TimestampParser:
    """One timestamp column's text in its layout -> `timestamp[ms, UTC]`."""

    def __init__(self, layout: str, localize: Localizer) -> None:
        self._layout, self._localize = layout, localize
        self._unit = "ms"  # "ns" once a value carries sub-millisecond digits (then truncated)

    def __call__(self, values: pa.Array) -> pa.Array:
        if self._layout not in ("iso", "iso_tz"):
            return self._localize(pc.strptime(values, format=self._layout, unit="ms"))
        zone = "UTC" if self._layout == "iso_tz" else None
        try:
            parsed = pc.cast(values, pa.timestamp(self._unit, zone))
        except pa.ArrowInvalid:
            if self._unit == "ns":
                raise
            self._unit = "ns"
            parsed = pc.cast(values, pa.timestamp("ns", zone))
        parsed = pc.cast(parsed, pa.timestamp("ms", zone), safe=False)
        return parsed if zone else self._localize(parsed)  # an offset in the value wins


class Localizer:
    """Local wall-clock times of one column -> UTC, across DST changes.

    A time in the hour repeated when clocks go back names two instants. Reports list
    times in order, so _within a run of consecutive rows in the repeated hour, a step
    backwards on the wall clock starts the second pass (the later instant) until the run
    ends. A time in a spring-forward gap cannot come from a real export: it is an error.
    """

    def __init__(self, time_zone: str) -> None:
        self._name, self._zone = time_zone, ZoneInfo(time_zone)
        self.ambiguous = 0
        self._second_pass = False
        self._previous: int | None = None  # last ambiguous local value, if the last row was

    def __call__(self, local: pa.Array) -> pa.Array:
        low, high = pc.min_max(pc.cast(local, pa.int64())).values()
        if not low.is_valid:
            return pa.nulls(len(local), UTC_MS)
        offsets, repeated_hours = _zone_changes(self._zone, low.as_py(), high.as_py())
        if len(offsets) == 1:  # no DST change near: one subtraction (assume_timezone is slower)
            self._previous = None
            offset_ms = int(next(iter(offsets)).total_seconds() * 1000)
            return pc.cast(pc.subtract(pc.cast(local, pa.int64()), offset_ms), UTC_MS)
        early = pc.assume_timezone(
            local, timezone=self._name, ambiguous="earliest", nonexistent="raise"
        )
        repeated = _within(local, repeated_hours)
        if repeated is None:
            self._previous = None
            return pc.cast(early, UTC_MS)
        late = pc.assume_timezone(
            local, timezone=self._name, ambiguous="latest", nonexistent="raise"
        )
        rows = pc.indices_nonzero(repeated).to_pylist()
        self.ambiguous += len(rows)
        later = self._second_pass_rows(rows, local, len(local))
        if not later:
            return pc.cast(early, UTC_MS)
        mask = pa.array([i in later for i in range(len(local))])
        return pc.cast(pc.replace_with_mask(early, mask, pc.filter(late, mask)), UTC_MS)

    def _second_pass_rows(self, rows: list[int], local: pa.Array, n: int) -> set[int]:
        values = pc.cast(pc.take(local, pa.array(rows)), pa.int64()).to_pylist()
        later: set[int] = set()
        previous_row = -1 if self._previous is not None else -2
        for row, value in zip(rows, values, strict=True):
            if row != previous_row + 1:  # a run of the repeated hour starts afresh
                self._second_pass, self._previous = False, None
            if self._previous is not None and value < self._previous:
                self._second_pass = True
            if self._second_pass:
                later.add(row)
            self._previous, previous_row = value, row
        if rows[-1] != n - 1:
            self._previous = None
        return later


def _zone_changes(
    zone: ZoneInfo, low: int, high: int
) -> tuple[set[timedelta], list[tuple[int, int]]]:
    """The UTC offsets in force around local times low..high, and the repeated hours.

    Local values are epoch milliseconds of the wall clock read as UTC. Scans day by day
    (two days of margin cover any offset); a fall in the offset is bisected to the second
    and gives the local range [start, end) that the wall clock shows twice.
    """
    day = timedelta(days=1)
    instant = datetime.fromtimestamp(low // 1000, UTC) - 2 * day
    last = datetime.fromtimestamp(high // 1000, UTC) + 2 * day
    offsets, repeated = {_offset(zone, instant)}, []
    while instant < last:
        before, after = _offset(zone, instant), _offset(zone, instant + day)
        offsets.add(after)
        if after < before:
            change = _offset_change(zone, instant, instant + day)
            repeated.append((_epoch_ms(change + after), _epoch_ms(change + before)))
        instant += day
    return offsets, repeated


def _within(local: pa.Array, ranges: list[tuple[int, int]]) -> pa.Array | None:
    """True where a local time lies in one of the ranges; None when none does."""
    inside = None
    for start, end in ranges:
        hit = pc.and_(
            pc.greater_equal(local, pa.scalar(start, local.type)),
            pc.less(local, pa.scalar(end, local.type)),
        )
        inside = hit if inside is None else pc.or_(inside, hit)
    if inside is None or not pc.any(inside).as_py():
        return None
    return pc.fill_null(inside, False)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _offset_change(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first instant in (low, high] with the offset of `high` (bisection)."""
    target = _offset(zone, high)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        low, high = (low, middle) if _offset(zone, middle) == target else (middle, high)
    return high.replace(microsecond=0)


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
