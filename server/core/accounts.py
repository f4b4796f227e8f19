"""Ledger accounts: three wallets per member, and the program's accounts."""

from __future__ import annotations

import random
from enum import StrEnum

from peewee import fn

from server.store.db import after_commit, locked, on_rebind, transaction_memo
from server.store.models import Account, AccountSlot
from server.store.sql import Sql

# Program accounts are touched by every award; on PostgreSQL one balance row would
# serialize all writers behind its lock, so their balance is spread over slots.
PROGRAM_SLOTS = 16


class AccountKind(StrEnum):
    # member wallets
    AVAILABLE = "available"  # spendable
    PENDING = "pending"  # awarded, waiting for review
    HELD = "held"  # reserved by an open checkout
    # program accounts
    ISSUANCE = "issuance"  # one per campaign: what the campaign has issued
    ADJUSTMENT = "adjustment"  # manual awards and deductions
    REDEMPTION = "redemption"
    CHECKOUT = "checkout"
    LOTTERY = "lottery"
    EXPIRY = "expiry"
    STREAK = "streak"  # streak freezes and make-up check-ins bought

    @property
    def is_member_wallet(self) -> bool:
        return self in MEMBER_WALLETS


MEMBER_WALLETS = (AccountKind.AVAILABLE, AccountKind.PENDING, AccountKind.HELD)


def wallet_key(kind: AccountKind, member_id: int) -> str:
    return f"{kind.value}:{member_id}"


def create_wallets(member_id: int) -> None:
    """Open a new member's wallets (inside the transaction that creates the member)."""
    Account.insert_many(
        [
            {"key": wallet_key(kind, member_id), "kind": kind.value, "member": member_id}
            for kind in MEMBER_WALLETS
        ]
    ).execute()


def wallets(member_id: int) -> dict[AccountKind, Account]:
    """The member's wallets by kind."""
    rows = Account.select().where(Account.member == member_id)
    return {AccountKind(a.kind): a for a in rows}


def balances(member_id: int) -> dict[AccountKind, int]:
    """The member's wallet balances by kind."""
    rows = Account.select(Account.kind, Account.balance).where(Account.member == member_id)
    return {AccountKind(a.kind): a.balance for a in rows}


def random_slot() -> int:
    """A draw for this transaction's slot of every program account (and budget share)."""
    return random.randrange(1 << 30)


def wallet(member_id: int, kind: AccountKind) -> Account:
    return Account.get(Account.key == wallet_key(kind, member_id))


def lock_wallet(member_id: int, kind: AccountKind) -> Account:
    """The wallet, its row locked until the transaction ends (PostgreSQL)."""
    return locked(Account.select().where(Account.key == wallet_key(kind, member_id))).get()


_WALLET = Sql(
    "SELECT id, key, kind, member_id, campaign, balance, slots FROM account WHERE key = ?"
)


def posting_wallet(member_id: int, kind: AccountKind) -> Account:
    """The wallet to name in a ledger leg, looked up once per transaction.

    Its `balance` is as read the first time: read `wallet()` to know the balance.
    """
    memo = transaction_memo()
    key = ("wallet", member_id, kind)
    if key not in memo:
        row = _WALLET.one(wallet_key(kind, member_id))
        if row is None:
            raise Account.DoesNotExist(f"no {kind.value} wallet for member {member_id}")
        id_, key_, kind_, member, campaign, balance, slots = row
        memo[key] = Account(
            id=id_,
            key=key_,
            kind=kind_,
            member=member,
            campaign=campaign,
            balance=balance,
            slots=slots,
        )
    return memo[key]


# Program accounts by key, known to be committed: their id, kind and slots never change,
# and their balance lives in the slot rows. Forgotten when another database is bound.
_program: dict[str, Account] = {}
on_rebind(_program.clear)


def program_account(kind: AccountKind, campaign: str | None = None) -> Account:
    """The program account of this kind (per campaign for issuance), created on first use."""
    if kind.is_member_wallet:
        raise ValueError(f"{kind} is a member wallet")
    if (kind is AccountKind.ISSUANCE) != (campaign is not None):
        raise ValueError("issuance accounts, and only they, belong to a campaign")
    key = f"{kind.value}:{campaign}" if campaign else kind.value
    known = _program.get(key)
    if known is not None:
        return known
    account = _program_account(kind, campaign, key)
    if account.slots > 1:  # its row's balance never moves: safe to keep
        # Once committed it exists for good (a rolled-back creation must not be kept).
        after_commit(lambda: _program.setdefault(key, account))
    return account


def _program_account(kind: AccountKind, campaign: str | None, key: str) -> Account:
    account = Account.get_or_none(Account.key == key)
    if account is not None:
        return account
    (
        Account.insert(key=key, kind=kind.value, campaign=campaign, slots=PROGRAM_SLOTS)
        .on_conflict_ignore()
        .execute()
    )
    account = Account.get(Account.key == key)
    AccountSlot.insert_many(
        [{"account": account.id, "slot": s} for s in range(PROGRAM_SLOTS)]
    ).on_conflict_ignore().execute()
    return account


def balance(account: Account) -> int:
    """An account's balance, whether kept on the row or in slots."""
    if account.slots <= 1:
        return account.balance
    total = (
        AccountSlot.select(fn.SUM(AccountSlot.balance))
        .where(AccountSlot.account == account.id)
        .scalar()
    )
    return account.balance + int(total or 0)
