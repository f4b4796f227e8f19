"""Relay connections over keyset cursors: stable under inserts, never offsets."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

import strawberry

from server.api.batch import Batch
from server.api.errors import query
from server.core.errors import DomainError, ErrorCode

T = TypeVar("T")

First = Annotated[int | None, strawberry.argument(description="Page size, 1 to 100 (default 20).")]
After = Annotated[str | None, strawberry.argument(description="The previous page's `endCursor`.")]
DEFAULT_PAGE = 20
MAX_PAGE = 100


@strawberry.type(
    description="Where a page starts and ends, and whether items come before and after it."
)
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow.")
    has_previous_page: bool = strawberry.field(
        description="True when items come before this page: it was asked for `after` a cursor."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null for an empty page."
    )
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")


@strawberry.type(description="One item of a page and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items, newest first unless the field says otherwise.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="How to get the next page.")


# Named as the plain one: a list that counts is `MemberConnection` all the same (an item
# type is listed either by counting connections or by plain ones, never both).
@strawberry.type(
    name="Connection",
    description="A page of items, newest first unless the field says otherwise, and how "
    "many items the whole list holds.",
)
class CountedConnection(Connection[T]):
    counter: strawberry.Private[Callable[[], int] | None] = None

    @strawberry.field(
        description="How many items the whole list holds, with the same filters (every "
        "page, not this one). Counted only when asked for: one COUNT statement."
    )
    def total_count(self) -> int:
        return query(self.counter)


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
    *,
    cursor: int | None = None,
    count: Callable[[], int] | None = None,
) -> Connection[T]:
    """Build a page from `limit + 1` fetched rows: the extra row only says more follow.
    The page's objects share one batch (server/api/batch.py), or the one given. `cursor`
    is where the page was asked to start (`after`); `count` counts the whole list, for
    `totalCount`."""
    page = rows[:limit]
    batch = batch if batch is not None else Batch(page)
    edges = [Edge(cursor=encode_cursor(key(r)), node=node(r, batch)) for r in page]
    info = PageInfo(
        has_next_page=len(rows) > limit,
        has_previous_page=cursor is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    if count is not None:
        return CountedConnection(edges=edges, page_info=info, counter=count)
    return Connection(edges=edges, page_info=info)


def paged(
    first: int | None,
    after: str | None,
    fetch: Callable[[int | None, int], Sequence],
    node: Callable[[object, Batch], T],
    key: Callable[[object], int] = lambda r: r.id,
) -> Connection[T]:
    """One page: `fetch(cursor, how many)` reads it (server/core/lists.py), one more row
    than shown to learn whether more follow."""
    limit, cursor = page_size(first), decode_cursor(after)
    return connection(fetch(cursor, limit + 1), limit, key, node, cursor=cursor)
