"""Lotteries: published odds, draws, and the audit trail of every draw."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from server.api import ids
from server.api.batch import Batch, Batched, grouped, related
from server.api.catalog import CatalogItem, Redemption, item_of
from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.node import Node
from server.api.ownership import owned
from server.api.pagination import (
    After,
    Connection,
    First,
    paged,
)
from server.api.refs import MemberRef
from server.core import audit, idempotency, lists, lottery, reads
from server.store import models
from server.store.db import write_transaction


@strawberry.type(description="A prize that can be drawn.")
class Prize(Node, Batched):
    row: strawberry.Private[models.LotteryPrize]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `prz_3`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("prize", self.row.id))

    @strawberry.field(description="points, item or consolation.")
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field(description="What members see.")
    def label(self) -> str:
        return self.row.label

    @strawberry.field(description="Points won, for a points prize.")
    def points(self) -> int | None:
        return self.row.points

    @strawberry.field(description="The catalog item won, for an item prize.")
    def item(self) -> CatalogItem | None:
        return item_of(self.peers, self.row.item_id)

    @strawberry.field(description="Relative weight.")
    def weight(self) -> int:
        return self.row.weight

    @strawberry.field(description="Units left; null means unlimited.")
    def stock(self) -> int | None:
        return self.row.stock


@strawberry.type(description="The chance of one outcome of the next draw.")
class Odds:
    prize: Prize | None = strawberry.field(description="The prize; null for drawing nothing.")
    probability: float = strawberry.field(description="From 0 to 1.")


@strawberry.type(description="A lottery members spend points on.")
class Lottery(Node, Batched):
    row: strawberry.Private[models.Lottery]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `lot_2`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("lottery", self.row.id))

    @strawberry.field(description="Title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="Points per draw.")
    def cost(self) -> int:
        return self.row.cost

    @strawberry.field(description="Draws per member per day, if limited.")
    def daily_limit(self) -> int | None:
        return self.row.daily_limit

    @strawberry.field(description="Points prizes it may give in all, if limited.")
    def budget(self) -> int | None:
        return self.row.budget

    @strawberry.field(description="True if every draw wins something.")
    def guarantee_win(self) -> bool:
        return self.row.guarantee_win

    @strawberry.field(description="After this many draws without a real prize, the next is one.")
    def pity_count(self) -> int | None:
        return self.row.pity_count

    @strawberry.field(description="Opens at.")
    def available_from(self) -> datetime | None:
        return self.row.available_from

    @strawberry.field(description="Closes at.")
    def available_until(self) -> datetime | None:
        return self.row.available_until

    @strawberry.field(description="Its prizes.")
    def prizes(self) -> list[Prize]:
        found = self.peers.load(
            "prizes",
            lambda rows: grouped(
                reads.prizes_of(r.id for r in rows), lambda r, b: Prize(row=r, batch=b)
            ),
        )
        return found[self.row.id]

    @strawberry.field(
        description="The odds of the next draw, from the weights of what is "
        "left (a pity draw is limited to real prizes)."
    )
    def odds(self) -> list[Odds]:
        options = self.peers.load("odds", _odds)[self.row.id]
        chances = lottery.odds([chance for chance, _ in options])
        return [Odds(prize=prize, probability=chances[chance.key]) for chance, prize in options]


def _odds(rows: list) -> dict[int, list[tuple[lottery.Chance, Prize | None]]]:
    """What each lottery's next draw can give, its prizes sharing one batch."""
    found = reads.chances(rows)
    prizes = Batch(c.prize for options in found.values() for c in options if c.prize)
    return {
        lid: [(c, Prize(row=c.prize, batch=prizes) if c.prize else None) for c in options]
        for lid, options in found.items()
    }


