"""Member levels over GraphQL: a member's level and its history, the ladder with how many
members hold each level, and an operator's level (memberLevelSet)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from server.api import ids
from server.api.batch import Batch, Batched
from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.members import Member, member_by_id
from server.api.node import Node
from server.api.ownership import owned
from server.api.pagination import Connection, paged
from server.core import level_set, levels
from server.core.levels_history import history_page
from server.store import models


@owned(lambda s: s.owner)
@strawberry.type(description="The level a member holds now, and how far the next one is.")
class LevelStanding:
    owner: strawberry.Private[int]
    key: str | None = strawberry.field(description="The level's key; null below the first.")
    name: str | None = strawberry.field(description="The level's name (its key, as written).")
    multiply: Decimal | None = strawberry.field(
        description="What the level multiplies the member's campaign awards by, if anything."
    )
    since: datetime | None = strawberry.field(description="Held since.")
    until: datetime | None = strawberry.field(
        description="Kept until then, though the figure falls short (a grace period), or "
        "held until then as an operator set it; null otherwise."
    )
    qualifying_figure: int = strawberry.field(
        description="The figure the ladder qualifies by (points earned, check-ins, the sum "
        "of an attribute), over its window, now."
    )
    next_level: str | None = strawberry.field(description="The next level up, if any.")
    to_next: int | None = strawberry.field(
        description="How much more of the figure the next level needs; null at the top."
    )


def standing_of(member_id: int, now: datetime) -> LevelStanding | None:
    found = levels.standing(member_id, now)
    if found is None:
        return None
    step = found.step
    return LevelStanding(
        owner=member_id,
        key=step.key if step else None,
        name=step.key if step else None,
        multiply=step.multiply if step else None,
        since=found.since,
        until=found.until,
        qualifying_figure=found.figure,
        next_level=found.next.key if found.next else None,
        to_next=found.to_next,
    )


@owned(lambda c: c.row.member_id)
@strawberry.type(description="One change of a member's level.")
class LevelChange(Batched):
    row: strawberry.Private[models.LevelHistory]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="The level before; null below the first.")
    def from_level(self) -> str | None:
        return self.row.from_level

    @strawberry.field(description="The level after; null below the first.")
    def to_level(self) -> str | None:
        return self.row.to_level

    @strawberry.field(description="When.")
    def at(self) -> datetime:
        return self.row.at

    @strawberry.field(
        description="Why: qualified, fell-short, grace-ended, manual (an operator's "
        "level) or ladder-changed."
    )
    def cause(self) -> str:
        return self.row.cause

    @strawberry.field(description="The operator's reason, for a level set by hand.")
    def reason(self) -> str | None:
        return self.row.reason


def level_history(member_id: int, first: int | None, after: str | None) -> Connection[LevelChange]:
    return paged(
        first,
        after,
        lambda before, limit: history_page(member_id, before, limit),
        lambda r, b: LevelChange(row=r, batch=b),
    )


@strawberry.type(description="One rung of the ladder.")
class LadderStep:
    key: str = strawberry.field(description="The level's key.")
    at: int = strawberry.field(description="The qualifying figure that earns it.")
    multiply: Decimal | None = strawberry.field(
        description="What it multiplies campaign awards by, if anything."
    )
    members: int = strawberry.field(description="How many members hold it now.")


@strawberry.type(description="The program's levels, as its rules' `levels` block sets them.")
class Ladder:
    name: str = strawberry.field(description="The block's name.")
    qualify_by: str = strawberry.field(
        description="The figure: `points earned`, `checkins`, `amount of order`..."
    )
    window: str = strawberry.field(description="`last N days` or `calendar year`.")
    keep_days: int | None = strawberry.field(
        description="Days a level is kept after falling short; null: lost at once."
    )
    one_level_at_a_time: bool = strawberry.field(description="Whether members drop one level.")
    steps: list[LadderStep] = strawberry.field(description="Lowest first, with member counts.")
    members_without_level: int = strawberry.field(
        description="Members below the first level (who ever had their level evaluated)."
    )


@owned(lambda r: r.row.member_id)
@strawberry.type(description="An operator's level waiting for a second operator.")
class LevelRequest(Node, Batched):
    row: strawberry.Private[models.LevelRequest]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `lvr_3`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("level_request", self.row.id))

    @strawberry.field(description="The level asked for (null: take an operator's level away).")
    def level(self) -> str | None:
        return self.row.level

    @strawberry.field(description="Until when.")
    def until(self) -> datetime:
        return self.row.until

    @strawberry.field(description="Why.")
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(description="Who asked.")
    def requested_by(self) -> str:
        return self.row.requested_by

    @strawberry.field(description="pending, approved or rejected.")
    def status(self) -> str:
        return self.row.status


@strawberry.type
class LevelQuery:
    @strawberry.field(
        description="The ladder of levels with how many members hold each; null when the "
        "rules have no `levels` block.",
        permission_classes=gate("Query.levels"),
    )
    def levels(self, info: Info) -> Ladder | None:
        def work():
            ladder = levels.ladder()
            if ladder is None:
                return None
            counts = levels.counts()
            return Ladder(
                name=ladder.name,
                qualify_by=ladder.figure,
                window=ladder.window,
                keep_days=ladder.keep_days,
                one_level_at_a_time=ladder.one_at_a_time,
                steps=[
                    LadderStep(
                        key=s.key, at=s.at, multiply=s.multiply, members=counts.get(s.key, 0)
                    )
                    for s in ladder.steps
                ],
                members_without_level=levels.without_level(),
            )

        return query(work)


@strawberry.input(description="An operator's level for a member: a floor until a date.")
class MemberLevelSetInput:
    member_id: strawberry.ID = strawberry.field(description="The member.")
    level: str | None = strawberry.field(
        description="A level of the ladder; null takes an operator's level away."
    )
    until: datetime = strawberry.field(description="Held at least until then.")
    reason: str = strawberry.field(description="Why, up to 500 characters; kept in the audit log.")


@strawberry.type(description="What memberLevelSet did: the level now, or the request filed.")
class MemberLevelSetPayload:
    member: Member | None = strawberry.field(default=None, description="The member.")
    level: LevelStanding | None = strawberry.field(default=None, description="Their level now.")
    request: LevelRequest | None = strawberry.field(
        default=None, description="When a second operator must approve: the request."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="NO_LEVELS, UNKNOWN_LEVEL, INVALID_INPUT, MEMBER_NOT_FOUND...",
    )


@strawberry.input(description="A second operator's decision on a level request.")
class LevelRequestDecideInput:
    level_request_id: strawberry.ID = strawberry.field(description="The request (`lvr_…`).")
    approve: bool = strawberry.field(description="True to approve, false to reject.")


@strawberry.type(description="What levelRequestDecide did.")
class LevelRequestDecidePayload:
    request: LevelRequest | None = strawberry.field(default=None, description="The request.")
    replayed: bool = strawberry.field(default=False, description="The same decision again.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="LEVEL_REQUEST_NOT_FOUND, SAME_OPERATOR, ALREADY_REVIEWED...",
    )


@strawberry.type
class LevelMutation:
    @strawberry.mutation(
        description="Give a member a level until a date (a floor: a higher level the "
        "figure earns still shows), with a reason kept in the audit log.",
        permission_classes=gate("Mutation.memberLevelSet"),
    )
    def member_level_set(
        self,
        info: Info,
        input: Annotated[MemberLevelSetInput, strawberry.argument(description="Who and why.")],
    ) -> MemberLevelSetPayload:
        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            _, request = level_set.set_or_request(
                mid, input.level, input.until, input.reason, actor=ctx.actor, now=ctx.now
            )
            return MemberLevelSetPayload(
                member=member_by_id(mid),
                level=standing_of(mid, ctx.now),
                request=LevelRequest(row=request) if request is not None else None,
            )

        return mutation(MemberLevelSetPayload, work)

    @strawberry.mutation(
        description="Approve or reject an operator's level (the second operator).",
        permission_classes=gate("Mutation.levelRequestDecide"),
    )
    def level_request_decide(
        self,
        info: Info,
        input: Annotated[LevelRequestDecideInput, strawberry.argument(description="Decision.")],
    ) -> LevelRequestDecidePayload:
        ctx = info.context

        def work():
            rid = ids.decode("level_request", input.level_request_id, "levelRequestId")
            request, replayed = level_set.decide(rid, input.approve, actor=ctx.actor, now=ctx.now)
            return LevelRequestDecidePayload(request=LevelRequest(row=request), replayed=replayed)

        return mutation(LevelRequestDecidePayload, work)


@owned(lambda n: n.owner)
@strawberry.type(description="A member's level just changed.")
class LevelNotice:
    owner: strawberry.Private[int]
    member_id: strawberry.ID = strawberry.field(description="Whose level.")
    from_level: str | None = strawberry.field(description="Before; null below the first.")
    to_level: str | None = strawberry.field(description="After; null below the first.")
    cause: str = strawberry.field(description="qualified, fell-short, grace-ended, manual...")
    at: datetime = strawberry.field(description="When.")


def notice(p: dict) -> LevelNotice:
    return LevelNotice(
        owner=p["memberId"],
        member_id=strawberry.ID(ids.encode("member", p["memberId"])),
        from_level=p["from"],
        to_level=p["to"],
        cause=p["cause"],
        at=datetime.fromisoformat(p["at"]),
    )
