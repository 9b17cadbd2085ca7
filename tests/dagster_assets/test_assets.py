"""Dagster assets in-process against the simulator: one org's day per partition, reruns
that change nothing, orgs kept apart, failures that leave the destination as it was, and
a sensor that asks again for days materialized before they settled."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

dg = pytest.importorskip("dagster")

from genesys_export.config import Settings  # noqa: E402
from genesys_export.dagster import definitions  # noqa: E402
from genesys_export.exporter import Exporter  # noqa: E402
from genesys_export.jobs.polling import Polling  # noqa: E402
from genesys_export.simulator import Simulator  # noqa: E402
from tests.e2e import conversation_data, duckdb_dest, read  # noqa: E402
from tests.test_orgs import credentials_seen, org_simulators  # noqa: E402

BUDGET = 100_000
SETTLED_DAY = "2024-05-08"  # the simulator's watermark is 2024-05-10 06:00 UTC
PROVISIONAL_DAY = "2024-05-10"


@pytest.fixture
def instance() -> Iterator[Any]:
    """An ephemeral Dagster instance (in memory; its temporary folder removed after)."""
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def fast_exporter(settings: Settings) -> Exporter:
    return Exporter(settings, polling=Polling(first=0.01, cap=0.05))


def simulators(
    *orgs: str, **faults: str
) -> AbstractContextManager[dict[str, tuple[Simulator, Any]]]:
    """One simulator per org (15 conversations a day), as in the orgs tests."""
    return org_simulators(orgs, faults, conversations_per_day=15)


def write_config(tmp_path: Path, sims: dict[str, tuple[Simulator, Any]], extra: str = "") -> Path:
    orgs = "".join(
        f"""
[orgs.{org}]
client_id_env = "{org.upper()}_ID"
client_secret_env = "{org.upper()}_SECRET"
destination = "{duckdb_dest(tmp_path, org)}"
api_url = "{running.api_url}"
login_url = "{running.login_url}"
"""
        for org, (_, running) in sims.items()
    )
    path = tmp_path / "genesys-export.toml"
    path.write_text(
        f"""
[run]
budget_per_minute = {BUDGET}
page_size = 5

