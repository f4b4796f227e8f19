"""The ledger's invariants, checked against everything stored."""

from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, fn

from server.core import books, deliveries, streak_books
from server.core.accounts import AccountKind
from server.store.models import Account, AccountSlot, LedgerTransaction, Lot, Posting


@dataclass(frozen=True)
class Problem:
    check: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.message}"


@dataclass(frozen=True)
class Report:
    problems: list[Problem]
    transactions: int
    accounts: int
    lots: int

    @property
    def ok(self) -> bool:
        return not self.problems


def verify() -> Report:
    """Check every invariant; a report with no problems means the ledger is sound."""
    problems: list[Problem] = []
    problems += _unbalanced_transactions()
    problems += _balances_off()
    problems += _lots_out_of_bounds()
    problems += _lots_disagree_with_wallets()
    for check, find in {**books.CHECKS, **streak_books.CHECKS}.items():
        problems += [Problem(check, subject, message) for subject, message in find()]
    problems += [Problem(*found) for found in deliveries.problems()]
    return Report(
        problems,
        transactions=LedgerTransaction.select().count(),
        accounts=Account.select().count(),
        lots=Lot.select().count(),
    )


def _unbalanced_transactions() -> list[Problem]:
    total = fn.COALESCE(fn.SUM(Posting.amount), 0)
    rows = (
        LedgerTransaction.select(
            LedgerTransaction.id,
            LedgerTransaction.kind,
            total.alias("total"),
            fn.COUNT(Posting.id).alias("n"),
        )
        .join(Posting, JOIN.LEFT_OUTER, on=(Posting.txn == LedgerTransaction.id))
        .group_by(LedgerTransaction.id, LedgerTransaction.kind)
        .having((total != 0) | (fn.COUNT(Posting.id) == 0))
    )
    return [
        Problem(
            "postings sum to zero",
            f"transaction {r.id} ({r.kind})",
            f"postings sum to {r.total}" if r.n else "has no postings",
        )
        for r in rows
    ]


def _balances_off() -> list[Problem]:
    posted = (
        Posting.select(Posting.account, fn.SUM(Posting.amount).alias("total"))
        .group_by(Posting.account)
        .alias("posted")
    )
    slotted = (
        AccountSlot.select(AccountSlot.account, fn.SUM(AccountSlot.balance).alias("total"))
        .group_by(AccountSlot.account)
        .alias("slotted")
    )
    rows = (
        Account.select(
            Account.id,
            Account.key,
            Account.balance,
            fn.COALESCE(slotted.c.total, 0).alias("in_slots"),
            fn.COALESCE(posted.c.total, 0).alias("posted"),
        )
        .join(posted, JOIN.LEFT_OUTER, on=(posted.c.account_id == Account.id))
        .join(slotted, JOIN.LEFT_OUTER, on=(slotted.c.account_id == Account.id))
        .order_by(Account.id)
        .objects()
    )
    problems = []
    for r in rows:
        kept = r.balance + int(r.in_slots)
        if kept != int(r.posted):
            problems.append(
                Problem(
                    "balance equals its postings",
                    f"account {r.key}",
                    f"balance is {kept} but its postings sum to {r.posted}",
                )
            )
    return problems


def _lots_out_of_bounds() -> list[Problem]:
    rows = Lot.select().where((Lot.remaining < 0) | (Lot.remaining > Lot.amount))
    return [
        Problem(
            "lot remainder within 0..amount",
            f"lot {r.id} of member {r.member_id}",
            f"remaining {r.remaining} of {r.amount}",
        )
        for r in rows
    ]


def _lots_disagree_with_wallets() -> list[Problem]:
    open_lots = (
        Lot.select(Lot.member, fn.SUM(Lot.remaining).alias("total"))
        .group_by(Lot.member)
        .alias("open_lots")
    )
    rows = (
        Account.select(
            Account.key,
            Account.member,
            Account.balance,
            fn.COALESCE(open_lots.c.total, 0).alias("in_lots"),
        )
        .join(open_lots, JOIN.LEFT_OUTER, on=(open_lots.c.member_id == Account.member))
        .where(Account.kind == AccountKind.AVAILABLE.value)
        .objects()
    )
    problems = []
    for r in rows:
        if int(r.in_lots) != max(r.balance, 0):
            problems.append(
                Problem(
                    "lots hold the available balance",
                    f"account {r.key}",
                    f"available balance is {r.balance} but its lots hold {r.in_lots}",
                )
            )
    return problems
