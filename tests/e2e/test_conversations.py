"""Conversation details end to end: simulator -> Exporter -> DuckDB / Parquet, read back."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from genesys_export.audit import read_events
from genesys_export.chunks import ChunkResult, replacement_for
from genesys_export.errors import PaginationLoop, ValidationFailed
from genesys_export.intervals import Interval
from genesys_export.jobs.conversations import SPECS
from genesys_export.pipeline import Run, write_chunk
from genesys_export.progress import QuietProgress
from genesys_export.simulator import Simulator, SimulatorStats
from genesys_export.sinks import open_sink
from genesys_export.transform.conversations import conversation_tables
from genesys_export.transform.tables import RunContext
from genesys_export.validate import validate_conversation_tables
from tests.conftest import AVAILABLE
from tests.e2e import (
    CONVERSATION_SPECS,
    SINKS,
    conversation_data,
    duckdb_dest,
    exporter_for,
    instant,
    parquet_dest,
    read,
    read_all,
    simulator,
)

START = datetime(2024, 5, 8, tzinfo=UTC)
END = datetime(2024, 5, 10, tzinfo=UTC)
# Two days, two chunks: conversations that span the midnight between them, and some that
# started the day before and run into the first.
INTERVAL = "2024-05-08/2024-05-10"
CHUNKS = 2
JOBS = "/api/v2/analytics/conversations/details/jobs"

Facts = dict[str, Any]


def truth_facts(docs: list[dict[str, Any]], settled_before: datetime) -> dict[str, Facts]:
    """What each ground-truth conversation must look like in the tables."""
    facts: dict[str, Facts] = {}
    for doc in docs:
        end = instant(doc.get("conversationEnd"))
        participants = doc["participants"]
        sessions = [(p["participantId"], s) for p in participants for s in p["sessions"]]
        facts[doc["conversationId"]] = {
            "start": instant(doc["conversationStart"]),
            "end": end,
            "settled": end is not None and end < settled_before,
            "participants": [p["participantId"] for p in participants],
            "sessions": [(pid, s["sessionId"], s["mediaType"]) for pid, s in sessions],
            "segments": [
                (
                    s["sessionId"],
                    index,
                    seg["segmentType"],
                    instant(seg["segmentStart"]),
                    instant(seg.get("segmentEnd")),
                    seg.get("queueId"),
                )
                for _, s in sessions
                for index, seg in enumerate(s["segments"])
            ],
            "metrics": Counter(
                (s["sessionId"], m["name"], m["value"], instant(m["emitDate"]))
                for _, s in sessions
                for m in s.get("metrics", [])
            ),
            "attributes": {
                (p["participantId"], name): value
                for p in participants
                for name, value in (p.get("attributes") or {}).items()
            },
        }
    return _sorted_by_repr(facts)


def table_facts(dest: str) -> dict[str, Facts]:
    """The same facts, read from the six tables of `dest`."""
    tables = {name: t.to_pylist() for name, t in read_all(dest, CONVERSATION_SPECS).items()}
    conversations = tables["conversations"]
    facts: dict[str, Facts] = {
        row["conversation_id"]: {
            "start": row["conversation_start"],
            "end": row["conversation_end"],
            "settled": row["_settled"],
            "participants": [],
            "sessions": [],
            "segments": [],
            "metrics": Counter(),
            "attributes": {},
        }
        for row in conversations
    }
    for row in tables["participants"]:
        facts[row["conversation_id"]]["participants"].append(row["participant_id"])
    for row in tables["sessions"]:
        facts[row["conversation_id"]]["sessions"].append(
            (row["participant_id"], row["session_id"], row["media_type"])
        )
    for row in tables["segments"]:
        facts[row["conversation_id"]]["segments"].append(
            (
                row["session_id"],
                row["segment_index"],
                row["segment_type"],
                row["segment_start"],
                row["segment_end"],
                row["queue_id"],
            )
        )
    for row in tables["session_metrics"]:
        facts[row["conversation_id"]]["metrics"][
            (row["session_id"], row["name"], row["value"], row["emit_date"])
        ] += 1
    for row in tables["participant_attributes"]:
        facts[row["conversation_id"]]["attributes"][(row["participant_id"], row["name"])] = row[
            "value"
        ]
    return _sorted_by_repr(facts)


def _sorted_by_repr(facts: dict[str, Facts]) -> dict[str, Facts]:
    """Child lists in a fixed order (repr: some members are None), so facts compare."""
    for fact in facts.values():
        for name in ("participants", "sessions", "segments"):
            fact[name] = sorted(fact[name], key=repr)
    return facts


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One clean export of INTERVAL into DuckDB, shared by the tests that only read it."""
    tmp = tmp_path_factory.mktemp("clean")
    dest = duckdb_dest(tmp)
    with simulator() as (sim, running):
        result = exporter_for(running, tmp).export_conversations(INTERVAL, dest=dest)
    return {"sim": sim, "dest": dest, "summary": result.summary, "data": conversation_data(dest)}


