"""The TOML file `sync` reads: the destination, run options and the datasets to keep fresh.

    [destination]
    uri = "duckdb:///genesys_export.duckdb"

    [run]
    concurrency = 4
    report_concurrency = 5       # reporting exports in flight at once
    lookback = "P3D"

    [datasets.conversations]
    kind = "conversations"
    start = "2024-05-01"

    [orgs.acme]                  # optional: several orgs, each with its own destination
    client_id_env = "ACME_CLIENT_ID"
    client_secret_env = "ACME_CLIENT_SECRET"
    destination = "duckdb:///acme.duckdb"
    region = "eu-west-1"

Every option has a default; a wrong key or value raises ConfigError naming the key and
the fix (pydantic checks the file with unknown keys forbidden).
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genesys_export.config import DEFAULT_DEST
from genesys_export.errors import ConfigError
from genesys_export.intervals import iana_zone, parse_duration, parse_instant
from genesys_export.transform.dimensions import BY_NAME

DEFAULT_CONFIG = Path("genesys-export.toml")
KINDS = ("conversations", "users", "aggregates", "report", "reference")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value), name="duration")


def _zone(value: Any) -> Any:
    if value is not None:
        try:
            iana_zone(str(value))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return value


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return parse_instant(value.isoformat(), name="start")
    return parse_instant(str(value), name="start")


class DestinationSection(_Strict):
    """The TOML `[destination]` section."""

    uri: str = DEFAULT_DEST
    audit: str | None = None  # default: beside the destination


class LandingSection(_Strict):
    """The TOML `[landing]` section: the raw landing zone (`--landing` wins over it)."""

    uri: str | None = None  # file:///dir or s3://bucket/prefix
    retention: timedelta | None = None  # e.g. "P90D"

    _retention = field_validator("retention", mode="before")(
        lambda v: None if v is None else _duration(v)
    )

    @field_validator("uri")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file:///", "s3://")):
            raise ValueError("use file:///absolute/dir or s3://bucket/prefix")
        return value


class RunOptions(_Strict):
    concurrency: int = Field(4, ge=1, le=64)
    report_concurrency: int = Field(5, ge=1, le=64)
    budget_per_minute: int = Field(300, ge=1, le=100_000)
    chunk: timedelta = timedelta(days=1)
    lookback: timedelta = timedelta(days=3)
    page_size: int = Field(1000, ge=1, le=10_000)
    poll_deadline: float = Field(3600.0, gt=0)

    _durations = field_validator("chunk", "lookback", mode="before")(_duration)


class WebhookSection(_Strict):
    """One `webhooks` entry of a dataset: where to announce what landed."""

    url: str
    secret_env: str  # name of the environment variable holding the HMAC secret

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("use an http(s) URL")
        return value


class _Dataset(_Strict):
    start: datetime
    lookback: timedelta | None = None  # default: [run] lookback
    chunk: timedelta | None = None
    webhooks: list[WebhookSection] = []

    _start = field_validator("start", mode="before")(_instant)
    _durations = field_validator("lookback", "chunk", mode="before")(
        lambda v: None if v is None else _duration(v)
    )


class ConversationsDataset(_Dataset):
    kind: Literal["conversations"]
    reconcile: bool = False  # reconcile each run's newly settled days against aggregates


class UsersDataset(_Dataset):
    kind: Literal["users"]
    user_ids: list[str] = []


class AggregatesDataset(_Dataset):
    kind: Literal["aggregates"]
    granularity: str = "PT30M"
    group_by: list[str] = ["queueId", "mediaType"]
    metrics: list[str] = ["nOffered", "nConnected", "tHandle", "tAnswered"]
    filter: dict[str, Any] | None = None
    time_zone: str | None = None

    _time_zone = field_validator("time_zone")(_zone)


class ReportDataset(_Dataset):
    kind: Literal["report"]
    view: str
    period: str = "P1D"
    time_zone: str = "UTC"
    filter: dict[str, Any] = {}

    _time_zone = field_validator("time_zone")(_zone)
    locale: str = "en-US"
    column_map: dict[str, str] = {}
    type_overrides: dict[str, str] = {}
    key_columns: list[str] = []


class ReferenceDataset(_Strict):
    """Reference (dimension) data: no interval, every listing read completely each run."""

    kind: Literal["reference"]
    entities: list[str] = []  # default: all

    @field_validator("entities")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown entities {unknown}; use some of {sorted(BY_NAME)}")
        return value


# The datasets that export an interval (all but reference data).
IntervalDataset = ConversationsDataset | UsersDataset | AggregatesDataset | ReportDataset
Dataset = Annotated[
    ConversationsDataset | UsersDataset | AggregatesDataset | ReportDataset | ReferenceDataset,
    Field(discriminator="kind"),
]


class Connection(_Strict):
    """Where the org is. Secrets stay in the environment; the environment wins."""

    region: str | None = None
    client_id: str | None = None
    api_url: str | None = None
    login_url: str | None = None

    def as_environ(self) -> dict[str, str]:
        names = {
            "region": "GENESYS_REGION",
            "client_id": "GENESYS_CLIENT_ID",
            "api_url": "GENESYS_API_URL",
            "login_url": "GENESYS_LOGIN_URL",
        }
        return {names[k]: v for k, v in self.model_dump().items() if v}


def _url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("not a URL; use https://host[:port]")
    return value


class OrgSection(_Strict):
    """One `[orgs.NAME]` section: an org's hosts, credentials (by variable name),
    destination and budget. The secrets stay in the environment."""

    client_id_env: str  # the NAME of the variable holding the client id
    client_secret_env: str  # the NAME of the variable holding the client secret
    destination: str
    audit: str | None = None  # default: genesys-export-audit-NAME.jsonl beside the destination
    region: str | None = None
    budget_per_minute: int | None = Field(None, ge=1, le=100_000)  # default: [run]'s
    api_url: str | None = None
    login_url: str | None = None

    _urls = field_validator("api_url", "login_url")(_url)


class DagsterSection(_Strict):
    """`[dagster]`: how many runs of one org Dagster may run at once; each run takes
    budget_per_minute / runs_per_org of the org's budget."""

    runs_per_org: int = Field(2, ge=1, le=64)


