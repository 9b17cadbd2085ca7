"""ISO-8601 instants, intervals and durations as the contract writes them.

Internally the simulator counts time in integer epoch milliseconds (UTC): it is what the
analytics API exposes (millisecond timestamps, `t*` metrics in ms) and it keeps the
generator cheap. This module converts between that and the strings on the wire.

Formats of API v2 dates:

* instants are written `2024-05-01T13:45:10.123Z` (always UTC, always milliseconds);
  instants are read with or without fraction, with `Z`, an offset, or no zone (= UTC);
* intervals are `start/end`, end exclusive;
* durations are `PnYnMnWnDTnHnMnS` (`PT30M`, `P1D`, `P1DT12H`): the calendar part (Y, M,
  W, D) is added in the wall-clock time of a zone so a `P1D` bucket spans 23 or 25 hours
  across a DST change; the clock part (H, M, S) is added as elapsed time.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

MS_PER_DAY = 86_400_000

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class IsoError(ValueError):
    """A string is not the ISO-8601 form the contract expects; `code` is the ErrorBody code."""

    def __init__(self, message: str, *, code: str = "bad.request") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Duration:
    """An ISO-8601 duration split into its calendar and clock parts."""

    years: int = 0
    months: int = 0
    days: int = 0
    clock_ms: int = 0

    @property
    def is_zero(self) -> bool:
        """True for `PT0S` and friends, which cannot step through an interval."""
        return not (self.years or self.months or self.days or self.clock_ms)

    def add_to(self, instant: datetime, zone: tzinfo) -> datetime:
        """`instant` plus this duration; calendar units move the wall clock of `zone`."""
        result = instant
        if self.years or self.months or self.days:
            local = instant.astimezone(zone).replace(tzinfo=None)
            month_index = local.month - 1 + self.months + 12 * self.years
            year, month = local.year + month_index // 12, month_index % 12 + 1
            local = local.replace(
                year=year, month=month, day=min(local.day, _month_days(year, month))
            )
            local += timedelta(days=self.days)
            result = _from_wall(local, zone)
        return result + timedelta(milliseconds=self.clock_ms)


def _month_days(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _from_wall(local: datetime, zone: tzinfo) -> datetime:
    # fold=0 picks the first of two ambiguous wall times; a wall time skipped by a DST gap
    # resolves to the later offset, as zoneinfo does.
    return local.replace(tzinfo=zone).astimezone(UTC)


def parse_duration(text: str) -> Duration:
    """Parse `PT30M`, `P1D`, `P1DT12H`, `P1W`...; raise IsoError otherwise."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise IsoError(f"duration {text!r} is not ISO-8601 (for example PT30M, P1D, P1DT12H)")
    parts = {name: value for name, value in match.groupdict().items() if value is not None}
    clock_ms = round(
        (int(parts.get("hours", 0)) * 3600 + int(parts.get("minutes", 0)) * 60) * 1000
        + float(parts.get("seconds", 0)) * 1000
    )
    return Duration(
        years=int(parts.get("years", 0)),
        months=int(parts.get("months", 0)),
        days=int(parts.get("days", 0)) + 7 * int(parts.get("weeks", 0)),
        clock_ms=clock_ms,
    )


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant into an aware UTC datetime (no zone means UTC)."""
    message = (
        "Dates must be specified as ISO-8601 strings. For example: yyyy-MM-ddTHH:mm:ss.SSSZ "
        f"(got {text!r})"
    )
    if not isinstance(text, str) or "T" not in text:
        raise IsoError(message, code="invalid.date")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise IsoError(message, code="invalid.date") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_interval(text: str) -> tuple[datetime, datetime]:
    """Parse `start/end` into two UTC datetimes; end must be after start."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise IsoError(
            f"interval {text!r} is not ISO-8601 start/end "
            "(for example 2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z)"
        )
    start_text, end_text = text.split("/")
    start, end = parse_instant(start_text), parse_instant(end_text)
    if end <= start:
        raise IsoError(f"interval {text!r} ends before it starts")
    return start, end


def to_ms(instant: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)


def format_ms(ms: int) -> str:
    """`2024-05-01T13:45:10.123Z` for epoch milliseconds; the hot path of the generator."""
    day, rest = divmod(ms, MS_PER_DAY)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    t = time.gmtime(day * 86_400)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"


def format_instant(instant: datetime) -> str:
    """`2024-05-01T13:45:10.123Z` for an aware datetime."""
    return format_ms(to_ms(instant))


def format_interval(start_ms: int, end_ms: int) -> str:
    """`start/end` with both ends in the contract's instant format."""
    return f"{format_ms(start_ms)}/{format_ms(end_ms)}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
