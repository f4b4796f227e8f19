"""Ledger entries and transactions as plain rows, read set by set.

A page of history is read with fixed SQL into slotted rows: no model object is built per
row and no query per field. Whatever a page's entries or transactions refer to — their
transactions, the entries of those, what reversed them — is read for the whole page in
one statement (`transactions`, `entries_of`, `reversals`), and the pages of many members
at once in one statement too (`member_pages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.core.history import EntryFilter, Scope
from server.store.sql import Sql, instant, read_instant

_TXN = (
    "t.id, t.kind, t.member_id, t.created_at, t.event_id, t.campaign, t.campaign_version, "
    "t.rule_line, t.rule_text, t.actor, t.approver, t.reason, t.reverses_id, t.rule_file"
)
_ENTRY = "p.id, p.amount, p.balance_after, p.created_at, p.member_id, a.kind, a.key"
_FROM = (
    "FROM posting p JOIN ledger_transaction t ON t.id = p.txn_id "
    "JOIN account a ON a.id = p.account_id"
)


@dataclass(slots=True)
class Txn:
    """One ledger transaction, as stored."""

    id: int
    kind: str
    member_id: int | None
    created_at: datetime
    event_id: int | None
    campaign: str | None
    campaign_version: int | None
    rule_line: int | None
    rule_text: str | None
    actor: str | None
    approver: str | None
    reason: str | None
    reverses_id: int | None
    rule_file: str | None


@dataclass(slots=True)
class AccountRef:
    kind: str
    key: str


@dataclass(slots=True)
class Entry:
    """One posting, with its account and its transaction."""

    id: int
    amount: int
    balance_after: int | None
    created_at: datetime
    member_id: int | None
    account: AccountRef
    txn: Txn


def _txn(row, created_at: datetime | None = None) -> Txn:
    return Txn(row[0], row[1], row[2], created_at or read_instant(row[3]), *row[4:14])


def _entry(row) -> Entry:
    # Entry columns first (7), then the transaction's (14). A posting is stored at its
    # transaction's instant: the text is parsed once for both (a page parses 100 else).
    created_at = read_instant(row[3])
    return Entry(
        row[0],
        row[1],
        row[2],
        created_at,
        row[4],
        AccountRef(row[5], row[6]),
        _txn(row[7:], created_at if row[10] == row[3] else None),
    )


def page(flt: EntryFilter, *, before_id: int | None, limit: int) -> list[Entry]:
    """Entries, newest first, strictly older than the `before_id` cursor."""
    where, params = _conditions(flt, before_id)
    sql = _statement(f"SELECT {_ENTRY}, {_TXN} {_FROM}{where} ORDER BY p.id DESC LIMIT ?")
    return [_entry(r) for r in sql.run(*params, limit).fetchall()]


def member_pages(
    member_ids: list[int], *, before_id: int | None, limit: int, kinds: tuple[str, ...] = ()
) -> dict[int, list[Entry]]:
    """The newest `limit` entries of each member, in one statement (each member's part
    walks that member's index backwards, however long their history)."""
    members = sorted(set(member_ids))
    if not members:
        return {}
    parts, params = [], []
    for n, member_id in enumerate(members):
        where, more = _conditions(EntryFilter(member_id=member_id, kinds=kinds), before_id)
        parts.append(
            f"SELECT * FROM (SELECT {_ENTRY}, {_TXN} {_FROM}{where} "
            f"ORDER BY p.id DESC LIMIT ?) AS m{n}"
        )
        params.extend([*more, limit])
    found: dict[int, list[Entry]] = {m: [] for m in members}
    for row in _statement(" UNION ALL ".join(parts)).run(*params).fetchall():
        found[row[4]].append(_entry(row))
    for rows in found.values():
        rows.sort(key=lambda e: -e.id)
    return found


def entries(ids) -> dict[int, Entry]:
    """Entries by id, with their accounts and transactions, in one statement."""
    keys = sorted({i for i in ids if i is not None})
    if not keys:
        return {}
    sql = _statement(f"SELECT {_ENTRY}, {_TXN} {_FROM} WHERE p.id IN ({_marks(keys)})")
    return {row[0]: _entry(row) for row in sql.run(*keys).fetchall()}


def count(flt: EntryFilter) -> int:
    """How many entries `page` pages through, with the same filter, in one statement."""
    where, params = _conditions(flt, None)
    return _statement(f"SELECT COUNT(*) {_FROM}{where}").run(*params).fetchone()[0]


def member_counts(member_ids, kinds: tuple[str, ...] = ()) -> dict[int, int]:
    """How many entries each member's `member_pages` page through, in one statement."""
    members = sorted(set(member_ids))
    if not members:
        return {}
    where = [f"p.member_id IN ({_marks(members)})"]
    if kinds:
        where.append(f"t.kind IN ({_marks(kinds)})")
    sql = _statement(
        f"SELECT p.member_id, COUNT(*) {_FROM} WHERE {' AND '.join(where)} GROUP BY p.member_id"
    )
    found = dict.fromkeys(members, 0)
    found.update({row[0]: row[1] for row in sql.run(*members, *kinds).fetchall()})
    return found


def transactions(ids) -> dict[int, Txn]:
    """Transactions by id, in one statement."""
    keys = sorted({i for i in ids if i is not None})
    if not keys:
        return {}
    sql = _statement(f"SELECT {_TXN} FROM ledger_transaction t WHERE t.id IN ({_marks(keys)})")
    return {row[0]: _txn(row) for row in sql.run(*keys).fetchall()}


def reversals(ids) -> dict[int, Txn]:
    """The transactions that reversed these, by the id of the one each reversed."""
    keys = sorted({i for i in ids if i is not None})
    if not keys:
        return {}
    sql = _statement(
        f"SELECT {_TXN} FROM ledger_transaction t WHERE t.reverses_id IN ({_marks(keys)})"
    )
    return {row[12]: _txn(row) for row in sql.run(*keys).fetchall()}


def entries_of(txns: dict[int, Txn]) -> dict[int, list[Entry]]:
    """Every entry of these transactions, in posting order, by transaction id."""
    if not txns:
        return {}
    keys = sorted(txns)
    sql = _statement(
        f"SELECT {_ENTRY}, p.txn_id FROM posting p JOIN account a ON a.id = p.account_id "
        f"WHERE p.txn_id IN ({_marks(keys)}) ORDER BY p.id"
    )
    found: dict[int, list[Entry]] = {k: [] for k in keys}
    for row in sql.run(*keys).fetchall():
        txn = txns[row[7]]
        found[txn.id].append(
            Entry(row[0], row[1], row[2], read_instant(row[3]), row[4], AccountRef(*row[5:7]), txn)
        )
    return found


def _conditions(flt: EntryFilter, before_id: int | None) -> tuple[str, list]:
    where, params = [], []
    if flt.member_id is not None:
        where.append("p.member_id = ?")
        params.append(flt.member_id)
    if flt.scope is Scope.MEMBER_WALLETS and flt.member_id is None:
        where.append("p.member_id IS NOT NULL")
    elif flt.scope is Scope.PROGRAM_ACCOUNTS:
        where.append("p.member_id IS NULL")
    if flt.kinds:
        where.append(f"t.kind IN ({_marks(flt.kinds)})")
        params.extend(flt.kinds)
    if flt.campaign is not None:
        where.append("t.campaign = ?")
        params.append(flt.campaign)
    if flt.since is not None:
        where.append("p.created_at >= ?")
        params.append(instant(flt.since))
    if flt.until is not None:
        where.append("p.created_at < ?")
        params.append(instant(flt.until))
    if before_id is not None:
        where.append("p.id < ?")
        params.append(before_id)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def _marks(values) -> str:
    return ", ".join("?" * len(values))


_statements: dict[str, Sql] = {}


def _statement(text: str) -> Sql:
    """The statement for this text, prepared for both databases once."""
    sql = _statements.get(text)
    if sql is None:
        if len(_statements) > 1000:  # texts vary with list lengths; keep the set bounded
            _statements.clear()
        sql = _statements[text] = Sql(text)
    return sql
