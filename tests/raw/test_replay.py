"""Export with a landing zone, then replay it: the same tables, with no network at all.

One module-wide zone holds two runs of conversations (the first while some were still
open, so the second fetch must win) and one run each of users, aggregates and a report;
the live destination those runs wrote is the ground truth a replay must equal.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from genesys_export.audit import read_events
from genesys_export.config import Credentials, Secret, Settings
from genesys_export.exporter import Exporter
from genesys_export.raw.replay import ReplayRequest, replay
from genesys_export.sinks import open_sink
from genesys_export.transform.schemas import CONVERSATION_TABLES, USER_TABLES
from tests.e2e import SINKS, duckdb_dest, exporter_for, invoke, simulator

VIEW = "AGENT_PERFORMANCE_SUMMARY_VIEW"
REPORT = "report_agent_performance_summary_view"
AGGREGATES = "conversation_aggregates"
TABLES = (
    *(s.name for s in CONVERSATION_TABLES),
    *(s.name for s in USER_TABLES),
    AGGREGATES,
    REPORT,
    "dim_queues",
    "dim_users",
)
RUN_COLUMNS = ("_run_id", "_extracted_at")
EARLY = datetime(2024, 5, 9, 10, tzinfo=UTC)  # some conversations are still open here
RESULTS = "/results"


class Zone:
    """The landing zone, the live destination the exports wrote, and what was served."""

    def __init__(self, root: Path, live: str, served: Counter[str], csv: bytes) -> None:
        self.root, self.live, self.served, self.csv = root, live, served, csv
        self.audit = root.parent / "audit.jsonl"
        self.uri = f"file://{root}"


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Zone:
    tmp = tmp_path_factory.mktemp("zone")
    root, live = tmp / "raw", duckdb_dest(tmp, "live")
    served: Counter[str] = Counter()
    with simulator(data_availability=EARLY) as (sim, running):
        exporter = replace(exporter_for(running, tmp), raw_landing=f"file://{root}")
        exporter.export_conversations("2024-05-09/2024-05-10", dest=live)
        served += _results_served(sim)
    open_then = _open_conversations(live)
    with simulator() as (sim, running):
        exporter = replace(exporter_for(running, tmp), raw_landing=f"file://{root}")
        exporter.export_conversations("2024-05-08/2024-05-10", dest=live)
        exporter.export_users("2024-05-08/2024-05-10", dest=live)
        exporter.export_aggregates(
            "2024-05-08/2024-05-10",
            granularity="PT1H",
            group_by=["queueId", "mediaType"],
            metrics=["nOffered", "tHandle"],
            dest=live,
        )
        exporter.export_report(VIEW, "2024-05-08/2024-05-10", dest=live)
        exporter.export_reference(["queues", "users"], dest=live)
        renamed = next(iter(sim.directory.records["queues"]))
        sim.directory.rename("queues", renamed, "Renamed queue")  # a second version
        exporter.export_reference(["queues", "users"], dest=live)
        served += _results_served(sim)
        (export,) = [e for e in sim.state.exports.values() if e.frozen_status is None]
        csv = sim.dataset.report_csv(export.fields)
    assert open_then - _open_conversations(live), "no conversation changed between fetches"
    return Zone(root, live, served, csv)


def _open_conversations(dest: str) -> set[str]:
    with open_sink(dest, lock=False) as sink:
        rows = sink.read_table("conversations").to_pylist()
    return {r["conversation_id"] for r in rows if r["conversation_end"] is None}


def _results_served(sim: Any) -> Counter[str]:
    """Results pages the simulator answered, per details kind."""
    return Counter(
        "users" if "/users/" in r.path else "conversations"
        for r in sim.requests
        if r.method == "GET" and r.path.endswith(RESULTS) and r.status == 200
    )


def data(dest: str, *, lineage: bool = False) -> dict[str, list[str]]:
    """Each table's rows as sorted reprs (comparable across sinks), without the run columns
    unless `lineage`."""
    with open_sink(dest, lock=False) as sink:
        tables = {name: sink.read_table(name) for name in TABLES}
    return {name: sorted(map(repr, _rows(table, lineage))) for name, table in tables.items()}


def _rows(table: pa.Table, lineage: bool) -> list[dict[str, Any]]:
    kept = [c for c in table.column_names if lineage or c not in RUN_COLUMNS]
    return table.select(sorted(kept)).to_pylist()  # type: ignore[no-any-return]


def manifests(root: Path, kind: str = "*") -> list[Path]:
    return sorted(root.glob(f"{kind}/*/*/*/manifest.json"))


@pytest.mark.parametrize("dest_in", SINKS)
def test_replay_equals_the_export_that_fetched_the_data(
    zone: Zone, tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """Every table replayed from the zone alone equals the live destination's, row for row
    (run columns aside): the second fetch of a conversation won, as it did live."""
    dest = dest_in(tmp_path)
    summary = replay(ReplayRequest(landing=zone.uri, dest=dest))

    assert data(dest) == data(zone.live)
    with open_sink(dest, lock=False) as sink:
        assert set(sink.read_table("segments").column("_run_id").to_pylist()) == {summary["run_id"]}
    assert summary["replayed_jobs"] == len(manifests(zone.root))
    assert all(summary["rows"][name] > 0 for name in TABLES)


def test_each_results_page_served_is_kept_once_with_its_checksum(zone: Zone) -> None:
    """One gzip file per results page the simulator served; each decompresses to a body
    whose sha256 and size the manifest records, and `raw.saved` carries the manifest's
    sha256."""
    saved = {e["manifest"]: e for e in read_events(zone.audit) if e["event"] == "raw.saved"}
    pages: Counter[str] = Counter()
    for path in manifests(zone.root):
        manifest = json.loads(path.read_text())
        event = saved[f"{zone.uri}/{path.relative_to(zone.root)}"]
        assert event["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        for file in manifest["files"]:
            body = gzip.decompress((path.parent / file["name"]).read_bytes())
            assert hashlib.sha256(body).hexdigest() == file["sha256"]
            assert len(body) == file["bytes"]
        kind = {"conversation_details": "conversations", "user_details": "users"}
        if manifest["kind"] in kind:
            pages[kind[manifest["kind"]]] += len(manifest["files"])
    assert pages == zone.served
    assert not list(zone.root.rglob("*.tmp-*"))


def test_a_report_and_an_aggregate_answer_are_kept_as_received(zone: Zone) -> None:
    """The report's manifest records its request and CSV options; its one file is the CSV
    the simulator served, byte for byte; each aggregate query's answer is one file."""
    (report,) = manifests(zone.root, "reporting_export")
    manifest = json.loads(report.read_text())
    assert manifest["request"]["viewType"] == VIEW
    assert manifest["context"]["csv"]["delimiter"] == ","
    assert gzip.decompress((report.parent / "1.csv.gz").read_bytes()) == zone.csv
    aggregates = manifests(zone.root, "conversation_aggregates")
    assert aggregates
    for path in aggregates:
        manifest = json.loads(path.read_text())
        assert manifest["context"] == {"table": AGGREGATES}
        assert "results" in json.loads(gzip.decompress((path.parent / "1.json.gz").read_bytes()))