def _check_names(value: dict[str, Any], what: str) -> dict[str, Any]:
    for name in value:
        if not name.replace("_", "").isalnum() or not name[0].isalpha() or name != name.lower():
            raise ValueError(f"{what} name {name!r}: use lower-case letters, digits and _")
    return value


class SyncConfig(_Strict):
    genesys: Connection = Connection()
    destination: DestinationSection = DestinationSection()
    run: RunOptions = RunOptions()
    landing: LandingSection = LandingSection()
    datasets: dict[str, Dataset]
    orgs: dict[str, OrgSection] = {}
    dagster: DagsterSection = DagsterSection()

    @field_validator("datasets")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("configure at least one dataset, e.g. [datasets.conversations]")
        return _check_names(value, "dataset")

    @field_validator("orgs")
    @classmethod
    def _org_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_names(value, "org")

    def with_run_options(self, **changes: Any) -> SyncConfig:
        """A copy with some `[run]` options changed (None values are ignored): what the
        command line gives wins over the file."""
        given = {k: v for k, v in changes.items() if v is not None}
        return self.model_copy(update={"run": self.run.model_copy(update=given)})


def load_sync_config(path: Path | None) -> SyncConfig:
    """Read and check the TOML file; every problem is one ConfigError naming its key."""
    target = path or DEFAULT_CONFIG
    try:
        raw = tomllib.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{target}: no such file; write one with at least one [datasets.NAME] table "
            '(kind = "conversations", start = "2024-05-01"), or pass --config; '
            "examples/genesys-export.toml in the source repository shows every key"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target}: not valid TOML ({exc})") from None
    try:
        return SyncConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{target}: {_first_problem(exc)}") from None
    except ConfigError as exc:
        raise ConfigError(f"{target}: {exc}") from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    if len(loc) > 2 and loc[0] == "datasets" and loc[2] in KINDS:
        del loc[2]  # the union's tag, not a key of the file
    key = ".".join(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key; remove it or check its spelling"
    elif error["type"] == "union_tag_invalid":
        message = "kind must be one of conversations, users, aggregates, report, reference"
    elif error["type"] == "missing":
        message = "is required"
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return f"{key}: {message}{more}"
