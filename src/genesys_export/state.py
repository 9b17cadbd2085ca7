"""Checkpoints: how far each configured dataset has been written.

A checkpoint is stored by the sink, in the same transaction as the data it describes
(DuckDB and PostgreSQL: a state table; Parquet: a manifest written last).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from genesys_export.errors import CheckpointError


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """Progress of one dataset.

    `written_until`: every chunk before this instant has been committed.
    `settled_until`: data before this instant is final (outside lookback and watermark);
    the next run starts at `min(settled_until, written_until - lookback)`.
    """

    dataset: str
    export_kind: str
    written_until: datetime
    settled_until: datetime
    run_id: str
    updated_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        body = asdict(self)
        for name in ("written_until", "settled_until", "updated_at"):
            body[name] = getattr(self, name).isoformat()
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, dataset: str | None = None) -> Checkpoint:
        try:
            body = json.loads(text)
            for name in ("written_until", "settled_until", "updated_at"):
                body[name] = datetime.fromisoformat(body[name])
            checkpoint = cls(**body)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint is unreadable ({exc}); delete it to start over"
            ) from exc
        if dataset is not None and checkpoint.dataset != dataset:
            raise CheckpointError(
                f"checkpoint belongs to dataset {checkpoint.dataset!r}, not {dataset!r}"
            )
        return checkpoint
