"""Points as part payment: quote, hold, capture, void, refund — keyed by the shop's order id.

Money is Decimal with a currency. Rounding happens in one place, `points_value`:
the value of some points is rounded **down** to the currency's minor unit, and the points
that may pay for an order are the most whose value stays within `deduct at most` of it.
A member is therefore never credited a fraction of a cent, and an order is never
discounted by more than the program allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from server.core import accounts, members, webhooks
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post, reverse
from server.core.program import ProgramSettings
from server.store import sql
from server.store.db import locked, write_transaction
from server.store.models import Checkout, CheckoutRefund
from server.store.sql import Sql

# Currencies without minor units; all others are taken to have two.
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"})
MAX_ORDER_ID = 128


def hold_ttl() -> timedelta:
    """How long an uncaptured hold lives (JIFEN_CHECKOUT_HOLD_MINUTES, default 30)."""
    from server.config import settings

    return timedelta(minutes=settings().checkout_hold_minutes)


@dataclass(frozen=True)
class Rate:
    points: int
    amount: Decimal
    currency: str
    max_share: Decimal  # of the order, 0..1


@dataclass(frozen=True)
class Quote:
    available: int
    max_points: int
    max_value: Decimal
    currency: str
    rate: Rate


def rate(settings: ProgramSettings) -> Rate:
    if settings.redeem_points is None or settings.redeem_amount is None:
        raise DomainError(
            ErrorCode.CHECKOUT_NOT_CONFIGURED,
            "this program has no `redeem rate`, so points cannot pay for orders",
            "currency",
        )
    share = Decimal(settings.deduct_percent) / 100 if settings.deduct_percent else Decimal(1)
    return Rate(settings.redeem_points, Decimal(settings.redeem_amount), settings.currency, share)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1) if currency in ZERO_DECIMAL else Decimal("0.01")


def points_value(points: int, r: Rate) -> Decimal:
    """What points are worth, rounded down to the currency's minor unit. The one rounding."""
    value = Decimal(points) * r.amount / Decimal(r.points)
    return value.quantize(minor_unit(r.currency), rounding=ROUND_DOWN)


def max_points_for(order_amount: Decimal, r: Rate) -> int:
    """The most points whose value is within the program's share of the order."""
    cap = order_amount * r.max_share
    points = int((cap * r.points / r.amount).to_integral_value(rounding=ROUND_DOWN))
    while points > 0 and points_value(points, r) > cap:
        points -= 1
    return points


def _order(order_amount: Decimal, currency: str, r: Rate) -> Decimal:
    if currency.upper() != r.currency:
        raise DomainError(
            ErrorCode.CURRENCY_MISMATCH,
            f"this program's points are priced in {r.currency}, not {currency}",
            "currency",
        )
    if (
        not order_amount.is_finite()
        or order_amount <= 0
        or order_amount != order_amount.quantize(minor_unit(r.currency))
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"orderAmount must be above 0 with at most "
            f"{abs(minor_unit(r.currency).as_tuple().exponent)} decimals",
            "orderAmount",
        )
    return order_amount


def quote(member_id: int, order_amount: Decimal, currency: str, settings: ProgramSettings) -> Quote:
    r = rate(settings)
    order_amount = _order(order_amount, currency, r)
    members.get(member_id)
    available = max(accounts.wallet(member_id, AccountKind.AVAILABLE).balance, 0)
    points = min(available, max_points_for(order_amount, r))
    return Quote(available, points, points_value(points, r), r.currency, r)


def _check_order_id(order_id: str, field_name: str = "orderId") -> str:
    if not order_id or len(order_id) > MAX_ORDER_ID or order_id != order_id.strip():
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{field_name} must be 1 to {MAX_ORDER_ID} characters without surrounding spaces",
            field_name,
        )
    return order_id


