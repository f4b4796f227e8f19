"""Member levels: the ladder in force, each member's qualifying figure, and reads.

The ladder is the rules' `levels` block (dsl/levels.py), stored in its canonical text when
rules are published. A member's qualifying figure is read from the books, never kept
apart from them: points earned (the lots of awards, board prizes, approvals of reviewed
awards and manual credits, by when they were earned; a reversed or clawed-back one stops
counting at once; spends, expiry and refunds of spending are other kinds and never
count), the number of an event, or the sum of an event attribute, over the window.
Changing levels is server/core/level_job.py's work, set-based.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dsl.levels import Ladder, LevelStep, compile_levels
from dsl.parser import parse
from server.core import program
from server.core.generation import Cached, generation
from server.core.program import ProgramSettings
from server.store import sql
from server.store.db import is_postgres
from server.store.models import Setting
from server.store.sql import Sql

_KEY = "levels"
# Ledger kinds whose credits to the available wallet are points earned.
EARNING_KINDS = ("award", "leaderboard", "approval", "adjustment")
# Ledger kinds that change what a member has earned (credits, and taking them back).
MOVING_KINDS = frozenset(EARNING_KINDS) | {"reversal", "clawback", "rejection"}


def save(ladder: Ladder | None) -> None:
    """Store the published rules' ladder (inside the caller's transaction)."""
    value = ladder.source if ladder is not None else ""
    current = program.setting(_KEY)
    if (current or "") == value:
        return
    (
        Setting.insert(key=_KEY, value=value)
        .on_conflict(conflict_target=[Setting.key], update={Setting.value: value})
        .execute()
    )
    generation.bump()


def _load() -> Ladder | None:
    text = program.setting(_KEY)
    if not text:
        return None
    parsed, _ = parse(text, "<levels>")
    return compile_levels(parsed.levels[0])


_cached = Cached(_load)


def ladder() -> Ladder | None:
    """The ladder in force (None: the program has no levels)."""
    return _cached.get()


# -- windows -----------------------------------------------------------------------------


def window_start(ladder: Ladder, now: datetime, settings: ProgramSettings) -> datetime:
    """The first instant that counts at `now`: N days back, or 1 January (local time)."""
    if ladder.days is not None:
        return now - timedelta(days=ladder.days)
    local = now.astimezone(settings.zone)
    return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


# -- figures -----------------------------------------------------------------------------


def figure_select(ladder: Ladder, members: str) -> tuple[str, list]:
    """SELECT member_id, figure for the members of `members` (a SQL table or subquery with
    a member_id column), over the window [?, ?] given as the first two parameters of the
    statement this is placed in. Returns the text (with `?`) and its extra parameters."""
    if ladder.kind == "points":
        kinds = ", ".join("?" for _ in EARNING_KINDS)
        # Each credit to an available wallet is a lot, earned when its event happened.
        text = (
            "SELECT l.member_id AS member_id, SUM(l.amount) AS figure "
            f"FROM {members} d JOIN lot l ON l.member_id = d.member_id "
            "JOIN posting p ON p.id = l.posting_id "
            "JOIN ledger_transaction t ON t.id = p.txn_id "
            f"WHERE l.earned_at >= ? AND l.earned_at <= ? "
            f"AND t.kind IN ({kinds}) "
            "AND NOT EXISTS (SELECT 1 FROM ledger_transaction r WHERE r.reverses_id = t.id) "
            "GROUP BY l.member_id"
        )
        return text, list(EARNING_KINDS)
    ignored = _json("e.attributes", "ignored")
    if ladder.kind == "count":
        value = "1"
    else:
        raw = _json("e.attributes", ladder.attribute)
        if is_postgres():
            value = (
                f"CASE WHEN {raw} ~ '^[0-9]+([.][0-9]+){{0,1}}$' THEN CAST({raw} AS NUMERIC) "
                "ELSE 0 END"
            )
        else:
            value = f"CASE WHEN CAST({raw} AS REAL) > 0 THEN CAST({raw} AS REAL) ELSE 0 END"
    text = (
        f"SELECT e.member_id AS member_id, SUM({value}) AS figure "
        f"FROM {members} d JOIN event e ON e.member_id = d.member_id "
        "WHERE e.occurred_at >= ? AND e.occurred_at <= ? AND e.type = ? "
        f"AND {ignored} IS NULL GROUP BY e.member_id"
    )
    return text, [ladder.event]


def _json(column: str, key: str) -> str:
    safe = "".join(c for c in key if c.isalnum() or c == "_")
    if is_postgres():
        return f"(CAST({column} AS JSONB) ->> '{safe}')"
    return f"json_extract({column}, '$.{safe}')"


def figure_of(member_id: int, ladder: Ladder, now: datetime, settings: ProgramSettings) -> int:
    """One member's qualifying figure at `now`."""
    text, params = figure_select(ladder, "(SELECT ? AS member_id)")
    start = window_start(ladder, now, settings)
    row = Sql(f"SELECT figure FROM ({text}) f").one(
        member_id, sql.instant(start), sql.instant(now), *params
    )
    return int(row[0]) if row is not None and row[0] is not None else 0


