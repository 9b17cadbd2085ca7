"""Progress of long work: a live display on a terminal, plain log lines elsewhere.

The library never prints; the CLI chooses `live.LiveProgress` (rich) for a terminal and
`LogProgress` otherwise. Both are told the same things by the pipeline. This module loads
no display library, so the library layers can depend on the `Progress` protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from genesys_export.events import AuditEvent
from genesys_export.intervals import Interval

log = logging.getLogger("genesys_export.progress")


class Progress(Protocol):
    def start(self, what: str, chunks: int) -> None: ...

    def event(self, name: str, fields: Mapping[str, Any]) -> None: ...

    def chunk_done(self, interval: Interval, rows: Mapping[str, int]) -> None: ...

    def stop(self) -> None: ...


class QuietProgress:
    """Says nothing: the library default."""

    def start(self, what: str, chunks: int) -> None:
        pass

    def event(self, name: str, fields: Mapping[str, Any]) -> None:
        pass

    def chunk_done(self, interval: Interval, rows: Mapping[str, int]) -> None:
        pass

    def stop(self) -> None:
        pass


class LogProgress(QuietProgress):
    """One log line per chunk and per job state change."""

    def __init__(self) -> None:
        self._done = 0
        self._total = 0
        self._what = ""

    def start(self, what: str, chunks: int) -> None:
        self._what, self._total, self._done = what, chunks, 0
        log.info("%s: %d chunk(s)", what, chunks)

    def event(self, name: str, fields: Mapping[str, Any]) -> None:
        if name == AuditEvent.JOB_SUBMITTED:
            log.info(
                "%s %s",
                name,
                " ".join(
                    f"{k}={v}" for k, v in fields.items() if k in ("job_id", "state", "interval")
                ),
            )

    def chunk_done(self, interval: Interval, rows: Mapping[str, int]) -> None:
        self._done += 1
        counts = ", ".join(f"{k}={v}" for k, v in rows.items())
        log.info(
            "%s: chunk %d/%d %s done (%s)", self._what, self._done, self._total, interval, counts
        )