@owned(lambda d: d.row.member_id)
@strawberry.type(description="One draw, with what an auditor needs to check it.")
class Draw(Node, Batched):
    row: strawberry.Private[models.Draw]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `drw_5`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("draw", self.row.id))

    @strawberry.field(description="Who drew.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="points, item, consolation or none.")
    def outcome(self) -> str:
        return self.row.outcome

    @strawberry.field(description="The prize won, if any.")
    def prize(self) -> Prize | None:
        if self.row.prize_id is None:
            return None
        return related(
            self.peers,
            "prize_id",
            lambda keys: reads.by_id(models.LotteryPrize, keys),
            lambda r, b: Prize(row=r, batch=b),
        ).get(self.row.prize_id)

    @strawberry.field(description="The uniform random value in [0, 1) the draw used.")
    def random_value(self) -> str:
        return self.row.random_value

    @strawberry.field(description="The odds in force, by prize id (`none` for no prize).")
    def odds(self) -> JSON:
        return self.row.odds

    @strawberry.field(description="True if the pity count forced a real prize.")
    def pity(self) -> bool:
        return self.row.pity

    @strawberry.field(description="The redemption to fulfil, for an item prize.")
    def redemption(self) -> Redemption | None:
        if self.row.redemption_id is None:
            return None
        return related(
            self.peers,
            "redemption_id",
            lambda keys: reads.by_id(models.Redemption, keys),
            lambda r, b: Redemption(row=r, batch=b),
        ).get(self.row.redemption_id)

    @strawberry.field(description="When.")
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.input(description="A prize of a new lottery.")
class PrizeInput:
    kind: str = strawberry.field(description="points, item or consolation.")
    label: str = strawberry.field(description="What members see.")
    weight: int = strawberry.field(description="Relative weight, 1 to 1,000,000.")
    points: int | None = strawberry.field(default=None, description="For a points prize.")
    item_id: strawberry.ID | None = strawberry.field(default=None, description="For an item.")
    stock: int | None = strawberry.field(default=None, description="Units; omit for unlimited.")


@strawberry.input(description="A new lottery.")
class LotteryCreateInput:
    title: str = strawberry.field(description="Title.")
    cost: int = strawberry.field(description="Points per draw.")
    prizes: list[PrizeInput] = strawberry.field(description="Its prizes.")
    daily_limit: int | None = strawberry.field(default=None, description="Draws per day.")
    budget: int | None = strawberry.field(default=None, description="Points prizes in all.")
    miss_weight: int = strawberry.field(default=0, description="Weight of drawing nothing.")
    guarantee_win: bool = strawberry.field(default=False, description="Every draw wins.")
    pity_count: int | None = strawberry.field(default=None, description="Pity count.")
    available_from: datetime | None = strawberry.field(default=None, description="Opens.")
    available_until: datetime | None = strawberry.field(default=None, description="Closes.")


@strawberry.type(description="Result of lotteryCreate or lotteryRetire.")
class LotteryPayload:
    lottery: Lottery | None = strawberry.field(default=None, description="The lottery.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.input(description="One draw.")
class LotteryDrawInput:
    lottery_id: strawberry.ID = strawberry.field(description="The lottery.")
    member_id: strawberry.ID = strawberry.field(description="Who draws.")
    idempotency_key: str = strawberry.field(description="Retries with this key draw once.")


@strawberry.type(description="Result of lotteryDraw.")
class LotteryDrawPayload:
    draw: Draw | None = strawberry.field(default=None, description="The draw.")
    replayed: bool = strawberry.field(default=False, description="True for a retried key.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was spent, if so."
    )


def _lottery_id(value: str, field: str = "lotteryId") -> int:
    return ids.decode("lottery", value, field)


@strawberry.type
class LotteryQuery:
    @strawberry.field(
        description="Lotteries, newest first.", permission_classes=gate("Query.lotteries")
    )
    def lotteries(self, first: First = None, after: After = None) -> Connection[Lottery]:
        def work():
            return paged(
                first,
                after,
                lambda cursor, limit: lists.lotteries(before=cursor, limit=limit),
                lambda r, b: Lottery(row=r, batch=b),
            )

        return query(work)

    @strawberry.field(description="One lottery.", permission_classes=gate("Query.lottery"))
    def lottery(
        self, id: Annotated[strawberry.ID, strawberry.argument(description="Its id.")]
    ) -> Lottery | None:
        def work():
            lid = _lottery_id(id, "id")
            row = reads.by_id(models.Lottery, [lid]).get(lid)
            return Lottery(row=row) if row is not None else None

        return query(work)

    @strawberry.field(
        description="Draws of a lottery, newest first, for audit.",
        permission_classes=gate("Query.draws"),
    )
    def draws(
        self,
        info: Info,
        lottery_id: Annotated[strawberry.ID, strawberry.argument(description="The lottery.")],
        member_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="One member.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Draw]:
        def work():
            lid, mid = _lottery_id(lottery_id), None
            if member_id is not None:
                mid = ids.decode("member", member_id, "memberId")
                info.context.check_member(mid)
            elif info.context.require_principal().member_id is not None:
                info.context.check_member(-1)  # a member sees only their own draws
            return paged(
                first,
                after,
                lambda cursor, limit: lists.draws(lid, mid, before=cursor, limit=limit),
                lambda r, b: Draw(row=r, batch=b),
            )

        return query(work)


@strawberry.type
class LotteryMutation:
    @strawberry.mutation(
        description="Create a lottery with its prizes.",
        permission_classes=gate("Mutation.lotteryCreate"),
    )
    def lottery_create(
        self,
        info: Info,
        input: Annotated[LotteryCreateInput, strawberry.argument(description="The lottery.")],
    ) -> LotteryPayload:
        def work():
            prizes = [
                lottery.PrizeInput(
                    kind=p.kind,
                    label=p.label,
                    weight=p.weight,
                    points=p.points,
                    item_id=ids.decode("item", p.item_id, f"prizes.{i}.itemId")
                    if p.item_id is not None
                    else None,
                    stock=p.stock,
                )
                for i, p in enumerate(input.prizes)
            ]
            data = lottery.LotteryInput(
                title=input.title,
                cost=input.cost,
                prizes=prizes,
                daily_limit=input.daily_limit,
                budget=input.budget,
                miss_weight=input.miss_weight,
                guarantee_win=input.guarantee_win,
                pity_count=input.pity_count,
                available_from=input.available_from,
                available_until=input.available_until,
            )
            with write_transaction():
                row = lottery.create(data, now=info.context.now)
                audit.record(
                    info.context.actor,
                    "lottery.create",
                    ids.encode("lottery", row.id),
                    {"title": row.title, "cost": row.cost, "prizes": len(prizes)},
                    now=info.context.now,
                )
            return LotteryPayload(lottery=Lottery(row=row))

        return mutation(LotteryPayload, work)

    @strawberry.mutation(
        description="Close a lottery for good.", permission_classes=gate("Mutation.lotteryRetire")
    )
    def lottery_retire(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The lottery.")],
    ) -> LotteryPayload:
        def work():
            with write_transaction():
                row = lottery.retire(_lottery_id(id, "id"), now=info.context.now)
                audit.record(info.context.actor, "lottery.retire", id, {}, now=info.context.now)
            return LotteryPayload(
                lottery=Lottery(row=reads.by_id(models.Lottery, [row.id])[row.id])
            )

        return mutation(LotteryPayload, work)

    @strawberry.mutation(
        description="Spend the cost and draw once: a cryptographically secure "
        "draw over the prizes left.",
        permission_classes=gate("Mutation.lotteryDraw"),
    )
    def lottery_draw(
        self,
        info: Info,
        input: Annotated[LotteryDrawInput, strawberry.argument(description="The draw.")],
    ) -> LotteryDrawPayload:
        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            ctx.check_member(mid)
            lid = _lottery_id(input.lottery_id)
            outcome = idempotency.run_once(
                ctx.scope,
                input.idempotency_key,
                "lotteryDraw",
                {"memberId": mid, "lotteryId": lid},
                ctx.now,
                lambda: lottery.draw(lid, mid, now=ctx.now, settings=ctx.settings, rng=ctx.rng).id,
            )
            return LotteryDrawPayload(
                draw=Draw(row=reads.by_id(models.Draw, [outcome.result_id])[outcome.result_id]),
                replayed=outcome.replayed,
            )

        return mutation(LotteryDrawPayload, work)
