"""Genesys Cloud regions: an AWS region name or an environment domain -> login and API hosts.

The table is the SDKs' `PureCloudRegionHosts` (18 regions). The login host is the API
host with `api.` replaced by `login.`.
"""

from __future__ import annotations

from dataclasses import dataclass

from genesys_export.errors import ConfigError


@dataclass(frozen=True)
class Region:
    """One Genesys Cloud region."""

    aws_name: str  # us-east-1
    environment: str  # mypurecloud.com

    @property
    def api_base_url(self) -> str:
        return f"https://api.{self.environment}"

    @property
    def login_url(self) -> str:
        return f"https://login.{self.environment}"

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/oauth/token"


REGIONS: tuple[Region, ...] = (
    Region("us-east-1", "mypurecloud.com"),
    Region("us-east-2", "use2.us-gov-pure.cloud"),
    Region("us-west-2", "usw2.pure.cloud"),
    Region("ca-central-1", "cac1.pure.cloud"),
    Region("sa-east-1", "sae1.pure.cloud"),
    Region("mx-central-1", "mxc1.pure.cloud"),
    Region("eu-west-1", "mypurecloud.ie"),
    Region("eu-west-2", "euw2.pure.cloud"),
    Region("eu-central-1", "mypurecloud.de"),
    Region("eu-central-2", "euc2.pure.cloud"),
    Region("eusc-de-east-1", "edee1.eusc-pure.cloud"),
    Region("me-central-1", "mec1.pure.cloud"),
    Region("ap-south-1", "aps1.pure.cloud"),
    Region("ap-southeast-1", "apse1.pure.cloud"),
    Region("ap-southeast-2", "mypurecloud.com.au"),
    Region("ap-northeast-1", "mypurecloud.jp"),
    Region("ap-northeast-2", "apne2.pure.cloud"),
    Region("ap-northeast-3", "apne3.pure.cloud"),
)

_BY_NAME = {r.aws_name: r for r in REGIONS} | {r.environment: r for r in REGIONS}


def resolve_region(value: str) -> Region:
    """`us-east-1`, `us_east_1` (SDK name) or `mypurecloud.com` -> Region; else ConfigError."""
    key = value.strip().lower()
    for prefix in ("https://", "http://", "api.", "login."):
        key = key.removeprefix(prefix)
    key = key.rstrip("/")
    region = _BY_NAME.get(key) or _BY_NAME.get(key.replace("_", "-"))
    if region is None:
        names = ", ".join(r.aws_name for r in REGIONS)
        raise ConfigError(
            f"GENESYS_REGION {value!r} is not a Genesys Cloud region; "
            f"use an AWS region name ({names}) or an environment domain such as mypurecloud.ie"
        )
    return region
