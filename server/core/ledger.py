"""The double-entry ledger: balanced, append-only transactions; lots; reversals.

Every function here runs inside the caller's write transaction, so a failure anywhere
leaves nothing behind.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from peewee import IntegrityError

from server.core import level_job, notify
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.observe import metrics
from server.store import sql
from server.store.db import transaction_memo, write_transaction
from server.store.models import (
    Account,
    LedgerTransaction,
    Lot,
    LotUse,
    Posting,
)
from server.store.sql import Sql

MAX_POINTS = 1_000_000_000  # one movement; keeps sums far from 64-bit limits


@dataclass(frozen=True)
class Cause:
    """Why a transaction exists: what a ledger entry answers to "why do I have these points?"."""

    event_id: int | None = None
    campaign: str | None = None
    campaign_version: int | None = None
    rule_line: int | None = None
    rule_text: str | None = None
    rule_file: str | None = None
    actor: str | None = None
    approver: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Leg:
    """One posting to be made. `spend` debits never overdraw a member wallet."""

    account: Account
    amount: int
    spend: bool = False
    # Lots to take from first when debiting (a reversal takes back the lot it created).
    prefer_lots: tuple[int, ...] = ()
    # Lot uses to put back when crediting (a reversal of a spend restores the same lots).
    restore: tuple[LotUse, ...] = field(default=())
    # A lot the caller already emptied by exactly this amount (expiry claims its lot).
    claimed_lot: int | None = None


_TRANSACTION = Sql(
    "INSERT INTO ledger_transaction (kind, member_id, created_at, event_id, campaign, "
    "campaign_version, rule_line, rule_text, actor, approver, reason, reverses_id, rule_file) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_MOVE = Sql("UPDATE account SET balance = balance + ? WHERE id = ? RETURNING balance")
_SPEND = Sql(
    "UPDATE account SET balance = balance + ? WHERE id = ? AND balance >= ? RETURNING balance"
)
_MOVE_SLOT = Sql("UPDATE account_slot SET balance = balance + ? WHERE account_id = ? AND slot = ?")
_POSTING = Sql(
    "INSERT INTO posting (txn_id, account_id, amount, member_id, created_at, balance_after) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
_LOT = Sql(
    "INSERT INTO lot (member_id, posting_id, amount, remaining, earned_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def post(
    kind: str,
    legs: Sequence[Leg],
    *,
    now: datetime,
    member_id: int | None,
    cause: Cause = Cause(),
    expires_at: datetime | None = None,
    reverses: LedgerTransaction | None = None,
) -> LedgerTransaction:
    """Record one balanced transaction and move every balance it touches."""
    if not legs or sum(leg.amount for leg in legs) != 0:
        raise ValueError(f"unbalanced transaction {kind}: {[leg.amount for leg in legs]}")
    if any(leg.amount == 0 or abs(leg.amount) > MAX_POINTS for leg in legs):
        raise ValueError(f"posting amounts must be in 1..{MAX_POINTS}")
    txn = LedgerTransaction(
        kind=kind,
        member=member_id,
        created_at=now,
        event=cause.event_id,
        campaign=cause.campaign,
        campaign_version=cause.campaign_version,
        rule_line=cause.rule_line,
        rule_text=cause.rule_text,
        rule_file=cause.rule_file,
        actor=cause.actor,
        approver=cause.approver,
        reason=cause.reason,
        reverses=reverses,
    )
    txn.id = _TRANSACTION.one(
        kind,
        member_id,
        sql.instant(now),
        cause.event_id,
        cause.campaign,
        cause.campaign_version,
        cause.rule_line,
        cause.rule_text,
        cause.actor,
        cause.approver,
        cause.reason,
        reverses.id if reverses is not None else None,
        cause.rule_file,
    )[0]
    # Member rows first, in a fixed order (no deadlocks); program rows last, so their
    # row locks are held for the shortest time.
    ordered = sorted(legs, key=lambda leg: (leg.account.member_id is None, leg.account.id))
    moved: dict[int, dict[str, tuple[int, int]]] = {}  # member -> wallet -> (delta, after)
    for leg in ordered:
        if leg.account.member_id is not None:
            after = _post_to_wallet(txn, leg, now, expires_at)
            moved.setdefault(leg.account.member_id, {})[leg.account.kind] = (leg.amount, after)
        else:
            _post_to_program(txn, leg)
    for owner, wallets in moved.items():
        _announce(txn, owner, wallets)
    if member_id is not None and kind in level_job.MOVING_KINDS:
        level_job.touch([member_id], now)  # what they earned moved: so may their level
    if kind in metrics.COUNTED_KINDS:
        metrics.posted(kind, cause.campaign, sum(leg.amount for leg in legs if leg.amount > 0))
    return txn


def _announce(txn: LedgerTransaction, member_id: int, wallets: dict[str, tuple[int, int]]) -> None:
    notify.points_changed(
        txn.id,
        txn.kind,
        member_id,
        wallets,
        txn.rule_text or txn.reason or txn.kind,
        txn.campaign,
        txn.created_at,
    )


def _post_to_wallet(
    txn: LedgerTransaction, leg: Leg, now: datetime, expires_at: datetime | None
) -> int:
    account, amount = leg.account, leg.amount
    if amount < 0 and leg.spend:  # a spend may not take the wallet below zero
        row = _SPEND.one(amount, account.id, -amount)
    else:
        row = _MOVE.one(amount, account.id)
    if row is None:
        raise DomainError(
            ErrorCode.INSUFFICIENT_POINTS, f"not enough points: {-amount} needed", "points"
        )
    after = row[0]
    posting = Posting(
        txn=txn,
        account=account.id,
        amount=amount,
        member=account.member_id,
        created_at=now,
        balance_after=after,
    )
    posting.id = _POSTING.one(
        txn.id, account.id, amount, account.member_id, sql.instant(now), after
    )[0]
    if account.kind == AccountKind.AVAILABLE.value:
        _lots(posting, leg, amount, after, now, expires_at)
    return after


def _lots(
    posting: Posting, leg: Leg, amount: int, after: int, now: datetime, expires_at: datetime | None
) -> None:
    """Keep the available wallet's lots in step with a posting to it."""
    if amount > 0:
        _credit_lots(posting, amount, after - amount, now, expires_at, leg.restore)
    elif leg.claimed_lot is not None:
        LotUse.create(posting=posting, lot=leg.claimed_lot, amount=-amount)
    else:
        _debit_lots(posting, -amount, leg.prefer_lots, spend=leg.spend)


