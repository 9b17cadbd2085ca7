"""Runs `genesys-export sync` in a child process and SIGKILLs it at a chosen instant.

Usage: python -m tests.sync.crash_driver POINT N -- <cli args>

POINT is where the process dies, at the Nth occasion:
  job        right after the Nth job finished (its data not yet written)
  append     inside the Nth sink append (a chunk half staged)
  commit     right after the Nth sink commit returned (data and checkpoint durable,
             nothing after it: no audit of it, no next chunk)
  replace    right after the Nth os.replace (Parquet: some partitions published, the
             checkpoint manifest not yet written: the two-phase window)

The hooks wrap the sink protocol's methods and os.replace in this child only; the parent
test reruns the same command normally and compares the tables with an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def _die_on(count: int) -> Callable[[], None]:
    seen = [0]

    def tick() -> None:
        seen[0] += 1
        if seen[0] == count:
            os.kill(os.getpid(), signal.SIGKILL)

    return tick


def _wrap(owner: Any, name: str, tick: Callable[[], None], *, after: bool) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not after:
            tick()
        result = original(*args, **kwargs)
        if after:
            tick()
        return result

    setattr(owner, name, wrapper)


def install(point: str, count: int) -> None:
    from genesys_export.audit import AuditLog
    from genesys_export.sinks.duckdb import DuckDBSink
    from genesys_export.sinks.parquet import ParquetSink
    from genesys_export.sinks.postgres import PostgresSink

    tick = _die_on(count)
    sinks = (DuckDBSink, ParquetSink, PostgresSink)
    if point == "job":
        original = AuditLog.append

        def append(self: AuditLog, event: Any, **fields: Any) -> Any:
            result = original(self, event, **fields)
            if str(event) == "job.finished":
                tick()
            return result

        AuditLog.append = append  # type: ignore[method-assign]
    elif point == "append":  # any staged write: the chunk's transaction is half done
        for sink in sinks:
            _wrap(sink, "append", tick, after=False)
            _wrap(sink, "insert", tick, after=False)
    elif point == "commit":
        for sink in sinks:
            _wrap(sink, "commit", tick, after=True)
    elif point == "replace":
        _wrap(os, "replace", tick, after=True)
    else:
        raise SystemExit(f"unknown crash point {point!r}")


if __name__ == "__main__":
    point, count, sep, *cli_args = sys.argv[1:]
    assert sep == "--"
    install(point, int(count))
    from genesys_export.cli import cli

    cli.main(args=cli_args, prog_name="genesys-export")
