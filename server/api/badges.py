"""Badges as clients see them: a member's badges, every badge with its holders, and how
an operator describes one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.ownership import owned
from server.api.refs import EventRef
from server.core import audit, badges
from server.store import models


@strawberry.type(description="A badge of the program and how many members hold it.")
class Badge:
    key: str = strawberry.field(description="The badge's key, as rules name it.")
    name: str = strawberry.field(description="What members see (the key until described).")
    description: str | None = strawberry.field(default=None, description="What it is for.")
    image_url: str | None = strawberry.field(default=None, description="Its picture.")
    holders: int = strawberry.field(default=0, description="Members who hold it.")

    @classmethod
    def of(cls, b: badges.Listed) -> Badge:
        return cls(
            key=b.key,
            name=b.name,
            description=b.description,
            image_url=b.image_url,
            holders=b.holders,
        )


@owned(lambda b: b.member_id)
@strawberry.type(description="A badge a member earned (once, ever).")
class MemberBadge:
    member_id: strawberry.Private[int]
    event_id: strawberry.Private[int | None]
    key: str = strawberry.field(description="The badge's key.")
    name: str = strawberry.field(description="What members see.")
    description: str | None = strawberry.field(default=None, description="What it is for.")
    image_url: str | None = strawberry.field(default=None, description="Its picture.")
    earned_at: datetime = strawberry.field(default=None, description="When it was earned.")
    campaign: str | None = strawberry.field(
        default=None, description="The campaign whose rule gave it."
    )

    @strawberry.field(description="The event that earned it.")
    def event(self) -> EventRef | None:
        from server.api.events import Event

        if self.event_id is None:
            return None
        row = models.Event.get_or_none(models.Event.id == self.event_id)
        return Event(row=row) if row is not None else None


def member_badges(member_id: int) -> list[MemberBadge]:
    """A member's badges, earliest first (Member.badges)."""
    return [
        MemberBadge(
            member_id=member_id,
            event_id=h.event_id,
            key=h.key,
            name=h.name,
            description=h.description,
            image_url=h.image_url,
            earned_at=h.earned_at,
            campaign=h.campaign,
        )
        for h in badges.of_member(member_id)
    ]


@strawberry.input(description="How a badge is shown.")
class BadgeDescribeInput:
    key: str = strawberry.field(description="The badge's key, as rules name it.")
    name: str | None = strawberry.field(default=None, description="What members see.")
    description: str | None = strawberry.field(default=None, description="What it is for.")
    image_url: str | None = strawberry.field(
        default=None, description="An http(s) address of its picture."
    )


@strawberry.type(description="Result of badgeDescribe.")
class BadgeDescribePayload:
    badge: Badge | None = strawberry.field(default=None, description="The badge as shown now.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type
class BadgeQuery:
    @strawberry.field(
        description="Every badge the program knows (described, given by a rule, or held), "
        "by key, with how many members hold it.",
        permission_classes=gate("Query.badges"),
    )
    def badges(self) -> list[Badge]:
        return query(lambda: [Badge.of(b) for b in badges.listing()])


@strawberry.type
class BadgeMutation:
    @strawberry.mutation(
        description="Set how a badge is shown: name, description, image. Rules publishing "
        "a `badge` description later show theirs instead.",
        permission_classes=gate("Mutation.badgeDescribe"),
    )
    def badge_describe(
        self,
        info: Info,
        input: Annotated[BadgeDescribeInput, strawberry.argument(description="The badge.")],
    ) -> BadgeDescribePayload:
        ctx = info.context

        def work():
            row = badges.describe(
                input.key,
                name=input.name,
                description=input.description,
                image_url=input.image_url,
                actor=ctx.actor,
                now=ctx.now,
            )
            audit.record(
                ctx.actor,
                "badge.describe",
                row.key,
                {"name": row.name, "description": row.description, "imageUrl": row.image_url},
                now=ctx.now,
            )
            listed = next(b for b in badges.listing() if b.key == row.key)
            return BadgeDescribePayload(badge=Badge.of(listed))

        return mutation(BadgeDescribePayload, work)


__all__ = ["BadgeMutation", "BadgeQuery", "member_badges"]
