"""`make demo`: the simulator in-process, an export into ./demo/, and what landed.

No credentials needed: the simulator on loopback grants its own demo client. Everything
goes through the same library calls a real run makes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from genesys_export.check import render_check, run_check
from genesys_export.config import Credentials, Secret, Settings
from genesys_export.exporter import Exporter
from genesys_export.intervals import Interval
from genesys_export.progress import LogProgress
from genesys_export.simulator import Simulator, serve

DEMO_DAYS = 3
SAMPLE_QUERY = """
-- Handled conversations and average handle time per queue per day
SELECT CAST(m.emit_date AS DATE) AS day,
       s.queue_id,
       count(*) AS handled,
       round(avg(m.value) / 1000.0, 1) AS avg_handle_s
FROM session_metrics m
JOIN (SELECT DISTINCT conversation_id, session_id, queue_id
      FROM segments WHERE queue_id IS NOT NULL) s
  USING (conversation_id, session_id)
WHERE m.name = 'tHandle'
GROUP BY ALL
ORDER BY day, queue_id
"""


def run_demo(directory: Path, *, console: Console | None = None) -> None:
    out = console or Console()
    directory.mkdir(parents=True, exist_ok=True)
    sim = Simulator(seed=7, conversations_per_day=300, job_latency=0.5, export_latency=0.5)
    with serve(sim, host="127.0.0.1", port=0) as running:
        settings = Settings(
            credentials=Credentials(client_id="sim-client", client_secret=Secret("sim-secret")),
            api_url=running.api_url,
            login_url=running.login_url,
        )
        out.rule("check")
        render_check(run_check(settings), out)
        end = sim.dataset.data_availability.replace(hour=0, minute=0, second=0, microsecond=0)
        interval = Interval(end - timedelta(days=DEMO_DAYS), end)
        duck = f"duckdb:///{(directory / 'genesys.duckdb').resolve()}"
        parquet = f"parquet://{(directory / 'parquet').resolve()}"
        for dest in (duck, parquet):
            out.rule(f"export conversations {interval} -> {dest}")
            exporter = Exporter(settings, progress_factory=lambda api: LogProgress())
            result = exporter.export_conversations(interval, dest=dest)
            _print_rows(out, result.summary)
    out.rule("sample BI query (DuckDB)")
    _print_query(out, directory / "genesys.duckdb", SAMPLE_QUERY)
    out.print(
        f"audit trail: {directory / 'genesys-export-audit.jsonl'} "
        f"(verify: genesys-export audit verify --file {directory}/genesys-export-audit.jsonl)"
    )


def _print_rows(out: Console, summary: dict[str, object]) -> None:
    table = Table("table", "rows", title=f"run {summary['run_id']}")
    rows = summary["rows"]
    assert isinstance(rows, dict)
    for name, count in rows.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(
        f"requests {summary['requests']}, 429s {summary['rate_limited']}, "
        f"retries {summary['retries']}, {summary['duration_s']} s"
    )


def _print_query(out: Console, path: Path, sql: str) -> None:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        table = Table(*names)
        for row in cursor.fetchall()[:15]:
            table.add_row(*(str(v) for v in row))
    out.print(sql.strip())
    out.print(table)
