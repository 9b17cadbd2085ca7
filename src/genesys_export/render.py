"""What the command line shows a person: tables that fit the terminal.

A table is printed as a table when its rows fit the console's width unwrapped; otherwise
each row becomes a block of `name: value` lines, so no cell is broken mid-word on an
80-column terminal. Instants read as dates where they are midnight UTC (`2024-05-01`),
else as `2024-05-01 13:30Z`; intervals as `start → end`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from genesys_export.check import CheckResult
from genesys_export.sync import DatasetPlan


def when(value: datetime | str | None) -> str:
    """An instant for a person: a date at midnight UTC, else minutes (seconds if any)."""
    if value is None or value == "":
        return "-"
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    instant = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
    if instant.time() == datetime.min.time():
        return instant.strftime("%Y-%m-%d")
    layout = "%Y-%m-%d %H:%M:%SZ" if instant.second or instant.microsecond else "%Y-%m-%d %H:%MZ"
    return instant.strftime(layout)


def span(interval: str | None) -> str:
    """`start/end` (ISO-8601) as `start → end`, each as `when` shows it."""
    if not interval:
        return "-"
    start, _, end = interval.partition("/")
    return f"{when(start)} → {when(end)}"


def show(
    console: Console,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[str] = (),
) -> None:
    """A table if it fits `console` unwrapped, else one `header: value` block per row."""
    table = Table()
    for header in headers:
        table.add_column(header, no_wrap=True, justify="right" if header in right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(f"[bold]{title}[/bold]")
    unbounded = console.options.update(max_width=1 << 20)  # the width it wants, unwrapped
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
        return
    for row in rows:
        block = Table.grid(padding=(0, 2), pad_edge=True)
        block.add_column(no_wrap=True)
        block.add_column(overflow="fold")  # long values wrap between words
        for header, cell in zip(headers, row, strict=True):
            block.add_row(header, cell)
        console.print(block)
        console.print()


def render_plan(plans: list[DatasetPlan], console: Console | None = None) -> None:
    rows = [
        [
            p.name,
            p.kind,
            span(p.interval.iso()) if p.interval else "up to date",
            str(p.chunks),
            f"{p.requests:,}",
            str(timedelta(seconds=round(p.seconds))),
        ]
        for p in plans
    ]
    headers = ("dataset", "kind", "interval", "jobs", "requests", "time")
    asked = any(p.details for p in plans)
    out = console or Console()
    show(
        out,
        "plan (estimates; read-only requests)" if asked else "plan (estimates; nothing was called)",
        headers,
        rows,
        right=("jobs", "requests", "time"),
    )
    for p in plans:
        if p.details:
            d, lat = p.details, p.details["latency"]
            days = "/".join(f"{x:g}" for x in d["job_days"])
            out.print(
                f"{p.name}: {d['jobs']} job(s) of {days} day(s), {d['concurrency']} at once; "
                f"bound by {d['binds']}; job latency {lat['base_s']:g} s + "
                f"{lat['per_day_s']:g} s/day ({lat['source']})"
                + ("" if d["counts_known"] else "; conversation counts unknown")
            )


def render_status(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    shown = [
        [
            row["dataset"],
            row["kind"],
            when(row["written_until"]) if row["written_until"] else "never",
            when(row["settled_until"]),
            span(row["provisional"]),
            "; ".join(
                f"{when(r.get('started'))} {r.get('outcome', 'running?')}" for r in row["last_runs"]
            )
            or "-",
        ]
        for row in rows
    ]
    headers = ("dataset", "kind", "written", "settled", "provisional", "last runs")
    show(console or Console(), "status", headers, shown)


def render_check(result: CheckResult, console: Console | None = None) -> None:
    def mark(ok: bool, refused: bool) -> str:
        if ok:
            return "[green]ok[/green]"
        return "[red]refused[/red]" if refused else "[red]failed[/red]"

    rows = [[p.name, mark(p.ok, p.refused), p.detail] for p in result.probes]
    show(console or Console(), "genesys-export check", ("check", "result", "detail"), rows)


def render_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Rows per table, then what the run cost: requests, 429s, retries, waits, duration."""
    out = console or Console()
    rows = [[name, f"{count:,}"] for name, count in summary.get("rows", {}).items()]
    show(out, f"run {summary.get('run_id', '')}", ("table", "rows"), rows, right=("rows",))
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


def render_rows(
    title: str, names: Sequence[str], rows: Sequence[Sequence[Any]], console: Console
) -> None:
    """Query results (the demo's BI query): instants as `when` shows them."""
    cells = [[when(v) if isinstance(v, datetime) else str(v) for v in row] for row in rows]
    show(console, title, names, cells)


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
        bucket = when(cell["interval_start"])
        out.print(
            f"  {bucket}  queue {cell['queue_id'] or '(none)'}  {cell['media_type'] or '(none)'}"
            f"  {cell['metric']}: {_value(cell['details_count'], cell['details_sum'])} vs "
            f"{_value(cell['aggregates_count'], cell['aggregates_sum'])}",
            soft_wrap=True,
        )


def _value(count: int, total: float | None) -> str:
    return f"{count:,}" if total is None else f"{count:,} ({total:,.0f} ms)"
