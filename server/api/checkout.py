"""Points + cash at checkout: quote, hold, capture, void, refund."""

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
from server.api.ownership import owned
from server.api.refs import MemberRef
from server.core import checkout, lists
from server.store import models
from server.store.db import write_transaction


@owned(lambda q: q.member_id)
@strawberry.type(description="How many points may pay for an order, and what they are worth.")
class CheckoutQuote:
    member_id: strawberry.Private[int]
    available_points: int = strawberry.field(description="The member's spendable points.")
    max_points: int = strawberry.field(description="The most points this order accepts.")
    max_value: Decimal = strawberry.field(description="What those points are worth.")
    currency: str = strawberry.field(description="Currency of the value.")
    rate_points: int = strawberry.field(description="Points in the program's redeem rate.")
    rate_amount: Decimal = strawberry.field(description="...are worth this much.")


@owned(lambda c: c.row.member_id)
@strawberry.type(description="Points held, captured or released for one order.")
class Checkout(Batched):
    row: strawberry.Private[models.Checkout]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="The shop's order id.")
    def order_id(self) -> str:
        return self.row.order_id

    @strawberry.field(description="Whose points.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="Points held or spent.")
    def points(self) -> int:
        return self.row.points

    @strawberry.field(description="The order's amount.")
    def order_amount(self) -> Decimal:
        return Decimal(self.row.order_amount)

    @strawberry.field(description="The order's currency.")
    def currency(self) -> str:
        return self.row.currency

    @strawberry.field(description="held, captured, voided or expired.")
    def status(self) -> str:
        return self.row.status

    @strawberry.field(description="Points returned by refunds so far.")
    def refunded_points(self) -> int:
        return self.row.refunded_points

    @strawberry.field(description="Money refunded so far.")
    def refunded_amount(self) -> Decimal:
        return Decimal(self.row.refunded_amount)

    @strawberry.field(description="When an uncaptured hold is released.")
    def expires_at(self) -> datetime:
        return self.row.expires_at


@strawberry.input(description="Reserve points for an order.")
class CheckoutHoldInput:
    order_id: str = strawberry.field(description="The shop's order id; retries are harmless.")
    member_id: strawberry.ID = strawberry.field(description="Whose points.")
    points: int = strawberry.field(description="How many, at most checkoutQuote's maxPoints.")
    order_amount: Decimal = strawberry.field(description="The order's amount.")
    currency: str = strawberry.field(description="The order's currency.")


@strawberry.input(description="Refund (part of) a captured order.")
class CheckoutRefundInput:
    order_id: str = strawberry.field(description="The order.")
    refund_id: str = strawberry.field(description="The shop's refund id; retries are harmless.")
    amount: Decimal = strawberry.field(description="Money refunded by this refund.")


@strawberry.type(description="Result of a checkout step.")
class CheckoutPayload:
    checkout: Checkout | None = strawberry.field(default=None, description="The checkout.")
    replayed: bool = strawberry.field(default=False, description="True for a retry.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type(description="Result of checkoutRefund.")
class CheckoutRefundPayload:
    checkout: Checkout | None = strawberry.field(default=None, description="The checkout.")
    points_returned: int = strawberry.field(default=0, description="Points this refund returned.")
    replayed: bool = strawberry.field(default=False, description="True for a retry.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


OrderId = Annotated[str, strawberry.argument(description="The shop's order id.")]


@strawberry.type
class CheckoutQuery:
    @strawberry.field(
        description="How many points this member may use on this order.",
        permission_classes=gate("Query.checkoutQuote"),
    )
    def checkout_quote(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        order_amount: Annotated[Decimal, strawberry.argument(description="Order amount.")],
        currency: Annotated[str, strawberry.argument(description="Order currency.")],
    ) -> CheckoutQuote:
        def work():
            mid = ids.decode("member", member_id, "memberId")
            info.context.check_member(mid)
            q = checkout.quote(mid, order_amount, currency, info.context.settings)
            return CheckoutQuote(
                member_id=mid,
                available_points=q.available,
                max_points=q.max_points,
                max_value=q.max_value,
                currency=q.currency,
                rate_points=q.rate.points,
                rate_amount=q.rate.amount,
            )

        return query(work)

    @strawberry.field(
        description="One checkout by order id.", permission_classes=gate("Query.checkout")
    )
    def checkout(self, order_id: OrderId) -> Checkout | None:
        row = lists.checkout(order_id)
        return Checkout(row=row) if row is not None else None


@strawberry.type
class CheckoutMutation:
    @strawberry.mutation(
        description="Reserve points for an order; they cannot be spent twice while held.",
        permission_classes=gate("Mutation.checkoutHold"),
    )
    def checkout_hold(
        self,
        info: Info,
        input: Annotated[CheckoutHoldInput, strawberry.argument(description="The hold.")],
    ) -> CheckoutPayload:
        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            ctx.check_member(mid)
            with write_transaction():
                row, replayed = checkout.hold(
                    input.order_id,
                    mid,
                    input.points,
                    input.order_amount,
                    input.currency,
                    now=ctx.now,
                    settings=ctx.settings,
                )
            return CheckoutPayload(checkout=Checkout(row=row), replayed=replayed)

        return mutation(CheckoutPayload, work)

    @strawberry.mutation(
        description="Spend the held points.", permission_classes=gate("Mutation.checkoutCapture")
    )
    def checkout_capture(self, info: Info, order_id: OrderId) -> CheckoutPayload:
        def work():
            with write_transaction():
                row, replayed = checkout.capture(order_id, now=info.context.now)
            return CheckoutPayload(checkout=Checkout(row=row), replayed=replayed)

        return mutation(CheckoutPayload, work)

    @strawberry.mutation(
        description="Release the held points.", permission_classes=gate("Mutation.checkoutVoid")
    )
    def checkout_void(self, info: Info, order_id: OrderId) -> CheckoutPayload:
        def work():
            with write_transaction():
                row, replayed = checkout.void(order_id, now=info.context.now)
            return CheckoutPayload(checkout=Checkout(row=row), replayed=replayed)

        return mutation(CheckoutPayload, work)

    @strawberry.mutation(
        description="Return points in proportion to a refund; never more than were spent.",
        permission_classes=gate("Mutation.checkoutRefund"),
    )
    def checkout_refund(
        self,
        info: Info,
        input: Annotated[CheckoutRefundInput, strawberry.argument(description="The refund.")],
    ) -> CheckoutRefundPayload:
        def work():
            with write_transaction():
                row, replayed = checkout.refund(
                    input.order_id,
                    input.refund_id,
                    input.amount,
                    now=info.context.now,
                    settings=info.context.settings,
                )
            return CheckoutRefundPayload(
                checkout=Checkout(row=lists.checkout(input.order_id)),
                points_returned=row.points,
                replayed=replayed,
            )

        return mutation(CheckoutRefundPayload, work)
