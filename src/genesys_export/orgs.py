"""Several orgs in one TOML, each kept apart: its own hosts, credentials, destination,
budget, checkpoints, lock and audit trail.

    [orgs.acme]
    region = "eu-west-1"
    client_id_env = "ACME_CLIENT_ID"          # names of variables, never the secrets
    client_secret_env = "ACME_CLIENT_SECRET"
    destination = "postgresql://etl@db/warehouse?schema=acme"

An org runs as if it were the only one: `org_config()` is the file seen by that org (its
destination, its audit trail, its budget) and `org_settings()` builds its Settings from its
own section and variables only. `GENESYS_CLIENT_ID` / `GENESYS_CLIENT_SECRET` never apply
to an org, and the environment's hosts apply only to an org that names none, so one org's
credentials and tokens cannot reach another org's hosts. Without `[orgs]` nothing here
applies: the single org comes from `GENESYS_*` as before.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from genesys_export.config import Settings
from genesys_export.datasets import DestinationSection, OrgSection, SyncConfig
from genesys_export.errors import ConfigError, GenesysExportError
from genesys_export.exporter import Exporter, ExportResult
from genesys_export.planning import plan_for_config, status_for_config
from genesys_export.sinks import audit_path_for, parse_dest
from genesys_export.sync import DatasetPlan, run_sync

log = logging.getLogger(__name__)

# The org of a TOML without [orgs] (GENESYS_* from the environment), where a name is needed.
DEFAULT_ORG = "default"
_CREDENTIALS = ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET")
_HOSTS = ("GENESYS_REGION", "GENESYS_API_URL", "GENESYS_LOGIN_URL")


def check_orgs(config: SyncConfig) -> None:
    """ConfigError when [orgs] is combined with single-org sections, or two orgs share a
    destination (they would share checkpoints and a lock)."""
    if not config.orgs:
        return
    for section in ("destination", "genesys"):
        if section in config.model_fields_set:
            raise ConfigError(
                f"[{section}] applies to a file without [orgs]; with [orgs] give each org "
                f"its own keys in [orgs.NAME] and remove [{section}]"
            )
    seen: dict[str, str] = {}
    for name, org in config.orgs.items():
        place = _place(name, org.destination)
        if place in seen:
            raise ConfigError(
                f"orgs.{name}.destination: the same destination as orgs.{seen[place]}; give "
                "each org its own (its checkpoints, lock and audit trail live there)"
            )
        seen[place] = name


def _place(name: str, uri: str) -> str:
    try:
        dest = parse_dest(uri)
    except ConfigError as exc:
        raise ConfigError(f"orgs.{name}.destination: {exc}") from None
    if dest.kind in ("duckdb", "parquet") and dest.location != ":memory:":
        return f"{dest.kind}:{Path(dest.location).resolve()}"
    if dest.location == ":memory:":
        return f"memory:{name}"  # every in-memory database is its own
    return f"{dest.kind}:{dest.location}"


def select_orgs(config: SyncConfig, name: str | None) -> list[str]:
    """The orgs a command runs: `name` alone, or every org of the file in turn."""
    check_orgs(config)
    if name is None:
        return list(config.orgs)
    if name not in config.orgs:
        known = ", ".join(config.orgs) or "none (the file has no [orgs.NAME] section)"
        raise ConfigError(f"--org {name!r} is not an org of the file; its orgs are: {known}")
    return [name]


def every_org(config: SyncConfig) -> list[str]:
    """The file's orgs, or DEFAULT_ORG for a file without [orgs]."""
    check_orgs(config)
    return list(config.orgs) or [DEFAULT_ORG]


def view_of(config: SyncConfig, name: str) -> SyncConfig:
    """`org_config`, or the file itself for DEFAULT_ORG of a file without [orgs]."""
    return config if not config.orgs and name == DEFAULT_ORG else org_config(config, name)


def settings_of(config: SyncConfig, name: str, environ: Mapping[str, str]) -> Settings:
    """`org_settings`, or GENESYS_* (over [genesys]) for a file without [orgs]."""
    if not config.orgs and name == DEFAULT_ORG:
        return Settings.from_env(config.genesys.as_environ() | dict(environ), dotenv=None)
    return org_settings(config, name, environ)


