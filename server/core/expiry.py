"""Points expire lot by lot: exactly what is left of each lot, once, however often it runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import fn

from server.core import accounts
from server.core.accounts import AccountKind
from server.core.ledger import Cause, Leg, post
from server.observe import metrics
from server.store.db import write_transaction
from server.store.models import LedgerTransaction, Lot, Posting

BATCH = 500


@dataclass(frozen=True)
class Expiring:
    expires_at: datetime
    points: int


def expire_due(now: datetime, *, limit: int | None = None) -> int:
    """Post an expiry for every lot past its date; returns the points removed.

    Each lot is claimed with a conditional update (remaining = what we saw), so two
    workers never expire the same points; each lot commits on its own.
    """
    removed, done = 0, 0
    while limit is None or done < limit:
        due = list(
            # The campaign that issued each lot, for the metrics (through primary keys).
            Lot.select(
                Lot.id, Lot.member, Lot.remaining, LedgerTransaction.campaign.alias("issuer")
            )
            .join(Posting, on=(Lot.posting == Posting.id))
            .join(LedgerTransaction, on=(Posting.txn == LedgerTransaction.id))
            .where(Lot.remaining > 0, Lot.expires_at <= now)
            .order_by(Lot.expires_at, Lot.id)
            .limit(BATCH)
            .objects()
        )
        if not due:
            break
        for lot in due:
            with write_transaction():
                # The wallet before its lot, as every spend takes them (docs/ledger.md).
                wallet = accounts.lock_wallet(lot.member_id, AccountKind.AVAILABLE)
                claimed = (
                    Lot.update(remaining=0)
                    .where(Lot.id == lot.id, Lot.remaining == lot.remaining)
                    .execute()
                )
                if not claimed:
                    continue  # spent or expired by someone else meanwhile
                sink = accounts.program_account(AccountKind.EXPIRY)
                post(
                    "expiry",
                    [Leg(wallet, -lot.remaining, claimed_lot=lot.id), Leg(sink, lot.remaining)],
                    now=now,
                    member_id=lot.member_id,
                    cause=Cause(reason=f"lot {lot.id} expired"),
                )
                metrics.points_expired(lot.issuer, lot.remaining)
            removed += lot.remaining
            done += 1
    return removed


def expiring(member_id: int, now: datetime, within_days: int) -> list[Expiring]:
    """The member's points that expire within `within_days`, by expiry time, soonest first."""
    rows = (
        Lot.select(Lot.expires_at, fn.SUM(Lot.remaining).alias("points"))
        .where(
            Lot.member == member_id,
            Lot.remaining > 0,
            Lot.expires_at > now,
            Lot.expires_at <= now + timedelta(days=within_days),
        )
        .group_by(Lot.expires_at)
        .order_by(Lot.expires_at)
    )
    return [Expiring(r.expires_at, int(r.points)) for r in rows]
