"""A landing zone on S3 (moto's server on loopback): kept, then replayed into DuckDB."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from genesys_export.raw.replay import ReplayRequest, replay
from tests.e2e import conversation_data, duckdb_dest, exporter_for, simulator
from tests.sinks.builders import BUCKET  # the shared `s3` fixture makes it

KEY = re.compile(
    r"^raw/conversation_details/\d{4}-\d{2}-\d{2}/[0-9a-f]{32}/[0-9a-f-]+/"
    r"(manifest\.json|\d+\.json\.gz)$"
)


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
