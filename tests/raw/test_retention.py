"""`--landing-retention`: only complete jobs older than the cutoff, never the current run's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genesys_export.raw import RawStore, RawZone, prune
from genesys_export.raw.retention import Pruned
from tests.e2e import cli_env, duckdb_dest, invoke, simulator

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)


def keep(root: Path, run_id: str, at: datetime, *, finish: bool = True) -> Path:
    """A job of two pages saved by run `run_id` at `at`; without `finish`, no manifest."""
    store = RawStore.open(
        RawZone.parse(f"file://{root}"),
        run_id=run_id,
        extracted_at=at,
        events=lambda name, **fields: None,
        clock=lambda: at,
    )
    job = store.job(
        "user_details", f"job-{run_id}", {"interval": "2024-05-01/2024-05-02"}, ext="json"
    )
    job.save(b'{"userDetails": []}')
    job.save(b'{"userDetails": [], "cursor": null}')
    if finish:
        job.finish()
    store.close()
    return root / "user_details" / at.date().isoformat() / run_id / f"job-{run_id}"


def test_only_complete_jobs_of_other_runs_older_than_the_cutoff_are_deleted(
    tmp_path: Path,
) -> None:
    old = keep(tmp_path, "old", OLD)
    writing = keep(tmp_path, "writing", OLD, finish=False)  # no manifest: still being written
    recent = keep(tmp_path, "recent", NOW - timedelta(days=10))
    current = keep(tmp_path, "current", OLD)

    pruned = prune(
        RawZone.parse(f"file://{tmp_path}"), timedelta(days=90), now=NOW, keep_run="current"
    )

    assert not old.exists() and not old.parent.exists()  # the emptied run directory too
    assert sorted(p.name for p in writing.iterdir()) == ["1.json.gz", "2.json.gz"]
    assert (recent / "manifest.json").is_file()
    assert (current / "manifest.json").is_file()
    assert pruned.jobs == 1 and pruned.files == 3 and pruned.stored_bytes > 0


def test_nothing_old_enough_deletes_nothing(tmp_path: Path) -> None:
    recent = keep(tmp_path, "recent", NOW - timedelta(days=10))
    zone = RawZone.parse(f"file://{tmp_path}")

    assert prune(zone, timedelta(days=90), now=NOW, keep_run="x") == Pruned()
    assert (recent / "manifest.json").is_file()


def test_an_export_with_retention_prunes_after_it_succeeds_and_not_after_a_failure(
    tmp_path: Path,
) -> None:
    root = tmp_path / "raw"
    old = keep(root, "old", OLD)
    args = ["export", "users", "--interval", "2024-05-08/2024-05-09", "--json"]
    args += ["--dest", duckdb_dest(tmp_path), "--landing", f"file://{root}"]
    args += ["--landing-retention", "P90D"]
    fresh = ["--landing", f"file://{tmp_path / 'fresh'}"]
    with simulator() as (_, running):
        refused = invoke(args, env=cli_env(running, secret="wrong"))
        assert refused.exit_code == 3
        assert (old / "manifest.json").is_file()
        assert invoke([*args, *fresh], env=cli_env(running, secret="wrong")).exit_code == 3
        assert not (tmp_path / "fresh").exists()  # a refused run leaves no landing zone

        result = invoke(args, env=cli_env(running))

    assert result.exit_code == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    pruned = summary["landing"]["pruned"]
    assert (pruned["jobs"], pruned["files"]) == (1, 3) and pruned["stored_bytes"] > 0
    assert not old.exists()
    kept = sorted(root.glob("user_details/*/*/*/manifest.json"))
    assert [json.loads(p.read_text())["run_id"] for p in kept] == [summary["run_id"]]


def test_a_bad_retention_exits_2_naming_the_option(tmp_path: Path) -> None:
    args = ["export", "users", "--interval", "2024-05-08/2024-05-09"]
    args += ["--landing", f"file://{tmp_path}", "--landing-retention", "90 days"]
    result = invoke(args, env={})

    assert result.exit_code == 2
    assert "--landing-retention" in result.output


def test_sync_keeps_raw_and_prunes_where_the_toml_says(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    old = keep(root, "old", OLD)
    config = tmp_path / "genesys-export.toml"
    config.write_text(
        f"""
[destination]
uri = "{duckdb_dest(tmp_path)}"

[landing]
uri = "file://{root}"
retention = "P90D"

[datasets.users]
kind = "users"
start = "2024-05-08"
"""
    )
    with simulator() as (_, running):
        result = invoke(["sync", "--config", str(config), "--json"], env=cli_env(running))

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["landing"]["pruned"]["jobs"] == 1 and not old.exists()
    kept = list(root.glob("user_details/*/*/*/manifest.json"))
    assert len(kept) == summary["landing"]["jobs"] == summary["jobs"] > 0


def test_a_landing_uri_that_is_no_zone_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "genesys-export.toml"
    config.write_text(
        '[landing]\nuri = "raw/relative"\n[datasets.users]\nkind = "users"\nstart = "2024-05-08"\n'
    )
    result = invoke(["sync", "--config", str(config)], env={})

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: landing.uri: use file:///")