def org_config(config: SyncConfig, name: str) -> SyncConfig:
    """The file as one org sees it: its destination, audit trail and budget."""
    org = config.orgs[name]
    audit = org.audit or default_audit(name, org.destination)
    run = config.run.model_copy(
        update={"budget_per_minute": org.budget_per_minute or config.run.budget_per_minute}
    )
    destination = DestinationSection(uri=org.destination, audit=str(audit) if audit else None)
    return config.model_copy(update={"destination": destination, "run": run})


def default_audit(name: str, destination: str) -> Path | None:
    """`genesys-export-audit-NAME.jsonl` beside the destination, so orgs never share one."""
    beside = audit_path_for(destination)
    return beside.with_name(f"genesys-export-audit-{name}.jsonl") if beside else None


def environment(dotenv: Path | None = Path(".env")) -> dict[str, str]:
    """The process environment over `.env`, as Settings.from_env reads them."""
    env: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    return env | dict(os.environ)


def org_settings(config: SyncConfig, name: str, environ: Mapping[str, str]) -> Settings:
    """An org's Settings from its own section and the variables it names."""
    return Settings.from_env(org_environ(name, config.orgs[name], environ), dotenv=None)


def org_environ(name: str, org: OrgSection, environ: Mapping[str, str]) -> dict[str, str]:
    """GENESYS_* as this org's Settings read them: its keys win over the environment."""
    drop = _CREDENTIALS + (_HOSTS if org.region or org.api_url or org.login_url else ())
    env = {k: v for k, v in environ.items() if k not in drop}
    env["GENESYS_CLIENT_ID"] = _variable(environ, org.client_id_env, f"orgs.{name}.client_id_env")
    env["GENESYS_CLIENT_SECRET"] = _variable(
        environ, org.client_secret_env, f"orgs.{name}.client_secret_env"
    )
    hosts = {
        "GENESYS_REGION": org.region,
        "GENESYS_API_URL": org.api_url,
        "GENESYS_LOGIN_URL": org.login_url,
    }
    env |= {k: v for k, v in hosts.items() if v}
    if not (env.get("GENESYS_REGION") or env.get("GENESYS_API_URL")):
        raise ConfigError(
            f"orgs.{name}.region is not set; set it to an AWS region name such as eu-west-1 "
            "(or set api_url and login_url)"
        )
    return env


def _variable(environ: Mapping[str, str], variable: str, key: str) -> str:
    value = environ.get(variable, "").strip()
    if not value:
        raise ConfigError(f"{variable} is not set; {key} names it: set it in the environment")
    return value


@dataclass(frozen=True)
class OrgOutcome:
    """One org's sync: its result, or the error that ended it."""

    org: str
    result: ExportResult | None = None
    error: GenesysExportError | None = None

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error else 0


def sync_orgs(
    config: SyncConfig,
    names: Sequence[str],
    exporter_for: Callable[[Settings], Exporter],
    *,
    environ: Mapping[str, str],
    strict_notify: bool = False,
) -> list[OrgOutcome]:
    """Sync each org in turn; an org's failure is its outcome and the next org still runs."""
    outcomes = []
    for name in names:
        try:
            exporter = exporter_for(org_settings(config, name, environ))
            result = run_sync(exporter, org_config(config, name), strict_notify=strict_notify)
        except GenesysExportError as exc:  # reported by the caller; the other orgs go on
            log.debug("org %s failed", name, exc_info=True)
            outcomes.append(OrgOutcome(name, error=exc))
            continue
        outcomes.append(OrgOutcome(name, result=result))
    return outcomes


def worst_exit_code(outcomes: Sequence[OrgOutcome]) -> int:
    return max((o.exit_code for o in outcomes), default=0)


def plans_by_org(
    config: SyncConfig, names: Sequence[str], *, now: datetime | None = None
) -> dict[str, list[DatasetPlan]]:
    return {name: plan_for_config(org_config(config, name), now=now) for name in names}


def status_by_org(config: SyncConfig, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    return {name: status_for_config(org_config(config, name)) for name in names}
