from pathlib import Path

import pytest

from genesys_export.config import Settings
from genesys_export.errors import ConfigError

BASE = {
    "GENESYS_CLIENT_ID": "id-1",
    "GENESYS_CLIENT_SECRET": "s3cr3t-value",
    "GENESYS_REGION": "eu-west-1",
}


def test_settings_from_environment_resolve_the_region_hosts() -> None:
    settings = Settings.from_env(BASE, dotenv=None)
    assert settings.api_url == "https://api.mypurecloud.ie"
    assert settings.token_url == "https://login.mypurecloud.ie/oauth/token"
    assert settings.credentials.client_secret.reveal() == "s3cr3t-value"


def test_secret_never_shows_in_repr_or_str() -> None:
    settings = Settings.from_env(BASE, dotenv=None)
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings.credentials)


def test_dotenv_fills_gaps_and_the_real_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "GENESYS_CLIENT_ID=from-file\nGENESYS_CLIENT_SECRET=file-secret\nGENESYS_REGION=us-east-1\n"
    )
    settings = Settings.from_env({"GENESYS_CLIENT_ID": "from-env"}, dotenv=dotenv)
    assert settings.credentials.client_id == "from-env"
    assert settings.credentials.client_secret.reveal() == "file-secret"
    assert settings.api_url == "https://api.mypurecloud.com"


def test_url_overrides_replace_both_hosts() -> None:
    env = BASE | {
        "GENESYS_API_URL": "http://127.0.0.1:9/",
        "GENESYS_LOGIN_URL": "http://127.0.0.1:8",
    }
    settings = Settings.from_env(env, dotenv=None)
    assert settings.api_url == "http://127.0.0.1:9"
    assert settings.token_url == "http://127.0.0.1:8/oauth/token"


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_ID"),
        ("GENESYS_CLIENT_SECRET", "GENESYS_CLIENT_SECRET"),
        ("GENESYS_REGION", "GENESYS_REGION"),
    ],
)
def test_a_missing_variable_is_named_with_its_fix(missing: str, named: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, dotenv=None)
    assert named in str(err.value)
    assert err.value.exit_code == 2


def test_bad_tuning_value_is_named() -> None:
    with pytest.raises(ConfigError, match="GENESYS_EXPORT_CONCURRENCY"):
        Settings.from_env(BASE | {"GENESYS_EXPORT_CONCURRENCY": "lots"}, dotenv=None)
    with pytest.raises(ConfigError, match="GENESYS_EXPORT_REPORT_CONCURRENCY 0 is out of range"):
        Settings.from_env(BASE | {"GENESYS_EXPORT_REPORT_CONCURRENCY": "0"}, dotenv=None)


def test_report_concurrency_defaults_to_5_and_reads_the_environment() -> None:
    assert Settings.from_env(BASE, dotenv=None).report_concurrency == 5
    env = BASE | {"GENESYS_EXPORT_REPORT_CONCURRENCY": "3"}
    assert Settings.from_env(env, dotenv=None).report_concurrency == 3
