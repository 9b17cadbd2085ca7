"""Cursor paging: follow the cursor until the server stops giving one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from genesys_export.errors import PaginationLoop

P = TypeVar("P")


def iter_pages(
    fetch: Callable[[str | None], P], cursor_of: Callable[[P], str | None], *, what: str
) -> Iterator[P]:
    """Yield pages from `fetch(cursor)` until `cursor_of(page)` is absent.

    A short or empty page is not the end: only a missing cursor is. A cursor the server
    already gave raises PaginationLoop instead of looping forever.
    """
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield page
        cursor = cursor_of(page)
        if not cursor:
            return
        if cursor in seen:
            raise PaginationLoop(f"{what}: the server repeated cursor {cursor[:16]}...; stopping")
        seen.add(cursor)
