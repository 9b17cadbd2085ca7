"""A local Genesys Cloud that speaks the analytics export contract, for tests and demos.

    from genesys_export.simulator import Simulator, FaultPlan, serve

    sim = Simulator(seed=7, conversations_per_day=200, faults=FaultPlan.parse("429:every=10"))
    with serve(sim) as running:
        running.api_url, running.login_url, running.storage_url
    sim.requests, sim.stats, sim.dataset

Deterministic from the seed (the dataset) and from counters (the faults); stdlib only; it
imports nothing from the rest of genesys_export, so a misreading of the API by the client
is not mirrored here. Module map: `app` (the Simulator and its request gate), `handlers`
(one method per endpoint), `jobs`, `exports`, `aggregates`, `reports` + `csvreport`,
`dataset` (ground truth) over `conversations`, `users`, `render` and `reference`,
`faults` (the fault grammar), `ratelimit`, `tokens`, `server` (serve, run_forever, WSGI).
"""

from __future__ import annotations

from genesys_export.simulator.app import Simulator, default_data_availability
from genesys_export.simulator.dataset import Dataset
from genesys_export.simulator.faults import FaultKind, FaultPlan, FaultRule, FaultScope
from genesys_export.simulator.recording import RecordedRequest, SimulatorStats
from genesys_export.simulator.server import RunningSimulator, run_forever, serve, wsgi_app

__all__ = [
    "Dataset",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "FaultScope",
    "RecordedRequest",
    "RunningSimulator",
    "Simulator",
    "SimulatorStats",
    "default_data_availability",
    "run_forever",
    "serve",
    "wsgi_app",
]
