"""Subscriptions over WebSocket (graphql-transport-ws): points as they move, community life."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from server.api import ids
from server.api.context import Context, Info
from server.api.errors import query
from server.api.gate import POLICY, gate
from server.api.ownership import owned
from server.core import accounts, notify
from server.store.db import database

if TYPE_CHECKING:
    from server.api.levels import LevelNotice

LevelNoticeRef = Annotated["LevelNotice", strawberry.lazy("server.api.levels")]


@owned(lambda p: p.owner)
@strawberry.type(description="A member's points just moved.")
class PointsChange:
    owner: strawberry.Private[int]
    member_id: strawberry.ID = strawberry.field(description="Whose points.")
    transaction_id: strawberry.ID = strawberry.field(description="The transaction.")
    kind: str = strawberry.field(description="award, redemption, adjustment, ...")
    delta: int = strawberry.field(description="Change of the available balance.")
    pending_delta: int = strawberry.field(description="Change of the pending balance.")
    available: int = strawberry.field(description="Available balance now.")
    pending: int = strawberry.field(description="Pending balance now.")
    held: int = strawberry.field(description="Held balance now.")
    reason: str = strawberry.field(description="The rule, the reason given, or the kind.")
    campaign: str | None = strawberry.field(description="The campaign, for awards.")
    at: datetime = strawberry.field(description="When.")


@strawberry.type(
    description="Something that just happened in a community. Public: it names the member "
    "by display name only."
)
class ActivityItem:
    kind: str = strawberry.field(
        description="streak, redemption, lottery, leaderboard, task, levelChanged."
    )
    community: str | None = strawberry.field(description="Where, if anywhere in particular.")
    member_name: str = strawberry.field(description="Who, as shown to others.")
    text: str = strawberry.field(description="One line to show.")
    at: datetime = strawberry.field(description="When.")


def _with_balances(change: dict) -> dict:
    """A notice with the balances of the wallets its transaction did not move, read now."""
    with database.connection_context():
        now = accounts.balances(change["memberId"])
    filled = dict(change)
    for kind in ("available", "pending", "held"):
        if filled[kind] is None:
            filled[kind] = now.get(accounts.AccountKind(kind), 0)
    return filled


def _points(p: dict) -> PointsChange:
    return PointsChange(
        owner=p["memberId"],
        member_id=strawberry.ID(ids.encode("member", p["memberId"])),
        transaction_id=strawberry.ID(ids.encode("transaction", p["transactionId"])),
        kind=p["kind"],
        delta=p["delta"],
        pending_delta=p["pendingDelta"],
        available=p["available"],
        pending=p["pending"],
        held=p["held"],
        reason=p["reason"],
        campaign=p.get("campaign"),
        at=datetime.fromisoformat(p["at"]),
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every change of one member's points, as it commits.",
        permission_classes=gate("Subscription.pointsChanged"),
    )
    async def points_changed(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
    ) -> AsyncGenerator[PointsChange, None]:
        mid = query(lambda: ids.decode("member", member_id, "memberId"))
        info.context.check_member(mid)
        async with notify.broker.subscription(notify.points_topic(mid)) as queue:
            while True:
                change = await queue.get()
                if None in (change["available"], change["pending"], change["held"]):
                    change = await run_in_threadpool(_with_balances, change)
                yield _points(change)

    @strawberry.subscription(
        description="What happens in a community (or everywhere): "
        "streaks, redemptions, lottery wins, leaderboard winners, tasks.",
        permission_classes=gate("Subscription.activity"),
    )
    async def activity(
        self,
        info: Info,
        community: Annotated[
            str | None, strawberry.argument(description="One community; default all.")
        ] = None,
    ) -> AsyncGenerator[ActivityItem, None]:
        async with notify.broker.subscription(notify.activity_topic(community)) as queue:
            while True:
                item = await queue.get()
                yield ActivityItem(
                    kind=item["kind"],
                    community=item.get("community"),
                    member_name=item["memberName"],
                    text=item["text"],
                    at=datetime.fromisoformat(item["at"]),
                )

    @strawberry.subscription(
        description="Every change of one member's level, as it commits (the activity feed "
        "tells everyone of a member reaching a higher level, as `levelChanged`).",
        permission_classes=gate("Subscription.levelChanged"),
    )
    async def level_changed(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
    ) -> AsyncGenerator[LevelNoticeRef, None]:
        from server.api.levels import notice
        from server.core.levels_notice import level_topic

        mid = query(lambda: ids.decode("member", member_id, "memberId"))
        info.context.check_member(mid)
        async with notify.broker.subscription(level_topic(mid)) as queue:
            while True:
                yield notice(await queue.get())


UNAUTHORIZED = 4401  # graphql-transport-ws: no valid credentials
FORBIDDEN = 4403  # graphql-transport-ws: valid credentials that may not do this


class Refusal(ConnectionRejectionError):
    """A refused connection_init: the close code and the reason the client is told."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__({"reason": reason})
        self.code, self.reason = code, reason


def refusal(context: Context) -> Refusal | None:
    """Why this connection_init may not open a subscription connection, if it may not."""
    principal = context.principal
    if principal is None:
        why = context._auth_error or 'send {"authorization": "Bearer <key>"} in connection_init'
        # A close reason is at most 123 bytes (RFC 6455).
        return Refusal(UNAUTHORIZED, f"Unauthorized: {why}"[:120])
    if not any(
        principal.role in roles for op, roles in POLICY.items() if op.startswith("Subscription.")
    ):
        return Refusal(FORBIDDEN, f"Forbidden: the {principal.role.value} role may not subscribe")
    return None


class TransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws, closing a refused connection_init with the refusal's own code
    and reason; strawberry alone closes every refusal with 4403 "Forbidden"."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.websocket = _RefusingSocket(self.websocket, self.context)


class _RefusingSocket:
    def __init__(self, socket, context: Context) -> None:
        self._socket, self._context = socket, context

    def __getattr__(self, name: str):
        return getattr(self._socket, name)

    async def close(self, code: int, reason: str) -> None:
        # on_ws_connect leaves its Refusal on the connection's state before raising it.
        given = getattr(self._context.request.state, "refusal", None)
        if code == FORBIDDEN and isinstance(given, Refusal):
            code, reason = given.code, given.reason
        await self._socket.close(code, reason)
