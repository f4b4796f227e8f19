"""Global object identification: every object with an id is a `Node`, and `node(id:)` and
`nodes(ids:)` fetch any of them again by that id.

The API's ids are already global (server/api/ids.py): the prefix names the type (`mbr_42`
is a member, `txn_7` a transaction), so they need no further encoding.

`node` answers whom the object's own root field answers, and nobody else: each kind names
the root field whose gate (server/api/gate.py) it follows, and for what a member owns
(`@owned`, server/api/ownership.py) a member token gets its own objects only. Another
member's object, or one that does not exist, is FORBIDDEN for it, as `member(id:)`
answers: a member cannot learn which ids exist. Staff get null for an id that exists no
more.

`nodes(ids:)` reads each kind's rows in one statement (the objects of a kind then share
one batch, server/api/batch.py), however many ids it is given; each id it cannot answer
is null in the list, with its error at that index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, GraphQLSchema

from server.api import ids
from server.api.context import Info
from server.api.errors import ApiError, query
from server.api.gate import POLICY, gate
from server.api.ownership import OWNED
from server.core.auth import Role
from server.core.errors import DomainError, ErrorCode

MAX_NODES = 100  # ids per `nodes` call, as many as a page holds


@strawberry.interface(
    description="An object with a global id: `node(id:)` fetches it again, for whoever may "
    "read it by its own root field."
)
class Node:
    id: strawberry.ID = strawberry.field(
        description="Global id: a prefix naming the type and a number, e.g. `mbr_42`."
    )


# Each kind of id: the root field whose gate `node` follows (the field that fetches the
# object by id, or else the one that lists it), and how to read many of them at once.
GATES = {
    "member": "Query.member",
    "transaction": "Query.transaction",
    "entry": "Query.ledger",
    "event": "Query.transaction",  # an event is read through the transactions it caused
    "item": "Query.catalogItem",
    "redemption": "Query.redemptions",
    "lottery": "Query.lottery",
    "prize": "Query.lottery",
    "draw": "Query.draws",
    "adjustment": "Query.adjustmentRequests",
    "task": "Query.tasks",
    "submission": "Query.submissions",
    "level_request": "Mutation.levelRequestDecide",  # seen by those who decide them
    "endpoint": "Query.webhookEndpoints",
    "delivery": "Query.webhookDeliveries",
}


TYPES = {
    "member": "Member",
    "transaction": "Transaction",
    "entry": "LedgerEntry",
    "event": "Event",
    "item": "CatalogItem",
    "redemption": "Redemption",
    "lottery": "Lottery",
    "prize": "Prize",
    "draw": "Draw",
    "adjustment": "AdjustmentRequest",
    "task": "Task",
    "submission": "Submission",
    "level_request": "LevelRequest",
    "endpoint": "WebhookEndpoint",
    "delivery": "WebhookDelivery",
}


def _loaders() -> dict[str, Callable[[list[int]], dict[int, Any]]]:
    """Per kind: the objects of these numbers (those that exist), in one statement."""
    # Imported here: the areas' modules import `Node` from this one.
    from server.api.adjustments import AdjustmentRequest
    from server.api.batch import keyed
    from server.api.catalog import CatalogItem, Redemption
    from server.api.community import Submission, Task
    from server.api.events import Event
    from server.api.ledger import LedgerEntry, Transaction
    from server.api.levels import LevelRequest
    from server.api.lottery import Draw, Lottery, Prize
    from server.api.members import Member
    from server.api.webhooks import WebhookDelivery, WebhookEndpoint
    from server.core import entries, reads
    from server.store import models

    def rows(model, wrap):
        return lambda keys: keyed(reads.by_id(model, keys), lambda r, b: wrap(row=r, batch=b))

    def plain(read, wrap):
        return lambda keys: keyed(read(keys), lambda r, b: wrap(row=r, batch=b))

    return {
        "member": plain(reads.members, Member),
        "transaction": plain(entries.transactions, Transaction),
        "entry": plain(entries.entries, LedgerEntry),
        "event": rows(models.Event, Event),
        "item": rows(models.CatalogItem, CatalogItem),
        "redemption": rows(models.Redemption, Redemption),
        "lottery": rows(models.Lottery, Lottery),
        "prize": rows(models.LotteryPrize, Prize),
        "draw": rows(models.Draw, Draw),
        "adjustment": rows(models.AdjustmentRequest, AdjustmentRequest),
        "task": rows(models.Task, Task),
        "submission": rows(models.Submission, Submission),
        "level_request": rows(models.LevelRequest, LevelRequest),
        "endpoint": rows(models.WebhookEndpoint, WebhookEndpoint),
        "delivery": rows(models.WebhookDelivery, WebhookDelivery),
    }


_LOADERS: dict[str, Callable[[list[int]], dict[int, Any]]] = {}


def load(info: Info, values: list[str], field: str) -> list[Any]:
    """For each id, its object, None, or the error to show at its place."""
    principal = info.context.require_principal()
    if not _LOADERS:
        _LOADERS.update(_loaders())
    wanted: list[tuple[str, int] | GraphQLError] = []
    for n, value in enumerate(values):
        where = f"{field}[{n}]" if field == "ids" else field
        try:
            kind, number = ids.parse(value, where)
        except DomainError as exc:
            wanted.append(ApiError(exc.code, exc.message))
            continue
        if principal.role not in POLICY[GATES[kind]]:
            wanted.append(
                ApiError(
                    ErrorCode.FORBIDDEN,
                    f"the {principal.role.value} role may not read {kind} ids "
                    f"(as with {GATES[kind]})",
                )
            )
            continue
        wanted.append((kind, number))
    by_kind: dict[str, set[int]] = {}
    for item in wanted:
        if isinstance(item, tuple):
            by_kind.setdefault(item[0], set()).add(item[1])
    found = {kind: _LOADERS[kind](sorted(numbers)) for kind, numbers in by_kind.items()}
    member = principal.member_id if principal.role is Role.MEMBER else None
    out = []
    for item in wanted:
        if isinstance(item, tuple):
            kind, number = item
            item = _visible(kind, found[kind].get(number), member)
        out.append(item)
    return out


def _visible(kind: str, obj: Any, member: int | None) -> Any:
    """The object as its own root field answers a member token: its own, or refused."""
    if member is None:
        return obj
    ownership = OWNED.get(TYPES[kind])
    if ownership is None:  # public to whoever passes the gate
        return obj
    if obj is None or ownership.owner(obj) != member:
        return ApiError(
            ErrorCode.FORBIDDEN, "a member token can only read and act on its own member"
        )
    return obj


def without_type_checks(schema: GraphQLSchema) -> None:
    """Drop the `is_type_of` strawberry gives every type that implements an interface:
    graphql-core calls it for each object it completes, wherever the object is returned
    (a page of 100 entries: hundreds of calls), while `Node`'s own `resolve_type` already
    names each object's type. Objects then cost what they cost before `Node`."""
    for gql_type in schema.get_possible_types(schema.get_type("Node")):
        gql_type.is_type_of = None


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global id; null when none has it. Answers whoever "
        "may read the object by its own root field: a member token, its own objects only.",
        permission_classes=gate("Query.node"),
    )
    def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="A global id, e.g. `mbr_42`.")
        ],
    ) -> Node | None:
        (found,) = query(lambda: load(info, [id], "id"))
        if isinstance(found, GraphQLError):
            raise found
        return found

    @strawberry.field(
        description=f"Objects by their global ids, in the order given (at most {MAX_NODES}); "
        "null for each id that none has or the caller may not read, with an error at its "
        "place.",
        permission_classes=gate("Query.nodes"),
    )
    def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Global ids, e.g. `txn_7`.")
        ],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise ApiError(ErrorCode.INVALID_INPUT, f"ids: at most {MAX_NODES} at once")
        return query(lambda: load(info, list(ids), "ids"))
