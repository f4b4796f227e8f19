"""Streak protection as clients see it: a member's streak, buying a freeze, and making up
a missed check-in."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from server.api import ids
from server.api.context import Info
from server.api.errors import UserError, mutation
from server.api.gate import gate
from server.api.ownership import owned
from server.api.refs import EventRef, TransactionRef
from server.core import idempotency, make_up, streaks
from server.store import models


@owned(lambda s: s.member_id)
@strawberry.type(description="A member's daily check-in streak and the freezes they hold.")
class MemberStreak:
    member_id: strawberry.Private[int]
    current: int = strawberry.field(
        description="Days in the current run (freeze-covered days not counted); 0 once a "
        "missed day broke it beyond what held freezes cover."
    )
    last_day: date | None = strawberry.field(
        default=None, description="The run's last day checked in (program's time zone)."
    )
    freezes_held: int = strawberry.field(
        default=0, description="Freezes that will cover missed days at the next check-in."
    )
    freezes_bought: int = strawberry.field(default=0, description="Freezes bought, ever.")
    freezes_used: int = strawberry.field(default=0, description="Missed days freezes covered.")


def member_streak(info: Info, member_id: int) -> MemberStreak:
    """Member.streak."""
    ctx = info.context
    v = streaks.view(member_id, now=ctx.now, settings=ctx.settings)
    return MemberStreak(
        member_id=member_id,
        current=v.current,
        last_day=v.last_day,
        freezes_held=v.freezes_held,
        freezes_bought=v.freezes_bought,
        freezes_used=v.freezes_used,
    )


@strawberry.input(description="Buy one streak freeze.")
class StreakFreezeBuyInput:
    member_id: strawberry.ID = strawberry.field(description="Who buys it.")
    idempotency_key: str = strawberry.field(description="Retries with this key buy once.")


@strawberry.type(description="Result of streakFreezeBuy.")
class StreakFreezeBuyPayload:
    streak: MemberStreak | None = strawberry.field(
        default=None, description="The member's streak and freezes, after the purchase."
    )
    transaction: TransactionRef | None = strawberry.field(default=None, description="The spend.")
    replayed: bool = strawberry.field(default=False, description="True for a retried key.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was spent, if so."
    )


@strawberry.input(description="Check in for a missed day, for the program's price.")
class CheckinMakeUpInput:
    member_id: strawberry.ID = strawberry.field(description="Who checks in.")
    day: date = strawberry.field(
        description="The missed day (program's time zone), within the make-up window."
    )
    idempotency_key: str = strawberry.field(description="Retries with this key make up once.")


@strawberry.type(description="Result of checkinMakeUp.")
class CheckinMakeUpPayload:
    event: EventRef | None = strawberry.field(
        default=None, description="The check-in recorded for that day."
    )
    streak: MemberStreak | None = strawberry.field(
        default=None, description="The member's streak after the runs joined."
    )
    transactions: list[TransactionRef] = strawberry.field(
        default_factory=list,
        description="The spend, then the streak and total awards the joined run reached.",
    )
    badges: list[str] = strawberry.field(
        default_factory=list, description="Keys of the badges it earned."
    )
    replayed: bool = strawberry.field(default=False, description="True for a retried key.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was charged, if so."
    )


def _transaction(txn_id: int):
    from server.api.ledger import transaction_by_id

    return transaction_by_id(txn_id)


@strawberry.type
class StreakMutation:
    @strawberry.mutation(
        description="Spend the program's price for a streak freeze: it covers one missed "
        "day automatically at the next check-in.",
        permission_classes=gate("Mutation.streakFreezeBuy"),
    )
    def streak_freeze_buy(
        self,
        info: Info,
        input: Annotated[StreakFreezeBuyInput, strawberry.argument(description="The purchase.")],
    ) -> StreakFreezeBuyPayload:
        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            ctx.check_member(mid)
            outcome = idempotency.run_once(
                ctx.scope,
                input.idempotency_key,
                "streakFreezeBuy",
                {"memberId": mid},
                ctx.now,
                lambda: streaks.buy_freeze(mid, now=ctx.now, settings=ctx.settings),
            )
            purchase = models.StreakFreezePurchase.get_by_id(outcome.result_id)
            return StreakFreezeBuyPayload(
                streak=member_streak(info, mid),
                transaction=_transaction(purchase.txn_id),
                replayed=outcome.replayed,
            )

        return mutation(StreakFreezeBuyPayload, work)

    @strawberry.mutation(
        description="Check in for a missed day within the program's make-up window, for its "
        "price: the runs on both sides join and every streak or total award the joined "
        "run reaches is paid now, once.",
        permission_classes=gate("Mutation.checkinMakeUp"),
    )
    def checkin_make_up(
        self,
        info: Info,
        input: Annotated[CheckinMakeUpInput, strawberry.argument(description="The make-up.")],
    ) -> CheckinMakeUpPayload:
        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            ctx.check_member(mid)

            def run() -> int:
                return make_up.make_up(mid, input.day, now=ctx.now, settings=ctx.settings).event.id

            outcome = idempotency.run_once(
                ctx.scope,
                input.idempotency_key,
                "checkinMakeUp",
                {"memberId": mid, "day": input.day.isoformat()},
                ctx.now,
                run,
            )
            record = models.CheckinMakeUp.get(models.CheckinMakeUp.event == outcome.result_id)
            award_ids = [
                t.id
                for t in models.LedgerTransaction.select(models.LedgerTransaction.id)
                .where(
                    models.LedgerTransaction.event == outcome.result_id,
                    models.LedgerTransaction.kind == "award",
                )
                .order_by(models.LedgerTransaction.id)
            ]
            from server.api.events import Event

            return CheckinMakeUpPayload(
                event=Event(row=models.Event.get_by_id(outcome.result_id)),
                streak=member_streak(info, mid),
                transactions=[_transaction(t) for t in [record.txn_id, *award_ids]],
                badges=[
                    b.badge
                    for b in models.MemberBadge.select(models.MemberBadge.badge)
                    .where(models.MemberBadge.event == outcome.result_id)
                    .order_by(models.MemberBadge.badge)
                ],
                replayed=outcome.replayed,
            )

        return mutation(CheckinMakeUpPayload, work)
