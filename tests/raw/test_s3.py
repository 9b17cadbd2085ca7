"""A landing zone on S3 (moto's server on loopback): kept, then replayed into DuckDB."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from genesys_export.raw.replay import ReplayRequest, replay
from tests.e2e import conversation_data, duckdb_dest, exporter_for, simulator

BUCKET = "genesys-raw"
KEY = re.compile(
    r"^raw/conversation_details/\d{4}-\d{2}-\d{2}/[0-9a-f]{32}/[0-9a-f-]+/"
    r"(manifest\.json|\d+\.json\.gz)$"
)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh bucket and the AWS variables a user would set for an S3-compatible server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)
    client.close()


def test_a_zone_on_s3_is_kept_whole_and_replays_to_the_same_tables(s3: Any, tmp_path: Path) -> None:
    landing = f"s3://{BUCKET}/raw"
    live, replayed = duckdb_dest(tmp_path, "live"), duckdb_dest(tmp_path, "replayed")
    with simulator() as (_, running):
        exporter = replace(exporter_for(running, tmp_path), raw_landing=landing)
        summary = exporter.export_conversations("2024-05-08/2024-05-10", dest=live).summary

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert all(KEY.match(k) for k in keys), keys  # no temporary object left behind
    manifests = [k for k in keys if k.endswith("manifest.json")]
    assert len(manifests) == summary["landing"]["jobs"] == summary["jobs"] == 2
    for key in manifests:
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        names = {f["name"] for f in manifest["files"]}
        assert {k.rpartition("/")[2] for k in keys if k.startswith(key[:-13])} == names | {
            "manifest.json"
        }

    replay(ReplayRequest(landing=landing, dest=replayed))

    assert conversation_data(replayed) == conversation_data(live)