def test_replay_of_one_kind_and_interval_writes_only_those(zone: Zone, tmp_path: Path) -> None:
    """`--kind users --interval` replays the user jobs overlapping the interval only."""
    dest = duckdb_dest(tmp_path)
    args = ["replay", "--landing", zone.uri, "--kind", "users", "--dest", dest, "--json"]
    result = invoke([*args, "--interval", "2024-05-08/2024-05-09"], env={})

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["rows"]) == {s.name for s in USER_TABLES}
    assert summary["replayed_jobs"] == 1


def test_nothing_matching_exits_2_saying_so(zone: Zone, tmp_path: Path) -> None:
    args = ["replay", "--landing", zone.uri, "--kind", "users", "--dest", duckdb_dest(tmp_path)]
    result = invoke([*args, "--interval", "2030-01-01/2030-01-02"], env={})

    assert result.exit_code == 2
    assert result.stderr.startswith("error: nothing in file://")
    assert len(result.stderr.splitlines()) == 1


def _copy(zone: Zone, tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    shutil.copytree(zone.root, root)
    return root


def _a_page(root: Path) -> Path:
    """A conversation page of the second run (its latest fetch), not its first page."""
    return sorted(root.glob("conversation_details/*/*/*/2.json.gz"))[-1]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_file_exits_4_naming_it_and_leaves_the_destination_as_it_was(
    zone: Zone, tmp_path: Path, damage: str
) -> None:
    """A flipped byte, a truncated or a missing file stops replay with one line naming the
    file, before anything is written: the destination keeps every row it had, run columns
    included (replayed oldest fetch first, a half replay would have set conversations back)."""
    root = _copy(zone, tmp_path)
    dest = duckdb_dest(tmp_path)
    replay(ReplayRequest(landing=f"file://{root}", dest=dest))
    before = data(dest, lineage=True)
    page = _a_page(root)
    raw = bytearray(page.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        page.write_bytes(bytes(raw))
    elif damage == "truncate":
        page.write_bytes(bytes(raw[: len(raw) // 2]))
    else:
        page.unlink()

    result = invoke(["replay", "--landing", f"file://{root}", "--dest", dest], env={})

    assert result.exit_code == 4, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: raw file file://{page}")
    assert data(dest, lineage=True) == before


def test_the_library_replays_without_reaching_any_host(zone: Zone, tmp_path: Path) -> None:
    """`Exporter.replay` with settings pointing nowhere: nothing is asked of any API."""
    nowhere = Settings(
        credentials=Credentials(client_id="none", client_secret=Secret("none")),
        api_url="http://127.0.0.1:9",
        login_url="http://127.0.0.1:9",
    )
    result = Exporter(nowhere).replay(zone.uri, dest=duckdb_dest(tmp_path), kind="aggregates")

    replayed = _rows(result.table(AGGREGATES), lineage=False)
    assert sorted(map(repr, replayed)) == data(zone.live)[AGGREGATES]


@pytest.mark.parametrize("landing", ["raw/relative", "file://host/dir", "gs://bucket/raw"])
def test_a_landing_that_is_no_zone_exits_2_before_anything_runs(
    tmp_path: Path, landing: str
) -> None:
    args = ["export", "users", "--interval", "2024-05-08/2024-05-09", "--landing", landing]
    env = {"GENESYS_REGION": "eu-west-1", "GENESYS_CLIENT_ID": "x", "GENESYS_CLIENT_SECRET": "y"}
    result = invoke([*args, "--dest", duckdb_dest(tmp_path)], env=dict(env))

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --landing {landing!r} is not a landing zone; use file:///absolute/dir or "
        "s3://bucket/prefix\n"
    )
    assert list(tmp_path.iterdir()) == []
