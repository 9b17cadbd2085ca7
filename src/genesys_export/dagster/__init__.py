"""Dagster definitions for the TOML's datasets: one asset per dataset, one partition per
org and UTC day. `pip install 'genesys-export[dagster]'`, then:

    dagster dev -m genesys_export.dagster      # with GENESYS_EXPORT_CONFIG=genesys-export.toml

or, in your own code location, `defs = definitions("genesys-export.toml")`.

Materializing a partition lands that org's day into the org's destination, each
conversation replaced whole, so a rerun or a backfill never duplicates (see `days.py`).
A day not yet settled is materialized as provisional (`settled: false`); the sensor
`<dataset>_settle` asks for it again once it has settled. Nothing else in the package
imports this module, and `import genesys_export` works without Dagster installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genesys_export.dagster.definitions import definitions

__all__ = ["definitions", "defs"]

CONFIG_VARIABLE = "GENESYS_EXPORT_CONFIG"
_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """`defs`, built on first use from `$GENESYS_EXPORT_CONFIG` (for `dagster dev -m`)."""
    if name != "defs":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if "defs" not in _built:
        _built["defs"] = definitions(Path(os.environ.get(CONFIG_VARIABLE, "genesys-export.toml")))
    return _built["defs"]


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
