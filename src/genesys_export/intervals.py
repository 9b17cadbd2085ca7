"""Intervals: ISO-8601 `start/end`, end exclusive, always UTC inside the library."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from genesys_export.errors import ConfigError

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")

    def iso(self) -> str:
        """The API's form: `2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z`."""
        return f"{format_instant(self.start)}/{format_instant(self.end)}"

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def split(self, step: timedelta) -> list[Interval]:
        """Pieces of at most `step`, aligned to multiples of `step` from midnight UTC."""
        pieces, cursor = [], self.start
        midnight = datetime.combine(self.start.date(), datetime.min.time(), UTC)
        while cursor < self.end:
            aligned = midnight + step * ((cursor - midnight) // step + 1)
            nxt = min(aligned, self.end)
            pieces.append(Interval(cursor, nxt))
            cursor = nxt
        return pieces

    def split_from_start(self, step: timedelta) -> list[Interval]:
        """Pieces of `step` counted from this interval's start (the last may be shorter)."""
        starts = range(0, -(-self.length // step))
        return [
            Interval(self.start + step * i, min(self.end, self.start + step * (i + 1)))
            for i in starts
        ]

    def clip(self, end: datetime) -> Interval | None:
        """This interval cut at `end`, or None when nothing is left."""
        return Interval(self.start, min(self.end, end)) if self.start < end else None

    def __str__(self) -> str:
        return self.iso()


def iana_zone(name: str, *, option: str | None = None) -> ZoneInfo:
    """The IANA time zone `name`, or a ConfigError naming `option` and the fix."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        reason = (
            f"not an IANA time zone ({name!r}); use e.g. UTC, Europe/London or America/New_York"
        )
        raise ConfigError(f"{option}: {reason}" if option else reason) from None


def bucket_edges(
    interval: Interval, step: timedelta, time_zone: str | None = None
) -> list[datetime]:
    """Bucket boundaries from the interval's start until one reaches its end.

    Clock steps (PT30M) are fixed. Calendar steps (P1D, P7D) are taken in `time_zone`,
    where a day around a DST change lasts 23 or 25 hours.
    """
    zone = ZoneInfo(time_zone) if time_zone and step.days else None
    local = interval.start.astimezone(zone).replace(tzinfo=None) if zone else None
    edges, k = [interval.start], 1
    while edges[-1] < interval.end:
        if local is not None:
            edges.append((local + step * k).replace(tzinfo=zone).astimezone(UTC))
        else:
            edges.append(interval.start + step * k)
        k += 1
    return edges


def format_instant(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def parse_instant(text: str, *, name: str) -> datetime:
    """An ISO-8601 instant or date (midnight UTC); naive means UTC."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{name}: {text!r} is not an ISO-8601 date or time; use e.g. 2024-05-01 or "
            "2024-05-01T08:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_interval(text: str, *, name: str = "--interval") -> Interval:
    """`A/B` with B after A; each side a date (midnight UTC) or an ISO instant."""
    if text.count("/") != 1:
        raise ConfigError(
            f"{name}: {text!r} is not an interval; use START/END, e.g. 2024-05-01/2024-05-08"
        )
    left, right = text.split("/")
    start, end = parse_instant(left, name=name), parse_instant(right, name=name)
    if end <= start:
        raise ConfigError(f"{name}: the end {right!r} must be after the start {left!r}")
    return Interval(start, end)


def parse_duration(text: str, *, name: str) -> timedelta:
    """An ISO-8601 duration without years or months (P1D, PT30M, P1DT12H)."""
    match = _DURATION.match(text.strip().upper())
    if not match:
        raise ConfigError(
            f"{name}: {text!r} is not an ISO-8601 duration; use e.g. PT15M, PT30M, PT1H or P1D"
        )
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    value = timedelta(**parts)
    if value <= timedelta(0):
        raise ConfigError(f"{name}: {text!r} must be longer than zero")
    return value
