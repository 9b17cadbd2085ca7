"""The table specs: names, keys, partitions and column conventions."""

from __future__ import annotations

import pyarrow as pa
import pytest

from genesys_export.errors import ConfigError
from genesys_export.transform import names, schemas
from genesys_export.transform.tables import UTC_MS

RUN = ["_extra", "_run_id", "_extracted_at", "_settled"]


def test_snake_case_of_api_names() -> None:
    """API names become snake_case, runs of capitals and digits included."""
    assert (
        names.snake_case("mediaStatsMinConversationRFactor")
        == "media_stats_min_conversation_r_factor"
    )
    assert names.snake_case("q850ResponseCodes") == "q850_response_codes"
    assert names.snake_case("oTotalScore") == "o_total_score"
    assert names.snake_case("p95") == "p95"


def test_keys_partitions_and_trailing_columns() -> None:
    """Keys and partition columns are as the product page says; run columns come last."""
    expected = {
        "conversations": ("conversation_id",),
        "participants": ("conversation_id", "participant_id"),
        "participant_attributes": ("conversation_id", "participant_id", "name"),
        "sessions": ("conversation_id", "session_id"),
        "segments": ("conversation_id", "session_id", "segment_index"),
        "session_metrics": ("conversation_id", "session_id", "metric_index"),
    }
    for spec in schemas.CONVERSATION_TABLES:
        assert spec.key == expected[spec.name]
        assert spec.partition_by == "conversation_start"
        assert spec.schema.names[-4:] == RUN
        assert spec.schema.field("conversation_start").type == UTC_MS
    for spec in schemas.USER_TABLES:
        assert spec.partition_by == "start_time"
        assert spec.schema.names[-4:] == RUN
    assert schemas.USER_PRESENCE.key == (
        "user_id",
        "start_time",
        "system_presence",
        "organization_presence_id",
    )
    assert schemas.USER_ROUTING_STATUS.key == ("user_id", "start_time", "routing_status")


def test_key_columns_are_required_and_others_nullable() -> None:
    """Key columns are non-nullable; data columns and `_extra` are nullable."""
    for spec in (*schemas.CONVERSATION_TABLES, *schemas.USER_TABLES):
        for field in spec.schema:
            if field.name in spec.key or field.name in ("_run_id", "_extracted_at", "_settled"):
                assert not field.nullable, (spec.name, field.name)
        assert spec.schema.field("_extra").nullable
        assert spec.schema.field("_extra").type == pa.string()


def test_column_types_follow_the_contract() -> None:
    """Times are ms UTC, integers int64, arrays of scalars lists, nested arrays list<struct>."""
    sessions = schemas.SESSIONS.schema
    assert sessions.field("callback_scheduled_time").type == UTC_MS
    assert sessions.field("agent_bullseye_ring").type == pa.int64()
    assert sessions.field("bcc").type == pa.list_(pa.string())
    assert sessions.field("eligible_agent_counts").type == pa.list_(pa.int64())
    stats = sessions.field("media_endpoint_stats").type.value_type
    assert stats.field("min_r_factor").type == pa.float64()
    assert stats.field("event_time").type == UTC_MS
    outcomes = sessions.field("flow_outcomes").type.value_type
    assert outcomes.field("flow_outcome_start_timestamp").type == UTC_MS
    assert "flow_id" in sessions.names and "flow_flow_id" not in sessions.names
    segments = schemas.SEGMENTS.schema
    assert segments.field("properties").type.value_type.names == [
        "property",
        "property_type",
        "value",
    ]
    assert (
        schemas.CONVERSATIONS.schema.field("surveys")
        .type.value_type.field("o_survey_total_score")
        .type
        == pa.int64()
    )


def test_aggregate_spec() -> None:
    """Aggregates: key of interval, granularity, group columns, metric, qualifier; stats after."""
    spec = schemas.aggregate_spec("queue_stats", ["queueId", "mediaType"])

    assert spec.name == "queue_stats"
    assert spec.key == (
        "interval_start",
        "granularity",
        "queue_id",
        "media_type",
        "metric",
        "qualifier",
    )
    assert spec.partition_by == "interval_start"
    assert spec.schema.names[6:11] == ["interval_end", "count", "sum", "min", "max"]
    assert spec.schema.names[-3:] == ["_extra", "_run_id", "_extracted_at"]
    assert spec.schema.field("count").type == pa.int64()
    assert spec.schema.field("p95").type == pa.int64()
    assert spec.schema.field("ratio").type == pa.float64()
    # absent stays absent: a group without a queue, a metric without a qualifier
    assert spec.schema.field("queue_id").nullable and spec.schema.field("qualifier").nullable
    assert not spec.schema.field("interval_start").nullable


def test_aggregate_spec_refuses_a_dimension_that_shadows_a_column() -> None:
    """A group-by dimension whose column would collide is a configuration error."""
    with pytest.raises(ConfigError, match="group-by"):
        schemas.aggregate_spec("a", ["queueId", "queueId"])
