"""Changing members' levels, set-based: the same statements for one member or a million.

`evaluate` works on the members listed in a temporary table: their figures in one
aggregate, their next level (rise at once; falling short starts the grace period; at its
end drop, one level at a time where the ladder says so), history rows for every change,
and the level rows, each in one statement. Events and ledger postings that move a
member's figure `touch` them: they are evaluated just before their transaction commits.
The scheduler (`tick`) re-evaluates only the members whose window moved since it last
ran, whose grace period or operator's floor ended; all of them when the ladder changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dsl.levels import Ladder
from server.core import levels, program, webhooks
from server.core.levels import MOVING_KINDS  # noqa: F401  (ledger.post reads it here)
from server.core.program import ProgramSettings
from server.store import bulk, sql
from server.store.db import before_commit, is_postgres, transaction_memo, write_transaction
from server.store.sql import Sql

_MEMO = "levels:touched"
_EVALUATED = "levels_evaluated_at"  # setting: when the scheduler last evaluated, and what
ANNOUNCED = 1000  # notices sent per evaluation at most (a ladder change moves thousands)


@dataclass(frozen=True)
class Change:
    member_id: int
    from_level: str | None
    to_level: str | None
    cause: str


def touch(member_ids, now: datetime) -> None:
    """These members' figures moved in this transaction: evaluate them before it commits."""
    if levels.ladder() is None:
        return
    memo = transaction_memo()
    pending = memo.get(_MEMO)
    if pending is None:
        pending = memo[_MEMO] = {"members": set(), "now": now}
        before_commit(lambda: _flush(pending))
    pending["members"].update(member_ids)
    pending["now"] = max(pending["now"], now)


def _flush(pending: dict) -> None:
    members = sorted(pending["members"])
    pending["members"] = set()
    if members:
        evaluate(pending["now"], members=members)


def _tables() -> None:
    stamp = "TIMESTAMP" if is_postgres() else "TEXT"
    temp = "CREATE TEMPORARY TABLE IF NOT EXISTS"
    Sql(f"{temp} level_due (member_id BIGINT PRIMARY KEY)").run()
    Sql(
        f"{temp} level_next (member_id BIGINT PRIMARY KEY, old_level VARCHAR(64), "
        "new_level VARCHAR(64), old_rank INTEGER, new_rank INTEGER, figure BIGINT, "
        f"since {stamp}, grace_until {stamp}, floor_level VARCHAR(64), floor_until {stamp}, "
        "has_row INTEGER, cause VARCHAR(32))"
    ).run()
    Sql("DELETE FROM level_due").run()
    Sql("DELETE FROM level_next").run()


