"""Runs `genesys-export` in a child process and SIGKILLs it halfway through a raw file.

Usage: python -m tests.raw.crash_driver N -- <cli args>

The Nth file the raw store writes (a page, a report, or a manifest, in the order the
writer reaches them) gets half of its bytes; then the process dies, before the rest, the
close or the rename. The hook wraps `genesys_export.raw.store._write` in this child only.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any


def install(count: int) -> None:
    from genesys_export.raw import store

    original = store._write
    seen = [0]
    lock = threading.Lock()

    def write(zone: Any, relative: str, blocks: Iterable[bytes]) -> None:
        with lock:
            seen[0] += 1
            dies = seen[0] == count
        original(zone, relative, _half_then_die(blocks) if dies else blocks)

    store._write = write  # type: ignore[assignment]


def _half_then_die(blocks: Iterable[bytes]) -> Iterator[bytes]:
    data = b"".join(blocks)
    yield data[: len(data) // 2]
    os.kill(os.getpid(), signal.SIGKILL)
    yield data[len(data) // 2 :]  # never reached


if __name__ == "__main__":
    count, sep, *cli_args = sys.argv[1:]
    assert sep == "--"
    install(int(count))
    from genesys_export.cli import cli

    cli.main(args=cli_args, prog_name="genesys-export")