# -- reads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """What `Member.level` shows."""

    step: LevelStep | None
    since: datetime | None
    until: datetime | None  # the end of a grace period or of an operator's floor
    figure: int
    next: LevelStep | None

    @property
    def to_next(self) -> int | None:
        return max(self.next.at - self.figure, 0) if self.next is not None else None


_STATE = Sql(
    "SELECT level, since, grace_until, floor_level, floor_until FROM member_level "
    "WHERE member_id = ?"
)


def standing(member_id: int, now: datetime) -> Standing | None:
    """The member's level, figure and distance to the next; None without a ladder."""
    found = ladder()
    if found is None:
        return None
    figure = figure_of(member_id, found, now, program.load())
    row = _STATE.one(member_id)
    step = found.step(row[0]) if row is not None else None
    since = sql.read_instant(row[1]) if row is not None and step is not None else None
    until = None
    if row is not None:
        grace, floor_until = sql.read_instant(row[2]), sql.read_instant(row[4])
        if grace is not None and grace > now:
            until = grace
        if floor_until is not None and floor_until > now and row[3] == (row[0]):
            until = max(until, floor_until) if until else floor_until
    return Standing(step, since, until, figure, found.above(step.key if step else None))


_MULTIPLIERS = "SELECT member_id, level FROM member_level WHERE member_id IN ({})"


def level_keys(member_ids: list[int]) -> dict[int, str]:
    """The level each of these members holds now (those who hold one)."""
    marks = ", ".join("?" for _ in member_ids)
    rows = Sql(_MULTIPLIERS.format(marks)).run(*member_ids).fetchall() if member_ids else []
    return {m: key for m, key in rows if key is not None}


def multipliers(member_ids: list[int]) -> dict[int, LevelStep]:
    """The level of each of these members whose level multiplies their awards."""
    found = ladder()
    if found is None or not member_ids or not any(s.multiply for s in found.steps):
        return {}
    out: dict[int, LevelStep] = {}
    for start in range(0, len(member_ids), 500):
        chunk = member_ids[start : start + 500]
        rows = Sql(_MULTIPLIERS.format(", ".join("?" for _ in chunk))).run(*chunk).fetchall()
        for member_id, key in rows:
            step = found.step(key)
            if step is not None and step.multiply is not None and step.multiply > 1:
                out[member_id] = step
    return out


def multipliers_of(held: dict[int, str | None]) -> dict[int, LevelStep]:
    """Of these members' levels (member -> key), those that multiply their awards."""
    found = ladder()
    if found is None or not any(s.multiply for s in found.steps):
        return {}
    out = {}
    for member_id, key in held.items():
        step = found.step(key)
        if step is not None and step.multiply is not None and step.multiply > 1:
            out[member_id] = step
    return out


_COUNTS = Sql("SELECT level, COUNT(*) FROM member_level WHERE level IS NOT NULL GROUP BY level")


def counts() -> dict[str, int]:
    """How many members hold each level now."""
    return {key: n for key, n in _COUNTS.run().fetchall()}


_WITHOUT = Sql("SELECT COUNT(*) FROM member_level WHERE level IS NULL")


def without_level() -> int:
    """Members evaluated at some time who hold no level now."""
    return _WITHOUT.one()[0]
