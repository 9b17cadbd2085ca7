"""What a person reads on an 80-column terminal: no wrapped cells, dates as dates."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from genesys_export.check import CheckResult, Probe
from genesys_export.intervals import Interval
from genesys_export.render import (
    render_check,
    render_plan,
    render_status,
    render_summary,
    span,
    when,
)
from genesys_export.sync import DatasetPlan

MAY1, MAY8 = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 8, tzinfo=UTC)
PLANS = [
    DatasetPlan("conversations", "conversations", Interval(MAY1, MAY8), 7, 85, 420.0),
    DatasetPlan("agent_performance_summary", "report", Interval(MAY1, MAY8), 7, 71, 90.4),
    DatasetPlan("queue_stats", "aggregates", None, 0, 0, 0.0),
]
STATUS = [
    {
        "dataset": "conversations",
        "kind": "conversations",
        "written_until": "2024-05-10T06:00:00+00:00",
        "settled_until": "2024-05-07T00:00:00+00:00",
        "provisional": "2024-05-07T00:00:00+00:00/2024-05-10T06:00:00+00:00",
        "last_runs": [{"started": "2024-05-10T06:02:11.123456+00:00", "outcome": "ok"}],
    }
]


def rendered(width: int, draw: object, *args: object) -> list[str]:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    draw(*args, console)  # type: ignore[operator]
    return console.export_text().splitlines()


def test_instants_read_as_dates_at_midnight_and_minutes_otherwise() -> None:
    assert when("2024-05-01T00:00:00.000Z") == "2024-05-01"
    assert when("2024-05-10T06:00:00+00:00") == "2024-05-10 06:00Z"
    assert when(datetime(2024, 5, 10, 6, 0, 5, tzinfo=UTC)) == "2024-05-10 06:00:05Z"
    assert when("2024-05-10T08:00:00+02:00") == "2024-05-10 06:00Z"  # shown in UTC
    assert span("2024-05-01T00:00:00.000Z/2024-05-08T00:00:00.000Z") == "2024-05-01 → 2024-05-08"
    assert when(None) == "-"


def test_plan_fits_80_columns_with_whole_words() -> None:
    lines = rendered(80, render_plan, PLANS)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for word in ("conversations", "agent_performance_summary", "2024-05-01 → 2024-05-08"):
        assert word in text, text
    assert "T00:00:00" not in text and "up to date" in text


def test_a_wide_table_folds_into_one_block_per_row() -> None:
    """Status has six columns of instants: at 80 columns each dataset is a block of
    `name: value` lines; on a wide terminal the same rows are one table."""
    narrow = rendered(80, render_status, STATUS)
    assert max(len(line) for line in narrow) <= 80
    assert any(
        line.split() == ["provisional", "2024-05-07", "→", "2024-05-10", "06:00Z"]
        for line in narrow
    )
    assert any(line.split()[:2] == ["last", "runs"] for line in narrow)
    wide = rendered(200, render_status, STATUS)
    header = next(line for line in wide if "dataset" in line)
    assert all(name in header for name in ("written", "settled", "provisional", "last runs"))
    assert sum("2024-05-10 06:00Z" in line for line in wide) == 1  # one row, not blocks


def test_check_and_summary_fit_80_columns() -> None:
    probes = CheckResult(
        [
            Probe("conversation details", True, "data available until 2024-05-10T06:00:00.000Z"),
            Probe("reporting exports", False, "refused: " + "missing permission " * 6, True),
        ]
    )
    summary = {
        "run_id": "5f0c3f0e9d3b4c8fa1d2e3f4a5b6c7d8",
        "rows": {"participant_attributes": 123456, "conversations": 1000},
        "requests": 85,
        "rate_limited": 0,
        "duration_s": 12.5,
        "dest": "duckdb:///demo/genesys.duckdb",
        "warnings": [],
    }
    for lines in (rendered(80, render_check, probes), rendered(80, render_summary, summary)):
        assert max(len(line) for line in lines) <= 80, lines
    assert "participant_attributes" in "\n".join(rendered(80, render_summary, summary))
