"""What a batch of events reads and writes, statement by statement (server/core/ingest.py
decides; this module holds the SQL): idempotency keys claimed and read back, the
members with their counters, the period counters and recent messages the rules may
read, and the counters, messages and leaderboard standings written once per batch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from server.core import level_job
from server.core.engine import Counter
from server.core.idempotency import LEGACY
from server.core.periods import period_key
from server.core.standings import PERIODS
from server.store import bulk, sql
from server.store.db import is_postgres

if TYPE_CHECKING:
    from server.core.batch_store import BatchStore as Store
    from server.core.ingest import Claim


@dataclass
class Member:
    joined_at: datetime | None
    display_name: str | None
    external_id: str
    level: str | None = None  # the level held (server/core/levels.py)


class Standings:
    """Leaderboard scores of the batch, added up per board row, written in one statement.

    An event adds to six rows (day, week and month; program-wide and its community): the
    amounts are first added up per (metric, member, community, day), the rows made once
    from those at the end.
    """

    def __init__(self) -> None:
        # (metric, member, community, day, periods) -> [amount, at], in the order of each
        # key's last add (a key added to again moves to the end).
        self.added: dict[tuple, list] = {}

    def add(
        self, metric, member_id, community, at: datetime, day: date, amount: int, periods=PERIODS
    ) -> None:
        key = (metric, member_id, community, day, periods)
        added = self.added.pop(key, None)
        self.added[key] = [amount, at] if added is None else [added[0] + amount, at]

    def rows(self) -> dict[tuple[str, str, str], dict[int, list]]:
        """(metric, period key, scope) -> member -> [score, reached at]: each row's time is
        that of the last add to it."""
        boards: dict[tuple[str, str, str], dict[int, list]] = {}
        keys: dict[tuple, tuple[str, ...]] = {}  # (periods, day) -> their period keys
        for (metric, member_id, community, day, periods), (amount, at) in self.added.items():
            scopes = ("", community) if community else ("",)
            known = keys.get((periods, day))
            if known is None:
                known = keys[(periods, day)] = tuple(period_key(p, day) for p in periods)
            for key in known:
                for scope in scopes:
                    board = boards.get((metric, key, scope))
                    if board is None:
                        board = boards[(metric, key, scope)] = {}
                    row = board.get(member_id)
                    if row is None:
                        board[member_id] = [amount, at]
                    else:
                        row[0] += amount
                        row[1] = at
        return boards

    def write(self, writes: bulk.Writes) -> None:
        boards = self.rows()
        if not boards:
            return
        stamps: dict[datetime, object] = {}  # an event's time is on several rows
        rows = []
        # In key order: the upsert then walks the primary key's pages in order. The few
        # boards sorted, then each board's members (integers sort fast; tuples do not).
        for (metric, key, scope), board in sorted(boards.items()):
            for member_id in sorted(board):
                score, at = board[member_id]
                stamp = stamps.get(at)
                if stamp is None:
                    stamp = stamps[at] = sql.instant(at)
                rows.append((metric, key, scope, member_id, score, stamp))
        writes.insert(
            "standing",
            ("metric", "period", "scope", "member_id", "score", "reached_at"),
            rows,
            tail="ON CONFLICT (metric, period, scope, member_id) DO UPDATE SET "
            "score = standing.score + excluded.score, reached_at = excluded.reached_at",
        )


# -- reads and writes -------------------------------------------------------------------------


def claim_keys(rows: list[tuple[str, str, str, str]], now: datetime) -> dict:
    """Insert the keys nobody holds; those inserted, with (PostgreSQL) the id their event
    will have. A key another transaction holds is waited for by the insert."""
    stamp = sql.instant(now)
    out: dict[tuple[str, str], int | None] = {}
    postgres = is_postgres()
    result = "nextval('event_id_seq')" if postgres else "NULL"
    for chunk in bulk.each_chunk(("s", "k", "o", "h", "c"), rows):
        table, params = bulk.rows_of(("s", "k", "o", "h", "c"), [(*r, stamp) for r in chunk])
        claimed = bulk.run(
            "INSERT INTO idempotency_key (scope, key, operation, request_hash, created_at, "
            f"result_id) SELECT v.s, v.k, v.o, v.h, v.c, {result} FROM {table} AS v "
            "WHERE NOT EXISTS (SELECT 1 FROM idempotency_key l WHERE l.scope = 'legacy' "
            "AND l.key = v.k AND l.operation = v.o AND l.request_hash = v.h) "
            "ON CONFLICT (scope, key) DO NOTHING RETURNING scope, key, result_id",
            params,
        ).fetchall()
        for scope, key, result_id in claimed:
            out[(scope, key)] = result_id
    return out


def stored_keys(claims: list[Claim]) -> dict:
    """The stored keys of these claims (and legacy keys of the same requests):
    (scope, key) or (legacy, key, operation, digest) -> (operation, digest, result id)."""
    pairs = sorted({(c.scope, c.key) for c in claims} | {(LEGACY, c.key) for c in claims})
    table, params = bulk.rows_of(("s", "k"), pairs)
    rows = bulk.run(
        "SELECT scope, key, operation, request_hash, result_id FROM idempotency_key "
        f"WHERE (scope, key) IN (SELECT s, k FROM {table} AS v)",
        params,
    ).fetchall()
    out: dict = {}
    for scope, key, operation, digest, result_id in rows:
        if scope == LEGACY:
            out[(LEGACY, key, operation, digest)] = (operation, digest, result_id)
        else:
            out[(scope, key)] = (operation, digest, result_id)
    return out


# The member's level, read with the member: its multiplier applies to the batch's awards.
_LEVEL = "(SELECT level FROM member_level WHERE member_id = member.id)"


def members(member_ids: list[int], types: list[str]):
    """The members (locked on PostgreSQL, in id order) and their counters of these types.

    On PostgreSQL the counters are a statement of their own, after the lock: one statement
    sees the rows of its snapshot, taken before it waited for the lock.
    """
    marks = ", ".join("?" * len(member_ids))
    type_marks = ", ".join("?" * len(types))
    members: dict[int, Member] = {}
    counters: dict[tuple[int, str], Counter] = {}
    if is_postgres():
        for mid, joined, name, external, level in bulk.run(
            f"SELECT id, joined_at, display_name, external_id, {_LEVEL} FROM member "
            f"WHERE id IN ({marks}) ORDER BY id FOR NO KEY UPDATE",
            member_ids,
        ).fetchall():
            members[mid] = Member(sql.read_instant(joined), name, external, level)
        if not members:
            return members, counters
        level_job.locked(members)  # its evaluation of these members need not lock again
        rows = bulk.run(
            "SELECT member_id, event_type, total, active, streak, last_day, last_at "
            f"FROM member_counter WHERE member_id IN ({marks}) AND event_type IN ({type_marks})",
            [*member_ids, *types],
        ).fetchall()
    else:
        rows = []
        for mid, joined, name, external, level, *counter in bulk.run(
            "SELECT m.id, m.joined_at, m.display_name, m.external_id, "
            f"{_LEVEL.replace('member.id', 'm.id')}, c.member_id, "
            "c.event_type, c.total, c.active, c.streak, c.last_day, c.last_at FROM member m "
            "LEFT JOIN member_counter c ON c.member_id = m.id "
            f"AND c.event_type IN ({type_marks}) WHERE m.id IN ({marks})",
            [*types, *member_ids],
        ).fetchall():
            members[mid] = Member(sql.read_instant(joined), name, external, level)
            if counter[0] is not None:
                rows.append(counter)
    for mid, event_type, total, active, streak, last_day, last_at in rows:
        counters[(mid, event_type)] = Counter(
            total, active, streak, sql.read_date(last_day), sql.read_instant(last_at)
        )
    return members, counters


def period_counters(keys: set[tuple[int, str, str]]) -> dict:
    """The counters of these (member, scope, period) keys, looked up by their primary key
    whatever else the table holds (every member's every minute of messages, for one)."""
    wanted = sorted(keys)
    out: dict = {}
    for chunk in bulk.each_chunk(("m", "s", "p"), wanted):
        table, params = bulk.rows_of(("m", "s", "p"), chunk)
        rows = bulk.run(
            "SELECT c.member_id, c.scope, c.period, c.times, c.points FROM period_counter c "
            f"JOIN {table} AS v ON c.member_id = v.m AND c.scope = v.s AND c.period = v.p",
            params,
        ).fetchall()
        out.update({(m, s, p): (t, pts) for m, s, p, t, pts in rows})
    return out


def recent_messages(member_ids: list[int]) -> dict[int, list[str]]:
    rows = bulk.run(
        "SELECT member_id, recent FROM message_memory "
        f"WHERE member_id IN ({', '.join('?' * len(member_ids))})",
        member_ids,
    ).fetchall()
    return {m: list(json.loads(r) if isinstance(r, str) else r) for m, r in rows}


def write_counters(store: Store, writes: bulk.Writes) -> None:
    moved = [
        (
            mid,
            event_type,
            c.total,
            store.active_moved[(mid, event_type)],
            c.streak,
            sql.day(c.last_day),
            sql.instant(c.last_at),
        )
        for (mid, event_type), c in store.counters.items()
        if (mid, event_type) in store.active_moved
    ]
    if moved:
        # `active` moves by difference: a referral revoked meanwhile must stay revoked.
        writes.insert(
            "member_counter",
            ("member_id", "event_type", "total", "active", "streak", "last_day", "last_at"),
            moved,
            tail="ON CONFLICT (member_id, event_type) DO UPDATE SET total = excluded.total, "
            "active = member_counter.active + excluded.active, streak = excluded.streak, "
            "last_day = excluded.last_day, last_at = excluded.last_at",
        )


def write_period_counters(store: Store, writes: bulk.Writes) -> None:
    if store.period_moved:
        writes.insert(
            "period_counter",
            ("member_id", "scope", "period", "times", "points"),
            [(*key, times, points) for key, (times, points) in store.period_moved.items()],
            tail="ON CONFLICT (member_id, scope, period) DO UPDATE SET "
            "times = period_counter.times + excluded.times, "
            "points = period_counter.points + excluded.points",
        )


def write_messages(store: Store, writes: bulk.Writes) -> None:
    if store.messages_moved:
        writes.insert(
            "message_memory",
            ("member_id", "recent"),
            [(m, sql.document(store.messages[m])) for m in sorted(store.messages_moved)],
            tail="ON CONFLICT (member_id) DO UPDATE SET recent = excluded.recent",
        )
