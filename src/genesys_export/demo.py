"""`make demo`: the simulator in-process, a sync into ./demo/ from the sample TOML, and
what landed.

No credentials needed: the simulator on loopback grants its own demo client. Everything
goes through the same library calls a real run makes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
from rich.console import Console

from genesys_export.check import run_check
from genesys_export.config import Credentials, Secret, Settings
from genesys_export.datasets import SyncConfig, load_sync_config
from genesys_export.exporter import Exporter
from genesys_export.planning import plan_for_config, status_for_config
from genesys_export.progress import LogProgress
from genesys_export.render import (
    render_check,
    render_plan,
    render_rows,
    render_status,
    render_summary,
)
from genesys_export.simulator import Simulator, serve
from genesys_export.sync import run_sync

AVAILABLE = datetime(2024, 5, 10, 6, 0, tzinfo=UTC)  # the simulator's watermark in the demo
SAMPLE_QUERY = """
-- Handled conversations and average handle time per queue per day, by queue name
SELECT CAST(m.emit_date AS DATE) AS day,
       s.queue_name AS queue,
       count(*) AS handled,
       round(avg(m.value) / 1000.0, 1) AS avg_handle_s
FROM session_metrics m
JOIN (SELECT DISTINCT conversation_id, session_id, queue_name
      FROM segments_named WHERE queue_id IS NOT NULL) s
  USING (conversation_id, session_id)
WHERE m.name = 'tHandle'
GROUP BY ALL
ORDER BY day, queue
"""


def demo_config(directory: Path) -> SyncConfig:
    """The packaged sample TOML, with its destination inside `directory`."""
    sample = resources.files("genesys_export").joinpath("demo.toml")
    config = load_sync_config(Path(str(sample)))
    uri = f"duckdb:///{(directory / 'genesys.duckdb').absolute()}"
    return config.model_copy(
        update={"destination": config.destination.model_copy(update={"uri": uri})}
    )


def run_demo(directory: Path, *, console: Console | None = None) -> None:
    out = console or Console()
    directory.mkdir(parents=True, exist_ok=True)
    config = demo_config(directory)
    sim = Simulator(seed=7, conversations_per_day=300, data_availability=AVAILABLE, job_latency=0.5)
    with serve(sim, host="127.0.0.1", port=0) as running:
        settings = Settings(
            credentials=Credentials(client_id="sim-client", client_secret=Secret("sim-secret")),
            api_url=running.api_url,
            login_url=running.login_url,
        )
        exporter = Exporter(settings, progress_factory=lambda api: LogProgress())
        out.rule("genesys-export check")
        render_check(run_check(settings), out)
        out.rule("genesys-export plan sync")
        render_plan(plan_for_config(config, now=AVAILABLE), out)
        out.rule("genesys-export sync (first run: everything since each dataset's start)")
        render_summary(run_sync(exporter, config).summary, out)
        out.rule("genesys-export sync (again: only the lookback window is read)")
        render_summary(run_sync(exporter, config).summary, out)
        parquet = f"parquet://{(directory / 'parquet').absolute()}"
        out.rule(f"genesys-export export conversations -> {parquet}")
        result = exporter.export_conversations("2024-05-08/2024-05-10", dest=parquet)
        render_summary(result.summary, out)
    out.rule("genesys-export status")
    render_status(status_for_config(config), out)
    out.rule("sample BI query on demo/genesys.duckdb")
    _print_query(out, directory / "genesys.duckdb", SAMPLE_QUERY)
    out.print(
        f"audit trail: {directory}/genesys-export-audit.jsonl — verify it with "
        f"`genesys-export audit verify --file {directory}/genesys-export-audit.jsonl`"
    )


def _print_query(out: Console, path: Path, sql: str) -> None:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()[:12]
    out.print(sql.strip())
    render_rows("first rows", names, rows, out)
