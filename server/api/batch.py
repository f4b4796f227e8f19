"""Objects listed together, loaded together.

Every object a resolver returns belongs to a `Batch`: the page it was listed on, or
everything one field returned for a whole page of parents. When a field of one of them
needs the database, it asks its batch, which reads what that field needs for every
member of the batch in one statement (server/core/reads.py, entries.py) and keeps the
answer for the others. So a page of N members costs the same statements whatever N is
and whatever nested fields are asked — a DataLoader for synchronous execution, batched
by siblings rather than by ticks of an event loop.

A batch lives as long as the objects of one request; nothing is kept across requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
_MISSING: Any = object()


class Batch:
    """The rows of objects listed together, and what was loaded for all of them."""

    __slots__ = ("rows", "_loaded")

    def __init__(self, rows: Iterable[Any]) -> None:
        self.rows = list(rows)
        self._loaded: dict[Any, Any] = {}

    def load(self, key: Any, fetch: Callable[[list[Any]], T]) -> T:
        """`fetch(rows)` once per key for the whole batch; its answer afterwards."""
        found = self._loaded.get(key, _MISSING)
        if found is _MISSING:
            found = self._loaded[key] = fetch(self.rows)
        return found


def batched(rows: Iterable[Any], wrap: Callable[[Any, Batch], T]) -> list[T]:
    """Objects for rows listed together, sharing one batch."""
    batch = Batch(rows)
    return [wrap(row, batch) for row in batch.rows]


def alone(row: Any) -> Batch:
    """The batch of an object fetched on its own."""
    return Batch([row])


def grouped(groups: dict[Any, list[Any]], wrap: Callable[[Any, Batch], T]) -> dict[Any, list[T]]:
    """Objects for rows that several parents list (each parent its group), all in one
    batch: their own fields then load for every group at once."""
    batch = Batch(row for rows in groups.values() for row in rows)
    made = {id(row): wrap(row, batch) for row in batch.rows}
    return {key: [made[id(row)] for row in rows] for key, rows in groups.items()}


def keyed(found: dict[Any, Any], wrap: Callable[[Any, Batch], T]) -> dict[Any, T]:
    """Objects for rows looked up by key (one parent each), all in one batch."""
    batch = Batch(found.values())
    return {key: wrap(row, batch) for key, row in found.items()}


def related(
    peers: Batch,
    attr: str,
    fetch: Callable[[list[Any]], dict[Any, Any]],
    wrap: Callable[[Any, Batch], T],
) -> dict[Any, T]:
    """The objects the batch's rows point to through `attr` (an id), fetched for every
    row at once and wrapped in one batch of their own."""
    return peers.load(attr, lambda rows: keyed(fetch([getattr(r, attr) for r in rows]), wrap))


class Batched:
    """For types over one row: `peers` is the batch the object was listed in (a batch
    of its own when it was made alone). The type declares `row` and `batch`."""

    @property
    def peers(self) -> Batch:
        if self.batch is None:  # type: ignore[has-type]
            self.batch = Batch([self.row])  # type: ignore[attr-defined]
        return self.batch
