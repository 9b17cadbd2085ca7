"""Several orgs in one TOML: each org's credentials, tokens, data and audit stay its own."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from genesys_export.datasets import SyncConfig, load_sync_config
from genesys_export.errors import ConfigError
from genesys_export.orgs import org_config, org_environ, org_settings, select_orgs
from genesys_export.simulator import Simulator
from tests.conftest import running_simulator
from tests.e2e import duckdb_dest, invoke, read

BUDGET = 100_000
ORGS = ("acme", "globex")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the CLI reads `.env` in the working directory


@contextmanager
def org_simulators(
    orgs: Sequence[str], faults: Mapping[str, str], *, conversations_per_day: int = 20
) -> Iterator[dict[str, tuple[Simulator, Any]]]:
    """One simulator per org, each granting tokens only to that org's client."""
    with ExitStack() as stack:
        yield {
            org: stack.enter_context(
                running_simulator(
                    client_id=f"{org}-client",
                    client_secret=f"{org}-secret",
                    budget_per_minute=BUDGET,
                    conversations_per_day=conversations_per_day,
                    faults=faults.get(org, ""),
                )
            )
            for org in orgs
        }


def two_simulators(**faults: str) -> AbstractContextManager[dict[str, tuple[Simulator, Any]]]:
    return org_simulators(ORGS, faults)


def org_section(org: str, running: Any, tmp_path: Path) -> str:
    return f"""
[orgs.{org}]
client_id_env = "{org.upper()}_CLIENT_ID"
client_secret_env = "{org.upper()}_CLIENT_SECRET"
destination = "{duckdb_dest(tmp_path, org)}"
api_url = "{running.api_url}"
login_url = "{running.login_url}"
"""


def write_config(tmp_path: Path, sims: dict[str, tuple[Simulator, Any]], extra: str = "") -> Path:
    orgs = "".join(org_section(org, running, tmp_path) for org, (_, running) in sims.items())
    path = tmp_path / "genesys-export.toml"
    path.write_text(
        f"""
[run]
budget_per_minute = {BUDGET}

[datasets.conversations]
kind = "conversations"
start = "2024-05-08"
{orgs}{extra}"""
    )
    return path


def env() -> dict[str, str | None]:
    """Each org's variables, plus GENESYS_* credentials no org may use."""
    variables: dict[str, str | None] = {
        "GENESYS_CLIENT_ID": "single-org-client",
        "GENESYS_CLIENT_SECRET": "single-org-secret",
        "GENESYS_REGION": None,
        "GENESYS_API_URL": None,
        "GENESYS_LOGIN_URL": None,
    }
    for org in ORGS:
        variables[f"{org.upper()}_CLIENT_ID"] = f"{org}-client"
        variables[f"{org.upper()}_CLIENT_SECRET"] = f"{org}-secret"
    return variables


def credentials_seen(sim: Simulator) -> set[str]:
    """Client ids (Basic) and bearer tokens the simulator received."""
    seen = set()
    for request in sim.requests:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            seen.add(base64.b64decode(value).decode())
        elif value:
            seen.add(value)
    return seen


def test_each_org_lands_in_its_own_destination_through_its_own_hosts(tmp_path: Path) -> None:
    """`sync` runs every org: each simulator sees only its org's client and tokens, each
    destination holds its org's conversations, each org has its own audit trail."""
    with two_simulators() as sims:
        config = write_config(tmp_path, sims)
        result = invoke(["sync", "--config", str(config), "--json"], env())

        assert result.exit_code == 0, result.stderr
        summaries = json.loads(result.stdout)
        seen = {org: credentials_seen(sim) for org, (sim, _) in sims.items()}
        for org, (sim, _) in sims.items():
            other = next(o for o in ORGS if o != org)
            assert f"{org}-client:{org}-secret" in seen[org]
            assert not any(other in value or "single-org" in value for value in seen[org])
            assert sim.stats.unauthorized == 0 and sim.stats.jobs_submitted >= 2
            conversations = read(duckdb_dest(tmp_path, org), "conversations")
            assert conversations.num_rows == summaries[org]["rows"]["conversations"] > 0
            audit = tmp_path / f"genesys-export-audit-{org}.jsonl"
            started = json.loads(audit.read_text().splitlines()[0])
            assert started["dest"].endswith(f"{org}.duckdb")
        assert not seen["acme"] & seen["globex"]  # no token or credential reached both
        assert not (tmp_path / "genesys-export-audit.jsonl").exists()

        status = invoke(["status", "--config", str(config), "--json", "--org", "acme"], env())
        plan = invoke(["plan", "sync", "--config", str(config), "--json"], env())

    assert status.exit_code == 0 and list(json.loads(status.stdout)) == ["acme"]
    assert json.loads(status.stdout)["acme"][0]["written_until"] is not None
    assert plan.exit_code == 0 and sorted(json.loads(plan.stdout)) == ["acme", "globex"]


