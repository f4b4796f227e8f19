"""Subscriptions over WebSocket (graphql-transport-ws): points as they move, community life."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool

from server.api import ids
from server.api.context import Info
from server.api.errors import query
from server.api.gate import gate
from server.api.ownership import owned
from server.core import accounts, notify
from server.store.db import database


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
    kind: str = strawberry.field(description="streak, redemption, lottery, leaderboard, task.")
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