def test_every_active_conversation_lands_once_with_all_its_children(clean: dict[str, Any]) -> None:
    """Every conversation active in the interval lands exactly once, with the participants,
    sessions, segments, session metrics and attributes the simulator holds for it."""
    sim: Simulator = clean["sim"]
    truth = sim.dataset.conversations(START, END)
    ids = read(clean["dest"], "conversations").column("conversation_id").to_pylist()

    assert len(ids) == len(set(ids))
    assert set(ids) == {doc["conversationId"] for doc in truth}
    expected = truth_facts(truth, AVAILABLE)
    landed = table_facts(clean["dest"])
    for conversation_id, fact in expected.items():
        assert landed[conversation_id] == fact, conversation_id


def test_a_conversation_spanning_midnight_appears_once_with_all_its_children(
    clean: dict[str, Any],
) -> None:
    """A conversation active on two adjacent days (returned by both days' jobs) is one row,
    and its children are neither doubled nor lost."""
    sim: Simulator = clean["sim"]
    day = timedelta(days=1)
    spanning = []
    for first in (START - day, START):
        before = {d["conversationId"] for d in sim.dataset.conversations(first, first + day)}
        after = sim.dataset.conversations(first + day, first + 2 * day)
        spanning += [d for d in after if d["conversationId"] in before]
    assert spanning, "the simulator should generate conversations that span midnight"

    conversations = read(clean["dest"], "conversations").column("conversation_id").to_pylist()
    landed = table_facts(clean["dest"])
    for doc in spanning:
        conversation_id = doc["conversationId"]
        assert conversations.count(conversation_id) == 1
        expected = truth_facts([doc], AVAILABLE)[conversation_id]
        assert landed[conversation_id] == expected
        segments = sum(len(s["segments"]) for p in doc["participants"] for s in p["sessions"])
        assert len(landed[conversation_id]["segments"]) == segments


def test_every_row_carries_the_run_columns(clean: dict[str, Any]) -> None:
    """Every row of every conversation table carries this run's `_run_id`, an
    `_extracted_at` and a `_settled` flag equal to its conversation's."""
    run_id = clean["summary"]["run_id"]
    settled = {
        row["conversation_id"]: row["_settled"]
        for row in read(clean["dest"], "conversations").to_pylist()
    }
    for name in clean["data"]:
        table = read(clean["dest"], name)
        assert table.num_rows, name
        assert set(table.column("_run_id").to_pylist()) == {run_id}, name
        assert table.column("_extracted_at").null_count == 0, name
        for row in table.select(["conversation_id", "_settled"]).to_pylist():
            assert row["_settled"] is settled[row["conversation_id"]], name


def test_conversations_open_at_the_watermark_are_not_settled(tmp_path: Path) -> None:
    """Conversations still running at the data-availability date land without an end and
    with `_settled` false, children included; those that ended before it are settled."""
    watermark = datetime(2024, 5, 9, 10, tzinfo=UTC)  # mid-morning: some calls still open
    dest = duckdb_dest(tmp_path)
    with simulator(data_availability=watermark) as (sim, running):
        exporter_for(running, tmp_path).export_conversations("2024-05-09/2024-05-10", dest=dest)

    truth = sim.dataset.conversations(datetime(2024, 5, 9, tzinfo=UTC), watermark)
    open_ids = {d["conversationId"] for d in truth if "conversationEnd" not in d}
    assert open_ids, "the simulator should serve some conversations open at the watermark"
    rows = read(dest, "conversations").to_pylist()
    assert {r["conversation_id"] for r in rows if not r["_settled"]} == open_ids
    assert {r["conversation_id"] for r in rows if r["conversation_end"] is None} == open_ids
    for name in ("participants", "sessions", "segments"):
        flags = read(dest, name).select(["conversation_id", "_settled"]).to_pylist()
        assert {r["conversation_id"] for r in flags if not r["_settled"]} == open_ids, name


