"""One list spread over several partitions (an owner's units, a staff member's communities), paged in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from chalicelib.domain.ports import Page
from chalicelib.errors import InvalidCursor

T = TypeVar("T")
Fetch = Callable[[str, int, dict[str, Any] | None], Page[T]]


def across_partitions(partitions: Sequence[str], limit: int, start: dict[str, Any] | None,
                      fetch: Fetch[T], keep: Callable[[T], bool] = lambda _: True) -> Page[T]:
    """Read `partitions` one after the other (each a key or index `Query`), `limit` items at most.

    The position is `{"p": partition, "k": storage key or None}`; a position naming a partition the caller
    no longer has is refused like a forged cursor.
    """
    if not partitions:
        return Page([], None)
    index, key = 0, None
    if start is not None:
        if start.get("p") not in partitions:
            raise InvalidCursor()
        index, key = partitions.index(start["p"]), start.get("k")
    items: list[T] = []
    while index < len(partitions):
        page = fetch(partitions[index], limit - len(items), key)
        items.extend(item for item in page.items if keep(item))
        if page.last_key is not None:
            return Page(items, {"p": partitions[index], "k": page.last_key})
        index, key = index + 1, None
        if len(items) >= limit:
            return Page(items, {"p": partitions[index], "k": None} if index < len(partitions) else None)
    return Page(items, None)
