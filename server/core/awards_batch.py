"""The awards of a batch of events, written to the ledger set-based.

Each award is one balanced transaction (the member's wallet up, the campaign's issuance
account down), exactly as `ledger.post` writes it: the same transaction and posting rows,
each wallet posting with the wallet's balance after it, each credit to an available wallet
a lot (a negative wallet is paid back first). What differs is how: every table is written
once for the whole batch — transactions, wallets (one UPDATE returning their balances,
from which each posting's balance after is worked out), postings, lots, program slots.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from server.core import accounts, level_job, notify
from server.core.accounts import AccountKind, wallet_key
from server.core.ledger import MAX_POINTS, Cause
from server.observe import metrics
from server.store import bulk, sql
from server.store.db import transaction_memo
from server.store.models import Account


@dataclass
class Award:
    """One award to be posted: `points` to a member's wallet from a campaign's issuance."""

    member_id: int
    campaign: str
    points: int
    pending: bool
    cause: Cause
    expires_at: datetime | None
    earned_at: datetime | None = None  # when its event happened (default: now)
    id: int | None = None  # the transaction's, once written
    balance_after: int | None = None  # the wallet's


@dataclass
class AwardsBatch:
    now: datetime
    awards: list[Award] = field(default_factory=list)
    issuance: dict = field(default_factory=dict)  # campaign -> its issuance account

    def add(self, award: Award) -> Award:
        if not 0 < award.points <= MAX_POINTS:
            raise ValueError(f"posting amounts must be in 1..{MAX_POINTS}")
        self.awards.append(award)
        return award

    def flush(self) -> None:
        """Write every award (inside the caller's transaction); sets each award's id."""
        if not self.awards:
            return
        now = self.now
        stamp = sql.instant(now)
        self.issuance = issuance = {
            campaign: accounts.program_account(AccountKind.ISSUANCE, campaign)
            for campaign in {a.campaign for a in self.awards}
        }
        ids = bulk.insert(
            "ledger_transaction",
            (
                "kind",
                "member_id",
                "created_at",
                "event_id",
                "campaign",
                "campaign_version",
                "rule_line",
                "rule_text",
                "rule_file",
                "reason",
            ),
            [
                (
                    "award",
                    a.member_id,
                    stamp,
                    a.cause.event_id,
                    a.cause.campaign,
                    a.cause.campaign_version,
                    a.cause.rule_line,
                    a.cause.rule_text,
                    a.cause.rule_file,
                    a.cause.reason,
                )
                for a in self.awards
            ],
            ids=True,
        )
        for award, txn_id in zip(self.awards, ids, strict=True):
            award.id = txn_id
        wallets = self._move_wallets()
        self._post(wallets, issuance, stamp)
        self._announce(wallets)
        level_job.touch({a.member_id for a in self.awards if not a.pending}, now)
        issued: dict[str, int] = {}
        for a in self.awards:
            if not a.pending:  # a pending award is issued when it is approved
                issued[a.campaign] = issued.get(a.campaign, 0) + a.points
        metrics.points_issued(issued)

    def _move_wallets(self) -> dict[str, tuple[int, int]]:
        """Add each wallet's total in one statement; key -> (account id, balance before)."""
        delta: dict[str, int] = defaultdict(int)
        for a in self.awards:
            delta[_wallet(a)] += a.points
        out: dict[str, tuple[int, int]] = {}
        for chunk in bulk.each_chunk(("k", "d"), list(delta.items())):
            table, params = bulk.rows_of(("k", "d"), chunk)
            rows = bulk.run(
                f"UPDATE account SET balance = account.balance + v.d FROM {table} AS v "
                "WHERE account.key = v.k RETURNING account.id, account.key, account.balance",
                params,
            ).fetchall()
            for account_id, key, balance in rows:
                out[key] = (account_id, balance - delta[key])
        if len(out) != len(delta):
            raise Account.DoesNotExist(f"wallets missing: {sorted(set(delta) - set(out))}")
        return out

    def _post(self, wallets: dict[str, tuple[int, int]], issuance: dict, stamp) -> None:
        running = {key: before for key, (_, before) in wallets.items()}
        rows, credits = [], []
        for a in self.awards:
            key = _wallet(a)
            before = running[key]
            running[key] = before + a.points
            a.balance_after = running[key]
            rows.append((a.id, wallets[key][0], a.points, a.member_id, stamp, running[key]))
            rows.append((a.id, issuance[a.campaign].id, -a.points, None, stamp, None))
            if not a.pending:
                credits.append((len(rows) - 2, a, before))
        columns = ("txn_id", "account_id", "amount", "member_id", "created_at", "balance_after")
        # The program accounts' slots go with the postings: shared rows, locked last.
        slots = bulk.Writes()
        self._move_program(slots)
        posting_ids = bulk.insert("posting", columns, rows, ids=bool(credits), along=slots)
        if not credits:
            return
        lots = []
        for index, a, before in credits:
            # A negative wallet (a clawback) is paid back first; only the rest is spendable.
            to_place = a.points - min(max(0, -before), a.points)
            lots.append(
                (
                    a.member_id,
                    posting_ids[index],
                    a.points,
                    to_place,
                    sql.instant(a.earned_at) if a.earned_at is not None else stamp,
                    sql.instant(a.expires_at),
                )
            )
        bulk.insert(
            "lot",
            ("member_id", "posting_id", "amount", "remaining", "earned_at", "expires_at"),
            lots,
        )

    def _move_program(self, writes: bulk.Writes) -> None:
        """The campaigns' issuance accounts, each in this transaction's slot."""
        slot = transaction_memo().setdefault("slot", accounts.random_slot())
        slotted: dict[int, int] = defaultdict(int)
        plain: dict[int, int] = defaultdict(int)
        for a in self.awards:
            account = self.issuance[a.campaign]
            (slotted if account.slots > 1 else plain)[account.id] -= a.points
        if slotted:
            rows = [(a, slot % accounts.PROGRAM_SLOTS, d) for a, d in slotted.items()]
            table, params = bulk.rows_of(("a", "s", "d"), rows)
            writes.add(
                f"UPDATE account_slot SET balance = account_slot.balance + v.d FROM {table} AS v "
                "WHERE account_slot.account_id = v.a AND account_slot.slot = v.s",
                params,
            )
        for account_id, d in plain.items():
            writes.add("UPDATE account SET balance = balance + ? WHERE id = ?", (d, account_id))

    def _announce(self, wallets: dict[str, tuple[int, int]]) -> None:
        for a in self.awards:
            kind = AccountKind.PENDING if a.pending else AccountKind.AVAILABLE
            notify.points_changed(
                a.id,
                "award",
                a.member_id,
                {kind.value: (a.points, a.balance_after)},
                a.cause.rule_text or a.cause.reason or "award",
                a.campaign,
                self.now,
            )


def _wallet(a: Award) -> str:
    return wallet_key(AccountKind.PENDING if a.pending else AccountKind.AVAILABLE, a.member_id)