[datasets.conversations]
kind = "conversations"
start = "2024-05-06"
{orgs}{extra}"""
    )
    return path


def environ(*orgs: str) -> dict[str, str]:
    env = {}
    for org in orgs:
        env |= {f"{org.upper()}_ID": f"{org}-client", f"{org.upper()}_SECRET": f"{org}-secret"}
    return env


def defs_for(tmp_path: Path, sims: dict[str, tuple[Simulator, Any]], **options: Any) -> Any:
    config = write_config(tmp_path, sims)
    return definitions(config, environ=environ(*sims), exporter_for=fast_exporter, **options)


def materialize(defs: Any, org: str, day: str, instance: Any, **options: Any) -> Any:
    asset = defs.resolve_assets_def("conversations")
    key = dg.MultiPartitionKey({"org": org, "date": day})
    return dg.materialize([asset], partition_key=key, instance=instance, **options)


def metadata(result: Any) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def api_requests(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.path.startswith("/api/v2/"))


def test_a_partition_lands_exactly_that_orgs_day(tmp_path: Path, instance: Any) -> None:
    """Materializing (acme, 2024-05-08) lands the same rows as a one-off export of that day,
    every conversation active during it; the metadata counts rows, requests and 429s."""
    with simulators("acme") as sims:
        result = materialize(defs_for(tmp_path, sims), "acme", SETTLED_DAY, instance)
        sim, running = sims["acme"]
        requests = api_requests(sim)
        reference = fast_exporter(
            Settings.from_env(
                {
                    "GENESYS_CLIENT_ID": "acme-client",
                    "GENESYS_CLIENT_SECRET": "acme-secret",
                    "GENESYS_API_URL": running.api_url,
                    "GENESYS_LOGIN_URL": running.login_url,
                },
                dotenv=None,
            )
        ).export_conversations(f"{SETTLED_DAY}/2024-05-09", dest=duckdb_dest(tmp_path, "ref"))

    assert result.success
    dest = duckdb_dest(tmp_path, "acme")
    assert conversation_data(dest) == conversation_data(reference.dest)
    conversations = read(dest, "conversations").to_pylist()
    day_start, day_end = datetime(2024, 5, 8, tzinfo=UTC), datetime(2024, 5, 9, tzinfo=UTC)
    assert conversations and all(
        c["conversation_start"] < day_end
        and (c["conversation_end"] is None or c["conversation_end"] >= day_start)
        for c in conversations
    )
    meta = metadata(result)
    assert meta["rows"] == reference.summary["rows"]
    assert meta["requests"] == requests and meta["429s"] == 0
    assert meta["settled"] is True and "settles_at" not in meta
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.check_name == "validation"


def test_a_second_materialization_leaves_identical_tables(tmp_path: Path, instance: Any) -> None:
    """Running a partition again replaces each conversation whole: the tables are equal."""
    with simulators("acme") as sims:
        defs = defs_for(tmp_path, sims)
        first = materialize(defs, "acme", SETTLED_DAY, instance)
        before = conversation_data(duckdb_dest(tmp_path, "acme"))
        second = materialize(defs, "acme", SETTLED_DAY, instance)

    assert first.success and second.success
    assert conversation_data(duckdb_dest(tmp_path, "acme")) == before
    assert metadata(second)["rows"] == metadata(first)["rows"]


def test_two_orgs_write_only_their_own_destinations(tmp_path: Path, instance: Any) -> None:
    """An org's partition talks to its own simulator with its own client and writes its own
    destination; the other org's simulator and destination are untouched."""
    with simulators("acme", "globex") as sims:
        defs = defs_for(tmp_path, sims)
        assert materialize(defs, "acme", SETTLED_DAY, instance).success
        assert sims["globex"][0].stats.requests_total == 0
        assert not Path(tmp_path / "globex.duckdb").exists()
        assert materialize(defs, "globex", SETTLED_DAY, instance).success

        seen = {org: credentials_seen(sim) for org, (sim, _) in sims.items()}
        for org, (sim, _) in sims.items():
            assert f"{org}-client:{org}-secret" in seen[org]
            assert sim.stats.unauthorized == 0 and sim.stats.tokens_issued == 1
        assert not seen["acme"] & seen["globex"]
        acme = read(duckdb_dest(tmp_path, "acme"), "conversations")
        globex = read(duckdb_dest(tmp_path, "globex"), "conversations")
    assert acme.num_rows > 0 and globex.num_rows > 0
    assert set(acme.column("_run_id").to_pylist()).isdisjoint(globex.column("_run_id").to_pylist())


def test_a_failing_partition_reports_the_error_and_leaves_the_destination(
    tmp_path: Path, instance: Any
) -> None:
    """A day whose results repeat a cursor fails the run with that error; the destination
    keeps what the last good run of that day wrote, and the audit trail says it failed."""
    with simulators("acme") as sims:
        assert materialize(defs_for(tmp_path, sims), "acme", SETTLED_DAY, instance).success
    before = conversation_data(duckdb_dest(tmp_path, "acme"))
    with simulators("acme", acme="repeat_cursor:n=1") as sims:
        result = materialize(
            defs_for(tmp_path, sims), "acme", SETTLED_DAY, instance, raise_on_error=False
        )

    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    reported = failure.step_failure_data.user_failure_data
    assert reported.description.startswith("PaginationLoop: ")
    assert "repeated cursor" in reported.description
    assert reported.metadata["exit_code"].value == 4
    assert conversation_data(duckdb_dest(tmp_path, "acme")) == before
    audit = (tmp_path / "genesys-export-audit-acme.jsonl").read_text().splitlines()
    assert json.loads(audit[-1])["event"] == "run.failed"


# Dagster 1.13 warns about its own multi-partition run tags when it resolves a RunRequest.
@pytest.mark.filterwarnings(
    r"ignore:Non-compliant tag keys like \['dagster/partition/date':DeprecationWarning"
)
def test_the_settle_sensor_asks_again_for_provisional_days_once_due(
    tmp_path: Path, instance: Any
) -> None:
    """A day past the watermark is materialized as provisional; the sensor requests it again
    once its `settles_at` has passed, and never requests a settled day."""
    with simulators("acme") as sims:
        now = [time.time()]
        defs = defs_for(tmp_path, sims, clock=lambda: now[0])
        provisional = materialize(defs, "acme", PROVISIONAL_DAY, instance)
        assert materialize(defs, "acme", SETTLED_DAY, instance).success

    meta = metadata(provisional)
    assert meta["settled"] is False and meta["settles_at"] > now[0]
    sensor = defs.resolve_sensor_def("conversations_settle")
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    assert sensor.evaluate_tick(context).run_requests == []

    now[0] = meta["settles_at"] + 1
    (request,) = sensor.evaluate_tick(context).run_requests
    assert request.partition_key == f"{PROVISIONAL_DAY}|acme"
    assert [key.to_user_string() for key in request.asset_selection] == ["conversations"]


