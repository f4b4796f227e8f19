"""The ledger: balanced, append-only, lots spent oldest-expiring first, reversed once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.core import accounts, adjustments, members
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post, reverse
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store.db import write_transaction
from server.store.models import Lot, LotUse, Posting


def new_member(clock, external_id="alice"):
    with write_transaction():
        return members.upsert(external_id, now=clock.now()).member


def adjust(member, points, clock, settings=None):
    with write_transaction():
        return adjustments.adjust(
            member.id,
            points,
            "test",
            actor="t",
            now=clock.now(),
            settings=settings or ProgramSettings(),
        )


def available(member):
    return accounts.wallet(member.id, AccountKind.AVAILABLE).balance


def test_award_posts_balanced_entries_and_a_lot(db, clock):
    alice = new_member(clock)
    txn = adjust(alice, 50, clock)
    amounts = sorted(p.amount for p in Posting.select().where(Posting.txn == txn.id))
    assert amounts == [-50, 50]
    assert available(alice) == 50
    (lot,) = Lot.select().where(Lot.member == alice.id)
    assert (lot.amount, lot.remaining, lot.expires_at) == (50, 50, None)
    assert accounts.balance(accounts.program_account(AccountKind.ADJUSTMENT)) == -50
    assert verify().ok


def test_expiry_policy_dates_each_lot(db, clock):
    alice = new_member(clock)
    adjust(alice, 10, clock, ProgramSettings(points_expire_days=365))
    (lot,) = Lot.select()
    assert lot.expires_at == clock.now() + timedelta(days=365)


def test_spending_takes_oldest_expiring_lots_first(db, clock):
    alice = new_member(clock)
    adjust(alice, 30, clock, ProgramSettings(points_expire_days=100))  # expires last
    clock.advance(days=1)
    adjust(alice, 20, clock, ProgramSettings(points_expire_days=10))  # expires first
    adjust(alice, 40, clock, ProgramSettings())  # never expires: spent last
    adjust(alice, -35, clock)
    remaining = [lot.remaining for lot in Lot.select().order_by(Lot.id)]
    assert remaining == [15, 0, 40]
    assert available(alice) == 55
    assert verify().ok


def test_deduction_never_overdraws_and_changes_nothing(db, clock):
    alice = new_member(clock)
    adjust(alice, 100, clock)
    with pytest.raises(DomainError) as err:
        adjust(alice, -101, clock)
    assert err.value.code is ErrorCode.INSUFFICIENT_POINTS
    assert available(alice) == 100
    assert Posting.select().count() == 2
    assert verify().ok


def test_unbalanced_transactions_are_refused(db, clock):
    alice = new_member(clock)
    wallet = accounts.wallet(alice.id, AccountKind.AVAILABLE)
    with pytest.raises(ValueError, match="unbalanced"):
        with write_transaction():
            post("award", [Leg(wallet, 5)], now=clock.now(), member_id=alice.id)
    assert Posting.select().count() == 0


def test_reversal_of_a_spend_restores_the_same_lots(db, clock):
    alice = new_member(clock)
    adjust(alice, 30, clock, ProgramSettings(points_expire_days=10))
    adjust(alice, 30, clock, ProgramSettings(points_expire_days=20))
    spend = adjust(alice, -40, clock)
    with write_transaction():
        reverse(spend.id, now=clock.now(), cause=Cause(reason="refund"))
    assert [lot.remaining for lot in Lot.select().order_by(Lot.id)] == [30, 30]
    assert available(alice) == 60
    assert verify().ok


def test_reversal_of_spent_points_may_go_negative_then_credits_repay_first(db, clock):
    alice = new_member(clock)
    award = adjust(alice, 50, clock)
    adjust(alice, -40, clock)
    with write_transaction():
        reverse(award.id, now=clock.now(), cause=Cause(reason="invitee left"))
    assert available(alice) == -40
    assert sum(lot.remaining for lot in Lot.select()) == 0
    with pytest.raises(DomainError) as refused:  # a negative wallet cannot spend
        adjust(alice, -1, clock)
    assert refused.value.code is ErrorCode.INSUFFICIENT_POINTS
    adjust(alice, 100, clock)
    assert available(alice) == 60
    assert sum(lot.remaining for lot in Lot.select()) == 60
    assert verify().ok


def test_a_transaction_is_reversed_once_and_reversals_are_final(db, clock):
    alice = new_member(clock)
    award = adjust(alice, 10, clock)
    with write_transaction():
        undo = reverse(award.id, now=clock.now(), cause=Cause())
    for target, code in (
        (award.id, ErrorCode.ALREADY_REVERSED),
        (undo.id, ErrorCode.NOT_REVERSIBLE),
        (999, ErrorCode.TRANSACTION_NOT_FOUND),
    ):
        with pytest.raises(DomainError) as err:
            with write_transaction():
                reverse(target, now=clock.now(), cause=Cause())
        assert err.value.code is code
    assert undo.reverses_id == award.id
    assert available(alice) == 0
    assert verify().ok


def test_lot_uses_record_what_each_spend_took(db, clock):
    alice = new_member(clock)
    adjust(alice, 5, clock)
    adjust(alice, 5, clock)
    spend = adjust(alice, -7, clock)
    (debit,) = Posting.select().where(Posting.txn == spend.id, Posting.member == alice.id)
    assert sorted(u.amount for u in LotUse.select().where(LotUse.posting == debit.id)) == [2, 5]


def test_program_accounts_spread_over_slots_and_sum_on_read(db, clock):
    ids = [new_member(clock, f"m{i}") for i in range(5)]
    for m in ids:
        adjust(m, 10, clock)
    account = accounts.program_account(AccountKind.ADJUSTMENT)
    assert account.slots == accounts.PROGRAM_SLOTS
    assert accounts.balance(account) == -50
    assert verify().ok
