"""SIGKILL while raw files are written: no half file under a final name, ever."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genesys_export.raw.replay import ReplayRequest, replay
from tests.e2e import cli_env, conversation_data, duckdb_dest, simulator

REPO = Path(__file__).resolve().parents[2]


def export(running: Any, tmp_path: Path, root: Path, dest: str, *crash: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_")}
    env |= {k: v for k, v in cli_env(running).items() if v is not None}
    env |= {"PYTHONPATH": str(REPO), "GENESYS_EXPORT_PAGE_SIZE": "10"}
    args = ["export", "conversations", "--interval", "2024-05-08/2024-05-10", "--json"]
    args += ["--dest", dest, "--landing", f"file://{root}"]
    module = ["tests.raw.crash_driver", *crash, "--"] if crash else ["genesys_export"]
    done = subprocess.run(
        [sys.executable, "-m", *module, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return done.returncode


def assert_whole(root: Path) -> set[Path]:
    """Every file under a final name is whole, every manifest names whole files; returns
    the job directories that are complete."""
    complete = set()
    for path in root.rglob("*"):
        if path.is_dir() or ".tmp-" in path.name:
            continue
        if path.name == "manifest.json":
            manifest = json.loads(path.read_text())  # whole JSON, or this raises
            for file in manifest["files"]:
                packed = (path.parent / file["name"]).read_bytes()
                assert hashlib.sha256(packed).hexdigest() == file["stored_sha256"]
            complete.add(path.parent)
        else:
            gzip.decompress(path.read_bytes())  # a cut gzip raises EOFError
    return complete


@pytest.mark.parametrize("nth", [1, 5, 9])
def test_a_kill_halfway_through_a_raw_file_leaves_no_half_file_under_its_name(
    tmp_path: Path, nth: int
) -> None:
    root, dest = tmp_path / "raw", duckdb_dest(tmp_path)
    with simulator() as (_, running):
        assert export(running, tmp_path, root, dest, str(nth)) == -signal.SIGKILL

        halves = list(root.rglob("*.tmp-*"))
        assert len(halves) == 1  # the file it died writing, under its temporary name
        assert halves[0].parent not in assert_whole(root)

        assert export(running, tmp_path, root, dest) == 0  # a rerun keeps a whole zone

    complete = assert_whole(root)
    assert complete
    replayed = duckdb_dest(tmp_path, "replayed")
    replay(ReplayRequest(landing=f"file://{root}", dest=replayed))
    assert conversation_data(replayed) == conversation_data(dest)
