"""The live progress display of a terminal (rich): chunks, rows, requests, rate-limit waits.

The face of the command line; the library never loads it (see `progress.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from genesys_export.intervals import Interval
from genesys_export.progress import QuietProgress


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
