"""`definitions(config_path)`: the assets, their partitions, checks and settle sensors."""

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from genesys_export.config import Settings, parse_int
from genesys_export.dagster.settle import settle_sensor
from genesys_export.datasets import (
    ConversationsDataset,
    ReferenceDataset,
    SyncConfig,
    load_sync_config,
)
from genesys_export.days import DayResult, export_day
from genesys_export.errors import GenesysExportError
from genesys_export.exporter import Exporter
from genesys_export.orgs import environment, every_org, settings_of, view_of

GROUP = "genesys"
VALIDATION = "validation"
RECONCILIATION = "reconciliation"
RECONCILE_TEXT = "the landed details against Genesys' aggregates (settled days)"
RUNS_PER_ORG_VARIABLE = "GENESYS_EXPORT_RUNS_PER_ORG"


@dataclass(frozen=True)
class Project:
    """What a materialization needs: the file, its orgs, and how to reach each org."""

    config: SyncConfig
    orgs: list[str]
    runs_per_org: int
    environ: Callable[[], Mapping[str, str]]
    exporter_for: Callable[[Settings], Exporter]

    def export(self, dataset: str, org: str, day: date) -> DayResult:
        settings = settings_of(self.config, org, self.environ())
        return export_day(
            self.exporter_for(settings),
            view_of(self.config, org),
            dataset,
            day,
            runs_per_org=self.runs_per_org,
        )


def definitions(
    config_path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    exporter_for: Callable[[Settings], Exporter] = Exporter,
    clock: Callable[[], float] = time.time,
) -> dg.Definitions:
    """One asset per dataset of the TOML, partitioned by org and UTC day, and a settle
    sensor per asset.

    `environ` (default: the environment over `.env`, read at each materialization) holds
    the credentials; `exporter_for` builds the Exporter of an org's Settings; `clock`
    (epoch seconds) is the sensors'.
    """
    project = load_project(config_path, environ=environ, exporter_for=exporter_for)
    # Reference data has no day to partition by: it stays a `sync` dataset.
    days = [n for n, ds in project.config.datasets.items() if not isinstance(ds, ReferenceDataset)]
    assets = [dataset_asset(project, name) for name in days]
    sensors = [settle_sensor(a.key, name=f"{a.key.path[-1]}_settle", clock=clock) for a in assets]
    return dg.Definitions(assets=assets, sensors=sensors)


def load_project(
    config_path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    exporter_for: Callable[[Settings], Exporter] = Exporter,
) -> Project:
    """The TOML's orgs and datasets, and the runs per org (`[dagster] runs_per_org`, or
    GENESYS_EXPORT_RUNS_PER_ORG) among which each org's budget is divided."""
    config = load_sync_config(Path(config_path))
    runs = config.dagster.runs_per_org
    override = (environ if environ is not None else os.environ).get(RUNS_PER_ORG_VARIABLE)
    if override:
        runs = parse_int(override, RUNS_PER_ORG_VARIABLE, 1, 64)
    return Project(
        config=config,
        orgs=every_org(config),
        runs_per_org=runs,
        environ=(lambda: environ) if environ is not None else environment,
        exporter_for=exporter_for,
    )


def partitions_for(orgs: list[str], start: date) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            "org": dg.StaticPartitionsDefinition(orgs),
            "date": dg.DailyPartitionsDefinition(
                start_date=start.strftime("%Y-%m-%d"), timezone="UTC"
            ),
        }
    )


def dataset_asset(project: Project, name: str) -> dg.AssetsDefinition:
    ds = project.config.datasets[name]
    assert not isinstance(ds, ReferenceDataset)

    @dg.asset(
        name=name,
        partitions_def=partitions_for(project.orgs, ds.start.date()),
        group_name=GROUP,
        check_specs=[
            dg.AssetCheckSpec(VALIDATION, asset=name, description="checks of the rows landed"),
            *(
                [dg.AssetCheckSpec(RECONCILIATION, asset=name, description=RECONCILE_TEXT)]
                if isinstance(ds, ConversationsDataset) and ds.reconcile
                else []
            ),
        ],
        description=f"Genesys Cloud {ds.kind} (dataset {name}): one org's UTC day per partition",
    )
    # The bare class: Dagster reads the annotation and takes a subscripted one for outputs.
    def materialize_day(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        org, day = split_key(context.partition_key)
        context.log.info("exporting %s of org %s", day, org)
        try:
            result = project.export(name, org, day)
        except GenesysExportError as exc:  # expected: one line, like the command line's
            raise dg.Failure(
                description=f"{type(exc).__name__}: {exc}",
                metadata={"exit_code": dg.MetadataValue.int(exc.exit_code)},
            ) from exc
        checks = [validation_of(result)]
        if result.reconciliation is not None:
            checks.append(reconciliation_of(result.reconciliation))
        return dg.MaterializeResult(metadata=metadata_of(result), check_results=checks)

    return materialize_day


def split_key(key: str) -> tuple[str, date]:
    """(org, day) of a partition key."""
    if not isinstance(key, dg.MultiPartitionKey):
        raise ValueError(f"partition key {key!r} is not an org and a date")
    dims = key.keys_by_dimension
    return dims["org"], date.fromisoformat(dims["date"])


def metadata_of(result: DayResult) -> dict[str, dg.MetadataValue[Any]]:
    summary = result.summary
    metadata: dict[str, dg.MetadataValue[Any]] = {
        "rows": dg.MetadataValue.json(summary.get("rows", {})),
        "requests": dg.MetadataValue.int(int(summary.get("requests", 0))),
        "429s": dg.MetadataValue.int(int(summary.get("rate_limited", 0))),
        "settled": dg.MetadataValue.bool(result.settled),
        "interval": dg.MetadataValue.text(str(summary.get("interval") or "not available yet")),
        "destination": dg.MetadataValue.text(str(summary.get("dest", ""))),
        "run_id": dg.MetadataValue.text(str(summary.get("run_id", ""))),
        "warnings": dg.MetadataValue.json(list(summary.get("warnings", []))),
    }
    if result.settles_at is not None:
        metadata["settles_at"] = dg.MetadataValue.timestamp(result.settles_at)
    return metadata


def reconciliation_of(found: Mapping[str, Any]) -> dg.AssetCheckResult:
    """The day's reconciliation (`reconcile = true`, settled days only) as an asset check."""
    return dg.AssetCheckResult(
        check_name=RECONCILIATION,
        passed=int(found.get("cells_differ", 0)) == 0,
        metadata={
            "cells_compared": dg.MetadataValue.int(int(found.get("cells_compared", 0))),
            "cells_differ": dg.MetadataValue.int(int(found.get("cells_differ", 0))),
            "worst_cells": dg.MetadataValue.json(list(found.get("worst_cells", []))),
        },
    )


def validation_of(result: DayResult) -> dg.AssetCheckResult:
    """The day's checks (one `validation.finished` per chunk) as one asset check."""
    return dg.AssetCheckResult(
        check_name=VALIDATION,
        passed=all(bool(check.get("ok")) for check in result.checks),
        metadata={
            "chunks": dg.MetadataValue.int(len(result.checks)),
            "checks": dg.MetadataValue.json([dict(check) for check in result.checks]),
        },
    )
