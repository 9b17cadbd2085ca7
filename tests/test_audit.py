"""The audit trail: hash-chained JSON lines that show any tampering."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from genesys_export.audit import (
    GENESIS_HASH,
    MASK,
    AuditEvent,
    AuditLog,
    line_hash,
    read_events,
    recent_events,
    verify,
)
from genesys_export.errors import ConfigError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock that ticks one second per reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """A file with five events of one run."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, "run-1", clock=Clock())
    log.append(AuditEvent.RUN_STARTED, command="export conversations")
    log.append(AuditEvent.JOB_SUBMITTED, job_id="job-1", payload_sha256="ab" * 32)
    log.append(AuditEvent.JOB_FINISHED, job_id="job-1", state="FULFILLED")
    log.append(AuditEvent.TABLE_WRITTEN, rows={"conversations": 10}, files={"/x": "cd" * 32})
    log.append(AuditEvent.RUN_FINISHED, duration_s=1.5)
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_lines_have_fixed_keys_first_then_sorted_fields(tmp_path: Path) -> None:
    """Each line starts with ts, run_id, event, seq, prev_hash, hash, then fields sorted."""
    path = tmp_path / "a.jsonl"
    line = AuditLog(path, "r", clock=lambda: T0).append(AuditEvent.JOB_SUBMITTED, z=1, a="x")

    written = json.loads(path.read_text())
    assert list(written) == ["ts", "run_id", "event", "seq", "prev_hash", "hash", "a", "z"]
    assert written == line
    assert written["ts"] == "2024-05-01T12:00:00+00:00"
    assert (written["seq"], written["prev_hash"]) == (1, GENESIS_HASH)
    assert written["hash"] == line_hash(written)


def test_recent_events_are_the_whole_lines_at_the_end(trail: Path) -> None:
    """Read from the last bytes of the trail, the first (cut) line is left out: the events
    are exactly the last ones of the whole trail."""
    every = read_events(trail)
    tail_bytes = sum(len(line) for line in lines_of(trail)[-2:]) + 10  # 2 lines and a bit
    assert recent_events(trail, max_bytes=tail_bytes) == every[-2:]
    assert recent_events(trail) == every
    assert recent_events(trail.parent / "missing.jsonl") == []


def test_intact_chain_verifies(trail: Path) -> None:
    """An untouched file verifies, with its line count."""
    result = verify(trail)

    assert result.ok, result.reason
    assert (result.lines, result.first_bad_line) == (5, None)


def test_a_second_run_continues_the_chain(trail: Path) -> None:
    """Another AuditLog on the same file continues seq and prev_hash from its last line."""
    last = json.loads(lines_of(trail)[-1])
    line = AuditLog(trail, "run-2").append(AuditEvent.RUN_STARTED)

    assert (line["seq"], line["prev_hash"]) == (6, last["hash"])
    assert verify(trail).ok
    assert [e["event"] for e in read_events(trail, run_id="run-2")] == ["run.started"]
    assert len(read_events(trail)) == 6


def test_edited_field_is_found(trail: Path) -> None:
    """Changing a value in line 3 fails verification at line 3."""
    lines = lines_of(trail)
    lines[2] = lines[2].replace("FULFILLED", "FAILED")
    trail.write_text("".join(lines))

    result = verify(trail)

    assert not result.ok
    assert result.first_bad_line == 3
    assert "edited" in result.reason


def test_edit_with_recomputed_hash_is_found_at_the_next_line(trail: Path) -> None:
    """Rehashing an edited line breaks the next line's prev_hash."""
    lines = lines_of(trail)
    edited = json.loads(lines[1])
    edited["job_id"] = "job-X"
    edited["hash"] = line_hash(edited)
    lines[1] = json.dumps(edited) + "\n"
    trail.write_text("".join(lines))

    result = verify(trail)

    assert (result.ok, result.first_bad_line) == (False, 3)


def test_removed_line_is_found(trail: Path) -> None:
    """Deleting line 2 fails verification at line 2."""
    lines = lines_of(trail)
    del lines[1]
    trail.write_text("".join(lines))

    result = verify(trail)

    assert (result.ok, result.first_bad_line) == (False, 2)
    assert "removed" in result.reason


def test_removed_first_line_is_found(trail: Path) -> None:
    """Deleting the first line fails at line 1: the chain must start at seq 1."""
    trail.write_text("".join(lines_of(trail)[1:]))

    assert verify(trail).first_bad_line == 1


