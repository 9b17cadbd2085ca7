"""A context manager for anything with `close()`: sinks, the report stream."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """Leaving the `with` block closes it, error or not."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
