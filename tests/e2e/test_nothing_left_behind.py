"""A run that fails before it has data to write leaves nothing; destination failures exit 5.

Credentials, a permission, bad input and `plan` create no file, table or lock. Every way a
destination can refuse to be written ends in one line that names the destination and the
cause, exit 5, no traceback, and nothing half-written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.e2e import SINKS, cli_env, duckdb_dest, invoke, simulator

INTERVAL = ["--interval", "2024-05-01/2024-05-02"]
AUDIT = "genesys-export-audit.jsonl"
PG_DSN = os.environ.get(
    "GENESYS_EXPORT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)


def export(dest: str, env: dict[str, str | None], *extra: str) -> tuple[int, list[str]]:
    result = invoke(["export", "conversations", *INTERVAL, "--dest", dest, *extra], env)
    return result.exit_code, [line for line in result.stderr.splitlines() if line.strip()]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# -- failing before data: nothing is created ------------------------------------------------


@pytest.mark.parametrize("dest_in", SINKS)
def test_refused_credentials_create_nothing(tmp_path: Path, dest_in: Callable[[Path], str]) -> None:
    where = tmp_path / "out"
    with simulator() as (sim, running):
        code, errors = export(dest_in(where), cli_env(running, secret="wrong-secret"))
    assert code == 3
    assert len(errors) == 1 and "wrong-secret" not in errors[0]
    assert not where.exists()
    assert not any(r.path.startswith("/api/v2/analytics") for r in sim.requests)


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_refused_permission_creates_nothing(
    tmp_path: Path, dest_in: Callable[[Path], str]
) -> None:
    where = tmp_path / "out"
    with simulator(faults="deny:path=/conversations/details") as (sim, running):
        code, errors = export(dest_in(where), cli_env(running))
    assert code == 3
    assert len(errors) == 1 and "analytics:conversationDetail:view" in errors[0]
    assert not where.exists()
    assert {r.status for r in sim.requests if "/conversations/details" in r.path} == {403}


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            ["export", "conversations", "--interval", "2024-05-02/2024-05-01"], id="interval"
        ),
        pytest.param(
            ["export", "report", "--view", "NO_SUCH_VIEW", "--interval", "2024-05-01/2024-05-02"],
            id="view",
        ),
    ],
)
def test_invalid_input_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    where = tmp_path / "out"
    with simulator() as (sim, running):
        result = invoke([*args, "--dest", duckdb_dest(where)], cli_env(running))
    assert result.exit_code == 2
    assert not where.exists()
    assert sim.requests == []


def test_plan_creates_nothing(tmp_path: Path) -> None:
    where = tmp_path / "out"
    config = tmp_path / "genesys-export.toml"
    config.write_text(
        f'[destination]\nuri = "{duckdb_dest(where)}"\n'
        '[datasets.conversations]\nkind = "conversations"\nstart = "2024-05-01"\n'
    )
    result = invoke(["plan", "sync", "--config", str(config), "--json"], {})
    assert result.exit_code == 0, result.stderr
    assert "conversations" in result.stdout
    assert not where.exists()


# -- destination failures: exit 5, one line naming the destination and the cause ------------


def assert_destination_failure(code: int, errors: list[str], dest: str, cause: str) -> None:
    assert code == 5, errors
    assert len(errors) == 1, errors
    assert dest in errors[0] and cause in errors[0], errors[0]
    assert "Traceback" not in errors[0]


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_path_under_a_file(tmp_path: Path, dest_in: Callable[[Path], str]) -> None:
    (tmp_path / "blocker").write_text("not a directory")
    dest = dest_in(tmp_path / "blocker")
    with simulator() as (sim, running):
        code, errors = export(dest, cli_env(running))
    assert_destination_failure(code, errors, "blocker", "is a file, not a directory")
    assert files_under(tmp_path) == ["blocker"]
    assert sim.requests == []  # checked before any API budget is spent


@contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs at `where` (root only: skipped where mounting is not allowed)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_read_only_directory(tmp_path: Path, dest_in: Callable[[Path], str]) -> None:
    with tmpfs(tmp_path / "ro", "ro", "size=1m") as readonly, simulator() as (sim, running):
        code, errors = export(dest_in(readonly), cli_env(running))
        assert_destination_failure(code, errors, str(readonly), "read-only or no permission")
        assert files_under(readonly) == []
    assert sim.requests == []


@pytest.mark.parametrize("dest_in", SINKS)
def test_a_full_disk(tmp_path: Path, dest_in: Callable[[Path], str]) -> None:
    """The disk fills while the first day is written: exit 5 with one line and not a
    traceback more (none from writers collected later either), and nothing of the data
    stays (a destination this run created is removed again). The audit trail shares the
    full disk, so it keeps what it could write."""
    with (
        tmpfs(tmp_path / "small", "size=200k") as small,
        simulator(conversations_per_day=200) as (
            _,
            running,
        ),
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_")}
        env |= {k: v for k, v in cli_env(running).items() if v is not None}
        command = [sys.executable, "-m", "genesys_export", "export", "conversations", *INTERVAL]
        done = subprocess.run(
            [*command, "--dest", dest_in(small)], env=env, capture_output=True, text=True
        )
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert_destination_failure(done.returncode, errors, str(small), "No space left on device")
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
        assert [name for name in files_under(small) if name != AUDIT] == []


def test_a_duckdb_file_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]);"
            " c.execute('CREATE TABLE t (x INT)'); print('ready', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with simulator() as (sim, running):
            code, errors = export(duckdb_dest(tmp_path, "held"), cli_env(running))
    finally:
        holder.communicate("")
    assert_destination_failure(code, errors, "held.duckdb", "locked by another process")
    assert sim.requests == []
    assert files_under(tmp_path) == ["held.duckdb"]


def _postgres_up() -> bool:
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("dest", "cause"),
    [
        pytest.param(
            "postgresql://postgres@127.0.0.1:1/test?schema=g", "cannot connect", id="refused"
        ),
        pytest.param(
            "postgresql://no_such_role:s3cret-pw@127.0.0.1:5432/test?schema=g",
            "cannot connect",
            id="unknown-role",
        ),
    ],
)
def test_postgres_refusing(dest: str, cause: str) -> None:
    if "5432" in dest and not _postgres_up() and not os.environ.get("CI"):
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    with simulator() as (sim, running):
        code, errors = export(dest, cli_env(running))
    assert_destination_failure(code, errors, "postgresql://", cause)
    assert "s3cret-pw" not in errors[0]
    assert sim.requests == []


def test_s3_with_a_missing_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    with simulator() as (sim, running):
        code, errors = export("s3://no-such-bucket/genesys", cli_env(running))
    assert_destination_failure(code, errors, "s3://no-such-bucket/genesys", "does not exist")
    assert sim.requests == []
