"""ParquetSink on S3: moto's server plays S3 on loopback, reached through AWS_ENDPOINT_URL
(fixtures in conftest.py). What S3 alone does: objects appear only at commit, endpoint
variables, the audit trail stays local. The Sink contract, on every engine, is in
test_contract.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from genesys_export.sinks import audit_path_for, open_sink
from genesys_export.sinks.base import Sink
from genesys_export.sinks.parquet import ParquetSink
from tests.sinks.builders import BUCKET, CONVERSATIONS, DAY1, DAY2, checkpoint, conversations


@pytest.fixture
def sink(s3: Any) -> Iterator[Sink]:
    with open_sink(f"s3://{BUCKET}/exports/genesys") as s:
        yield s


def keys_in(client: Any) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(obj["Key"] for obj in listing)


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
