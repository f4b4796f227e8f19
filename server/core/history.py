"""Reading the ledger's history: entries page by page, summaries, and a flat export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from peewee import JOIN, Value, fn

from server.core.accounts import MEMBER_WALLETS, AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.program import ProgramSettings
from server.store.models import Account, Event, LedgerTransaction, Member, Posting

ISSUING = (AccountKind.ISSUANCE.value, AccountKind.ADJUSTMENT.value)
SPENDING = (
    AccountKind.REDEMPTION.value,
    AccountKind.CHECKOUT.value,
    AccountKind.LOTTERY.value,
    AccountKind.STREAK.value,
)
EXPIRING = (AccountKind.EXPIRY.value,)
MAX_SUMMARY_BUCKETS = 1000


class Scope(StrEnum):
    MEMBER_WALLETS = "member_wallets"
    PROGRAM_ACCOUNTS = "program_accounts"
    ALL = "all"


class GroupBy(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    CAMPAIGN = "campaign"
    KIND = "kind"


@dataclass(frozen=True)
class EntryFilter:
    member_id: int | None = None
    kinds: tuple[str, ...] = ()
    campaign: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    scope: Scope = Scope.MEMBER_WALLETS


@dataclass
class SummaryRow:
    group: str
    issued: int = 0
    spent: int = 0
    expired: int = 0
    members: int = 0
    outstanding: int = 0
    since: datetime | None = None
    until: datetime | None = None

    @property
    def net(self) -> int:
        return self.issued - self.spent - self.expired


@dataclass
class Summary:
    rows: list[SummaryRow] = field(default_factory=list)
    outstanding: int = 0  # member wallets at `until`


def summary(
    since: datetime, until: datetime, group_by: GroupBy, settings: ProgramSettings
) -> Summary:
    """Points issued, spent and expired per group, with members touched and points owed."""
    if until <= since:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` must be after `from`", "to")
    owed_at_until = _outstanding_at(until)
    if group_by in (GroupBy.CAMPAIGN, GroupBy.KIND):
        column = (
            LedgerTransaction.campaign if group_by is GroupBy.CAMPAIGN else LedgerTransaction.kind
        )
        rows = _flows(since, until, column)
        for row in rows:
            row.outstanding = owed_at_until
        return Summary(rows, owed_at_until)
    result = Summary(outstanding=owed_at_until)
    moved = []
    for start, end, label in _buckets(since, until, group_by, settings):
        flows = _flows(start, end, None)
        row = flows[0] if flows else SummaryRow(label)
        row.group, row.since, row.until = label, start, end
        moved.append(_member_flow(start, end))
        result.rows.append(row)
    # What was owed at the start is what is owed at the end less what moved in between:
    # no second pass over everything posted since `since`.
    owed = owed_at_until - sum(moved)
    for row, flow in zip(result.rows, moved, strict=True):
        owed += flow
        row.outstanding = owed
    return result


def _flows(since: datetime, until: datetime, column) -> list[SummaryRow]:
    key = column if column is not None else Value("")
    amounts = (
        Posting.select(key.alias("grp"), Account.kind, fn.SUM(Posting.amount).alias("total"))
        .join(Account)
        .switch(Posting)
        # COALESCE: "member IS NULL" would steer SQLite to the member index, whose
        # statistics take NULL (half the postings) for one member among many.
        .where(
            fn.COALESCE(Posting.member, 0) == 0,
            Posting.created_at >= since,
            Posting.created_at < until,
        )
        .group_by(key, Account.kind)
    )
    if column is not None:  # by campaign or kind: the transaction says which
        amounts = amounts.join(LedgerTransaction)
    amounts = amounts.tuples()
    rows: dict[str, SummaryRow] = {}
    for grp, kind, total in amounts:
        row = rows.setdefault(grp or "", SummaryRow(grp or ""))
        total = int(total)
        if kind in ISSUING:
            row.issued -= total
        elif kind in SPENDING:
            row.spent += total
        elif kind in EXPIRING:
            row.expired += total
    counts = (
        Posting.select(key.alias("grp"), fn.COUNT(Posting.member.distinct()))
        .where(
            Posting.member.is_null(False), Posting.created_at >= since, Posting.created_at < until
        )
        .group_by(key)
    )
    if column is not None:
        counts = counts.join(LedgerTransaction)
    counts = counts.tuples()
    for grp, n in counts:
        rows.setdefault(grp or "", SummaryRow(grp or "")).members = int(n)
    return sorted(rows.values(), key=lambda r: r.group)


def _member_flow(since: datetime, until: datetime) -> int:
    total = (
        Posting.select(fn.SUM(Posting.amount))
        .where(
            Posting.member.is_null(False), Posting.created_at >= since, Posting.created_at < until
        )
        .scalar()
    )
    return int(total or 0)


def _outstanding_at(at: datetime) -> int:
    """Points owed to members at `at`: today's wallets less what moved since."""
    now_total = (
        Account.select(fn.SUM(Account.balance))
        .where(Account.kind.in_([k.value for k in MEMBER_WALLETS]))
        .scalar()
    )
    later = (
        Posting.select(fn.SUM(Posting.amount))
        .where(Posting.member.is_null(False), Posting.created_at >= at)
        .scalar()
    )
    return int(now_total or 0) - int(later or 0)


