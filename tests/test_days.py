"""Landing a day: the lock taken only to write, and each run's share of the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from genesys_export.days import budget_share, open_when_free
from genesys_export.errors import LockHeld
from genesys_export.sinks import open_sink
from genesys_export.sinks.base import Sink
from genesys_export.sinks.deferred import DeferredSink
from genesys_export.sinks.preflight import Preflight
from tests.e2e import duckdb_dest


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_deferred_sink_waits_for_the_lock_until_its_deadline(tmp_path: Path) -> None:
    """A day's sink opens nothing until used; used while another run holds the destination,
    it tries again until the wait has passed, then raises LockHeld; once free, it opens."""
    uri = duckdb_dest(tmp_path)
    clock = Clock()

    def opener(target: str) -> Sink:
        return open_when_free(target, 2.0, clock.sleep, clock)

    with open_sink(uri):
        late = DeferredSink(uri, Preflight(exists=True), opener=opener)
        with pytest.raises(LockHeld):
            late.read_checkpoint("conversations")
    assert clock.now >= 2.0 and len(clock.slept) >= 4

    with late:
        assert late.read_checkpoint("conversations") is None
        with pytest.raises(LockHeld):
            open_sink(uri)  # now the late sink holds it


@pytest.mark.parametrize(
    ("budget", "runs", "share"), [(300, 1, 300), (300, 2, 150), (300, 7, 42), (3, 8, 1)]
)
def test_each_run_takes_its_share_of_the_org_budget(budget: int, runs: int, share: int) -> None:
    """runs x share stays within the budget, except that a run always gets 1 a minute."""
    assert budget_share(budget, runs) == share
