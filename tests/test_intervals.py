from datetime import UTC, datetime, timedelta

import pytest

from genesys_export.errors import ConfigError
from genesys_export.intervals import Interval, parse_duration, parse_interval


def test_a_date_alone_means_midnight_utc_and_end_is_exclusive() -> None:
    interval = parse_interval("2024-05-01/2024-05-03")
    assert interval.start == datetime(2024, 5, 1, tzinfo=UTC)
    assert interval.iso() == "2024-05-01T00:00:00.000Z/2024-05-03T00:00:00.000Z"


def test_offsets_are_converted_to_utc() -> None:
    interval = parse_interval("2024-05-01T02:00:00+02:00/2024-05-01T12:00:00Z")
    assert interval.start == datetime(2024, 5, 1, 0, tzinfo=UTC)


def test_split_aligns_chunks_to_utc_days() -> None:
    chunks = parse_interval("2024-05-01T06:00:00Z/2024-05-03T12:00:00Z").split(timedelta(days=1))
    assert [c.iso() for c in chunks] == [
        "2024-05-01T06:00:00.000Z/2024-05-02T00:00:00.000Z",
        "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z",
        "2024-05-03T00:00:00.000Z/2024-05-03T12:00:00.000Z",
    ]


def test_clip_at_the_data_availability_date() -> None:
    interval = parse_interval("2024-05-01/2024-05-03")
    assert interval.clip(datetime(2024, 5, 2, 5, tzinfo=UTC)) == Interval(
        interval.start, datetime(2024, 5, 2, 5, tzinfo=UTC)
    )
    assert interval.clip(datetime(2024, 4, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize("bad", ["2024-05-01", "2024-05-02/2024-05-01", "yesterday/today", "a/b/c"])
def test_bad_intervals_name_the_option_and_the_fix(bad: str) -> None:
    with pytest.raises(ConfigError, match="--interval") as err:
        parse_interval(bad)
    assert "2024-05-01" in str(err.value) or "after" in str(err.value)


def test_durations() -> None:
    assert parse_duration("PT30M", name="--granularity") == timedelta(minutes=30)
    assert parse_duration("P1DT12H", name="--period") == timedelta(days=1, hours=12)
    with pytest.raises(ConfigError, match="--granularity"):
        parse_duration("30m", name="--granularity")
