"""Manual awards, deductions and reversals by operators, each with a reason the ledger keeps."""

from __future__ import annotations

from datetime import datetime

from server.core import accounts, audit, members
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import MAX_POINTS, Cause, Leg, post, reverse
from server.core.program import ProgramSettings
from server.store.db import locked
from server.store.models import AdjustmentRequest, LedgerTransaction, Review

MAX_REASON = 500


def check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(ErrorCode.INVALID_INPUT, "a reason is required", "reason")
    if len(reason) > MAX_REASON:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"reason is longer than {MAX_REASON} characters", "reason"
        )
    return reason


def check_points(points: int, field_name: str = "points") -> int:
    if not isinstance(points, int) or points == 0 or abs(points) > MAX_POINTS:
        raise DomainError(
            ErrorCode.INVALID_POINTS,
            f"points must be a whole number from 1 to {MAX_POINTS:,} (negative to deduct)",
            field_name,
        )
    return points


def adjust(
    member_id: int,
    points: int,
    reason: str,
    *,
    actor: str,
    now: datetime,
    settings: ProgramSettings,
) -> LedgerTransaction:
    """Award (points > 0) or deduct (points < 0) by hand; a deduction never overdraws."""
    check_points(points)
    reason = check_reason(reason)
    member = members.get(member_id)
    wallet = accounts.wallet(member.id, AccountKind.AVAILABLE)
    program = accounts.program_account(AccountKind.ADJUSTMENT)
    legs = [Leg(wallet, points, spend=points < 0), Leg(program, -points)]
    txn = post(
        "adjustment",
        legs,
        now=now,
        member_id=member.id,
        cause=Cause(actor=actor, reason=reason),
        expires_at=settings.expiry_for(now) if points > 0 else None,
    )
    audit.record(
        actor,
        "points.adjust",
        member.external_id,
        {"points": points, "reason": reason, "transactionId": txn.id},
        now=now,
    )
    return txn


def approval_threshold() -> int:
    """Adjustments larger than this (JIFEN_ADJUSTMENT_APPROVAL_OVER, default 10,000 points)
    need a second operator."""
    from server.config import settings

    return settings().adjustment_approval_over


def adjust_or_request(
    member_id: int,
    points: int,
    reason: str,
    *,
    actor: str,
    now: datetime,
    settings: ProgramSettings,
) -> LedgerTransaction | AdjustmentRequest:
    """Adjust at once, or, above the threshold, file a request a second operator decides."""
    check_points(points)
    reason = check_reason(reason)
    if abs(points) <= approval_threshold():
        return adjust(member_id, points, reason, actor=actor, now=now, settings=settings)
    member = members.get(member_id)
    if points < 0:
        available = accounts.wallet(member.id, AccountKind.AVAILABLE).balance
        if available < -points:
            raise DomainError(
                ErrorCode.INSUFFICIENT_POINTS,
                f"not enough points: {-points} to deduct, {available} available",
                "points",
            )
    request = AdjustmentRequest.create(
        member=member.id, points=points, reason=reason, requested_by=actor, requested_at=now
    )
    audit.record(
        actor,
        "points.adjustRequested",
        member.external_id,
        {"points": points, "reason": reason, "requestId": request.id},
        now=now,
    )
    return request


def take_decision(model, request_id: int, approve: bool, *, actor, missing, what, field):
    """Maker-checker, shared by adjustments and operators' levels: the pending request,
    locked, with the status it moves to; (request, status, True) when it already has that
    status (the same decision again). Refused: no such request, the maker deciding, or a
    request already decided the other way."""
    request = model.get_or_none(model.id == request_id)
    if request is None:
        raise DomainError(missing[0], f"no {missing[1]} with this id", field)
    if request.requested_by == actor:
        raise DomainError(
            ErrorCode.SAME_OPERATOR, f"a second operator must decide this {what}", field
        )
    status = "approved" if approve else "rejected"
    request = locked(model.select().where(model.id == request.id)).first()
    if request.status == status:
        return request, status, True
    if request.status != "pending":
        raise DomainError(
            ErrorCode.ALREADY_REVIEWED, f"this request was already {request.status}", field
        )
    return request, status, False


