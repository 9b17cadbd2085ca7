"""`--landing-retention`: delete raw jobs older than a duration, after a successful run.

Only complete jobs (a manifest) saved before the cutoff and belonging to another run are
deleted, so a job still being written (no manifest yet) is never touched. The manifest goes
first: a job interrupted while being deleted is no longer complete, and replay skips it
instead of failing on its missing files. Local directories left empty are removed with
`rmdir`, which refuses a directory another run has just written into.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.fs as pafs

from genesys_export.errors import SinkError
from genesys_export.raw.zone import MANIFEST, RawZone


@dataclass(frozen=True)
class Pruned:
    """What retention deleted."""

    jobs: int = 0
    files: int = 0
    stored_bytes: int = 0


def prune(zone: RawZone, older_than: timedelta, *, now: datetime, keep_run: str) -> Pruned:
    """Delete complete jobs saved before `now - older_than`, except those of `keep_run`."""
    cutoff = now - older_than
    jobs = files = stored = 0
    try:
        for day_dir in _old_days(zone, cutoff.date()):
            for manifest, sizes in zone.manifests_under(day_dir):
                if manifest.run_id == keep_run or manifest.saved_at >= cutoff:
                    continue
                zone.fs.delete_file(zone.path(manifest.directory, MANIFEST))
                zone.fs.delete_dir(zone.path(manifest.directory))
                jobs += 1
                files += len(sizes)
                stored += sum(sizes.values())
            _remove_empty_dirs(zone, day_dir)
    except (OSError, pa.ArrowException) as exc:
        raise SinkError(f"raw landing zone {zone.uri}: retention failed ({exc})") from exc
    return Pruned(jobs, files, stored)


def _old_days(zone: RawZone, cutoff: date) -> list[str]:
    """`<kind>/<date>` directories whose date is not after the cutoff's (relative paths)."""
    days = []
    for kind in zone.kinds():
        selector = pafs.FileSelector(zone.path(kind), allow_not_found=True)
        for info in zone.fs.get_file_info(selector):
            if info.type == pafs.FileType.Directory and _day(info.base_name) <= cutoff:
                days.append(f"{kind}/{info.base_name}")
    return days


def _day(name: str) -> date:
    try:
        return date.fromisoformat(name)
    except ValueError:
        return date.max  # not a day directory: never pruned


def _remove_empty_dirs(zone: RawZone, day_dir: str) -> None:
    """On a local zone, remove run and day directories left empty (object stores have none)."""
    if not zone.is_local:
        return
    root = zone.path(day_dir)
    for path, _, _ in os.walk(root, topdown=False):  # children before parents
        with contextlib.suppress(OSError):
            os.rmdir(path)