def _post_to_program(txn: LedgerTransaction, leg: Leg) -> None:
    account = leg.account
    if account.slots > 1:
        # One slot per transaction, chosen at random: a transaction of many postings (a
        # batch of events) then holds one slot row of each program account, and two
        # concurrent ones rarely meet there, instead of locking slots in crossing orders.
        slot = transaction_memo().setdefault("slot", random.randrange(1 << 30)) % account.slots
        _MOVE_SLOT.run(leg.amount, account.id, slot)
    else:
        _MOVE.run(leg.amount, account.id)
    _POSTING.run(txn.id, account.id, leg.amount, None, sql.instant(txn.created_at), None)


def _credit_lots(
    posting: Posting,
    amount: int,
    before: int,
    now: datetime,
    expires_at: datetime | None,
    restore: tuple[LotUse, ...],
) -> None:
    # A negative wallet (a clawback) is paid back first; only the rest becomes spendable.
    to_place = amount - min(max(0, -before), amount)
    for use in reversed(restore):
        give = min(use.amount, to_place)
        if give <= 0:
            break
        Lot.update(remaining=Lot.remaining + give).where(Lot.id == use.lot_id).execute()
        to_place -= give
    if to_place > 0 or not restore:
        _LOT.run(
            posting.member_id,
            posting.id,
            amount,
            to_place,
            sql.instant(now),
            sql.instant(expires_at),
        )


def _debit_lots(posting: Posting, amount: int, prefer: tuple[int, ...], spend: bool) -> None:
    need = amount
    if prefer:
        need = _take(
            posting,
            Lot.select().where(Lot.id.in_(prefer), Lot.remaining > 0).order_by(Lot.id),
            need,
        )
    while need > 0:
        batch = (
            Lot.select()
            .where(Lot.member == posting.member_id, Lot.remaining > 0)
            .order_by(Lot.expires_at.asc(nulls="LAST"), Lot.id)
            .limit(50)
        )
        left = _take(posting, batch, need)
        if left == need:
            break
        need = left
    if need > 0 and spend:
        # The conditional update let this spend through, so the lots must cover it.
        raise RuntimeError(f"lots of member {posting.member_id} short by {need}")


def _take(posting: Posting, lots, need: int) -> int:
    for lot in lots:
        if need == 0:
            break
        take = min(lot.remaining, need)
        Lot.update(remaining=Lot.remaining - take).where(Lot.id == lot.id).execute()
        LotUse.create(posting=posting, lot=lot.id, amount=take)
        need -= take
    return need


def reverse(
    txn_id: int, *, now: datetime, cause: Cause, kind: str = "reversal"
) -> LedgerTransaction:
    """Post the mirror image of a transaction; each transaction can be reversed once."""
    original = LedgerTransaction.get_or_none(LedgerTransaction.id == txn_id)
    if original is None:
        raise DomainError(
            ErrorCode.TRANSACTION_NOT_FOUND, "no transaction with this id", "transactionId"
        )
    if original.reverses_id is not None:
        raise DomainError(
            ErrorCode.NOT_REVERSIBLE,
            "a reversal cannot itself be reversed; post a new transaction",
            "transactionId",
        )
    if LedgerTransaction.select().where(LedgerTransaction.reverses == original.id).exists():
        raise DomainError(
            ErrorCode.ALREADY_REVERSED,
            "this transaction has already been reversed",
            "transactionId",
        )
    legs = []
    postings = list(
        Posting.select(Posting, Account)
        .join(Account)
        .where(Posting.txn == original.id)
        .order_by(Posting.id)
    )
    for p in postings:
        prefer: tuple[int, ...] = ()
        restore: tuple[LotUse, ...] = ()
        if p.amount > 0:
            prefer = tuple(lot.id for lot in Lot.select(Lot.id).where(Lot.posting == p.id))
        else:
            restore = tuple(LotUse.select().where(LotUse.posting == p.id).order_by(LotUse.id))
        legs.append(Leg(p.account, -p.amount, prefer_lots=prefer, restore=restore))
    try:
        with write_transaction():  # a savepoint: its notices go if it is undone
            return post(
                kind, legs, now=now, member_id=original.member_id, cause=cause, reverses=original
            )
    except IntegrityError as exc:  # a concurrent reversal won the unique reverses_id
        raise DomainError(
            ErrorCode.ALREADY_REVERSED,
            "this transaction has already been reversed",
            "transactionId",
        ) from exc
