"""What every command of the command line shares: errors as one line and an exit code, logging,
the exporter, the common options and the printed summary.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from genesys_export.errors import GenesysExportError

log = logging.getLogger("genesys_export")
_LANDING = "genesys_export.landing"  # click context meta: the --landing options given
P = ParamSpec("P")


R = TypeVar("R")


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


def make_exporter(as_json: bool, file_settings: dict[str, str] | None = None) -> Any:
    """The exporter for the environment (and a TOML file's settings, the environment wins)."""
    from genesys_export.config import Settings

    environ = (file_settings or {}) | dict(os.environ)  # the real environment wins
    return exporter_for(Settings.from_env(environ), as_json=as_json)


def exporter_for(settings: Any, *, as_json: bool) -> Any:
    """The exporter for `settings`, with the progress display and --landing options."""
    from genesys_export.exporter import Exporter
    from genesys_export.live import LiveProgress
    from genesys_export.progress import LogProgress

    def progress(api: Any) -> Any:
        if sys.stderr.isatty() and not as_json:
            return LiveProgress(api.stats, api.budget)
        return LogProgress()

    raw = click.get_current_context().meta.get(_LANDING, {})
    return Exporter(settings, progress_factory=progress, **raw)


def remember_landing(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """Keep --landing / --landing-retention for `make_exporter` (checked here: exit 2 if wrong)."""
    if value is None:
        return
    options = ctx.meta.setdefault(_LANDING, {})
    if param.name == "landing":
        options["raw_landing"] = value
        return
    from genesys_export.errors import ConfigError
    from genesys_export.intervals import parse_duration

    try:
        options["raw_retention"] = parse_duration(value, name="--landing-retention")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def landing_options(fn: Callable[P, R]) -> Callable[P, R]:
    """--landing and --landing-retention, handed to the Exporter rather than to `fn`."""
    fn = click.option(
        "--landing-retention",
        expose_value=False,
        callback=remember_landing,
        help="After a successful run, delete raw jobs older than this ISO-8601 duration (P90D).",
    )(fn)
    return click.option(
        "--landing",
        expose_value=False,
        callback=remember_landing,
        help="Keep every response as received: file:///dir or s3://bucket/prefix.",
    )(fn)


def print_summary(summary: dict[str, Any], as_json: bool, *, reconciled: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
        return
    from genesys_export import render

    (render.render_reconciliation if reconciled else render.render_summary)(summary)


def common_export_options(fn: Callable[P, R]) -> Callable[P, R]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")(fn)
    fn = click.option(
        "--dest", default=None, help="Destination URI (default duckdb:///genesys_export.duckdb)."
    )(fn)
    fn = click.option("--interval", required=True, help="START/END, ISO-8601, end exclusive.")(fn)
    return landing_options(fn)


def report_concurrency_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--report-concurrency",
        type=click.IntRange(1, 64),
        default=None,
        help="Reporting exports in flight at once (default 5, or the file's [run] "
        "report_concurrency, or GENESYS_EXPORT_REPORT_CONCURRENCY).",
    )(fn)


def org_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--org", default=None, help="Only this org of the file's [orgs] (default: each in turn)."
    )(fn)


def config_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=None,
        help="TOML file (default ./genesys-export.toml).",
    )(fn)
