"""What a member has beside their wallets: their stints in communities, and their points
that expire soon (fields of `Member`, server/api/members.py)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from server.api.batch import Batch, Batched
from server.api.ownership import owned
from server.store import models


@owned(lambda m: m.row.member_id)
@strawberry.type(description="A member's stint in one community.")
class Membership(Batched):
    row: strawberry.Private[models.Membership]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="The community's key.")
    def community(self) -> str:
        return self.row.community

    @strawberry.field(description="When the current stint began.")
    def joined_at(self) -> datetime:
        return self.row.joined_at

    @strawberry.field(description="When the member first joined this community.")
    def first_joined_at(self) -> datetime:
        return self.row.first_joined_at

    @strawberry.field(description="When the member left; null while they are in.")
    def left_at(self) -> datetime | None:
        return self.row.left_at

    @strawberry.field(description="The externalId of who invited them here, if anyone.")
    def invited_by_external_id(self) -> str | None:
        if self.row.invited_by_id is None:
            return None
        inviter = getattr(self.row, "inviter", None)  # read with it (reads.memberships)
        if inviter is not None:
            return inviter
        from server.api.members import member_of

        return member_of(self.peers, self.row.invited_by_id, "invited_by_id").row.external_id


@strawberry.type(description="Points that expire at one moment.")
class ExpiringBatch:
    expires_at: datetime = strawberry.field(description="When they expire.")
    points: int = strawberry.field(description="How many.")


@owned(lambda e: e.member_id)
@strawberry.type(description="A member's points that expire soon.")
class ExpiringPoints:
    member_id: strawberry.Private[int]
    total: int = strawberry.field(description="All of them.")
    batches: list[ExpiringBatch] = strawberry.field(description="By expiry time.")
