"""The audit trail: append-only JSON lines, hash-chained so any edit shows.

Each line is one event with fixed keys first (`ts`, `run_id`, `event`, `seq`, `prev_hash`,
`hash`), then the event's fields in sorted order. `hash` is the sha256 of the line's
canonical JSON (sorted keys, no spaces, UTF-8) without `hash`; `prev_hash` is the previous
line's hash (64 zeros on the first line) and `seq` counts lines from 1 across every run
that appended to the file. So `verify()` finds an edited, removed, inserted, reordered or
truncated line by number; only removing lines from the end leaves no trace, as in any
chain that is not anchored elsewhere.

Audit is not logging: it records what a run extracted and wrote, for someone proving it
later. Fields named like a secret (token, secret, password, authorization, ...) are masked
at any depth, so a careless caller cannot put a credential in the trail.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from genesys_export.errors import ConfigError
from genesys_export.events import AuditEvent

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
MASK = "***"
HEAD_KEYS = ("ts", "run_id", "event", "seq", "prev_hash", "hash")
_SECRET_NAME = re.compile(
    r"token|secret|passw(or)?d|pwd|authori[sz]ation|api[_-]?key|credential|cookie", re.I
)
# Reading the tail of a file to continue its chain: lines are small, but a long field
# list (file checksums of a big commit) can make one a few hundred KB.
_TAIL_BLOCK = 64 * 1024


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify()`: `first_bad_line` is 1-based, None when the chain is intact."""

    ok: bool
    lines: int
    first_bad_line: int | None
    reason: str


