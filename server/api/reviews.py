"""Awards after review: the review queue and the reviewer's decision."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from server.api import ids
from server.api.batch import Batch, Batched
from server.api.context import Info
from server.api.enums import Decision
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.ownership import owned
from server.api.pagination import After, Connection, First, paged
from server.api.refs import MemberRef, TransactionRef
from server.core import awards, lists
from server.store import models
from server.store.db import write_transaction


@strawberry.enum(description="Where an award after review stands.")
class ReviewStatus(Enum):
    PENDING = strawberry.enum_value(
        "pending", description="Waiting for a reviewer; the points are pending."
    )
    APPROVED = strawberry.enum_value(
        "approved", description="Approved: the points became available."
    )
    REJECTED = strawberry.enum_value(
        "rejected", description="Rejected: the pending points were taken back."
    )
    REVOKED = strawberry.enum_value(
        "revoked", description="Taken back before review, because the invitee left."
    )


@owned(lambda r: r.row.member_id)
@strawberry.type(description="An award waiting for (or past) review.")
class Review(Batched):
    row: strawberry.Private[models.Review]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="The award's transaction id; pass it to awardReview.")
    def transaction_id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("transaction", self.row.txn_id))

    @strawberry.field(description="The award.")
    def transaction(self) -> TransactionRef:
        from server.api.ledger import transaction_of

        return transaction_of(self.peers, self.row.txn_id)

    @strawberry.field(description="Who would get the points.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="The campaign.")
    def campaign(self) -> str:
        return self.row.campaign

    @strawberry.field(description="Points at stake.")
    def points(self) -> int:
        return self.row.points

    @strawberry.field(description="Where it stands.")
    def status(self) -> ReviewStatus:
        return ReviewStatus(self.row.status)

    @strawberry.field(description="When the award was made.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When it was decided.")
    def decided_at(self) -> datetime | None:
        return self.row.decided_at

    @strawberry.field(description="Who decided.")
    def reviewer(self) -> str | None:
        return self.row.reviewer

    @strawberry.field(description="The reviewer's note.")
    def note(self) -> str | None:
        return self.row.note


@strawberry.input(description="Approve or reject an award after review.")
class AwardReviewInput:
    transaction_id: strawberry.ID = strawberry.field(description="The award's transaction.")
    decision: Decision = strawberry.field(description="Approve or reject.")
    note: str | None = strawberry.field(default=None, description="Why, up to 500 characters.")


@strawberry.type(description="Result of awardReview.")
class AwardReviewPayload:
    review: Review | None = strawberry.field(default=None, description="The decided review.")
    replayed: bool = strawberry.field(
        default=False,
        description="True when the award already had this decision: nothing new happened.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type
class ReviewQuery:
    @strawberry.field(
        description="Awards waiting for review, oldest first.",
        permission_classes=gate("Query.reviewQueue"),
    )
    def review_queue(
        self,
        first: First = None,
        after: After = None,
        campaign: Annotated[str | None, strawberry.argument(description="One campaign.")] = None,
        status: Annotated[
            ReviewStatus, strawberry.argument(description="Which reviews.")
        ] = ReviewStatus.PENDING,
    ) -> Connection[Review]:
        def work():
            return paged(
                first,
                after,
                lambda cursor, limit: lists.reviews(
                    status=status.value, campaign=campaign, after=cursor, limit=limit
                ),
                lambda r, b: Review(row=r, batch=b),
                key=lambda r: r.txn_id,
            )

        return query(work)


@strawberry.type
class ReviewMutation:
    @strawberry.mutation(
        description="Approve an award after review (its points become "
        "spendable) or reject it (they vanish).",
        permission_classes=gate("Mutation.awardReview"),
    )
    def award_review(
        self,
        info: Info,
        input: Annotated[AwardReviewInput, strawberry.argument(description="The decision.")],
    ) -> AwardReviewPayload:
        ctx = info.context

        def work():
            tid = ids.decode("transaction", input.transaction_id, "transactionId")
            with write_transaction():
                review, replayed = awards.decide(
                    tid,
                    input.decision is Decision.APPROVE,
                    reviewer=ctx.actor,
                    note=input.note,
                    now=ctx.now,
                    settings=ctx.settings,
                )
            return AwardReviewPayload(review=Review(row=review), replayed=replayed)

        return mutation(AwardReviewPayload, work)
