"""The command line: a thin skin over the library.

Every command parses options, calls one library function and prints. Expected errors
(GenesysExportError) print one line and exit with their class's `exit_code` (2 usage or
configuration, 3 authentication or permission, 4 API or job, 5 destination, 6
reconciliation, 130 interrupted); `-v` adds the details.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import partial, wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from genesys_export.errors import GenesysExportError

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("genesys_export")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GenesysExportError as exc:
            log.debug("details", exc_info=True)
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(
                "interrupted: committed chunks and checkpoints are intact; rerun to resume",
                err=True,
            )
            sys.exit(130)

    return wrapper


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # httpx logs every request at INFO; only -vv shows those.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


@click.group()
@click.option("-v", "--verbose", count=True, help="More detail (-vv: every HTTP request).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(package_name="genesys-export")
def cli(verbose: int, quiet: bool) -> None:
    """Genesys Cloud analytics exports into your own BI stack."""
    from genesys_export.pipeline import prefer_lean_allocator

    setup_logging(verbose, quiet)
    prefer_lean_allocator()


def _exporter(as_json: bool, file_settings: dict[str, str] | None = None) -> Any:
    from genesys_export.config import Settings

    environ = (file_settings or {}) | dict(os.environ)  # the real environment wins
    return _exporter_for(Settings.from_env(environ), as_json)


def _exporter_for(settings: Any, as_json: bool) -> Any:
    from genesys_export.exporter import Exporter
    from genesys_export.live import LiveProgress
    from genesys_export.progress import LogProgress

    def progress(api: Any) -> Any:
        if sys.stderr.isatty() and not as_json:
            return LiveProgress(api.stats, api.budget)
        return LogProgress()

    return Exporter(settings, progress_factory=progress)


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
        return
    from genesys_export.summary import render_summary

    render_summary(summary)


@cli.command()
@handle_errors
def check() -> None:
    """Check configuration, region, token and permissions per export kind.

    Example: genesys-export check
    """
    from genesys_export.check import render_check, run_check

    result = run_check(_exporter(False).settings)
    render_check(result)
    sys.exit(result.exit_code)


@cli.group()
def export() -> None:
    """One-off exports of an interval."""


def common_export_options(fn: Callable[P, R]) -> Callable[P, R]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")(fn)
    fn = click.option(
        "--dest", default=None, help="Destination URI (default duckdb:///genesys_export.duckdb)."
    )(fn)
    fn = click.option("--interval", required=True, help="START/END, ISO-8601, end exclusive.")(fn)
    return fn


@export.command("conversations")
@common_export_options
@handle_errors
def export_conversations(interval: str, dest: str | None, as_json: bool) -> None:
    """Conversation details into the conversation tables.

    Example: genesys-export export conversations --interval 2024-05-01/2024-05-08
    """
    from genesys_export.config import DEFAULT_DEST

    result = _exporter(as_json).export_conversations(interval, dest=dest or DEFAULT_DEST)
    _print_summary(result.summary, as_json)


@export.command("users")
@common_export_options
@click.option("--user-ids", default="", help="Comma-separated user ids (default: every user).")
@handle_errors
def export_users(interval: str, dest: str | None, as_json: bool, user_ids: str) -> None:
    """Agent presence and routing-status intervals from user details jobs.

    Example: genesys-export export users --interval 2024-05-01/2024-05-08
    """
    from genesys_export.config import DEFAULT_DEST

    ids = [u.strip() for u in user_ids.split(",") if u.strip()]
    result = _exporter(as_json).export_users(interval, dest=dest or DEFAULT_DEST, user_ids=ids)
    _print_summary(result.summary, as_json)


@export.command("aggregates")
@common_export_options
@click.option("--granularity", default="PT30M", show_default=True, help="ISO-8601 bucket size.")
@click.option("--group-by", default="queueId,mediaType", show_default=True, help="Dimensions.")
@click.option("--metrics", default="nOffered,nConnected,tHandle,tAnswered", show_default=True)
@click.option(
    "--filter", "filter_json", default=None, help="A ConversationAggregateQueryFilter as JSON."
)
@click.option("--time-zone", default=None, help="IANA zone for bucket boundaries (default UTC).")
@click.option("--name", default=None, help="Table name (default conversation_aggregates).")
@handle_errors
def export_aggregates(
    interval: str,
    dest: str | None,
    as_json: bool,
    granularity: str,
    group_by: str,
    metrics: str,
    filter_json: str | None,
    time_zone: str | None,
    name: str | None,
) -> None:
    """Conversation aggregates per interval bucket and group, long format.

    Example: genesys-export export aggregates --interval 2024-05-01/2024-05-08
    --granularity PT30M --group-by queueId,mediaType --metrics nOffered,tHandle
    """
    from genesys_export.config import DEFAULT_DEST

    result = _exporter(as_json).export_aggregates(
        interval,
        granularity=granularity,
        group_by=group_by.split(","),
        metrics=metrics.split(","),
        filter_json=filter_json,
        time_zone=time_zone,
        name=name,
        dest=dest or DEFAULT_DEST,
    )
    _print_summary(result.summary, as_json)


@export.command("report")
@common_export_options
@click.option("--view", required=True, help="View type, e.g. AGENT_PERFORMANCE_SUMMARY_VIEW.")
@click.option("--period", default="P1D", show_default=True, help="ISO-8601 period per row.")
@click.option("--time-zone", default="UTC", show_default=True, help="IANA zone of the report.")
@click.option("--filter", "filter_json", default=None, help="A ViewFilter as JSON.")
@click.option("--locale", default="en-US", show_default=True)
@handle_errors
def export_report(
    interval: str,
    dest: str | None,
    as_json: bool,
    view: str,
    period: str,
    time_zone: str,
    filter_json: str | None,
    locale: str,
) -> None:
    """A reporting (view) export: CSV downloaded and normalized into report_<view>.

    Example: genesys-export export report --view AGENT_PERFORMANCE_SUMMARY_VIEW
    --interval 2024-05-01/2024-05-08 --period P1D --time-zone Europe/London
    """
    from genesys_export.config import DEFAULT_DEST

    result = _exporter(as_json).export_report(
        view,
        interval,
        period=period,
        time_zone=time_zone,
        filter_json=filter_json,
        locale=locale,
        dest=dest or DEFAULT_DEST,
    )
    _print_summary(result.summary, as_json)


def _config_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=None,
        help="TOML file (default ./genesys-export.toml).",
    )(fn)


def _org_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--org", default=None, help="Only this org of the file's [orgs] (default: each in turn)."
    )(fn)


@cli.command()
@_config_option
@_org_option
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option("--strict-notify", is_flag=True, help="Exit 5 when a webhook notification fails.")
@handle_errors
def sync(config_path: Path | None, org: str | None, as_json: bool, strict_notify: bool) -> None:
    """Every configured dataset, incrementally, from its checkpoint up to the watermark.

    Example: genesys-export sync --config genesys-export.toml [--org acme]
    """
    from genesys_export.datasets import load_sync_config
    from genesys_export.sync import run_sync

    config = load_sync_config(config_path)
    if config.orgs or org is not None:
        from genesys_export.org_commands import sync_orgs_command

        exporter_for = partial(_exporter_for, as_json=as_json)
        sys.exit(sync_orgs_command(config, org, exporter_for, as_json, strict_notify))
    exporter = _exporter(as_json, config.genesys.as_environ())
    result = run_sync(exporter, config, strict_notify=strict_notify)
    _print_summary(result.summary, as_json)


@cli.group()
def plan() -> None:
    """What a run would do: chunks, jobs, requests and time. Calls nothing."""


@plan.command("sync")
@_config_option
@_org_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@handle_errors
def plan_sync(config_path: Path | None, org: str | None, as_json: bool) -> None:
    """Plan a sync from the checkpoints in the destination.

    Example: genesys-export plan sync --config genesys-export.toml
    """
    from genesys_export.datasets import load_sync_config
    from genesys_export.planning import plan_for_config, plan_rows, render_plan

    config = load_sync_config(config_path)
    if config.orgs or org is not None:
        from genesys_export.org_commands import plan_orgs_command

        plan_orgs_command(config, org, as_json)
        return
    plans = plan_for_config(config)
    if as_json:
        click.echo(json.dumps(plan_rows(plans), indent=2))
    else:
        render_plan(plans)


@plan.command("export")
@click.argument("kind", type=click.Choice(["conversations", "users", "aggregates", "report"]))
@click.option("--interval", required=True, help="START/END, ISO-8601, end exclusive.")
@click.option("--granularity", default="PT30M", show_default=True, help="Aggregates only.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--budget-per-minute", default=300, show_default=True, type=click.IntRange(1))
@handle_errors
def plan_export(
    kind: str, interval: str, granularity: str, concurrency: int, budget_per_minute: int
) -> None:
    """Plan a one-off export of an interval.

    Example: genesys-export plan export conversations --interval 2024-05-01/2024-06-01
    """
    from genesys_export.planning import plan_for_export, render_plan

    render_plan([plan_for_export(kind, interval, granularity, concurrency, budget_per_minute)])


@cli.command()
@_config_option
@_org_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def status(config_path: Path | None, org: str | None, as_json: bool) -> None:
    """Checkpoints, watermarks, provisional ranges and the last runs per dataset.

    Example: genesys-export status --config genesys-export.toml
    """
    from genesys_export.datasets import load_sync_config
    from genesys_export.planning import render_status, status_for_config

    config = load_sync_config(config_path)
    if config.orgs or org is not None:
        from genesys_export.org_commands import status_orgs_command

        status_orgs_command(config, org, as_json)
        return
    rows = status_for_config(config)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    else:
        render_status(rows)


@cli.group()
def audit() -> None:
    """Read and verify the audit trail."""


def _audit_file(path: str | None) -> Path:
    return Path(path or "genesys-export-audit.jsonl")


@audit.command("show")
@click.option(
    "--file", "path", default=None, help="Audit file (default ./genesys-export-audit.jsonl)."
)
@click.option("--run", "run_id", default=None, help="Only this run's events.")
@handle_errors
def audit_show(path: str | None, run_id: str | None) -> None:
    """Print audit events as JSON lines.

    Example: genesys-export audit show --run 3f2a...
    """
    from genesys_export.audit import read_events

    for event in read_events(_audit_file(path), run_id=run_id):
        click.echo(json.dumps(event, sort_keys=False))


@audit.command("verify")
@click.option(
    "--file", "path", default=None, help="Audit file (default ./genesys-export-audit.jsonl)."
)
@handle_errors
def audit_verify(path: str | None) -> None:
    """Verify the audit trail's hash chain; exit 4 when it was altered.

    Example: genesys-export audit verify --file demo/genesys-export-audit.jsonl
    """
    from genesys_export.audit import verify

    result = verify(_audit_file(path))
    if result.ok:
        click.echo(f"ok: {result.lines} events, hash chain intact")
        return
    click.echo(
        f"error: audit trail altered at line {result.first_bad_line}: {result.reason}", err=True
    )
    sys.exit(4)


@cli.command()
@click.option("--port", default=8089, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--faults", default="", help="Fault spec, e.g. '429:every=10,retry_after=1;5xx:burst=2'."
)
@click.option("--conversations-per-day", default=200, show_default=True, type=click.IntRange(1))
@handle_errors
def simulator(port: int, host: str, seed: int, faults: str, conversations_per_day: int) -> None:
    """Run a local Genesys Cloud that speaks the contract (Ctrl-C stops it).

    Example: genesys-export simulator --port 8089 --faults '429:every=10,retry_after=1'
    """
    from genesys_export.simulator import FaultPlan, Simulator, run_forever

    sim = Simulator(
        seed=seed, conversations_per_day=conversations_per_day, faults=FaultPlan.parse(faults)
    )
    run_forever(sim, host, port)


@cli.command()
@click.option(
    "--dir", "directory", default="demo", show_default=True, help="Where the demo writes."
)
@handle_errors
def demo(directory: str) -> None:
    """Start the simulator in-process, export into ./demo/ and show what landed.

    Example: genesys-export demo
    """
    from genesys_export.demo import run_demo

    run_demo(Path(directory))


def main() -> None:
    cli(prog_name="genesys-export")
