"""Check the Dagster UI as a person would: start `dagster dev` on the demo config with the
simulator, ask the webserver for the assets, and screenshot an asset's partitions page.

    python tools/ui_check.py [--out build/ui-check/partitions.png] [--port 3311]

Steps: the simulator on loopback; a DAGSTER_HOME with examples/dagster.yaml (so the
run-tag rule the README shows is loaded by a real instance); the packaged demo TOML with
its destination in a temporary folder; one partition materialized into that instance so
the page shows a materialized day; `dagster dev -m genesys_export.dagster`; the
webserver's GraphQL must list every dataset of the TOML as an asset (else exit 1); then
headless Chromium (installed with apt-get when missing) screenshots
/assets/<dataset>?view=partitions. Everything it started is stopped at the end.
Not part of `make test`: it needs Chromium and takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ASSETS_QUERY = "{ assetNodes { assetKey { path } } }"
# The webserver's first-visit "join the community" dialog; a person would click Skip.
SEEN_NUX = "mutation { setNuxSeen }"
STARTUP_SECONDS = 180


def main(argv: list[str]) -> int:
    args = parse(argv)
    ensure_chromium()
    from genesys_export.simulator import Simulator, serve

    sim = Simulator(seed=7, conversations_per_day=100, job_latency=0.2)
    with tempfile.TemporaryDirectory(prefix="ui-check-") as tmp, serve(sim, port=0) as running:
        home, config = prepare(Path(tmp), running)
        env = os.environ | {
            "DAGSTER_HOME": str(home),
            "GENESYS_EXPORT_CONFIG": str(config),
            "GENESYS_CLIENT_ID": "sim-client",
            "GENESYS_CLIENT_SECRET": "sim-secret",
            "GENESYS_API_URL": running.api_url,
            "GENESYS_LOGIN_URL": running.login_url,
        }
        env.pop("GENESYS_REGION", None)
        datasets = materialize_one(env)
        server = start_dagster(env, args.port, Path(tmp) / "dagster.log")
        try:
            base = f"http://127.0.0.1:{args.port}"
            keys = wait_for_assets(base, server)
            missing = sorted(set(datasets) - keys)
            if missing:
                print(f"ui-check: assets missing from the webserver: {missing}", file=sys.stderr)
                return 1
            print(f"ui-check: the webserver lists the assets {sorted(keys)}")
            graphql(base, SEEN_NUX)
            url = f"{base}/assets/{datasets[0]}?view=partitions"
            screenshot(url, args.out)
        finally:
            stop(server)
    print(f"ui-check: {url} -> {args.out}")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "ui-check" / "partitions.png")
    parser.add_argument("--port", type=int, default=3311)
    return parser.parse_args(argv)


def ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    print("ui-check: installing chromium (apt-get)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"],
        check=True,
        env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
    )


def prepare(tmp: Path, running: Any) -> tuple[Path, Path]:
    """DAGSTER_HOME with examples/dagster.yaml, and the demo TOML writing into `tmp`."""
    home = tmp / "dagster-home"
    home.mkdir()
    shutil.copy(REPO / "examples" / "dagster.yaml", home / "dagster.yaml")
    demo = resources.files("genesys_export").joinpath("demo.toml").read_text(encoding="utf-8")
    dest = f"duckdb:///{tmp / 'genesys.duckdb'}"
    config = tmp / "genesys-export.toml"
    config.write_text(demo.replace('uri = "duckdb:///demo/genesys.duckdb"', f'uri = "{dest}"'))
    return home, config


def materialize_one(env: dict[str, str]) -> list[str]:
    """Materialize a recent day of the TOML's first dataset into the DAGSTER_HOME instance
    (in a child process, with the run's environment); the dataset names, in TOML order."""
    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    code = f"""
import json, os, tomllib, dagster as dg
from genesys_export.dagster import defs
with open(os.environ["GENESYS_EXPORT_CONFIG"], "rb") as file:
    names = list(tomllib.load(file)["datasets"])
asset = defs.resolve_assets_def(names[0])
key = dg.MultiPartitionKey({{"org": "default", "date": "{day}"}})
with dg.DagsterInstance.get() as instance:
    result = dg.materialize([asset], partition_key=key, instance=instance)
print(json.dumps({{"names": names, "ok": result.success}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        sys.exit(f"ui-check: materializing a partition failed:\n{done.stderr[-2000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"ui-check: materialized {answer['names'][0]} for {day}: ok={answer['ok']}")
    return list(answer["names"])


def start_dagster(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    dagster = Path(sys.executable).parent / "dagster"
    cmd = [str(dagster), "dev", "-m", "genesys_export.dagster", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_for_assets(base: str, server: subprocess.Popen[bytes]) -> set[str]:
    """The asset names the webserver's GraphQL lists, once it answers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"ui-check: dagster dev exited with {server.returncode}")
        try:
            nodes = graphql(base, ASSETS_QUERY)["data"]["assetNodes"]
        except (OSError, KeyError, ValueError):
            time.sleep(2)
            continue
        if nodes:
            return {node["assetKey"]["path"][-1] for node in nodes}
        time.sleep(2)
    sys.exit(f"ui-check: no assets from {base}/graphql within {STARTUP_SECONDS} s")


def graphql(base: str, query: str) -> Any:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def screenshot(url: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ui-check-chromium-") as profile:
        subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                f"--screenshot={out}",
                "--window-size=1400,900",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not out.is_file() or out.stat().st_size == 0:
        sys.exit(f"ui-check: chromium wrote no screenshot of {url}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop dagster dev and the processes it started (its own session)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
