"""`python -m genesys_export.simulator`: run the simulator in the foreground.

Example: python -m genesys_export.simulator --port 8080 --seed 7 --faults "429:every=10"
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from genesys_export.simulator.app import Simulator
from genesys_export.simulator.faults import FaultPlan
from genesys_export.simulator.server import run_forever


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, build a Simulator and serve it until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m genesys_export.simulator",
        description="A local Genesys Cloud analytics API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="API and login port (0: any)")
    parser.add_argument("--storage-port", type=int, default=0, help="download port (0: any)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", default="", help='fault plan, e.g. "429:every=10;5xx:burst=2"')
    parser.add_argument("--conversations-per-day", type=int, default=200)
    parser.add_argument("--users", type=int, default=25)
    parser.add_argument("--budget-per-minute", type=int, default=300)
    parser.add_argument("--job-latency", type=float, default=2.0)
    parser.add_argument("--export-latency", type=float, default=1.0)
    parser.add_argument("--report-rows", type=int, default=500)
    parser.add_argument(
        "--data-availability", type=_instant, default=None,
        help="watermark, ISO-8601; no offset means UTC (default: this hour minus 2 h)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        faults = FaultPlan.parse(args.faults)
    except ValueError as exc:
        parser.error(str(exc))
    sim = Simulator(
        seed=args.seed,
        conversations_per_day=args.conversations_per_day,
        users=args.users,
        budget_per_minute=args.budget_per_minute,
        job_latency=args.job_latency,
        export_latency=args.export_latency,
        report_rows=args.report_rows,
        data_availability=args.data_availability,
        faults=faults,
    )
    run_forever(sim, args.host, args.port, storage_port=args.storage_port)


def _instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


if __name__ == "__main__":
    main()