def hold(
    order_id: str,
    member_id: int,
    points: int,
    order_amount: Decimal,
    currency: str,
    *,
    now: datetime,
    settings: ProgramSettings,
) -> tuple[Checkout, bool]:
    """Reserve points for an order; a retry with the same order returns the same hold."""
    order_id = _check_order_id(order_id)
    existing = Checkout.get_or_none(Checkout.order_id == order_id)
    if existing is not None:
        return _same_hold(existing, member_id, points, order_amount, currency), True
    r = rate(settings)
    order_amount = _order(order_amount, currency, r)
    members.get(member_id)
    if not isinstance(points, int) or points < 1:
        raise DomainError(ErrorCode.INVALID_POINTS, "points must be 1 or more", "points")
    cap = max_points_for(order_amount, r)
    if points > cap:
        raise DomainError(
            ErrorCode.DEDUCTION_OVER_LIMIT, f"at most {cap} points may pay for this order", "points"
        )
    try:
        with write_transaction():  # a savepoint: undone whole when the order is taken
            legs = [
                Leg(accounts.wallet(member_id, AccountKind.AVAILABLE), -points, spend=True),
                Leg(accounts.wallet(member_id, AccountKind.HELD), points),
            ]
            txn = post(
                "checkout_hold",
                legs,
                now=now,
                member_id=member_id,
                cause=Cause(reason=f"order {order_id}"),
            )
            # The order id is claimed by the insert: a concurrent hold of the same order
            # waits here for the first to commit, then finds it and replays it.
            claimed = _CLAIM_ORDER.count(
                order_id,
                member_id,
                points,
                str(order_amount),
                r.currency,
                txn.id,
                sql.instant(now),
                sql.instant(now + hold_ttl()),
            )
            if not claimed:
                raise _OrderTaken
    except _OrderTaken:
        existing = Checkout.get(Checkout.order_id == order_id)
        return _same_hold(existing, member_id, points, order_amount, currency), True
    return Checkout.get_by_id(order_id), False


class _OrderTaken(Exception):
    """Another request holds points for this order id."""


_CLAIM_ORDER = Sql(
    "INSERT INTO checkout (order_id, member_id, points, order_amount, currency, status, "
    "refunded_points, refunded_amount, hold_txn_id, created_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?, 'held', 0, '0', ?, ?, ?) ON CONFLICT (order_id) DO NOTHING"
)


def _same_hold(
    existing: Checkout, member_id: int, points: int, order_amount: Decimal, currency: str
) -> Checkout:
    """The hold a retry asks for again, or ORDER_ID_REUSED when it asks for another."""
    same = (
        existing.member_id == member_id
        and existing.points == points
        and Decimal(existing.order_amount) == order_amount
        and existing.currency == currency.upper()
    )
    if not same:
        raise DomainError(
            ErrorCode.ORDER_ID_REUSED,
            "a hold for this orderId exists with other details",
            "orderId",
        )
    return existing


def get(order_id: str, *, lock: bool = False) -> Checkout:
    """The checkout of an order; with `lock`, held until the transaction ends (decide on it)."""
    query = Checkout.select().where(Checkout.order_id == order_id)
    row = (locked(query) if lock else query).first()
    if row is None:
        raise DomainError(
            ErrorCode.CHECKOUT_NOT_FOUND, f"no checkout for order {order_id!r}", "orderId"
        )
    return row


def capture(order_id: str, *, now: datetime) -> tuple[Checkout, bool]:
    """Spend the held points; capturing a captured order replays it (True)."""
    row = get(order_id, lock=True)
    if row.status == "captured":
        return row, True
    _settle(row, "captured", now)
    legs = [
        Leg(accounts.wallet(row.member_id, AccountKind.HELD), -row.points),
        Leg(accounts.program_account(AccountKind.CHECKOUT), row.points),
    ]
    txn = post(
        "checkout_capture",
        legs,
        now=now,
        member_id=row.member_id,
        cause=Cause(reason=f"order {order_id}"),
    )
    Checkout.update(settle_txn=txn).where(Checkout.order_id == order_id).execute()
    webhooks.emit(
        webhooks.Kind.CHECKOUT_CAPTURED,
        {
            "orderId": order_id,
            "memberId": webhooks.member_ref(row.member_id),
            "points": row.points,
            "orderAmount": str(row.order_amount),
            "currency": row.currency,
            "transactionId": webhooks.transaction_ref(txn.id),
            "at": now.isoformat(),
        },
        at=now,
    )
    return Checkout.get_by_id(order_id), False


def void(order_id: str, *, now: datetime, status: str = "voided") -> tuple[Checkout, bool]:
    """Release the held points to the very lots they came from; a retry replays (True)."""
    row = get(order_id, lock=True)
    if row.status == status:
        return row, True
    _settle(row, status, now)
    txn = reverse(
        row.hold_txn_id,
        now=now,
        kind="checkout_release",
        cause=Cause(reason=f"order {order_id} {status}"),
    )
    Checkout.update(settle_txn=txn).where(Checkout.order_id == order_id).execute()
    return Checkout.get_by_id(order_id), False


