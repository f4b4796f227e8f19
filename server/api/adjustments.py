"""Adjustments by hand: an operator awards or deducts points with a reason; above the
program's threshold the adjustment waits for a second operator (server/core/adjustments.py;
the second operator decides in server/api/community.py, `adjustmentReview`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from server.api import ids
from server.api.batch import Batch, Batched
from server.api.context import Info
from server.api.errors import UserError, mutation
from server.api.gate import gate
from server.api.ledger import Transaction, transaction_by_id, transaction_of
from server.api.node import Node
from server.api.ownership import owned
from server.api.refs import MemberRef
from server.core import adjustments, idempotency, reads
from server.store import models


@strawberry.input(description="Award (positive) or deduct (negative) points by hand.")
class PointsAdjustInput:
    member_id: strawberry.ID = strawberry.field(description="The member.")
    points: int = strawberry.field(description="Non-zero; a deduction never overdraws.")
    reason: str = strawberry.field(description="Why, up to 500 characters; kept in the ledger.")
    idempotency_key: str = strawberry.field(description="Retries with this key do it once.")


@owned(lambda r: r.row.member_id)
@strawberry.type(description="An adjustment above the threshold, waiting for a second operator.")
class AdjustmentRequest(Node, Batched):
    row: strawberry.Private[models.AdjustmentRequest]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `adj_3`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("adjustment", self.row.id))

    @strawberry.field(description="The member.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="Points asked for (negative to deduct).")
    def points(self) -> int:
        return self.row.points

    @strawberry.field(description="Why.")
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(description="Who asked.")
    def requested_by(self) -> str:
        return self.row.requested_by

    @strawberry.field(description="When.")
    def requested_at(self) -> datetime:
        return self.row.requested_at

    @strawberry.field(description="pending, approved or rejected.")
    def status(self) -> str:
        return self.row.status

    @strawberry.field(description="The second operator.")
    def decided_by(self) -> str | None:
        return self.row.decided_by

    @strawberry.field(description="The adjustment made, once approved.")
    def transaction(self) -> Transaction | None:
        return transaction_of(self.peers, self.row.txn_id)


@strawberry.type(description="Result of pointsAdjust.")
class PointsAdjustPayload:
    transaction: Transaction | None = strawberry.field(default=None, description="The posting.")
    request: AdjustmentRequest | None = strawberry.field(
        default=None, description="Set instead when a second operator must approve it."
    )
    member: MemberRef | None = strawberry.field(default=None, description="The member after.")
    replayed: bool = strawberry.field(
        default=False, description="True when this key was already used: nothing new happened."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type
class AdjustmentMutation:
    @strawberry.mutation(
        description="Award or deduct points by hand, with a reason.",
        permission_classes=gate("Mutation.pointsAdjust"),
    )
    def points_adjust(
        self,
        info: Info,
        input: Annotated[
            PointsAdjustInput, strawberry.argument(description="Who, how many and why.")
        ],
    ) -> PointsAdjustPayload:
        from server.api.members import member_by_id

        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            args = {"memberId": mid, "points": input.points, "reason": input.reason}

            def work_once() -> int:
                done = adjustments.adjust_or_request(
                    mid,
                    input.points,
                    input.reason,
                    actor=ctx.actor,
                    now=ctx.now,
                    settings=ctx.settings,
                )
                # One id column for both outcomes: requests are stored negated.
                return -done.id if isinstance(done, models.AdjustmentRequest) else done.id

            outcome = idempotency.run_once(
                ctx.scope, input.idempotency_key, "pointsAdjust", args, ctx.now, work_once
            )
            if outcome.result_id < 0:
                rid = -outcome.result_id
                request = reads.by_id(models.AdjustmentRequest, [rid])[rid]
                return PointsAdjustPayload(
                    request=AdjustmentRequest(row=request),
                    member=member_by_id(mid),
                    replayed=outcome.replayed,
                )
            return PointsAdjustPayload(
                transaction=transaction_by_id(outcome.result_id),
                member=member_by_id(mid),
                replayed=outcome.replayed,
            )

        return mutation(PointsAdjustPayload, work)
