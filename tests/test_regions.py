import pytest

from genesys_export.errors import ConfigError
from genesys_export.regions import REGIONS, resolve_region
from tests.shared import contract_json

# The region table of the API contract, written out so the test runs without ../shared.
EXPECTED = {
    "us-east-1": "mypurecloud.com",
    "us-east-2": "use2.us-gov-pure.cloud",
    "us-west-2": "usw2.pure.cloud",
    "ca-central-1": "cac1.pure.cloud",
    "sa-east-1": "sae1.pure.cloud",
    "mx-central-1": "mxc1.pure.cloud",
    "eu-west-1": "mypurecloud.ie",
    "eu-west-2": "euw2.pure.cloud",
    "eu-central-1": "mypurecloud.de",
    "eu-central-2": "euc2.pure.cloud",
    "eusc-de-east-1": "edee1.eusc-pure.cloud",
    "me-central-1": "mec1.pure.cloud",
    "ap-south-1": "aps1.pure.cloud",
    "ap-southeast-1": "apse1.pure.cloud",
    "ap-southeast-2": "mypurecloud.com.au",
    "ap-northeast-1": "mypurecloud.jp",
    "ap-northeast-2": "apne2.pure.cloud",
    "ap-northeast-3": "apne3.pure.cloud",
}


@pytest.mark.parametrize(("aws", "env"), sorted(EXPECTED.items()))
def test_every_region_resolves_by_aws_name_and_by_domain(aws: str, env: str) -> None:
    """All 18 regions resolve to https://api.{env} and https://login.{env}/oauth/token."""
    for spelling in (aws, env, aws.replace("-", "_"), aws.upper(), f"https://api.{env}/"):
        region = resolve_region(spelling)
        assert region.api_base_url == f"https://api.{env}"
        assert region.token_url == f"https://login.{env}/oauth/token"
    assert len(REGIONS) == 18


def test_regions_match_the_contract_schema() -> None:
    """The x-regions rows of schemas/oauth.json match our table exactly."""
    rows = contract_json("schemas/oauth.json")["x-regions"]
    assert {r["awsRegion"]: r["environment"] for r in rows} == EXPECTED
    for row in rows:
        region = resolve_region(row["awsRegion"])
        assert region.api_base_url == row["apiBaseUrl"]
        assert region.token_url == row["tokenUrl"]
        assert resolve_region(row["sdkName"]) == region


def test_unknown_region_names_the_variable_and_the_valid_values() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_region("usw3")
    message = str(err.value)
    assert "GENESYS_REGION" in message and "'usw3'" in message
    assert "eu-west-1" in message and "mypurecloud.ie" in message