def decide(
    request_id: int, approve: bool, *, actor: str, now: datetime, settings: ProgramSettings
) -> tuple[AdjustmentRequest, bool]:
    """The second operator's decision; both names are kept on the ledger entry. The same
    decision again replays the first (True)."""
    request, status, replayed = take_decision(
        AdjustmentRequest,
        request_id,
        approve,
        actor=actor,
        missing=(ErrorCode.ADJUSTMENT_NOT_FOUND, "adjustment request"),
        what="adjustment",
        field="requestId",
    )
    if replayed:
        return request, True
    AdjustmentRequest.update(status=status, decided_by=actor, decided_at=now).where(
        AdjustmentRequest.id == request.id
    ).execute()
    if approve:
        wallet = accounts.wallet(request.member_id, AccountKind.AVAILABLE)
        program = accounts.program_account(AccountKind.ADJUSTMENT)
        txn = post(
            "adjustment",
            [Leg(wallet, request.points, spend=request.points < 0), Leg(program, -request.points)],
            now=now,
            member_id=request.member_id,
            cause=Cause(actor=request.requested_by, approver=actor, reason=request.reason),
            expires_at=settings.expiry_for(now) if request.points > 0 else None,
        )
        AdjustmentRequest.update(txn=txn).where(AdjustmentRequest.id == request.id).execute()
    audit.record(
        actor,
        "points.adjustApproved" if approve else "points.adjustRejected",
        str(request.id),
        {"points": request.points, "requestedBy": request.requested_by},
        now=now,
    )
    return AdjustmentRequest.get_by_id(request.id), False


def reverse_by_operator(
    txn_id: int, reason: str, *, actor: str, now: datetime
) -> tuple[LedgerTransaction, bool]:
    """Undo a transaction with a reason; a wallet may go negative if the points were spent.

    Asking again with the same reason replays the reversal made (True).
    """
    reason = check_reason(reason)
    _check_reversible(txn_id)
    try:
        txn = reverse(txn_id, now=now, cause=Cause(actor=actor, reason=reason))
    except DomainError as exc:
        if exc.code is not ErrorCode.ALREADY_REVERSED:
            raise
        done = LedgerTransaction.get(LedgerTransaction.reverses == txn_id)
        if done.kind != "reversal" or done.reason != reason:
            raise
        return done, True
    audit.record(
        actor, "transaction.reverse", str(txn_id), {"reason": reason, "reversal": txn.id}, now=now
    )
    return txn, False


# What an operator may undo by hand: credits and debits that no other record depends on.
# Everything else has its own way back, which keeps its records true (a hold, a
# redemption, a review) — reversing the transaction alone would leave them lying.
OPERATOR_REVERSIBLE = frozenset({"adjustment", "award", "leaderboard", "lottery_prize"})
_THE_WAY_BACK = {
    "checkout_hold": "checkoutVoid",
    "checkout_capture": "checkoutRefund",
    "checkout_refund": "pointsAdjust",
    "checkout_release": "checkoutHold (a new hold)",
    "redemption": "redemptionCancel",
    "approval": "pointsAdjust",
    "expiry": "pointsAdjust",
}


def _check_reversible(txn_id: int) -> None:
    txn = LedgerTransaction.get_or_none(LedgerTransaction.id == txn_id)
    if txn is None:
        return  # reverse() says TRANSACTION_NOT_FOUND
    if txn.kind == "award" and Review.select().where(Review.txn == txn.id).exists():
        raise DomainError(
            ErrorCode.NOT_REVERSIBLE,
            "this award is in the review queue: reject it there (awardReview), or, once "
            "approved, deduct with pointsAdjust",
            "transactionId",
        )
    if txn.kind not in OPERATOR_REVERSIBLE and txn.reverses_id is None:
        way = _THE_WAY_BACK.get(txn.kind)
        raise DomainError(
            ErrorCode.NOT_REVERSIBLE,
            f"a {txn.kind} transaction is undone through its own records"
            + (f" ({way})" if way else "")
            + ", not by reversing it",
            "transactionId",
        )
