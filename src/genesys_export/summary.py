"""Human-readable run summaries for the command line."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def render_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Rows per table, then what the run cost: requests, 429s, retries, waits, duration."""
    out = console or Console()
    rows = Table(title=f"run {summary.get('run_id', '')}")
    rows.add_column("table")
    rows.add_column("rows", justify="right")
    for name, count in summary.get("rows", {}).items():
        rows.add_row(name, f"{count:,}")
    out.print(rows)
    cost = ", ".join(
        f"{label} {summary[key]}"
        for key, label in (
            ("chunks", "chunks"),
            ("jobs", "jobs"),
            ("requests", "requests"),
            ("rate_limited", "429s"),
            ("retries", "retries"),
            ("budget_wait_s", "budget wait s"),
            ("retry_wait_s", "retry wait s"),
            ("duration_s", "duration s"),
        )
        if key in summary
    )
    out.print(cost)
    if summary.get("dest"):
        out.print(f"destination: {summary['dest']}")
    landing = summary.get("landing")
    if isinstance(landing, dict):
        out.print(f"raw landing zone: {landing['uri']} ({landing.get('jobs', 0)} jobs kept)")
    for warning in summary.get("warnings", []):
        out.print(f"[yellow]warning:[/yellow] {warning}")
