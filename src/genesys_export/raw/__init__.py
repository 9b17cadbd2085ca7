"""The raw landing zone: what Genesys sent, kept as received, and tables rebuilt from it.

    zone.py       where a zone is (file:/// or s3://), manifests, reading files back
    store.py      RawStore: one run's writer (gzip in the background, rename into place)
    retention.py  prune(): delete complete jobs older than --landing-retention
    replay.py     replay(): the tables again, from the zone alone
    reports.py    a report job's request and CSV options, read back from its manifest

Layer: library, beside `exporter` and `sync`, which open a store per run. Producers below
(jobs, landing, pipeline) never import this package: they receive the store through the
`capture.RawCapture` protocol (foundation), carried by `pipeline.Run.raw`. Replay sits
here because it drives the producers' chunk builders, the pipeline and the sinks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from genesys_export.errors import SinkError
from genesys_export.pipeline import Run
from genesys_export.raw.retention import prune
from genesys_export.raw.store import RawStore, check_writable
from genesys_export.raw.zone import RawZone

log = logging.getLogger(__name__)


def open_zone(uri: str | None) -> RawZone | None:
    """The zone `--landing` names (checked writable), or None; before a run opens anything."""
    if not uri:
        return None
    zone = RawZone.parse(uri)
    check_writable(zone)
    return zone


@contextmanager
def landing_zone(run: Run, zone: RawZone | None, retention: timedelta | None) -> Iterator[None]:
    """Keep the run's raw responses in `zone`; after a successful run, apply `retention`."""
    if zone is None:
        yield
        return
    store = RawStore.open(zone, run_id=run.run_id, extracted_at=run.extracted_at, events=run.event)
    run.raw = store
    try:
        yield
    finally:
        store.close()
        run.raw = None
    summary: dict[str, object] = {"uri": zone.uri, **store.totals()}
    if retention is not None:
        try:
            pruned = prune(zone, retention, now=datetime.now(UTC), keep_run=run.run_id)
            summary["pruned"] = asdict(pruned)
        except SinkError as exc:  # the run's data is committed: a warning, not a failure
            log.warning("%s", exc)
            run.warnings.append(str(exc))
    run.extra["landing"] = summary


__all__ = ["RawStore", "RawZone", "landing_zone", "open_zone", "prune"]
