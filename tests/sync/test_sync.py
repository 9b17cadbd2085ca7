"""`sync` end to end: incremental windows, crash-safe resume, locks, notifications."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from genesys_export.audit import read_events
from genesys_export.simulator import serve
from genesys_export.sinks import open_sink
from genesys_export.transform import schemas
from tests.conftest import make_simulator

REPO = Path(__file__).resolve().parents[2]
TABLES = (
    "conversations",
    "participants",
    "participant_attributes",
    "sessions",
    "segments",
    "session_metrics",
    "user_presence",
    "user_routing_status",
)
RUN_COLUMNS = ("_run_id", "_extracted_at")
SPECS = {
    spec.name: spec
    for spec in (
        schemas.CONVERSATIONS,
        schemas.PARTICIPANTS,
        schemas.PARTICIPANT_ATTRIBUTES,
        schemas.SESSIONS,
        schemas.SEGMENTS,
        schemas.SESSION_METRICS,
        schemas.USER_PRESENCE,
        schemas.USER_ROUTING_STATUS,
    )
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Any]:
    sim = make_simulator(budget_per_minute=6000, conversations_per_day=30, users=6)
    with serve(sim, host="127.0.0.1", port=0) as running:
        yield sim, running


def env_for(running: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_")}
    return env | {
        "GENESYS_CLIENT_ID": "sim-client",
        "GENESYS_CLIENT_SECRET": "sim-secret",
        "GENESYS_API_URL": running.api_url,
        "GENESYS_LOGIN_URL": running.login_url,
        "PYTHONPATH": str(REPO),
    }


def write_config(path: Path, uri: str, *, extra: str = "") -> Path:
    path.write_text(
        f"""
[destination]
uri = "{uri}"
audit = "{path.parent / "audit.jsonl"}"

[run]
concurrency = 2
budget_per_minute = 6000
lookback = "P2D"

[datasets.conversations]
kind = "conversations"
start = "2024-05-06"

[datasets.agents]
kind = "users"
start = "2024-05-07"
{extra}
"""
    )
    return path


def sync(
    config: Path, running: Any, *, crash: tuple[str, int] | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["sync", "--config", str(config), "--json"]
    if crash is None:
        cmd = [sys.executable, "-m", "genesys_export", *args]
    else:
        cmd = [
            sys.executable,
            "-m",
            "tests.sync.crash_driver",
            crash[0],
            str(crash[1]),
            "--",
            *args,
        ]
    return subprocess.run(
        cmd, env=env_for(running), cwd=config.parent, capture_output=True, text=True, timeout=240
    )


def snapshot(uri: str, tables: tuple[str, ...] = TABLES) -> dict[str, pa.Table]:
    """Every table's data columns, sorted by key, for exact comparison."""
    out = {}
    with open_sink(uri, lock=False) as sink:
        for name in tables:
            table = sink.read_table(name)
            table = table.drop_columns([c for c in RUN_COLUMNS if c in table.column_names])
            keys = SPECS[name].key
            out[name] = table.sort_by([(k, "ascending") for k in keys]).combine_chunks()
    return out


def assert_same_tables(
    actual: dict[str, pa.Table], expected: dict[str, pa.Table], tables: tuple[str, ...] = TABLES
) -> None:
    for name in tables:
        assert actual[name].num_rows == expected[name].num_rows, name
        assert actual[name].equals(expected[name]), f"{name} differs"


def destination(kind: str, tmp_path: Path) -> str:
    if kind == "duckdb":
        return f"duckdb:///{tmp_path / 'w.duckdb'}"
    if kind == "parquet":
        return f"parquet://{tmp_path / 'lake'}"
    dsn = os.environ.get(
        "GENESYS_EXPORT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
    )
    schema = f"t_{uuid.uuid4().hex[:10]}"
    return f"{dsn}?schema={schema}"


