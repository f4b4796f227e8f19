"""What happens to an award after it is made: review decisions, and clawbacks when an
invitee leaves."""

from __future__ import annotations

from datetime import datetime

from server.core import accounts, audit, budgets
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post, reverse
from server.core.program import ProgramSettings
from server.store.db import locked
from server.store.models import (
    AwardLink,
    Event,
    LedgerTransaction,
    Member,
    MemberCounter,
    Membership,
    Review,
)

MAX_NOTE = 500


def decide(
    txn_id: int,
    approve: bool,
    *,
    reviewer: str,
    note: str | None,
    now: datetime,
    settings: ProgramSettings,
) -> tuple[Review, bool]:
    """Approve (points become spendable) or reject (they vanish) an award after review.

    The same decision again replays the first (True); the other one is ALREADY_REVIEWED.
    """
    if note is not None and len(note) > MAX_NOTE:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"note is longer than {MAX_NOTE} characters", "note"
        )
    status = "approved" if approve else "rejected"
    review = locked(Review.select().where(Review.txn == txn_id)).first()
    if review is None:
        raise DomainError(
            ErrorCode.REVIEW_NOT_FOUND,
            "no award waiting for review with this transaction id",
            "transactionId",
        )
    if review.status == status:
        return review, True
    if review.status != "pending":
        raise DomainError(
            ErrorCode.ALREADY_REVIEWED, f"this award was already {review.status}", "transactionId"
        )
    Review.update(status=status, decided_at=now, reviewer=reviewer, note=note).where(
        Review.txn == txn_id
    ).execute()
    award = LedgerTransaction.get_by_id(txn_id)
    cause = Cause(
        event_id=award.event_id,
        campaign=award.campaign,
        campaign_version=award.campaign_version,
        rule_line=award.rule_line,
        rule_text=award.rule_text,
        rule_file=award.rule_file,
        actor=reviewer,
        reason=note,
    )
    if approve:
        legs = [
            Leg(accounts.wallet(review.member_id, AccountKind.PENDING), -review.points),
            Leg(accounts.wallet(review.member_id, AccountKind.AVAILABLE), review.points),
        ]
        decision = post(
            "approval",
            legs,
            now=now,
            member_id=review.member_id,
            cause=cause,
            expires_at=settings.expiry_for(now),
        )
    else:
        # The budget before the wallets, as an award takes it (docs/ledger.md, lock order).
        budgets.give_back(award.campaign, review.points)
        decision = reverse(txn_id, now=now, cause=cause, kind="rejection")
    Review.update(decision_txn=decision).where(Review.txn == txn_id).execute()
    audit.record(
        reviewer,
        f"award.{status}",
        str(txn_id),
        {"points": review.points, "campaign": review.campaign, "note": note},
        now=now,
    )
    return Review.get_by_id(txn_id), False


def invitee_left(invitee: Member, community: str, leave: Event, *, now: datetime) -> list[int]:
    """Take back awards that lasted only while this invitee stayed; returns reversal ids."""
    stint = Membership.get(Membership.member == invitee.id, Membership.community == community)
    if stint.invited_by_id is not None and stint.referral_revoked_at is None:
        # A revoked referral no longer counts for the inviter's tiers.
        Membership.update(referral_revoked_at=now).where(Membership.id == stint.id).execute()
        (
            MemberCounter.update(active=MemberCounter.active - 1)
            .where(
                MemberCounter.member == stint.invited_by_id, MemberCounter.event_type == "referral"
            )
            .execute()
        )
    reversed_ids = []
    links = AwardLink.select().where(
        AwardLink.invitee == invitee.id, AwardLink.community == community
    )
    for link in links:
        award = LedgerTransaction.get_by_id(link.txn_id)
        cause = Cause(
            event_id=leave.id,
            campaign=award.campaign,
            campaign_version=award.campaign_version,
            rule_line=award.rule_line,
            rule_text=award.rule_text,
            rule_file=award.rule_file,
            reason=f"invitee {invitee.external_id} left {community}",
        )
        # The review is locked before anything is decided: a reviewer approving the award
        # at this moment either finishes first (and the approval is taken back below) or
        # finds it revoked.
        review = locked(Review.select().where(Review.txn == award.id)).first()
        if review is not None and review.status in ("rejected", "revoked"):
            continue  # nothing is left to take back
        if LedgerTransaction.select().where(LedgerTransaction.reverses == award.id).exists():
            continue
        if review is not None and review.status == "approved":
            reverse(review.decision_txn_id, now=now, cause=cause, kind="clawback")
        elif review is not None:
            Review.update(status="revoked", decided_at=now).where(Review.txn == award.id).execute()
        points = sum(p.amount for p in award.postings if p.member_id is not None)
        budgets.give_back(award.campaign, points)
        reversed_ids.append(reverse(award.id, now=now, cause=cause, kind="clawback").id)
    return reversed_ids
