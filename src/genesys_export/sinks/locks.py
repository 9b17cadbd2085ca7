"""Locks that keep two runs from writing one destination at once."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from genesys_export.errors import LockHeld


def lock_file(path: Path, uri: str) -> int:
    """Take an exclusive, non-blocking `flock` on `path`; the returned fd holds it.

    flock (not fcntl record locks) because it is per open file: a second sink in the same
    process is refused too, and closing an unrelated descriptor does not drop it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise lock_held(uri) from None
    return fd


def lock_held(uri: str) -> LockHeld:
    """The one message for a destination another run is writing to."""
    return LockHeld(
        f"destination {uri} is in use by another genesys-export run; "
        "wait for it or use another --dest"
    )