def evaluate(
    now: datetime,
    *,
    members: list[int] | None = None,
    due: tuple[str, list] | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> list[Change]:
    """Evaluate the listed members (`members`, or a SELECT of member ids `due`) at `now`,
    inside the caller's transaction; returns the changes of level."""
    ladder = levels.ladder()
    if ladder is None:
        return []
    settings = program.load()
    with write_transaction():
        if members is not None and due is None and len(set(members)) <= SMALL:
            # A few members (an event, an award): no temporary tables, one SELECT.
            ids = sorted(set(members))
            if not ids:
                return []
            lock(ids)
            listed = (
                "(SELECT column1 AS member_id FROM (VALUES "
                + ", ".join("(?)" for _ in ids)
                + ") v)"
            )
            select, params = _select(ladder, now, settings, listed, ids)
            return _write_small(ladder, now, Sql(select).run(*params).fetchall(), actor, reason)
        _tables()
        if members is not None:
            rows = [(m,) for m in sorted(set(members))]
            for chunk in bulk.each_chunk(("member_id",), rows):
                bulk.insert("level_due", ("member_id",), chunk)
        if due is not None:
            Sql(f"INSERT INTO level_due (member_id) {due[0]}").run(*due[1])
        if is_postgres():  # one evaluation of a member at a time (see `lock`)
            Sql(
                "SELECT id FROM member WHERE id IN (SELECT member_id FROM level_due) "
                "ORDER BY id FOR NO KEY UPDATE"
            ).run()
        return _decide(ladder, now, settings, actor, reason)


SMALL = 200  # members evaluated without temporary tables
_COLUMNS = (
    "member_id, old_level, new_level, old_rank, new_rank, figure, since, grace_until, "
    "floor_level, floor_until, has_row, cause"
)


def _write_small(ladder: Ladder, now: datetime, rows: list, actor, reason) -> list[Change]:
    at = sql.instant(now)
    changed = [r for r in rows if r[11] is not None]
    if changed:
        bulk.insert(
            "level_history",
            ("member_id", "from_level", "to_level", "at", "cause", "actor", "reason"),
            [(r[0], r[1], r[2], at, r[11], actor, reason) for r in changed],
        )
    kept = [r for r in rows if r[10] == 1 or r[4] > 0 or r[8] is not None]
    if kept:
        bulk.insert(
            "member_level",
            (
                "member_id",
                "level",
                "since",
                "figure",
                "grace_until",
                "floor_level",
                "floor_until",
                "evaluated_at",
            ),
            [(r[0], r[2], r[6], r[5], r[7], r[8], r[9], at) for r in kept],
            tail=_UPSERT,
        )
    changes = [Change(r[0], r[1], r[2], r[11]) for r in changed]
    _announce(changes, ladder, now)
    return changes


_UPSERT = (
    "ON CONFLICT (member_id) DO UPDATE SET level = excluded.level, since = excluded.since, "
    "figure = excluded.figure, grace_until = excluded.grace_until, "
    "floor_level = excluded.floor_level, floor_until = excluded.floor_until, "
    "evaluated_at = excluded.evaluated_at"
)


def _literal(key: str) -> str:
    return "'" + key.replace("'", "''") + "'"


def _decide(
    ladder: Ladder, now: datetime, settings: ProgramSettings, actor, reason
) -> list[Change]:
    """Every member of the temporary table level_due: next levels into level_next, then
    history rows, level rows, and the changes read back."""
    select, params = _select(ladder, now, settings, "level_due", [])
    Sql(f"INSERT INTO level_next ({_COLUMNS}) {select}").run(*params)
    at = sql.instant(now)
    Sql(
        "INSERT INTO level_history (member_id, from_level, to_level, at, cause, actor, reason) "
        "SELECT member_id, old_level, new_level, ?, cause, ?, ? FROM level_next "
        "WHERE cause IS NOT NULL ORDER BY member_id"
    ).run(at, actor, reason)
    Sql(
        "INSERT INTO member_level (member_id, level, since, figure, grace_until, floor_level, "
        "floor_until, evaluated_at) SELECT member_id, new_level, since, figure, grace_until, "
        "floor_level, floor_until, ? FROM level_next WHERE has_row = 1 OR new_rank > 0 "
        f"OR floor_level IS NOT NULL {_UPSERT}"
    ).run(at)
    rows = (
        Sql(
            "SELECT member_id, old_level, new_level, cause FROM level_next "
            "WHERE cause IS NOT NULL ORDER BY member_id"
        )
        .run()
        .fetchall()
    )
    changes = [Change(*row) for row in rows]
    _announce(changes, ladder, now)
    return changes


def _select(
    ladder: Ladder, now: datetime, settings: ProgramSettings, due: str, due_params: list
) -> tuple[str, list]:
    """The SELECT of each listed member's next state (the columns of _COLUMNS), and its
    parameters; `due` is a table or subquery of member ids with `due_params`."""
    steps = ladder.steps
    rank_of = (
        "CASE {} "
        + " ".join(f"WHEN {_literal(s.key)} THEN {s.rank}" for s in steps)
        + " ELSE 0 END"
    )
    earned = (
        "CASE "
        + " ".join(f"WHEN COALESCE(f.figure, 0) >= {s.at} THEN {s.rank}" for s in reversed(steps))
        + " ELSE 0 END"
    )
    key_of = "CASE {} " + " ".join(f"WHEN {s.rank} THEN {_literal(s.key)}" for s in steps) + " END"
    figures, figure_params = levels.figure_select(ladder, due)
    at, start = sql.instant(now), sql.instant(levels.window_start(ladder, now, settings))
    keep = ladder.keep_days
    grace_end = sql.instant(now + timedelta(days=keep)) if keep is not None else None
    # Ranks: what the member holds, what the figure earns, what an operator set as a floor.
    inner = (
        "SELECT d.member_id, m.level AS old_level, "
        f"{rank_of.format('m.level')} AS old_rank, "
        f"{earned} AS earned, "
        f"CASE WHEN m.floor_until > ? THEN {rank_of.format('m.floor_level')} ELSE 0 END AS floor, "
        "CAST(COALESCE(f.figure, 0) AS BIGINT) AS figure, m.since, m.grace_until, "
        "CASE WHEN m.floor_until > ? THEN m.floor_level END AS floor_level, "
        "CASE WHEN m.floor_until > ? THEN m.floor_until END AS floor_until, "
        "CASE WHEN m.member_id IS NULL THEN 0 ELSE 1 END AS has_row "
        f"FROM {due} d LEFT JOIN ({figures}) f ON f.member_id = d.member_id "
        "LEFT JOIN member_level m ON m.member_id = d.member_id"
    )
    inner_params = [at, at, at]
    target = "(CASE WHEN x.earned >= x.floor THEN x.earned ELSE x.floor END)"
    if keep is None:
        new_rank = f"CASE WHEN x.old_rank <= {target} THEN {target} ELSE {target} END"
        new_grace, grace_params = "CAST(NULL AS TIMESTAMP)", []
        falling = "'fell-short'"
    else:
        lower = (
            f"CASE WHEN x.old_rank - 1 > {target} THEN x.old_rank - 1 ELSE {target} END"
            if ladder.one_at_a_time
            else target
        )
        new_rank = (
            f"CASE WHEN x.old_rank <= {target} THEN {target} "
            "WHEN x.grace_until IS NULL OR x.grace_until > ? THEN x.old_rank "
            f"ELSE {lower} END"
        )
        again = f"WHEN x.old_rank - 1 > {target} THEN ?" if ladder.one_at_a_time else ""
        new_grace = (
            f"CASE WHEN x.old_rank <= {target} THEN NULL "
            "WHEN x.grace_until IS NULL THEN ? "
            "WHEN x.grace_until > ? THEN x.grace_until "
            f"{again} ELSE NULL END"
        )
        grace_params = [grace_end, at] + ([grace_end] if ladder.one_at_a_time else [])
        falling = "'grace-ended'"
    middle = (
        "SELECT x.member_id, x.old_level, x.old_rank, x.earned, x.floor, x.figure, x.since, "
        "x.floor_level, x.floor_until, x.has_row, "
        f"{new_rank} AS new_rank, {new_grace} AS grace_until "
        f"FROM ({inner}) x"
    )
    new_rank_params = [] if keep is None else [at]
    stale = "(y.old_level IS NOT NULL AND y.old_rank = 0)"
    changed = f"(y.new_rank <> y.old_rank OR {stale})"
    statement = (
        f"SELECT y.member_id, y.old_level, {key_of.format('y.new_rank')}, y.old_rank, "
        f"y.new_rank, y.figure, CASE WHEN {changed} OR y.since IS NULL THEN ? ELSE y.since END, "
        "y.grace_until, y.floor_level, y.floor_until, y.has_row, "
        f"CASE WHEN NOT {changed} THEN NULL "
        "WHEN y.new_rank > y.old_rank AND y.floor > y.earned AND y.new_rank = y.floor "
        "THEN 'manual' WHEN y.new_rank > y.old_rank THEN 'qualified' "
        f"WHEN {stale} AND y.new_rank >= y.old_rank THEN 'ladder-changed' ELSE {falling} END "
        f"FROM ({middle}) y"
    )
    # Parameters in text order: the SELECT's `since`, then middle's new_rank, new_grace,
    # then inner's floor tests, the members listed, then the figure's: its members, its
    # window and its own.
    params = [
        at,
        *new_rank_params,
        *grace_params,
        *inner_params,
        *due_params,
        *due_params,
        start,
        at,
        *figure_params,
    ]
    return statement, params


def _announce(changes: list[Change], ladder: Ladder, now: datetime) -> None:
    from server.core.levels_notice import announce

    announce(changes[:ANNOUNCED], ladder, now)
    webhooks.levels_changed(changes, now)  # every one: an endpoint asked for them all


# -- the scheduler -------------------------------------------------------------------------


@dataclass(frozen=True)
class TickResult:
    evaluated: int
    changed: int
    full: bool


def tick(now: datetime) -> TickResult:
    """Re-evaluate the members whose window moved since the last run (all of them the first
    time, or when the ladder changed), and those whose grace or floor ended."""
    ladder = levels.ladder()
    if ladder is None:
        return TickResult(0, 0, False)
    settings = program.load()
    with write_transaction():
        last = program.setting(_EVALUATED)
        last_at, last_source = None, None
        if last:
            stamp, _, last_source = last.partition("|")
            last_at = datetime.fromisoformat(stamp)
        full = last_at is None or last_source != ladder.source or last_at > now
        due, params = _due(ladder, settings, now, None if full else last_at)
        count = Sql(f"SELECT COUNT(*) FROM ({due}) n").one(*params)[0]
        changes = evaluate(now, due=(due, params)) if count else []
        value = f"{now.isoformat()}|{ladder.source}"
        Sql(
            "INSERT INTO setting (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ).run(_EVALUATED, value)
    return TickResult(count, len(changes), full)


def _due(
    ladder: Ladder, settings: ProgramSettings, now: datetime, last: datetime | None
) -> tuple[str, list]:
    """A SELECT of the member ids to evaluate, and its parameters."""
    at = sql.instant(now)
    ended = (
        "SELECT member_id FROM member_level WHERE grace_until <= ? "
        "UNION SELECT member_id FROM member_level WHERE floor_until <= ?"
    )
    start = levels.window_start(ladder, now, settings)
    if last is None or (
        ladder.days is None and levels.window_start(ladder, last, settings) != start
    ):
        # Everyone who holds a level or has anything in the window.
        moved, params = _in_window(ladder, start, now)
        return f"SELECT member_id FROM member_level UNION {moved}", params
    # What left the window since the last run.
    before = levels.window_start(ladder, last, settings)
    moved, params = _in_window(ladder, before, start, upper_open=True)
    return f"{moved} UNION {ended}", [*params, at, at]


def _in_window(
    ladder: Ladder, start: datetime, end: datetime, upper_open: bool = False
) -> tuple[str, list]:
    upper = "<" if upper_open else "<="
    if ladder.kind == "points":
        text = f"SELECT DISTINCT member_id FROM lot WHERE earned_at >= ? AND earned_at {upper} ?"
        return text, [sql.instant(start), sql.instant(end)]
    text = (
        "SELECT DISTINCT member_id FROM event WHERE occurred_at >= ? "
        f"AND occurred_at {upper} ? AND type = ?"
    )
    return text, [sql.instant(start), sql.instant(end), ladder.event]


def touch_events(events, now: datetime) -> None:
    """Recorded events (type, member_id): a ladder counting that event moves its figure."""
    ladder = levels.ladder()
    if ladder is not None and ladder.kind != "points":
        touch({e.member_id for e in events if e.type == ladder.event}, now)


def lock(member_ids) -> None:
    """On PostgreSQL, hold these members' rows (id order) until the transaction ends: one
    evaluation of a member at a time across processes. SQLite has one writer anyway.
    (`FOR NO KEY UPDATE`, as events lock their members: rows that refer to the member
    can still be written meanwhile.)"""
    if not is_postgres():
        return
    held = transaction_memo().get(_LOCKED, set())
    ids = sorted(set(member_ids) - held)
    if ids:
        marks = ", ".join("?" for _ in ids)
        Sql(f"SELECT id FROM member WHERE id IN ({marks}) ORDER BY id FOR NO KEY UPDATE").run(*ids)
        locked(ids)


_LOCKED = "levels:locked"


def locked(member_ids) -> None:
    """These members' rows are locked in this transaction already (by their events)."""
    memo = transaction_memo()
    memo[_LOCKED] = memo.get(_LOCKED, set()) | set(member_ids)