def _buckets(
    since: datetime, until: datetime, group_by: GroupBy, settings: ProgramSettings
) -> list[tuple[datetime, datetime, str]]:
    """Calendar periods in the program's time zone (weeks start on Monday)."""
    zone = settings.zone
    day = since.astimezone(zone).date()
    if group_by is GroupBy.WEEK:
        day -= timedelta(days=day.weekday())
    elif group_by is GroupBy.MONTH:
        day = day.replace(day=1)
    out = []
    while True:
        nxt = _next_period(day, group_by)
        start = max(since, datetime.combine(day, time(), zone))
        end = min(until, datetime.combine(nxt, time(), zone))
        if start >= until:
            break
        out.append((start, end, day.isoformat()))
        if len(out) > MAX_SUMMARY_BUCKETS:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"more than {MAX_SUMMARY_BUCKETS} periods: choose a shorter "
                "range or a coarser groupBy",
                "groupBy",
            )
        day = nxt
    return out


def _next_period(day: date, group_by: GroupBy) -> date:
    if group_by is GroupBy.DAY:
        return day + timedelta(days=1)
    if group_by is GroupBy.WEEK:
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


# The API's public ids (server/api/ids.py, which the domain may not import): an analyst
# joins the export with what the API answers by these.
ID_PREFIXES = {"entry": "ent", "transaction": "txn", "member": "mbr", "event": "evt"}

EXPORT_COLUMNS = [
    "entry_id",
    "created_at",
    "transaction_id",
    "transaction_kind",
    "account",
    "account_kind",
    "member_id",
    "member_external_id",
    "amount",
    "balance_after",
    "campaign",
    "campaign_version",
    "rule_line",
    "event_id",
    "event_type",
    "actor",
    "approver",
    "reason",
    "reverses_transaction_id",
]


def export_csv(since: datetime, until: datetime, *, batch: int = 1000) -> Iterator[str]:
    """Every entry in [since, until) as CSV text, a batch at a time: memory stays flat."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield _drain(buffer)
    after = 0
    while True:
        rows = list(
            Posting.select(Posting, LedgerTransaction, Account, Member, Event)
            .join(LedgerTransaction)
            .join(Event, JOIN.LEFT_OUTER)
            .switch(Posting)
            .join(Account)
            .switch(Posting)
            .join(Member, JOIN.LEFT_OUTER)
            .where(Posting.created_at >= since, Posting.created_at < until, Posting.id > after)
            .order_by(Posting.id)
            .limit(batch)
        )
        if not rows:
            return
        for p in rows:
            t = p.txn
            writer.writerow(
                [
                    _id("entry", p.id),
                    p.created_at.isoformat(),
                    _id("transaction", t.id),
                    _text(t.kind),
                    _text(p.account.key),
                    _text(p.account.kind),
                    _id("member", p.member_id),
                    _text(p.member.external_id if p.member_id else ""),
                    p.amount,
                    "" if p.balance_after is None else p.balance_after,
                    _text(t.campaign or ""),
                    _blank(t.campaign_version),
                    _blank(t.rule_line),
                    _id("event", t.event_id),
                    _text(t.event.type if t.event_id else ""),
                    _text(t.actor or ""),
                    _text(t.approver or ""),
                    _text(t.reason or ""),
                    _id("transaction", t.reverses_id),
                ]
            )
        after = rows[-1].id
        yield _drain(buffer)


# A spreadsheet runs a cell that starts with one of these as a formula
# (`=HYPERLINK(...)` in a reason); a leading apostrophe makes it text (OWASP, CSV
# injection). Only text columns are escaped: amounts keep their minus sign.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _id(kind: str, number: int | None) -> str:
    return "" if number is None else f"{ID_PREFIXES[kind]}_{number}"


def _blank(value) -> str:
    return "" if value is None else str(value)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
