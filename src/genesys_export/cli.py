"""The command line: a thin skin over the library.

Every command parses options, calls one library function and prints. Expected errors
(GenesysExportError) print one line and exit with their class's `exit_code` (2 usage or
configuration, 3 authentication or permission, 4 API or job, 5 destination, 6
reconciliation, 130 interrupted); `-v` adds the details.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import click

from genesys_export.cli_support import (
    common_export_options,
    config_option,
    exporter_for,
    handle_errors,
    landing_options,
    make_exporter,
    org_option,
    print_summary,
    report_concurrency_option,
    setup_logging,
)


@click.group()
@click.option("-v", "--verbose", count=True, help="More detail (-vv: every HTTP request).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(package_name="genesys-export")
def cli(verbose: int, quiet: bool) -> None:
    """Genesys Cloud analytics exports into your own BI stack."""
    from genesys_export.pipeline import prefer_lean_allocator

    setup_logging(verbose, quiet)
    prefer_lean_allocator()


@cli.command()
@handle_errors
def check() -> None:
    """Check configuration, region, token and permissions per export kind.

    Example: genesys-export check
    """
    from genesys_export.check import run_check
    from genesys_export.render import render_check

    result = run_check(make_exporter(False).settings)
    render_check(result)
    sys.exit(result.exit_code)


@cli.group()
def export() -> None:
    """One-off exports of an interval."""


@export.command("conversations")
@common_export_options
@handle_errors
def export_conversations(interval: str, dest: str | None, as_json: bool) -> None:
    """Conversation details into the conversation tables.

    Example: genesys-export export conversations --interval 2024-05-01/2024-05-08
    """
    from genesys_export.config import DEFAULT_DEST

    result = make_exporter(as_json).export_conversations(interval, dest=dest or DEFAULT_DEST)
    print_summary(result.summary, as_json)


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
    result = make_exporter(as_json).export_users(interval, dest=dest or DEFAULT_DEST, user_ids=ids)
    print_summary(result.summary, as_json)


@export.command("reference")
@click.option(
    "--entities",
    default="",
    help="Comma-separated: queues,users,wrapup_codes,skills,languages,divisions,"
    "presence_definitions,flows,groups (default: all).",
)
@click.option(
    "--dest", default=None, help="Destination URI (default duckdb:///genesys_export.duckdb)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@handle_errors
def export_reference(entities: str, dest: str | None, as_json: bool) -> None:
    """Reference data (names for the ids) into the dim_* tables, with history.

    Example: genesys-export export reference --entities queues,users
    """
    from genesys_export.config import DEFAULT_DEST

    names = [e.strip() for e in entities.split(",") if e.strip()]
    result = make_exporter(as_json).export_reference(names, dest=dest or DEFAULT_DEST)
    print_summary(result.summary, as_json)


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

    result = make_exporter(as_json).export_aggregates(
        interval,
        granularity=granularity,
        group_by=group_by.split(","),
        metrics=metrics.split(","),
        filter_json=filter_json,
        time_zone=time_zone,
        name=name,
        dest=dest or DEFAULT_DEST,
    )
    print_summary(result.summary, as_json)


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

    result = make_exporter(as_json).export_report(
        view,
        interval,
        period=period,
        time_zone=time_zone,
        filter_json=filter_json,
        locale=locale,
        dest=dest or DEFAULT_DEST,
    )
    print_summary(result.summary, as_json)


@cli.command()
@common_export_options
@click.option("--granularity", default="PT30M", show_default=True, help="ISO-8601 bucket size.")
@click.option(
    "--metrics",
    default="nOffered,nConnected,tHandle,tTalk,tAcw,tAnswered",
    show_default=True,
    help="n* and t* metrics to compare.",
)
@click.option("--repair", is_flag=True, help="Export the days with a differing cell again.")
@click.option(
    "--tolerance",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Accept absolute count differences up to N.",
)
@handle_errors
def reconcile(
    interval: str,
    dest: str | None,
    as_json: bool,
    granularity: str,
    metrics: str,
    repair: bool,
    tolerance: int,
) -> None:
    """Compare the landed conversation details with Genesys' own aggregates, cell by cell.

    Exits 6 when settled cells differ (after --repair, when given).

    Example: genesys-export reconcile --interval 2024-05-01/2024-05-08 --repair
    """
    from genesys_export.config import DEFAULT_DEST
    from genesys_export.errors import CellsDiffer

    try:
        result = make_exporter(as_json).reconcile(
            interval,
            granularity=granularity,
            metrics=metrics.split(","),
            dest=dest or DEFAULT_DEST,
            repair=repair,
            tolerance=tolerance,
        )
    except CellsDiffer as exc:
        print_summary(exc.summary, as_json, reconciled=True)
        raise
    print_summary(result.summary, as_json, reconciled=True)


@cli.command()
@config_option
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option("--strict-notify", is_flag=True, help="Exit 5 when a webhook notification fails.")
@report_concurrency_option
@landing_options
@handle_errors
def sync(
    config_path: Path | None,
    org: str | None,
    as_json: bool,
    strict_notify: bool,
    report_concurrency: int | None,
) -> None:
    """Every configured dataset, incrementally, from its checkpoint up to the watermark.

    Example: genesys-export sync --config genesys-export.toml [--org acme]
    """
    from genesys_export.datasets import load_sync_config
    from genesys_export.errors import CellsDiffer
    from genesys_export.sync import run_sync

    config = load_sync_config(config_path).with_run_options(report_concurrency=report_concurrency)
    if config.orgs or org is not None:
        from genesys_export.org_commands import sync_orgs_command

        for_org = partial(exporter_for, as_json=as_json)
        sys.exit(sync_orgs_command(config, org, for_org, as_json, strict_notify))
    exporter = make_exporter(as_json, config.genesys.as_environ())
    try:
        result = run_sync(exporter, config, strict_notify=strict_notify)
    except CellsDiffer as exc:  # exit 6 once the summary is out
        print_summary(exc.summary, as_json)
        raise
    print_summary(result.summary, as_json)


@cli.command()
@click.option(
    "--landing", required=True, help="The raw landing zone: file:///dir or s3://bucket/prefix."
)
@click.option(
    "--kind", type=click.Choice(["conversations", "users", "aggregates", "report", "reference"])
)
@click.option("--interval", default=None, help="Only jobs overlapping START/END.")
@click.option(
    "--dest", default=None, help="Destination URI (default duckdb:///genesys_export.duckdb)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@handle_errors
def replay(
    landing: str, kind: str | None, interval: str | None, dest: str | None, as_json: bool
) -> None:
    """Rebuild tables from a raw landing zone alone: no credentials, no network.

    Example: genesys-export replay --landing file:///data/raw --dest duckdb:///w.duckdb
    """
    from genesys_export.config import DEFAULT_DEST
    from genesys_export.intervals import parse_interval
    from genesys_export.progress import LogProgress
    from genesys_export.raw.replay import ReplayRequest
    from genesys_export.raw.replay import replay as replay_zone

    request = ReplayRequest(
        landing=landing,
        dest=dest or DEFAULT_DEST,
        kind=kind,
        interval=parse_interval(interval) if interval else None,
    )
    print_summary(replay_zone(request, progress=LogProgress()), as_json)


@cli.group()
def plan() -> None:
    """What a run would do: chunks, jobs, requests and time. Calls nothing."""


@plan.command("sync")
@config_option
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@handle_errors
def plan_sync(config_path: Path | None, org: str | None, as_json: bool) -> None:
    """Plan a sync from the checkpoints in the destination.

    Example: genesys-export plan sync --config genesys-export.toml
    """
    from genesys_export.datasets import load_sync_config
    from genesys_export.planning import plan_for_config, plan_rows
    from genesys_export.render import render_plan

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
@click.option("--dest", default=None, help="Destination whose audit trail shows job latency.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@handle_errors
def plan_export(
    kind: str,
    interval: str,
    granularity: str,
    concurrency: int,
    budget_per_minute: int,
    dest: str | None,
    as_json: bool,
) -> None:
    """Plan a one-off export of an interval (conversations and users with GENESYS_*
    credentials set: the run's own request plan, asked of Genesys read-only).

    Example: genesys-export plan export conversations --interval 2024-05-01/2024-06-01
    """
    from genesys_export.planning import plan_export_command, plan_rows
    from genesys_export.render import render_plan

    plan = plan_export_command(kind, interval, granularity, concurrency, budget_per_minute, dest)
    if as_json:
        click.echo(json.dumps(plan_rows([plan]), indent=2))
    else:
        render_plan([plan])


@cli.command()
@config_option
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def status(config_path: Path | None, org: str | None, as_json: bool) -> None:
    """Checkpoints, watermarks, provisional ranges and the last runs per dataset.

    Example: genesys-export status --config genesys-export.toml
    """
    from genesys_export.datasets import load_sync_config
    from genesys_export.planning import status_for_config
    from genesys_export.render import render_status

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