def test_one_org_failing_leaves_the_others_running_and_exits_with_the_worst(
    tmp_path: Path,
) -> None:
    """An org whose secret is refused (exit 3) and one whose variable is unset (exit 2)
    are reported one line each; the org between them still lands; the exit code is 3."""
    with two_simulators() as sims:
        missing = """
[orgs.initech]
client_id_env = "INITECH_CLIENT_ID"
client_secret_env = "INITECH_CLIENT_SECRET"
destination = "duckdb:///initech.duckdb"
api_url = "http://127.0.0.1:9"
login_url = "http://127.0.0.1:9"
"""
        config = write_config(tmp_path, sims, extra=missing)
        result = invoke(["sync", "--config", str(config)], env() | {"ACME_CLIENT_SECRET": "wrong"})

        assert result.exit_code == 3
        errors = result.stderr.strip().splitlines()
        assert errors[0].startswith("error: org acme: ") and len(errors) == 2
        assert "wrong" not in result.stderr + result.stdout
        assert errors[1].startswith("error: org initech: INITECH_CLIENT_ID is not set")
        assert read(duckdb_dest(tmp_path, "globex"), "conversations").num_rows > 0
        assert sims["globex"][0].stats.unauthorized == 0
        assert "Traceback" not in result.stderr


def test_org_option_runs_that_org_alone(tmp_path: Path) -> None:
    """`sync --org globex` talks to globex's hosts only."""
    with two_simulators() as sims:
        config = write_config(tmp_path, sims)
        result = invoke(["sync", "--config", str(config), "--org", "globex"], env())

        assert result.exit_code == 0, result.stderr
        assert sims["acme"][0].stats.requests_total == 0
        assert sims["globex"][0].stats.jobs_submitted >= 2


def test_an_unknown_org_exits_2_naming_it_and_the_orgs(tmp_path: Path) -> None:
    """`--org nope` is a usage error naming the org and the orgs the file has; nothing is
    called."""
    with two_simulators() as sims:
        config = write_config(tmp_path, sims)
        for command in (["sync"], ["status"], ["plan", "sync"]):
            result = invoke([*command, "--config", str(config), "--org", "nope"], env())
            assert result.exit_code == 2
            assert "'nope'" in result.stderr and "acme, globex" in result.stderr
        assert all(sim.stats.requests_total == 0 for sim, _ in sims.values())


def test_two_orgs_naming_one_destination_exit_2(tmp_path: Path) -> None:
    """Two orgs writing the same destination would share checkpoints and a lock: exit 2."""
    with two_simulators() as sims:
        text = write_config(tmp_path, sims).read_text()
        clash = text.replace(duckdb_dest(tmp_path, "globex"), duckdb_dest(tmp_path, "acme"))
        (tmp_path / "genesys-export.toml").write_text(clash)
        result = invoke(["sync", "--config", "genesys-export.toml"], env())

    assert result.exit_code == 2
    assert "orgs.globex.destination: the same destination as orgs.acme" in result.stderr
    assert all(sim.stats.requests_total == 0 for sim, _ in sims.values())


def config_of(text: str) -> SyncConfig:
    path = Path("genesys-export.toml")
    path.write_text('[datasets.c]\nkind = "conversations"\nstart = "2024-05-01"\n' + text)
    return load_sync_config(path)


ACME = """
[orgs.acme]
client_id_env = "ACME_ID"
client_secret_env = "ACME_SECRET"
destination = "parquet:///tmp/acme"
region = "eu-west-1"
budget_per_minute = 120
"""


def test_an_orgs_keys_win_and_single_org_credentials_never_apply() -> None:
    """An org's region replaces the environment's hosts; its credentials come only from the
    variables it names; its budget and destination replace [run]'s and the default."""
    config = config_of(ACME)
    environ = {
        "ACME_ID": "acme-id",
        "ACME_SECRET": "acme-secret",
        "GENESYS_CLIENT_ID": "other",
        "GENESYS_CLIENT_SECRET": "other-secret",
        "GENESYS_API_URL": "https://proxy.example",
        "GENESYS_LOGIN_URL": "https://login.proxy.example",
    }
    settings = org_settings(config, "acme", environ)
    env = org_environ("acme", config.orgs["acme"], environ)

    assert settings.credentials.client_id == "acme-id"
    assert settings.credentials.client_secret.reveal() == "acme-secret"
    assert settings.api_url == "https://api.mypurecloud.ie"  # eu-west-1
    assert "GENESYS_API_URL" not in env
    acme = org_config(config, "acme")
    assert acme.run.budget_per_minute == 120
    assert acme.destination.uri == "parquet:///tmp/acme"
    assert acme.destination.audit == "/tmp/acme/genesys-export-audit-acme.jsonl"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[destination]\nuri = "duckdb:///x.duckdb"\n', "[destination] applies to a file"),
        ('[genesys]\nregion = "eu-west-1"\n', "[genesys] applies to a file"),
    ],
)
def test_single_org_sections_beside_orgs_are_refused(extra: str, message: str) -> None:
    """[destination] or [genesys] next to [orgs] would be ambiguous: a ConfigError."""
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        select_orgs(config_of(ACME + extra), None)


def test_a_missing_variable_names_the_key_that_names_it() -> None:
    """An unset credential variable is a ConfigError naming it and its key."""
    with pytest.raises(ConfigError, match=r"ACME_SECRET is not set; orgs.acme.client_secret_env"):
        org_settings(config_of(ACME), "acme", {"ACME_ID": "x"})
