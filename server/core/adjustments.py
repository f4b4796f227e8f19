"""Manual awards, deductions and reversals by operators, each with a reason the ledger keeps."""

from __future__ import annotations

from datetime import datetime

from server.core import accounts, members
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import MAX_POINTS, Cause, Leg, post, reverse
from server.core.program import ProgramSettings
from server.store.models import LedgerTransaction

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
    return post(
        "adjustment",
        legs,
        now=now,
        member_id=member.id,
        cause=Cause(actor=actor, reason=reason),
        expires_at=settings.expiry_for(now) if points > 0 else None,
    )


def reverse_by_operator(
    txn_id: int, reason: str, *, actor: str, now: datetime
) -> LedgerTransaction:
    """Undo a transaction with a reason; a wallet may go negative if the points were spent."""
    reason = check_reason(reason)
    return reverse(txn_id, now=now, cause=Cause(actor=actor, reason=reason))
