"""ParquetSink on S3: moto's server plays S3 on loopback, reached through AWS_ENDPOINT_URL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pyarrow as pa
import pytest

from genesys_export.chunks import Replacement
from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.base import Sink
from genesys_export.sinks.parquet import ParquetSink
from genesys_export.transform.tables import UTC_MS, TableSpec
from tests.sinks.builders import DAY1, DAY2, checkpoint

BUCKET = "genesys-lake"
CONVERSATIONS = TableSpec(
    "conversations",
    pa.schema(
        [
            pa.field("conversation_id", pa.string(), nullable=False),
            pa.field("conversation_start", UTC_MS, nullable=False),
            pa.field("duration_ms", pa.int64()),
        ]
    ),
    key=("conversation_id",),
    partition_by="conversation_start",
)


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh bucket and the AWS variables a user would set for an S3-compatible server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)
    client.close()


@pytest.fixture
def sink(s3: Any) -> Iterator[Sink]:
    with open_sink(f"s3://{BUCKET}/exports/genesys") as s:
        yield s


def keys_in(client: Any) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(obj["Key"] for obj in listing)


def conversations(*rows: tuple[str, datetime, int]) -> pa.Table:
    names = CONVERSATIONS.schema.names
    return pa.Table.from_pylist(
        [dict(zip(names, r, strict=True)) for r in rows], schema=CONVERSATIONS.schema
    )


def test_s3_gets_the_same_hive_layout(sink: Sink, s3: Any) -> None:
    """Partition objects and the manifest land under the prefix; nothing temporary does."""
    assert isinstance(sink, ParquetSink)
    assert sink.uri == f"s3://{BUCKET}/exports/genesys"
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1), ("c2", DAY2, 2)))
    assert keys_in(s3) == []  # staged on local disk until commit

    sink.commit([checkpoint(DAY2)])

    assert keys_in(s3) == [
        "exports/genesys/_checkpoints/conversations.json",
        "exports/genesys/conversations/date=2024-05-01/part-0.parquet",
        "exports/genesys/conversations/date=2024-05-02/part-0.parquet",
    ]


def test_rows_and_checkpoint_read_back(sink: Sink) -> None:
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1), ("c2", DAY2, 2)))
    sink.commit([checkpoint(DAY2)])

    assert (
        sink.read_table("conversations")
        .sort_by("conversation_id")
        .equals(conversations(("c1", DAY1, 1), ("c2", DAY2, 2)))
    )
    assert sink.read_checkpoint("conversations") == checkpoint(DAY2)
    assert sink.read_checkpoint("users") is None


def test_sha256_in_write_stats_matches_the_objects(sink: Sink, s3: Any) -> None:
    """The checksums a commit reports are those of the objects stored."""
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)))
    stats = sink.commit([checkpoint(DAY1)])

    assert len(stats.files) == 2
    for uri, digest in stats.files.items():
        key = uri.removeprefix(f"s3://{BUCKET}/")
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest
        assert stats.sizes[uri] == len(body)


def test_replacement_and_upsert_on_s3(sink: Sink) -> None:
    """Deletes and overlapping keys behave as on a local disk: no stale rows, no duplicates."""
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1), ("c2", DAY2, 2), ("c3", DAY2, 3)))
    sink.commit()
    replaced = Replacement(pa.table({"conversation_id": ["c2"]}), frozenset({DAY2.date()}))
    sink.delete(CONVERSATIONS, replaced)
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 10), ("c4", DAY1, 40)))
    sink.commit()

    table = sink.read_table("conversations").sort_by("conversation_id")
    assert table.column("conversation_id").to_pylist() == ["c1", "c3", "c4"]
    assert table.column("duration_ms").to_pylist() == [10, 3, 40]


def test_rollback_uploads_nothing(sink: Sink, s3: Any) -> None:
    sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)))
    sink.commit([checkpoint(DAY1)])
    before = keys_in(s3)
    sink.append(CONVERSATIONS, conversations(("c2", DAY2, 2)))

    sink.rollback()

    assert keys_in(s3) == before
    assert sink.read_table("conversations").num_rows == 1


def test_endpoint_url_s3_wins_over_endpoint_url(
    s3: Any, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The S3-specific endpoint variable is honoured before the generic one."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)

    with open_sink(f"s3://{BUCKET}/p") as sink:
        sink.append(CONVERSATIONS, conversations(("c1", DAY1, 1)))
        sink.commit()
    assert keys_in(s3) == ["p/conversations/date=2024-05-01/part-0.parquet"]


def test_audit_trail_of_an_s3_destination_stays_local(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert audit_path_for(f"s3://{BUCKET}/p") == tmp_path / "genesys-export-audit.jsonl"
