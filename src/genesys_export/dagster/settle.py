"""The settle sensor: provisional days asked for again once they have settled.

A day materialized before it settled carries `settled: false` and `settles_at` (its end
plus the lookback, and no sooner than an hour after that try). Each tick looks at the
latest materialization of every recent partition and requests a run for each provisional
one whose `settles_at` has passed. The run key names the provisional materialization, so
each one is retried at most once; if the retry is still provisional it sets a new
`settles_at` and the sensor asks again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import dagster as dg

RECENT = 1000  # materializations looked at per tick: provisional days are the latest
TICK = 3600  # seconds between evaluations


def settle_sensor(
    key: dg.AssetKey, *, name: str, clock: Callable[[], float] = time.time
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        asset_selection=[key],
        minimum_interval_seconds=TICK,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Materializes provisional days of {key.to_user_string()} once settled",
    )
    def settle(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest]:
        for partition, storage_id in due_partitions(context.instance, key, now=clock()):
            yield dg.RunRequest(
                run_key=f"settle:{partition}:{storage_id}",
                partition_key=partition,
                asset_selection=[key],
            )

    return settle


def due_partitions(
    instance: dg.DagsterInstance, key: dg.AssetKey, *, now: float
) -> list[tuple[str, int]]:
    """(partition, storage id) of each provisional latest materialization now due."""
    latest: dict[str, dg.EventLogRecord] = {}
    for record in instance.fetch_materializations(key, limit=RECENT).records:  # newest first
        materialization = record.asset_materialization
        if materialization and materialization.partition:
            latest.setdefault(materialization.partition, record)
    due = []
    for partition, record in latest.items():
        assert record.asset_materialization is not None
        metadata = record.asset_materialization.metadata
        settled, settles_at = metadata.get("settled"), metadata.get("settles_at")
        if settled is None or settled.value or settles_at is None:
            continue
        if isinstance(settles_at.value, float | int) and settles_at.value <= now:
            due.append((partition, record.storage_id))
    return due