def _settle(row: Checkout, to_status: str, now: datetime) -> None:
    """Move a locked hold on; only a live hold can be captured, voided or expire."""
    if row.status != "held":
        raise DomainError(
            ErrorCode.INVALID_STATE, f"order {row.order_id} is {row.status}", "orderId"
        )
    if to_status == "captured" and row.expires_at <= now:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"the hold of order {row.order_id} expired at {row.expires_at.isoformat()}",
            "orderId",
        )
    Checkout.update(status=to_status, settled_at=now).where(
        Checkout.order_id == row.order_id
    ).execute()


def refund(
    order_id: str, refund_id: str, amount: Decimal, *, now: datetime, settings: ProgramSettings
) -> tuple[CheckoutRefund, bool]:
    """Return points in proportion to a (partial) refund; never more than were spent.

    The order's row is locked first: refunds of one order are decided one after the
    other, each against what the ones before it returned.
    """
    refund_id = _check_order_id(refund_id, "refundId")
    row = get(order_id, lock=True)
    existing = CheckoutRefund.get_or_none(
        CheckoutRefund.checkout == order_id, CheckoutRefund.refund_id == refund_id
    )
    if existing is not None:
        if Decimal(existing.amount) != amount:
            raise DomainError(
                ErrorCode.ORDER_ID_REUSED, "this refundId was used with another amount", "refundId"
            )
        return existing, True
    if row.status != "captured":
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order_id} is {row.status}; only captured orders are refunded",
            "orderId",
        )
    order_amount = Decimal(row.order_amount)
    if not amount.is_finite() or amount <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "amount must be above 0", "amount")
    refunded = Decimal(row.refunded_amount) + amount
    if refunded > order_amount:
        raise DomainError(
            ErrorCode.REFUND_OVER_ORDER,
            f"refunds would reach {refunded}, more than the order's {order_amount}",
            "amount",
        )
    # Points follow the money, rounded down; the refund that completes the order returns
    # whatever is left, so a full refund always returns every point.
    owed = (
        row.points
        if refunded == order_amount
        else int((row.points * refunded / order_amount).to_integral_value(rounding=ROUND_DOWN))
    )
    points = owed - row.refunded_points
    moved = (
        Checkout.update(refunded_points=owed, refunded_amount=str(refunded))
        .where(
            Checkout.order_id == order_id,
            Checkout.refunded_points == row.refunded_points,
            Checkout.refunded_amount == row.refunded_amount,
        )
        .execute()
    )
    if not moved:  # cannot happen under the row lock; refuse rather than overwrite
        raise RuntimeError(f"refunds of order {order_id} changed under a lock")
    txn = None
    if points > 0:
        # Refunded points come back as a new lot under the program's expiry policy: a
        # partial refund cannot tell which of the spent lots it returns.
        legs = [
            Leg(accounts.program_account(AccountKind.CHECKOUT), -points),
            Leg(accounts.wallet(row.member_id, AccountKind.AVAILABLE), points),
        ]
        txn = post(
            "checkout_refund",
            legs,
            now=now,
            member_id=row.member_id,
            cause=Cause(reason=f"refund {refund_id} of order {order_id}"),
            expires_at=settings.expiry_for(now),
        )
    webhooks.emit(
        webhooks.Kind.CHECKOUT_REFUNDED,
        {
            "orderId": order_id,
            "refundId": refund_id,
            "memberId": webhooks.member_ref(row.member_id),
            "amount": str(amount),
            "pointsReturned": points,
            "refundedAmount": str(refunded),
            "refundedPoints": owed,
            "currency": row.currency,
            "transactionId": webhooks.transaction_ref(txn.id if txn is not None else None),
            "at": now.isoformat(),
        },
        at=now,
    )
    return CheckoutRefund.create(
        checkout=order_id,
        refund_id=refund_id,
        amount=str(amount),
        points=points,
        txn=txn,
        created_at=now,
    ), False


def expire_holds(now: datetime) -> int:
    """Release every hold past its time; returns how many."""
    count = 0
    # Read them all first: a cursor left open would pin an old snapshot, and SQLite refuses
    # a write from a connection whose snapshot another process has since moved past.
    due = list(Checkout.select().where(Checkout.status == "held", Checkout.expires_at <= now))
    for row in due:
        try:
            with write_transaction():
                _, replayed = void(row.order_id, now=now, status="expired")
            count += 0 if replayed else 1
        except DomainError:
            continue  # captured or voided meanwhile
    return count
