"""Progress of long work: a live display on a terminal, plain log lines elsewhere.

The library never prints; the CLI chooses `LiveProgress` (rich) for a terminal and
`LogProgress` otherwise. Both are told the same things by the pipeline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

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
        if name == "job.submitted":
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


class LiveProgress(QuietProgress):
    """A rich progress bar: chunks, rows, requests and time spent waiting for rate limits."""

    def __init__(self, stats: Any = None, budget: Any = None) -> None:
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._stats, self._budget = stats, budget
        self._rows: dict[str, int] = {}
        self._task: Any = None
        self._lock = threading.Lock()

    def start(self, what: str, chunks: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(what, total=chunks, detail="")

    def event(self, name: str, fields: Mapping[str, Any]) -> None:
        self._refresh()

    def chunk_done(self, interval: Interval, rows: Mapping[str, int]) -> None:
        with self._lock:
            for k, v in rows.items():
                self._rows[k] = self._rows.get(k, 0) + v
        if self._task is not None:
            self._bar.advance(self._task)
        self._refresh()

    def _refresh(self) -> None:
        if self._task is None:
            return
        total_rows = sum(self._rows.values())
        detail = f"rows {total_rows:,}"
        if self._stats is not None:
            detail += f" · requests {self._stats.requests:,} · 429s {self._stats.rate_limited}"
        if self._budget is not None:
            detail += f" · waited {self._budget.waited + self._stats.retry_wait:.1f}s"
        self._bar.update(self._task, detail=detail)

    def stop(self) -> None:
        self._bar.stop()