def test_defs_is_built_from_the_config_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`genesys_export.dagster.defs`, as `dagster dev -m` finds it (dir + getattr), is
    built from $GENESYS_EXPORT_CONFIG: one partitioned asset per dataset and its sensor."""
    import inspect

    from genesys_export import dagster as face

    with simulators("acme") as sims:
        monkeypatch.setenv("GENESYS_EXPORT_CONFIG", str(write_config(tmp_path, sims)))
        monkeypatch.setattr(face, "_built", {})
        found = [v for _, v in inspect.getmembers(face) if isinstance(v, dg.Definitions)]

    (defs,) = found
    asset = defs.resolve_assets_def("conversations")
    partitions = asset.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert partitions.get_partitions_def_for_dimension("org").get_partition_keys() == ["acme"]
    assert partitions.get_partitions_def_for_dimension("date").get_first_partition_key() == (
        "2024-05-06"
    )
    assert defs.resolve_sensor_def("conversations_settle").name == "conversations_settle"


OTHER_KINDS = """
[datasets.agents]
kind = "users"
start = "2024-05-06"

[datasets.queues]
kind = "aggregates"
start = "2024-05-06"
granularity = "PT1H"

[datasets.performance]
kind = "report"
start = "2024-05-06"
view = "AGENT_PERFORMANCE_SUMMARY_VIEW"
"""


def test_every_dataset_kind_lands_its_day_and_reruns_change_nothing(
    tmp_path: Path, instance: Any
) -> None:
    """Users, aggregates and report datasets are assets too: a day lands rows in each, and
    materializing the day again leaves every table as it was."""
    with simulators("acme") as sims:
        config = write_config(tmp_path, sims, extra=OTHER_KINDS)
        defs = definitions(config, environ=environ("acme"), exporter_for=fast_exporter)
        assets = [defs.resolve_assets_def(name) for name in ("agents", "queues", "performance")]
        key = dg.MultiPartitionKey({"org": "acme", "date": SETTLED_DAY})
        first = dg.materialize(assets, partition_key=key, instance=instance)
        dest = duckdb_dest(tmp_path, "acme")
        tables = ("user_presence", "queues", "report_agent_performance_summary_view")
        before = {name: rows_of(dest, name) for name in tables}
        second = dg.materialize(assets, partition_key=key, instance=instance)

    assert first.success and second.success
    for event in first.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        assert meta["settled"] is True and sum(meta["rows"].values()) > 0, event.asset_key
    for name, rows in before.items():
        assert rows and rows_of(dest, name) == rows, name


def rows_of(dest: str, name: str) -> list[str]:
    """A table's rows without the run columns, in a canonical order."""
    table = read(dest, name).drop_columns(["_run_id", "_extracted_at"])
    return sorted(repr(row) for row in table.to_pylist())


@pytest.mark.parametrize(("faults", "passed"), [("", True), ("drop_conversations:n=3", False)])
def test_reconciliation_is_an_asset_check_of_settled_days(
    tmp_path: Path, instance: Any, faults: str, passed: bool
) -> None:
    """With `reconcile = true` a settled day is reconciled after it lands: a clean day
    passes the check, a day whose job left conversations out fails it, naming cells."""
    with simulators("acme", acme=faults) as sims:
        config = write_config(tmp_path, sims)
        config.write_text(
            config.read_text().replace(
                'kind = "conversations"\n', 'kind = "conversations"\nreconcile = true\n'
            )
        )
        defs = definitions(config, environ=environ("acme"), exporter_for=fast_exporter)
        result = materialize(defs, "acme", SETTLED_DAY, instance)
    assert result.success  # a difference is a failed check, not a failed run
    (check,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "reconciliation"
    ]
    assert check.passed is passed
    assert check.metadata["cells_compared"].value > 0
    assert (check.metadata["cells_differ"].value > 0) is not passed
