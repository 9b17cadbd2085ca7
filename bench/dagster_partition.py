"""Benchmark: materializing one Dagster partition (one org's UTC day) in-process.

Not a test. The simulator answers a details job after `--job-latency` seconds; the
partition lands in a DuckDB file through `dagster.materialize()` with an ephemeral
instance. Prints the wall time of each materialization (the first includes Dagster's
and DuckDB's warm-up) and the rows landed.

    python bench/dagster_partition.py [--per-day 200] [--job-latency 0.05] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from genesys_export.dagster import definitions
from genesys_export.exporter import Exporter
from genesys_export.jobs.polling import Polling
from genesys_export.simulator import Simulator, serve

DAY = "2024-05-08"
CONFIG = """
[run]
budget_per_minute = 100000

[datasets.conversations]
kind = "conversations"
start = "2024-05-01"

[orgs.acme]
client_id_env = "ACME_ID"
client_secret_env = "ACME_SECRET"
destination = "duckdb:///{dest}"
api_url = "{api}"
login_url = "{login}"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=200)
    parser.add_argument("--job-latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sim = Simulator(
        seed=7,
        conversations_per_day=args.per_day,
        job_latency=args.job_latency,
        budget_per_minute=100_000,
        data_availability=datetime(2024, 5, 10, tzinfo=UTC),
    )
    with tempfile.TemporaryDirectory() as tmp, serve(sim, port=0) as running:
        config = Path(tmp) / "genesys-export.toml"
        dest = Path(tmp) / "acme.duckdb"
        config.write_text(CONFIG.format(dest=dest, api=running.api_url, login=running.login_url))
        defs = definitions(
            config,
            environ={"ACME_ID": "sim-client", "ACME_SECRET": "sim-secret"},
            exporter_for=lambda s: Exporter(s, polling=Polling(first=args.job_latency)),
        )
        asset = defs.resolve_assets_def("conversations")
        key = dg.MultiPartitionKey({"org": "acme", "date": DAY})
        with dg.DagsterInstance.ephemeral() as instance:
            for n in range(args.repeat):
                began = time.perf_counter()
                result = dg.materialize([asset], partition_key=key, instance=instance)
                seconds = time.perf_counter() - began
                (event,) = result.get_asset_materialization_events()
                rows = event.materialization.metadata["rows"].value
                print(f"run {n + 1}: {seconds:.2f} s, ok={result.success}, rows={rows}")


if __name__ == "__main__":
    main()
