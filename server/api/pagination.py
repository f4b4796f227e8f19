"""Relay connections over keyset cursors: stable under inserts, never offsets."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

import strawberry

from server.api.batch import Batch
from server.core.errors import DomainError, ErrorCode

T = TypeVar("T")

First = Annotated[int | None, strawberry.argument(description="Page size, 1 to 100 (default 20).")]
After = Annotated[str | None, strawberry.argument(description="The previous page's `endCursor`.")]
DEFAULT_PAGE = 20
MAX_PAGE = 100


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")


@strawberry.type(description="One item of a page and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items, newest first unless the field says otherwise.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="How to get the next page.")


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"first must be 1 to {MAX_PAGE}", "first")
    return first


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("k:"):
            raise ValueError(text)
        return int(text[2:])
    except ValueError as exc:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "after is not a cursor from this list", "after"
        ) from exc


def connection(
    rows: Sequence,
    limit: int,
    key: Callable[[object], int],
    node: Callable[[object, Batch], T],
    batch: Batch | None = None,
) -> Connection[T]:
    """Build a page from `limit + 1` fetched rows: the extra row only says more follow.
    The page's objects share one batch (server/api/batch.py), or the one given."""
    page = rows[:limit]
    batch = batch if batch is not None else Batch(page)
    edges = [Edge(cursor=encode_cursor(key(r)), node=node(r, batch)) for r in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
        ),
    )


def paged(
    first: int | None,
    after: str | None,
    fetch: Callable[[int | None, int], Sequence],
    node: Callable[[object, Batch], T],
    key: Callable[[object], int] = lambda r: r.id,
) -> Connection[T]:
    """One page: `fetch(cursor, how many)` reads it (server/core/lists.py), one more row
    than shown to learn whether more follow."""
    limit = page_size(first)
    return connection(fetch(decode_cursor(after), limit + 1), limit, key, node)
