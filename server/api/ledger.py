"""The ledger as clients see it: entries, transactions, summaries, reversals."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from server.api import ids
from server.api.batch import Batch, Batched, grouped, keyed, related
from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.node import Node
from server.api.ownership import owned
from server.api.pagination import (
    After,
    CountedConnection,
    First,
    connection,
    decode_cursor,
    page_size,
)
from server.api.refs import EventRef, MemberRef
from server.core import adjustments, entries, history, reads
from server.core.entries import Entry, Txn
from server.store import models
from server.store.db import write_transaction


@strawberry.enum(name="AccountKind", description="Which kind of account an entry moved points in.")
class AccountKindType(Enum):
    AVAILABLE = strawberry.enum_value(
        "available", description="A member's wallet of points to spend now."
    )
    PENDING = strawberry.enum_value(
        "pending", description="A member's wallet of points awarded and waiting for review."
    )
    HELD = strawberry.enum_value(
        "held", description="A member's wallet of points reserved by open checkouts."
    )
    ISSUANCE = strawberry.enum_value(
        "issuance", description="The program's account of what one campaign has issued."
    )
    ADJUSTMENT = strawberry.enum_value(
        "adjustment", description="The program's account of manual awards and deductions."
    )
    REDEMPTION = strawberry.enum_value(
        "redemption", description="The program's account of points spent on catalog items."
    )
    CHECKOUT = strawberry.enum_value(
        "checkout", description="The program's account of points spent on shop orders."
    )
    LOTTERY = strawberry.enum_value(
        "lottery", description="The program's account of lottery draws and points prizes."
    )
    EXPIRY = strawberry.enum_value(
        "expiry", description="The program's account of points that expired."
    )
    STREAK = strawberry.enum_value(
        "streak",
        description="The program's account of points spent on streak freezes and make-up "
        "check-ins.",
    )


# By stored value: a look-up in a dict, where calling the enum class costs ten times more.
_ACCOUNT_KINDS = {kind.value: kind for kind in AccountKindType}


@strawberry.enum(description="Which accounts a ledger listing covers.")
class LedgerScope(Enum):
    MEMBER_WALLETS = strawberry.enum_value(
        "member_wallets", description="Entries in members' wallets (the default)."
    )
    PROGRAM_ACCOUNTS = strawberry.enum_value(
        "program_accounts", description="Entries in the program's accounts only."
    )
    ALL = strawberry.enum_value("all", description="Every entry: both sides of each transaction.")


def _entry_owner(entry: LedgerEntry) -> int | None:
    # A program account's side of a member's transaction is part of that member's history.
    row = entry.row
    return row.member_id if row.member_id is not None else row.txn.member_id


@owned(_entry_owner)
@strawberry.type(description="One posting: points moving into (+) or out of (-) one account.")
class LedgerEntry(Node, Batched):
    # Scalars are plain attributes, copied from the row when the object is made: a page
    # of 50 entries resolves hundreds of them, and an attribute costs a fraction of a
    # resolver method's call.
    row: strawberry.Private[Entry]
    batch: strawberry.Private[Batch | None] = None
    id: strawberry.ID = strawberry.field(default=None, description="Stable id, e.g. `ent_7`.")
    amount: int = strawberry.field(
        default=None, description="Points in (+) or out (-) of the account."
    )
    balance_after: int | None = strawberry.field(
        default=None,
        description="The member wallet's balance right after; null for program accounts.",
    )
    account_kind: AccountKindType = strawberry.field(
        default=None, description="The kind of account."
    )
    account: str = strawberry.field(
        default=None,
        description="The account's key, e.g. `available:42` or `issuance:daily-checkin`.",
    )
    created_at: datetime = strawberry.field(default=None, description="When it was posted.")

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(ids.encode("entry", row.id))
        self.amount, self.balance_after, self.created_at = (
            row.amount,
            row.balance_after,
            row.created_at,
        )
        self.account_kind, self.account = _ACCOUNT_KINDS[row.account.kind], row.account.key

    @strawberry.field(description="The member whose wallet this is; null for program accounts.")
    def member(self) -> MemberRef | None:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="The transaction this entry belongs to: why it exists.")
    def transaction(self) -> Transaction:
        found = self.peers.load(
            "transaction", lambda rows: keyed({e.txn.id: e.txn for e in rows}, _transaction)
        )
        return found[self.row.txn.id]


@owned(lambda t: t.row.member_id)
@strawberry.type(description="A balanced set of entries, with the reason it exists.")
class Transaction(Node, Batched):
    # Scalars are plain attributes, as on LedgerEntry.
    row: strawberry.Private[Txn]
    batch: strawberry.Private[Batch | None] = None
    id: strawberry.ID = strawberry.field(default=None, description="Stable id, e.g. `txn_3`.")
    kind: str = strawberry.field(
        default=None,
        description="What kind of movement: `adjustment`, `reversal`, `award`...",
    )
    created_at: datetime = strawberry.field(default=None, description="When it was posted.")

    @strawberry.field(description="The member it concerns, if any.")
    def member(self) -> MemberRef | None:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    actor: str | None = strawberry.field(
        default=None, description="Who did it (`role:name`), for manual transactions."
    )
    approver: str | None = strawberry.field(
        default=None, description="Who approved it, when a second person had to."
    )
    reason: str | None = strawberry.field(
        default=None,
        description="The reason given by whoever did it; for an award, the rule's text, and "
        "for a board's prize, the period, rank and metric (`week 2026-10 rank 1 by messages`).",
    )
    campaign: str | None = strawberry.field(
        default=None, description="The campaign that awarded it."
    )
    campaign_version: int | None = strawberry.field(
        default=None, description="The campaign version in force when it was awarded."
    )
    rule_line: int | None = strawberry.field(
        default=None,
        description="The line of the rule that awarded it, in the file it was published "
        "from: the line `jifen rules check` prints.",
    )
    rule_text: str | None = strawberry.field(
        default=None, description="The text of the rule that awarded it."
    )

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(ids.encode("transaction", row.id))
        self.kind, self.created_at = row.kind, row.created_at
        # An award's reason is its rule's text; a board prize's, its period, rank and metric.
        self.actor, self.approver = row.actor, row.approver
        self.reason = row.reason or row.rule_text
        self.campaign, self.campaign_version = row.campaign, row.campaign_version
        self.rule_line, self.rule_text = row.rule_line, row.rule_text

    @strawberry.field(
        description="Why it exists, in one sentence: event, campaign, version "
        "and rule, or who did it and why."
    )
    def why(self) -> str:
        event = self._event()
        return explain(self.row, event.row if event is not None else None)

    @strawberry.field(description="The event that caused it.")
    def event(self) -> EventRef | None:
        return self._event()

    @strawberry.field(description="The transaction this one reverses.")
    def reverses(self) -> Transaction | None:
        if self.row.reverses_id is None:
            return None
        return related(self.peers, "reverses_id", entries.transactions, _transaction).get(
            self.row.reverses_id
        )

    @strawberry.field(description="The transaction that reversed this one, if any.")
    def reversed_by(self) -> Transaction | None:
        found = self.peers.load(
            "reversed_by",
            lambda rows: keyed(entries.reversals(r.id for r in rows), _transaction),
        )
        return found.get(self.row.id)

    @strawberry.field(description="Its entries; they sum to zero.")
    def entries(self) -> list[LedgerEntry]:
        found = self.peers.load(
            "entries",
            lambda rows: grouped(
                entries.entries_of({r.id: r for r in rows}),
                lambda e, b: LedgerEntry(row=e, batch=b),
            ),
        )
        return found[self.row.id]

    def _event(self):
        from server.api.events import Event

        if self.row.event_id is None:
            return None
        found = related(
            self.peers,
            "event_id",
            lambda ids: reads.by_id(models.Event, ids),
            lambda row, b: Event(row=row, batch=b),
        )
        return found.get(self.row.event_id)


def _rule(t: Txn) -> str:
    version = f"{t.campaign} v{t.campaign_version}"
    if not t.rule_line:
        return f"campaign {version}"
    # Awards made before files were remembered know only their line.
    where = f"{t.rule_file}:{t.rule_line}" if t.rule_file else f"line {t.rule_line}"
    return f"{t.rule_text} — {version}, {where}" if t.rule_text else f"{version}, {where}"


def _transaction(row: Txn, batch: Batch) -> Transaction:
    return Transaction(row=row, batch=batch)


def transaction_by_id(txn_id: int) -> Transaction | None:
    """One transaction on its own (a mutation's payload, a root field)."""
    row = entries.transactions([txn_id]).get(txn_id)
    return Transaction(row=row) if row is not None else None


def transaction_of(peers: Batch, txn_id: int | None, attr: str = "txn_id") -> Transaction | None:
    """The transaction a row of `peers` names by `attr`, read for every row at once."""
    if txn_id is None:
        return None
    return related(peers, attr, entries.transactions, _transaction).get(txn_id)


def explain(t: Txn, event: models.Event | None = None) -> str:
    """Why a transaction exists, in one sentence: the rule, its campaign version and the
    file and line it is written on (as `jifen rules check` prints them), the event
    (`event`: the one it names, if any), and who did it and why."""
    parts = []
    if t.campaign is not None:
        parts.append(_rule(t))
    if event is not None:
        parts.append(
            f"{event.type} {ids.encode('event', event.id)} at {event.occurred_at.isoformat()}"
        )
    if t.reverses_id is not None:
        parts.append(f"reverses {ids.encode('transaction', t.reverses_id)}")
    if t.actor:
        parts.append(f"by {t.actor}" + (f", approved by {t.approver}" if t.approver else ""))
    if t.reason:
        parts.append(f"reason: {t.reason}")
    return f"{t.kind}: " + "; ".join(parts) if parts else t.kind


@strawberry.input(description="Which entries to list.")
class LedgerFilter:
    member_id: strawberry.ID | None = strawberry.field(default=None, description="One member.")
    kinds: list[str] | None = strawberry.field(default=None, description="Transaction kinds.")
    campaign: str | None = strawberry.field(default=None, description="One campaign.")
    since: datetime | None = strawberry.field(
        default=None, name="from", description="Posted at or after."
    )
    until: datetime | None = strawberry.field(default=None, name="to", description="Posted before.")
    scope: LedgerScope = strawberry.field(
        default=LedgerScope.MEMBER_WALLETS, description="Which accounts."
    )


@strawberry.input(description="Undo a transaction by posting its mirror image.")
class TransactionReverseInput:
    transaction_id: strawberry.ID = strawberry.field(description="What to reverse.")
    reason: str = strawberry.field(description="Why, up to 500 characters.")


@strawberry.type(description="Result of transactionReverse.")
class TransactionReversePayload:
    reversal: Transaction | None = strawberry.field(
        default=None, description="The new transaction."
    )
    reversed: Transaction | None = strawberry.field(default=None, description="The original.")
    replayed: bool = strawberry.field(
        default=False,
        description="True when this transaction was already reversed for the same reason: "
        "the first reversal is returned and nothing new happened.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


def _entry_filter(flt: LedgerFilter | None) -> history.EntryFilter:
    if flt is None:
        return history.EntryFilter()
    member_id = (
        ids.decode("member", flt.member_id, "filter.memberId")
        if flt.member_id is not None
        else None
    )
    return history.EntryFilter(
        member_id=member_id,
        kinds=tuple(flt.kinds or ()),
        campaign=flt.campaign,
        since=flt.since,
        until=flt.until,
        scope=history.Scope(flt.scope.value),
    )


@strawberry.type
class LedgerQuery:
    @strawberry.field(
        description="Ledger entries for analysts, newest first, with filters.",
        permission_classes=gate("Query.ledger"),
    )
    def ledger(
        self,
        filter: Annotated[
            LedgerFilter | None, strawberry.argument(description="Which entries.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> CountedConnection[LedgerEntry]:
        def work():
            limit, cursor, flt = page_size(first), decode_cursor(after), _entry_filter(filter)
            rows = entries.page(flt, before_id=cursor, limit=limit + 1)
            return connection(
                rows,
                limit,
                key=lambda e: e.id,
                node=lambda e, b: LedgerEntry(row=e, batch=b),
                cursor=cursor,
                count=lambda: entries.count(flt),
            )

        return query(work)

    @strawberry.field(
        description="One transaction by id.", permission_classes=gate("Query.transaction")
    )
    def transaction(
        self, id: Annotated[strawberry.ID, strawberry.argument(description="The transaction's id.")]
    ) -> Transaction | None:
        def work():
            return transaction_by_id(ids.decode("transaction", id, "id"))

        return query(work)


@strawberry.type
class LedgerMutation:
    @strawberry.mutation(
        description="Reverse a transaction once: its mirror image is posted "
        "and points back to it. A wallet may go negative if the points were "
        "already spent.",
        permission_classes=gate("Mutation.transactionReverse"),
    )
    def transaction_reverse(
        self,
        info: Info,
        input: Annotated[
            TransactionReverseInput, strawberry.argument(description="What to reverse and why.")
        ],
    ) -> TransactionReversePayload:
        ctx = info.context

        def work():
            tid = ids.decode("transaction", input.transaction_id, "transactionId")
            with write_transaction():
                txn, replayed = adjustments.reverse_by_operator(
                    tid, input.reason, actor=ctx.actor, now=ctx.now
                )
            return TransactionReversePayload(
                reversal=transaction_by_id(txn.id),
                reversed=transaction_by_id(tid),
                replayed=replayed,
            )

        return mutation(TransactionReversePayload, work)
