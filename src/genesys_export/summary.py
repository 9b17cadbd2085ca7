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
    for warning in summary.get("warnings", []):
        out.print(f"[yellow]warning:[/yellow] {warning}")


def render_reconciliation(summary: dict[str, Any], console: Console | None = None) -> None:
    """The run summary, then what the reconciliation found and its worst cells."""
    out = console or Console()
    render_summary(summary, out)
    counts = (
        f"reconcile {summary.get('interval')} at {summary.get('granularity')}: "
        f"cells compared {summary.get('cells_compared', 0):,}, "
        f"differ {summary.get('cells_differ', 0):,}, "
        f"pending {summary.get('cells_pending', 0):,}, "
        f"largest difference {summary.get('largest_difference', 0)}"
    )
    out.print(counts, soft_wrap=True)
    if "repaired_days" in summary:
        days = ", ".join(summary["repaired_days"]) or "none"
        out.print(f"repaired days: {days}; cells fixed {summary.get('cells_fixed', 0)}")
    worst = summary.get("worst_cells") or []
    if worst:
        out.print("worst cells (details vs aggregates):")
    for cell in worst:
        bucket = cell["interval_start"][:16].replace("T", " ")
        out.print(
            f"  {bucket}  queue {cell['queue_id'] or '(none)'}  {cell['media_type'] or '(none)'}"
            f"  {cell['metric']}: {_value(cell['details_count'], cell['details_sum'])} vs "
            f"{_value(cell['aggregates_count'], cell['aggregates_sum'])}",
            soft_wrap=True,
        )


def _value(count: int, total: float | None) -> str:
    return f"{count:,}" if total is None else f"{count:,} ({total:,.0f} ms)"
