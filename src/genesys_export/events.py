"""The events a run reports: their names, and the callback that carries them.

Producers (job modules) report through an `Events` callback; the pipeline's run records
each in the audit trail and tells the progress display. One enum names them all, so they
can be grepped for and never drift between emitter and reader.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol


class AuditEvent(enum.StrEnum):
    """Every event the trail knows; names are stable so they can be grepped for."""

    RUN_STARTED = "run.started"
    JOB_SUBMITTED = "job.submitted"
    JOB_STATE = "job.state"
    JOB_FINISHED = "job.finished"
    DOWNLOAD_FINISHED = "download.finished"
    TABLE_WRITTEN = "table.written"
    VALIDATION_FINISHED = "validation.finished"
    CHECKPOINT_SAVED = "checkpoint.saved"
    NOTIFY_SENT = "notify.sent"
    RECONCILE_FINISHED = "reconcile.finished"
    RAW_SAVED = "raw.saved"
    RUN_FINISHED = "run.finished"
    RUN_FAILED = "run.failed"


class Events(Protocol):
    """`events(name, **fields)`: what happened, with its fields."""

    def __call__(self, name: AuditEvent, /, **fields: Any) -> None: ...
