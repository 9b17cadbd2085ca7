from pathlib import Path

import pytest

from genesys_export.datasets import load_sync_config
from genesys_export.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genesys-export.toml"
    path.write_text(text)
    return path


def test_a_minimal_file_gets_every_default(tmp_path: Path) -> None:
    config = load_sync_config(
        write(tmp_path, '[datasets.c]\nkind = "conversations"\nstart = 2024-05-01\n')
    )
    assert config.destination.uri == "duckdb:///genesys_export.duckdb"
    assert config.run.lookback.days == 3 and config.run.budget_per_minute == 300
    assert config.datasets["c"].start.isoformat() == "2024-05-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            '[datasets.c]\nkind = "conversations"\nstart = "2024-05-01"\nlookbak = "P2D"\n',
            "datasets.c.lookbak: unknown key",
        ),
        ('[datasets.c]\nkind = "calls"\nstart = "2024-05-01"\n', "datasets.c: kind must be one of"),
        ('[datasets.c]\nkind = "users"\n', "datasets.c.start: is required"),
        (
            '[datasets.q]\nkind = "aggregates"\nstart = "2024-05-01"\ntime_zone = "Mars/Olympus"\n',
            "datasets.q.time_zone: not an IANA time zone",
        ),
        (
            '[run]\nconcurrency = 0\n[datasets.c]\nkind = "users"\nstart = "2024-05-01"\n',
            "run.concurrency",
        ),
        (
            '[datasets.c]\nkind = "users"\nstart = "2024-05-01"\nlookback = "3 days"\n',
            "not an ISO-8601 duration",
        ),
        ("[datasets]\n", "configure at least one dataset"),
        ("datasets = [", "not valid TOML"),
    ],
)
def test_a_wrong_key_or_value_is_one_line_naming_it(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_sync_config(write(tmp_path, body))
    assert named in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == 2


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_sync_config(tmp_path / "nope.toml")


def test_the_shipped_example_is_a_valid_config() -> None:
    """examples/genesys-export.toml loads with the sync loader and shows every dataset kind."""
    example = Path(__file__).resolve().parent.parent / "examples" / "genesys-export.toml"
    config = load_sync_config(example)
    assert {ds.kind for ds in config.datasets.values()} == {
        "conversations",
        "users",
        "aggregates",
        "report",
    }
    assert (
        config.datasets["conversations"].webhooks[0].secret_env == "GENESYS_EXPORT_WEBHOOK_SECRET"
    )
    assert config.run.report_concurrency == 5
