"""What `sync`, `plan sync` and `status` print for a file with several orgs.

Each org's output is headed `org NAME:`; with `--json` one object keyed by org. A failed
org's sync is one `error: org NAME: ...` line on stderr, and the exit code is the worst.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from genesys_export.config import Settings
from genesys_export.datasets import SyncConfig
from genesys_export.exporter import Exporter
from genesys_export.orgs import (
    environment,
    plans_by_org,
    select_orgs,
    status_by_org,
    sync_orgs,
    worst_exit_code,
)
from genesys_export.planning import plan_rows
from genesys_export.render import render_plan, render_status, render_summary


def sync_orgs_command(
    config: SyncConfig,
    org: str | None,
    exporter_for: Callable[[Settings], Exporter],
    as_json: bool,
    strict_notify: bool,
) -> int:
    """Sync the orgs, print what each did; the worst org's exit code."""
    outcomes = sync_orgs(
        config,
        select_orgs(config, org),
        exporter_for,
        environ=environment(),
        strict_notify=strict_notify,
    )
    if as_json:
        report = {
            o.org: o.result.summary if o.result else {"error": str(o.error), "exit": o.exit_code}
            for o in outcomes
        }
        click.echo(json.dumps(report, indent=2, sort_keys=True, default=str))
    for outcome in outcomes:
        if outcome.result and not as_json:
            click.echo(f"org {outcome.org}:")
            render_summary(outcome.result.summary)
        elif outcome.error:
            click.echo(f"error: org {outcome.org}: {outcome.error}", err=True)
    return worst_exit_code(outcomes)


def plan_orgs_command(config: SyncConfig, org: str | None, as_json: bool) -> None:
    by_org = plans_by_org(config, select_orgs(config, org))
    if as_json:
        click.echo(json.dumps({name: plan_rows(p) for name, p in by_org.items()}, indent=2))
        return
    for name, plans in by_org.items():
        click.echo(f"org {name}:")
        render_plan(plans)


def status_orgs_command(config: SyncConfig, org: str | None, as_json: bool) -> None:
    by_org: dict[str, Any] = status_by_org(config, select_orgs(config, org))
    if as_json:
        click.echo(json.dumps(by_org, indent=2, default=str))
        return
    for name, rows in by_org.items():
        click.echo(f"org {name}:")
        render_status(rows)