@pytest.fixture(scope="module")
def baseline(simulator: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    """The tables of one uninterrupted sync."""
    _, running = simulator
    tmp = tmp_path_factory.mktemp("baseline")
    uri = destination("duckdb", tmp)
    done = sync(write_config(tmp / "genesys-export.toml", uri), running)
    assert done.returncode == 0, done.stderr
    return snapshot(uri)


def test_second_sync_reads_only_the_lookback_window(simulator: Any, tmp_path: Path) -> None:
    """The first sync starts at each dataset's start; the second at the checkpoint minus
    the lookback (2 days), and leaves the tables as they were."""
    _, running = simulator
    uri = destination("duckdb", tmp_path)
    config = write_config(tmp_path / "genesys-export.toml", uri)
    assert sync(config, running).returncode == 0
    first = snapshot(uri)
    assert sync(config, running).returncode == 0
    runs: dict[str, list[str]] = {}
    for event in read_events(tmp_path / "audit.jsonl"):
        if event["event"] == "job.submitted" and event.get("export_kind") == "conversation_details":
            runs.setdefault(event["run_id"], []).append(event["interval"])
    first_run, second_run = (sorted(v) for v in runs.values())
    assert first_run[0].startswith("2024-05-06T00:00:00")
    assert second_run[0].startswith("2024-05-08T06:00:00")  # written_until 05-10T06 - 2 days
    assert all(i.endswith("2024-05-10T06:00:00.000Z") or i < "2024-05-10" for i in second_run)
    assert_same_tables(snapshot(uri), first)


def test_a_checkpoint_in_the_future_means_no_work(simulator: Any, tmp_path: Path) -> None:
    """A dataset whose start lies past the data-availability date submits no job."""
    _, running = simulator
    uri = destination("duckdb", tmp_path)
    config = write_config(tmp_path / "genesys-export.toml", uri)
    config.write_text(
        config.read_text()
        .replace('start = "2024-05-06"', 'start = "2030-01-01"')
        .replace('start = "2024-05-07"', 'start = "2030-01-01"')
    )
    done = sync(config, running)
    assert done.returncode == 0, done.stderr
    events = read_events(tmp_path / "audit.jsonl")
    assert not [e for e in events if e["event"] == "job.submitted"]
    assert '"up_to_date": true' in done.stdout


CRASHES = [
    ("duckdb", ("job", 2)),
    ("duckdb", ("append", 9)),
    ("duckdb", ("commit", 2)),
    ("parquet", ("append", 9)),
    ("parquet", ("replace", 3)),
    ("parquet", ("commit", 3)),
    ("postgres", ("append", 9)),
    ("postgres", ("commit", 2)),
]


@pytest.mark.parametrize(("kind", "crash"), CRASHES, ids=[f"{k}-{p}{n}" for k, (p, n) in CRASHES])
def test_sigkill_then_rerun_gives_the_uninterrupted_tables(
    simulator: Any, baseline: dict[str, pa.Table], tmp_path: Path, kind: str, crash: tuple[str, int]
) -> None:
    """Killed at any instant, the same command run again ends with exactly the tables of
    a run that was never interrupted: nothing lost, nothing duplicated."""
    _, running = simulator
    uri = destination(kind, tmp_path)
    config = write_config(tmp_path / "genesys-export.toml", uri)
    killed = sync(config, running, crash=crash)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = sync(config, running)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_tables(snapshot(uri), baseline)


def test_a_second_sync_on_the_same_destination_refuses(simulator: Any, tmp_path: Path) -> None:
    """While one sync holds the destination, another exits 2 with a clear message."""
    _, running = simulator
    uri = destination("duckdb", tmp_path)
    config = write_config(tmp_path / "genesys-export.toml", uri)
    with open_sink(uri):  # holds the destination's lock like a running sync
        refused = sync(config, running)
    assert refused.returncode == 2
    assert "in use" in refused.stderr or "lock" in refused.stderr
    assert "Traceback" not in refused.stderr


class Receiver(BaseHTTPRequestHandler):
    secret = "hook-secret"
    seen: ClassVar[list[tuple[bool, bool, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        import json

        from genesys_export.notify import verify_signature

        body = self.rfile.read(int(self.headers["Content-Length"]))
        import time

        good = verify_signature(self.secret, dict(self.headers), body, now=time.time())
        tampered = verify_signature(self.secret, dict(self.headers), body + b" ", now=time.time())
        Receiver.seen.append((good, tampered, json.loads(body)))
        self.send_response(204 if good else 401)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhooks_get_a_signed_manifest_that_rejects_tampering(
    simulator: Any, tmp_path: Path
) -> None:
    _, running = simulator
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        uri = destination("duckdb", tmp_path)
        url = f"http://127.0.0.1:{server.server_port}/hook"
        hook = f'webhooks = [{{url = "{url}", secret_env = "HOOK_SECRET"}}]'
        config = write_config(tmp_path / "genesys-export.toml", uri)
        config.write_text(
            config.read_text().replace('kind = "conversations"', f'kind = "conversations"\n{hook}')
        )
        env_extra = {"HOOK_SECRET": Receiver.secret}
        done = subprocess.run(
            [sys.executable, "-m", "genesys_export", "sync", "--config", str(config), "--json"],
            env=env_for(running) | env_extra,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert done.returncode == 0, done.stderr
    assert len(Receiver.seen) == 1
    good, tampered, manifest = Receiver.seen[0]
    assert good and not tampered
    assert manifest["dataset"] == "conversations"
    assert manifest["tables"]["conversations"] > 0
    assert manifest["written_until"].startswith("2024-05-10T06:00")
    sent = [e for e in read_events(tmp_path / "audit.jsonl") if e["event"] == "notify.sent"]
    assert sent and sent[0]["ok"] is True
    assert Receiver.secret not in (tmp_path / "audit.jsonl").read_text()


def test_a_failing_webhook_warns_and_strict_notify_exits_5(simulator: Any, tmp_path: Path) -> None:
    """Data lands either way; only --strict-notify turns the failed delivery into exit 5."""
    _, running = simulator
    uri = destination("duckdb", tmp_path)
    hook = 'webhooks = [{url = "http://127.0.0.1:9/nowhere", secret_env = "HOOK_SECRET"}]'
    config = write_config(tmp_path / "genesys-export.toml", uri)
    config.write_text(config.read_text().replace('kind = "users"', f'kind = "users"\n{hook}'))
    env = env_for(running) | {"HOOK_SECRET": "x"}
    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "genesys_export", "sync", "--config", str(config), *extra],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lenient = run()
    assert lenient.returncode == 0, lenient.stderr
    assert "notification" in lenient.stdout + lenient.stderr
    strict = run("--strict-notify")
    assert strict.returncode == 5
    with open_sink(uri, lock=False) as sink:
        assert sink.read_table("user_presence").num_rows > 0


def test_plan_and_status_read_checkpoints_without_calling_the_api(
    simulator: Any, tmp_path: Path
) -> None:
    """`plan sync` starts each dataset at its resume point; `status` shows checkpoints and
    the last run's outcome. Neither sends a request."""
    import json

    from click.testing import CliRunner

    from genesys_export.cli import cli

    sim, running = simulator
    uri = destination("duckdb", tmp_path)
    config = write_config(tmp_path / "genesys-export.toml", uri)
    runner = CliRunner()
    plan = ["plan", "sync", "--config", str(config), "--json"]
    before = runner.invoke(cli, plan)
    assert before.exit_code == 0, before.output
    planned = {row["dataset"]: row for row in json.loads(before.output)}
    assert planned["conversations"]["interval"].startswith("2024-05-06T00:00:00.000Z/")
    assert planned["conversations"]["chunks"] > 0
    assert sync(config, running).returncode == 0
    seen = len(sim.requests)
    after = {row["dataset"]: row for row in json.loads(runner.invoke(cli, plan).output)}
    # from the checkpoint (the watermark, 05-10T06:00) minus the 2-day lookback
    assert after["conversations"]["interval"].startswith("2024-05-08T06:00:00.000Z/")
    status = runner.invoke(cli, ["status", "--config", str(config), "--json"])
    assert status.exit_code == 0, status.output
    rows = {row["dataset"]: row for row in json.loads(status.output)}
    assert rows["conversations"]["written_until"].startswith("2024-05-10T06:00:00")
    assert rows["agents"]["last_runs"][-1]["outcome"] == "ok"
    assert len(sim.requests) == seen


def test_ctrl_c_stops_at_once_with_exit_130_and_audits_the_failure(tmp_path: Path) -> None:
    """SIGINT while jobs run slowly: the process ends within seconds (waits are cut
    short), exits 130 with one line, and the audit records run.failed."""
    import time

    sim = make_simulator(faults="slow_jobs:seconds=120", budget_per_minute=6000)
    with serve(sim, host="127.0.0.1", port=0) as running:
        uri = destination("duckdb", tmp_path)
        command = [
            sys.executable,
            "-m",
            "genesys_export",
            "export",
            "conversations",
            "--interval",
            "2024-05-06/2024-05-09",
            "--dest",
            uri,
        ]
        child = subprocess.Popen(
            command,
            # A background job's children inherit SIGINT ignored; a terminal gives the default.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            env=env_for(running),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        audit = tmp_path / "genesys-export-audit.jsonl"
        deadline = time.monotonic() + 60
        submitted = lambda: any(  # noqa: E731
            r.method == "POST" and r.path.endswith("/details/jobs") for r in sim.requests
        )
        while time.monotonic() < deadline and not submitted():
            time.sleep(0.1)
        if not submitted():
            child.kill()
            pytest.fail(f"no details job was submitted within 60 s: {child.communicate()[1]}")
        interrupted = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
        took = time.monotonic() - interrupted
    assert child.returncode == 130, stderr
    assert took < 10
    assert "Traceback" not in stderr and "interrupted" in stderr
    events = [e["event"] for e in read_events(audit)]
    assert events[-1] == "run.failed"
    assert "job.submitted" in events  # the budget the run spent is on record
