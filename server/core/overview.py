"""What an operator looks for first: members by name or platform id, and how many there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from peewee import SQL, NodeList, Value, fn

from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.store.models import Account, Member

MAX_SEARCH_TEXT = 100


def search(text: str, limit: int) -> list[Member]:
    """Members whose externalId is `text`, then those whose externalId or display name
    contains it (case-insensitive for ASCII), newest first."""
    text = text.strip()
    if not text:
        raise DomainError(ErrorCode.INVALID_INPUT, "give some text to search for", "text")
    if len(text) > MAX_SEARCH_TEXT:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"search text is at most {MAX_SEARCH_TEXT} characters", "text"
        )
    exact = Member.get_or_none(Member.external_id == text)
    # `%` and `_` in what the operator typed are literal characters, not wildcards.
    pattern = "%" + "".join(f"!{c}" if c in "!%_" else c for c in text.lower()) + "%"
    rows = list(
        Member.select()
        .where(_like(Member.external_id, pattern) | _like(Member.display_name, pattern))
        .order_by(Member.id.desc())
        .limit(limit)
    )
    if exact is not None:
        rows = [exact, *(r for r in rows if r.id != exact.id)][:limit]
    return rows


def _like(column, pattern: str):
    return NodeList((fn.LOWER(column), SQL("LIKE"), Value(pattern), SQL("ESCAPE '!'")))


@dataclass(frozen=True)
class MemberCounts:
    total: int  # members at `until`
    new: int  # created in [since, until)


def counts(since: datetime, until: datetime) -> MemberCounts:
    """How many members the program had at `until`, and how many of them are new."""
    if until <= since:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` must be after `from`", "to")
    total = Member.select().where(Member.created_at < until).count()
    new = Member.select().where(Member.created_at >= since, Member.created_at < until).count()
    return MemberCounts(total=total, new=new)


@dataclass(frozen=True)
class WalletTotals:
    available: int
    pending: int
    held: int


def wallet_totals() -> WalletTotals:
    """Points in all member wallets now, by wallet: what the program owes, and in what state."""
    kinds = (AccountKind.AVAILABLE, AccountKind.PENDING, AccountKind.HELD)
    found = dict(
        Account.select(Account.kind, fn.SUM(Account.balance))
        .where(Account.kind.in_([k.value for k in kinds]))
        .group_by(Account.kind)
        .tuples()
    )
    return WalletTotals(*(int(found.get(k.value) or 0) for k in kinds))