class AuditLog:
    """Appends events of one run to a JSON-lines file, continuing the file's chain.

    Safe to share between threads (chunks run concurrently) and between processes
    appending to the same file (an exclusive `flock` is held while a line is written).
    Every line is fsynced before `append` returns.
    """

    def __init__(
        self,
        path: Path,
        run_id: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self._clock = clock
        self._lock = threading.RLock()
        self._held: list[tuple[datetime, AuditEvent, dict[str, Any]]] | None = None

    def hold(self) -> None:
        """Keep events in memory until `release` (a run with nothing written yet)."""
        with self._lock:
            self._held = self._held if self._held is not None else []

    def release(self) -> None:
        """Write the held events, each with the time it happened, and stop holding."""
        with self._lock:  # later events wait, so the trail keeps the order they happened in
            held, self._held = self._held or [], None
            for at, event, body in held:
                self._write(at, event, body)

    def append(self, event: AuditEvent | str, **fields: Any) -> dict[str, Any]:
        """Write one event line and return it (secrets masked); held events return no hash."""
        event = AuditEvent(event)  # an unknown name raises ValueError: names can't drift
        clash = sorted(set(fields) & set(HEAD_KEYS))
        if clash:
            raise ValueError(f"audit fields {clash} clash with the line's fixed keys")
        body = _masked(_jsonable(fields))
        at = self._clock()
        with self._lock:
            if self._held is not None:
                self._held.append((at, event, body))
                return {"run_id": self.run_id, "event": str(event), **body}
        return self._write(at, event, body)

    def _write(self, at: datetime, event: AuditEvent, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock, _locked_append(self.path) as fd:
            seq, prev_hash = _chain_tail(fd, self.path)
            line = {
                "ts": at.astimezone(UTC).isoformat(),
                "run_id": self.run_id,
                "event": str(event),
                "seq": seq + 1,
                "prev_hash": prev_hash,
            }
            line["hash"] = line_hash({**line, **body})
            line.update(sorted(body.items()))
            data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
            # One write() on an O_APPEND descriptor: the line lands whole at the end.
            os.write(fd, data)
            os.fsync(fd)
        return line


def line_hash(line: Mapping[str, Any]) -> str:
    """sha256 of a line's canonical JSON, leaving out its own `hash`."""
    body = {k: v for k, v in line.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_events(path: Path, run_id: str | None = None) -> list[dict[str, Any]]:
    """Events in file order, optionally of one run.

    This is a viewer: a line that is not JSON (a torn write) is skipped with a warning,
    because checking integrity is `verify()`'s job.
    """
    events = []
    for number, raw in _numbered_lines(Path(path)):
        try:
            event = json.loads(raw)
        except ValueError:
            log.warning("audit line %d of %s is not JSON; run `audit verify`", number, path)
            continue
        if run_id is None or event.get("run_id") == run_id:
            events.append(event)
    return events


def recent_events(path: Path, max_bytes: int = 1 << 20) -> list[dict[str, Any]]:
    """The events in the last `max_bytes` of the trail (whole lines only), in file order:
    what a run needs of the recent past, read in bounded time however long the trail."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open("rb") as f:
        start = max(0, f.seek(0, os.SEEK_END) - max_bytes)
        f.seek(start)
        lines = f.read().split(b"\n")
    events = []
    for raw in lines[1:] if start else lines:  # a cut first line is not an event
        try:
            events.append(json.loads(raw))
        except ValueError:
            continue  # a torn or empty line: `verify()` is where integrity is judged
    return events


def verify(path: Path) -> VerifyResult:
    """Check the whole chain; report the first line that is torn, edited or out of place."""
    path = Path(path)
    if not path.exists():
        return VerifyResult(False, 0, None, f"no audit trail at {path}")
    prev_hash, count = GENESIS_HASH, 0
    for count, raw in _numbered_lines(path, keep_ends=True):
        problem = _line_problem(raw, expected_seq=count, prev_hash=prev_hash)
        if problem:
            return VerifyResult(False, count, count, f"line {count}: {problem}")
        prev_hash = json.loads(raw)["hash"]
    return VerifyResult(True, count, None, f"chain intact over {count} lines")


def _line_problem(raw: bytes, *, expected_seq: int, prev_hash: str) -> str | None:
    """What is wrong with one line, or None; `raw` still has its newline."""
    if not raw.endswith(b"\n"):
        return "truncated (no line end): a torn write or a cut file"
    try:
        line = json.loads(raw)
    except ValueError:
        return "not valid JSON (edited or torn)"
    if not isinstance(line, dict) or any(k not in line for k in HEAD_KEYS):
        return f"missing one of the fixed keys {list(HEAD_KEYS)}"
    if line["seq"] != expected_seq:
        return (
            f"seq is {line['seq']}, expected {expected_seq}: a line was removed, inserted or moved"
        )
    if line["prev_hash"] != prev_hash:
        return "prev_hash does not match the previous line: a line was removed, inserted or moved"
    if line["hash"] != line_hash(line):
        return "hash does not match the line's content: the line was edited"
    return None


def _numbered_lines(path: Path, *, keep_ends: bool = False) -> Iterator[tuple[int, bytes]]:
    """(1-based number, bytes) of each line, streamed; a missing file has none."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            yield number, raw if keep_ends else raw.rstrip(b"\n")


@contextmanager
def _locked_append(path: Path) -> Iterator[int]:
    """An O_APPEND descriptor on `path`, under an exclusive flock while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the flock


def _chain_tail(fd: int, path: Path) -> tuple[int, str]:
    """(seq, hash) of the file's last line, or (0, genesis) for an empty file.

    A torn last line (no newline: a crash inside write) was never acknowledged to any
    caller, so it is cut off before appending, with a warning, rather than leaving the
    chain broken for good.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, GENESIS_HASH
    tail = _read_tail(fd, size)
    if not tail.endswith(b"\n"):
        keep = tail.rfind(b"\n") + 1 + (size - len(tail))
        log.warning("audit trail %s ends in a torn line; cutting %d bytes", path, size - keep)
        os.ftruncate(fd, keep)
        return _chain_tail(fd, path)
    last = tail[:-1].rsplit(b"\n", 1)[-1]
    try:
        line = json.loads(last)
        return int(line["seq"]), str(line["hash"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"audit trail {path} does not end in a genesys-export audit line; "
            "point the audit path elsewhere or run `genesys-export audit verify`"
        ) from exc


def _read_tail(fd: int, size: int) -> bytes:
    """The file's bytes from the start of its last complete line (or more) to the end."""
    block = _TAIL_BLOCK
    while True:
        start = max(0, size - block)
        tail = os.pread(fd, size - start, start)
        # Need a newline before the last line's own, unless we hold the whole file.
        if start == 0 or tail[:-1].rfind(b"\n") >= 0:
            return tail
        block *= 4


def _jsonable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fields as plain JSON values, so the hash is over exactly what is written."""
    loaded: dict[str, Any] = json.loads(json.dumps(fields, default=_plain))
    return loaded


def _plain(value: object) -> object:
    """json.dumps fallback for values a run naturally records."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"audit field value of type {type(value).__name__} is not JSON")


def _masked(value: Any) -> Any:
    """Replace the value of every key that names a secret, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if _SECRET_NAME.search(k) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value