def test_swapped_lines_are_found(trail: Path) -> None:
    """Swapping lines 3 and 4 fails verification at line 3."""
    lines = lines_of(trail)
    lines[2], lines[3] = lines[3], lines[2]
    trail.write_text("".join(lines))

    result = verify(trail)

    assert (result.ok, result.first_bad_line) == (False, 3)


def test_inserted_line_is_found(trail: Path) -> None:
    """A copy of line 2 inserted after it fails at line 3."""
    lines = lines_of(trail)
    lines.insert(2, lines[1])
    trail.write_text("".join(lines))

    assert verify(trail).first_bad_line == 3


def test_truncated_last_line_is_found(trail: Path) -> None:
    """A last line cut short (a torn write) fails at that line."""
    data = trail.read_bytes()
    trail.write_bytes(data[:-20])

    result = verify(trail)

    assert (result.ok, result.first_bad_line) == (False, 5)
    assert "truncated" in result.reason


def test_torn_tail_is_cut_before_the_next_append(
    trail: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An append after a crash mid-write drops the torn fragment and keeps the chain valid."""
    intact = lines_of(trail)[:4]
    trail.write_bytes("".join(intact).encode() + b'{"ts": "2024-05-01T12:')

    line = AuditLog(trail, "run-2").append(AuditEvent.RUN_STARTED)

    assert line["seq"] == 5
    assert verify(trail).ok
    assert "torn" in caplog.text


def test_file_not_ending_in_an_audit_line_is_refused(tmp_path: Path) -> None:
    """Appending to some other file is a ConfigError, not a silently broken chain."""
    path = tmp_path / "other.jsonl"
    path.write_text("hello\n")

    with pytest.raises(ConfigError, match="audit"):
        AuditLog(path, "r").append(AuditEvent.RUN_STARTED)


def test_secret_fields_are_masked_at_any_depth(tmp_path: Path) -> None:
    """Fields named like secrets never reach the file, nested or not."""
    path = tmp_path / "a.jsonl"
    AuditLog(path, "r").append(
        AuditEvent.RUN_STARTED,
        access_token="tok-123",
        client_secret="sec-456",
        request={"headers": {"Authorization": "Bearer abc"}, "password": "pw-789"},
        items=[{"api_key": "key-000"}],
        region="eu-west-1",
    )

    text = path.read_text()
    for secret in ("tok-123", "sec-456", "Bearer abc", "pw-789", "key-000"):
        assert secret not in text
    event = read_events(path)[0]
    assert event["access_token"] == MASK
    assert event["request"]["headers"]["Authorization"] == MASK
    assert event["items"] == [{"api_key": MASK}]
    assert event["region"] == "eu-west-1"
    assert verify(path).ok


def test_values_are_stored_as_plain_json(tmp_path: Path) -> None:
    """Datetimes, paths, enums and sets are written as JSON the hash covers."""
    path = tmp_path / "a.jsonl"
    line = AuditLog(path, "r").append(
        AuditEvent.CHECKPOINT_SAVED,
        written_until=T0,
        file=Path("/x/y"),
        event_name=AuditEvent.RUN_FAILED,
        tables={"b", "a"},
    )

    assert line["written_until"] == "2024-05-01T12:00:00+00:00"
    assert (line["file"], line["event_name"], line["tables"]) == ("/x/y", "run.failed", ["a", "b"])
    assert verify(path).ok


def test_unknown_events_and_reserved_fields_are_rejected(tmp_path: Path) -> None:
    """Event names come from AuditEvent; fields cannot overwrite the fixed keys."""
    log = AuditLog(tmp_path / "a.jsonl", "r")

    with pytest.raises(ValueError):
        log.append("page.written")
    with pytest.raises(ValueError, match="seq"):
        log.append(AuditEvent.RUN_STARTED, seq=7)


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    """Threads appending at once produce a gapless, verifiable chain."""
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, "r")

    def work(n: int) -> None:
        for i in range(25):
            log.append(AuditEvent.DOWNLOAD_FINISHED, worker=n, i=i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    result = verify(path)
    assert (result.ok, result.lines) == (True, 200)
    assert [e["seq"] for e in read_events(path)] == list(range(1, 201))


def test_missing_file_does_not_verify(tmp_path: Path) -> None:
    """Verifying a trail that does not exist says so instead of passing."""
    result = verify(tmp_path / "nope.jsonl")

    assert not result.ok
    assert "no audit trail" in result.reason
    assert read_events(tmp_path / "nope.jsonl") == []