def test_conversations_ending_within_the_lookback_are_not_settled(tmp_path: Path) -> None:
    """With a lookback reaching back into the interval, conversations ending after
    `extracted_at - lookback` are provisional (`_settled` false); earlier ones are settled."""
    lookback = datetime.now(UTC) - datetime(2024, 5, 8, 12, tzinfo=UTC)
    dest = duckdb_dest(tmp_path)
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path, lookback=lookback)
        exporter.export_conversations("2024-05-08/2024-05-10", dest=dest)

    rows = read(dest, "conversations").to_pylist()
    cutoff = rows[0]["_extracted_at"] - lookback
    cutoff = cutoff.replace(microsecond=cutoff.microsecond // 1000 * 1000)
    expected = {r["conversation_id"]: r["conversation_end"] < cutoff for r in rows}
    assert {r["conversation_id"]: r["_settled"] for r in rows} == expected
    assert any(expected.values()) and not all(expected.values())


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_second_run_of_the_same_interval_leaves_identical_tables(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """Exporting the same interval again replaces every row with identical data: nothing
    duplicated, nothing left over, only the run columns change."""
    dest = dest_in(tmp_path)
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations("2024-05-09/2024-05-10", dest=dest)
        first = conversation_data(dest)
        second_run = exporter.export_conversations("2024-05-09/2024-05-10", dest=dest)

    assert conversation_data(dest) == first
    for name, table in read_all(dest, CONVERSATION_SPECS).items():
        assert set(table.column("_run_id").to_pylist()) == {second_run.summary["run_id"]}, name


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_conversation_exported_again_after_it_ended_is_replaced_whole(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """A conversation first exported while still open (fewer segments and metrics, no end)
    and exported again once the watermark has passed its end is replaced in every table:
    the destination equals a single export made after the watermark moved."""
    early = datetime(2024, 5, 9, 10, tzinfo=UTC)  # some conversations still open here
    dest, fresh = dest_in(tmp_path / "twice"), dest_in(tmp_path / "once")
    with simulator(data_availability=early) as (sim, running):
        exporter_for(running, tmp_path).export_conversations("2024-05-09/2024-05-10", dest=dest)
    assert any("conversationEnd" not in d for d in sim.dataset.conversations(START, early))
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations("2024-05-09/2024-05-10", dest=dest)
        exporter.export_conversations("2024-05-09/2024-05-10", dest=fresh)

    assert conversation_data(dest) == conversation_data(fresh)


@pytest.mark.parametrize("dest_in", SINKS)
def test_overlapping_exports_leave_no_duplicates_or_stale_children(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    """Two exports whose intervals overlap by half a day hold the same rows as one export
    of their union, however the conversations were split across chunks."""
    dest, fresh = dest_in(tmp_path / "overlap"), dest_in(tmp_path / "union")
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations("2024-05-08/2024-05-09T12:00:00Z", dest=dest)
        exporter.export_conversations("2024-05-09/2024-05-10", dest=dest)
        exporter.export_conversations("2024-05-08/2024-05-10", dest=fresh)

    assert conversation_data(dest) == conversation_data(fresh)


Fired = Callable[[SimulatorStats, dict[str, Any]], bool]


def _resubmitted(kind: str) -> Fired:
    """The fault hit one job, which was submitted again (one job more than chunks)."""
    return lambda stats, summary: (
        stats.faults_injected.get(kind) == 1
        and stats.jobs_submitted == CHUNKS + 1
        and summary["jobs"] == CHUNKS + 1
    )


FAULTS = [
    pytest.param(
        "429:every=7,retry_after=0",
        lambda stats, summary: stats.too_many_requests == summary["rate_limited"] >= 1,
        id="429",
    ),
    pytest.param(
        "5xx:every=9",
        lambda stats, summary: stats.server_errors == summary["server_errors"] >= 1,
        id="5xx",
    ),
    pytest.param(
        "drop:every=11",
        lambda stats, summary: stats.dropped == summary["network_errors"] >= 1,
        id="drop",
    ),
    pytest.param(
        "revoke:after=5",
        lambda stats, summary: stats.unauthorized >= 1 and stats.tokens_issued >= 2,
        id="revoke",
    ),
    pytest.param("fail_job:n=1", _resubmitted("fail_job"), id="fail_job"),
    pytest.param("expire:n=1", _resubmitted("expire"), id="expire"),
    pytest.param(
        "short_pages",
        lambda stats, summary: stats.faults_injected.get("short_pages", 0) >= 1,
        id="short_pages",
    ),
]


@pytest.mark.parametrize(("faults", "fired"), FAULTS)
def test_tables_under_a_fault_equal_the_clean_run(
    clean: dict[str, Any], tmp_path: Path, faults: str, fired: Fired
) -> None:
    """Under each simulator fault the export still succeeds, every table holds exactly the
    clean run's data, and the fault fired (seen by the simulator and in the summary)."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults=faults) as (sim, running):
        result = exporter_for(running, tmp_path).export_conversations(INTERVAL, dest=dest)

    assert fired(sim.stats, result.summary), (sim.stats, result.summary)
    assert result.summary["chunks"] == CHUNKS
    assert conversation_data(dest) == clean["data"]


def test_a_chunk_whose_jobs_keep_failing_is_exported_in_halves(
    clean: dict[str, Any], tmp_path: Path
) -> None:
    """When every attempt at a chunk's job fails, the chunk is retried as two half-day jobs
    and the tables still equal the clean run's (conversations in both halves kept once)."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults="fail_job:n=3", max_job_interval_days=1) as (sim, running):
        exporter = exporter_for(running, tmp_path, concurrency=1)
        exporter.export_conversations(INTERVAL, dest=dest)

    bodies = [json.loads(r.body) for r in sim.requests if r.method == "POST" and r.path == JOBS]
    first_day = "2024-05-08T00:00:00.000Z/2024-05-09T00:00:00.000Z"
    assert [b["interval"] for b in bodies[:3]] == [first_day] * 3
    assert [b["interval"] for b in bodies[3:5]] == [
        "2024-05-08T00:00:00.000Z/2024-05-08T12:00:00.000Z",
        "2024-05-08T12:00:00.000Z/2024-05-09T00:00:00.000Z",
    ]
    assert conversation_data(dest) == clean["data"]


def test_short_pages_make_more_results_requests_for_the_same_rows(
    clean: dict[str, Any], tmp_path: Path
) -> None:
    """Half-size pages with a cursor are not mistaken for the last page: more pages are
    read and no conversation is lost."""
    dest = duckdb_dest(tmp_path)
    with simulator(faults="short_pages") as (sim, running):
        exporter_for(running, tmp_path).export_conversations(INTERVAL, dest=dest)
    clean_pages = clean["sim"].stats.requests_by_route[f"GET {JOBS}/{{jobId}}/results"]
    assert sim.stats.requests_by_route[f"GET {JOBS}/{{jobId}}/results"] > clean_pages
    assert conversation_data(dest) == clean["data"]


def test_a_repeated_cursor_ends_in_a_pagination_loop_error(tmp_path: Path) -> None:
    """A results page that hands back the cursor just sent raises PaginationLoop (exit 4)
    after one repeat, instead of reading the same page forever."""
    with simulator(faults="repeat_cursor:n=1") as (sim, running):
        exporter = exporter_for(running, tmp_path)
        with pytest.raises(PaginationLoop) as err:
            exporter.export_conversations(INTERVAL, dest=duckdb_dest(tmp_path))

    assert err.value.exit_code == 4
    assert "repeated cursor" in str(err.value)
    assert sim.stats.faults_injected == {"repeat_cursor": 1}
    results = [r for r in sim.requests if r.path.endswith("/results")]
    repeated = [r.query.get("cursor") for r in results if r.query.get("cursor")]
    assert len(repeated) == len(set(repeated)), "no cursor may be sent twice"


def test_data_past_the_availability_date_is_not_requested_and_is_warned(tmp_path: Path) -> None:
    """An interval reaching past the data-availability date is exported up to it: no job
    asks for later data, and the summary warns which part was left out."""
    dest = duckdb_dest(tmp_path)
    with simulator() as (sim, running):
        result = exporter_for(running, tmp_path).export_conversations(
            "2024-05-09/2024-05-12", dest=dest
        )

    bodies = [json.loads(r.body) for r in sim.requests if r.method == "POST" and r.path == JOBS]
    ends = [body["interval"].split("/")[1] for body in bodies]
    assert ends and max(instant(end) or START for end in ends) == AVAILABLE
    (warning,) = result.summary["warnings"]
    assert "2024-05-10T06:00:00.000Z/2024-05-12T00:00:00.000Z" in warning
    assert "data-availability" in warning
    (finished,) = [e for e in read_events(tmp_path / "audit.jsonl") if e["event"] == "run.finished"]
    assert finished["warnings"] == [warning]
    landed = set(read(dest, "conversations").column("conversation_id").to_pylist())
    truth = sim.dataset.conversations(datetime(2024, 5, 9, tzinfo=UTC), AVAILABLE)
    assert landed == {doc["conversationId"] for doc in truth}


def test_an_interval_wholly_past_the_availability_date_submits_no_job(tmp_path: Path) -> None:
    """Nothing of an interval after the watermark is requested; the run warns and succeeds."""
    with simulator() as (sim, running):
        result = exporter_for(running, tmp_path).export_conversations(
            "2024-05-11/2024-05-12", dest=duckdb_dest(tmp_path)
        )
    assert sim.stats.jobs_submitted == 0
    assert result.summary["chunks"] == 0
    assert len(result.summary["warnings"]) == 1
    assert "2024-05-11T00:00:00.000Z/2024-05-12T00:00:00.000Z" in result.summary["warnings"][0]


def test_duckdb_and_parquet_hold_identical_conversation_data(tmp_path: Path) -> None:
    """The same export into DuckDB and into Parquet reads back as the same rows."""
    with simulator() as (_, running):
        exporter = exporter_for(running, tmp_path)
        exporter.export_conversations("2024-05-08/2024-05-10", dest=duckdb_dest(tmp_path))
        exporter.export_conversations("2024-05-08/2024-05-10", dest=parquet_dest(tmp_path))

    in_duckdb = conversation_data(duckdb_dest(tmp_path))
    in_parquet = conversation_data(parquet_dest(tmp_path))
    assert all(in_duckdb.values())
    for name, rows in in_duckdb.items():
        assert in_parquet[name] == rows, name


def _crafted_chunk(sim: Simulator, interval: Interval) -> ChunkResult:
    """A chunk whose page carries one conversation twice (a duplicate key), plus a change
    to it and a conversation the destination does not have."""
    first, second = sim.dataset.conversations(interval.start, interval.end)[:2]
    changed = first | {"externalTag": "crafted"}
    newcomer = second | {"conversationId": "00000000-0000-4000-8000-000000000000"}
    page = json.dumps({"conversations": [changed, changed, newcomer]}).encode()
    run = Run(None, None, QuietProgress())
    tables = conversation_tables(page, RunContext(run.run_id, run.extracted_at)).tables
    replacement = replacement_for(tables["conversations"], ["conversation_id"])
    return ChunkResult(
        interval=interval,
        tables=[(spec, tables[spec.name], replacement) for spec in SPECS],
        validation=validate_conversation_tables(tables),
    )


def test_a_chunk_failing_validation_leaves_the_destination_as_it_was(tmp_path: Path) -> None:
    """A chunk with a duplicate key raises ValidationFailed (exit 4) and writes nothing."""
    dest = duckdb_dest(tmp_path)
    interval = Interval(datetime(2024, 5, 8, tzinfo=UTC), datetime(2024, 5, 9, tzinfo=UTC))
    with simulator() as (sim, running):
        exporter_for(running, tmp_path).export_conversations(interval, dest=dest)
    before = conversation_data(dest)
    chunk = _crafted_chunk(sim, interval)

    with open_sink(dest) as sink, pytest.raises(ValidationFailed) as err:
        write_chunk(
            Run(None, None, QuietProgress()),
            sink,
            chunk,
            dataset="conversations",
            export_kind="conversation_details",
            checkpoint=None,
        )

    assert err.value.exit_code == 4
    assert "key_unique" in str(err.value)
    assert conversation_data(dest) == before
    tags = read(dest, "conversations").column("external_tag")
    assert "crafted" not in tags.to_pylist()
