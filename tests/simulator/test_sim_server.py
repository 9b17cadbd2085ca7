"""Ways to run the simulator: run_forever, `python -m`, and WSGI in-process."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from genesys_export.simulator import Simulator, run_forever, wsgi_app
from tests.simulator.conftest import AVAILABLE, CONVERSATION_JOBS, DAY1, EXPORTS


def _wait_for(out: io.StringIO, text: str) -> str:
    deadline = time.monotonic() + 10
    while text not in out.getvalue():
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.01)
    return out.getvalue()


def test_run_forever_prints_urls_and_credentials_until_stopped() -> None:
    """run_forever serves, prints env-style lines a client can use, and stops cleanly."""
    sim = Simulator(data_availability=AVAILABLE, faults="429:every=100")
    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(sim, "127.0.0.1", 0), kwargs={"out": out, "stop": stop}
    )
    thread.start()
    try:
        banner = _wait_for(out, "Ctrl-C")
        lines = dict(
            line.split("=", 1) for line in banner.splitlines() if line.startswith("GENESYS_")
        )
        assert lines["GENESYS_CLIENT_ID"] == "sim-client"
        assert "faults: 429:every=100" in banner
        with httpx.Client() as client:
            token = client.post(
                lines["GENESYS_LOGIN_URL"] + "/oauth/token",
                auth=(lines["GENESYS_CLIENT_ID"], lines["GENESYS_CLIENT_SECRET"]),
                data={"grant_type": "client_credentials"},
            )
            assert token.status_code == 200
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_module_entry_point_serves_until_interrupted() -> None:
    """`python -m genesys_export.simulator --port 0` prints the URLs and exits on Ctrl-C."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "genesys_export.simulator", "--port", "0", "--seed", "3",
               "--faults", "5xx:every=50", "--conversations-per-day", "10"]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        api = process.stdout.readline().strip()
        assert "seed 3" in first and "5xx:every=50" in first
        assert api.startswith("GENESYS_API_URL=http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped" in rest


def test_wsgi_app_plays_both_hosts(contract: Any) -> None:
    """The WSGI adapter answers the API, and a download redirect reaches the storage
    handler without the bearer token (httpx drops it on the cross-origin redirect)."""
    sim = Simulator(data_availability=AVAILABLE, job_latency=0.0, export_latency=0.0, report_rows=5)
    transport = httpx.WSGITransport(app=wsgi_app(sim))
    with httpx.Client(transport=transport, base_url="http://api.sim") as client:
        token = client.post(
            "/oauth/token",
            auth=("sim-client", "sim-secret"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        submitted = client.post(CONVERSATION_JOBS, json={"interval": DAY1}, headers=headers)
        job = submitted.json()["jobId"]
        page = client.get(f"{CONVERSATION_JOBS}/{job}/results", headers=headers).json()
        contract.validate(
            "conversation-details-jobs.json", "AnalyticsConversationAsyncQueryResponse", page
        )
        request = {
            "name": "n", "timeZone": "UTC", "exportFormat": "CSV", "interval": DAY1,
            "period": "P1D", "viewType": "AGENT_STATUS_SUMMARY_VIEW", "filter": {},
            "locale": "en-US",
        }  # fmt: skip
        export = client.post(EXPORTS, json=request, headers=headers).json()
        listed = client.get(EXPORTS, headers=headers).json()["entities"][0]
        assert listed["id"] == export["id"]
        file = client.get(listed["downloadUrl"], headers=headers, follow_redirects=True)
        assert file.status_code == 200
        assert file.content == sim.dataset.report_csv(request)
    storage = [r for r in sim.requests if r.host == "storage"]
    assert len(storage) == 1 and "authorization" not in storage[0].headers


def test_simulator_imports_only_itself_and_the_stdlib() -> None:
    """The fake imports nothing from the client (a misreading must not be mirrored) and
    nothing outside the standard library."""
    import ast
    from pathlib import Path

    import genesys_export.simulator as package

    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                inside = name == "genesys_export.simulator" or name.startswith(
                    "genesys_export.simulator."
                )
                assert inside or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def _default_sigint() -> None:
    """A child of a shell's background job inherits SIGINT ignored; Python then never
    turns it into KeyboardInterrupt. Give the child the default, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
