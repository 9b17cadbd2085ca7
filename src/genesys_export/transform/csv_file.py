"""The report CSV on disk: paced reads for bounded memory, physical lines for errors.

Memory: pyarrow's reader would read 32 blocks ahead; `PacedFile` lets it read only
`READ_AHEAD` blocks past the ones parsed. We hold two blocks. Nothing grows with the file.

Errors carry the 1-based physical line: on the (rare) error path the file is re-read with
the `csv` module, which counts lines, to find where the offending record starts.
"""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Any

READ_AHEAD = 3  # blocks the reader may read past the ones parsed


_PACE_WAIT = 0.5  # seconds a read waits for the parser; then it reads anyway (a huge record)


class PacedFile(io.RawIOBase):
    """A file pyarrow's CSV reader reads through, at most `ahead` blocks past the parser.

    The reader's I/O thread otherwise queues 32 blocks (128 MiB at 4 MiB blocks). Each read
    takes a credit; each parsed block (`consumed`) gives one back. A read that waits longer
    than `_PACE_WAIT` goes ahead anyway: a record spanning many blocks must not deadlock.
    Not memory-mapped: mapped pages would count in RSS.

    `close` first answers every read with end-of-file and waits for a read in progress:
    pyarrow's thread must be out of this Python code before the interpreter may exit.
    """

    def __init__(self, path: Path, *, ahead: int) -> None:
        super().__init__()
        self._raw = path.open("rb", buffering=0)
        self._credits = threading.Semaphore(ahead)
        self._idle = threading.Condition()
        self._reading = 0
        self._stopped = False
        self._at_end = False  # end-of-file was answered: pyarrow's thread reads no more

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        with self._idle:
            if self._stopped:
                self._at_end = True
                self._idle.notify_all()
                return 0
            self._reading += 1
        read = 0
        try:
            self._credits.acquire(timeout=_PACE_WAIT)
            read = 0 if self._stopped else (self._raw.readinto(buffer) or 0)
            return read
        finally:
            with self._idle:
                self._reading -= 1
                self._at_end = self._at_end or read == 0
                self._idle.notify_all()

    def consumed(self) -> None:
        self._credits.release()

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        with self._idle:
            self._stopped = True
            self._credits.release(READ_AHEAD + 1)  # wake a waiting read
            # A reader abandoned mid-file may still be reading ahead: let it see the end.
            self._idle.wait_for(lambda: self._reading == 0 and self._at_end, timeout=_PACE_WAIT)
        self._raw.close()
        super().close()


def physical_line(
    path: Path, delimiter: str, *, record: int | None = None, fields: int | None = None
) -> tuple[int, int] | None:
    """(1-based line where a record starts, its field count), or None if not found.

    `record`: a data record's 0-based position (header and blank lines not counted, as
    pyarrow counts); `fields`: the first record whose field count differs. Error path only.
    """
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
            reader = csv.reader(text, delimiter=delimiter)
            end, position = 0, -1  # the header is position -1
            for row in reader:
                start, end = end + 1, reader.line_num
                if not row:
                    continue
                if (fields is not None and len(row) != fields) or position == record:
                    return start, len(row)
                position += 1
    except csv.Error:
        return None
    return None
