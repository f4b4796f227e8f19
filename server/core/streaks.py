"""Streak protection: freezes bought with points, the runs of check-in days, and what the
live path writes about them.

A run is consecutive check-in days; a held freeze covers one missed day when the next
check-in comes (server/core/engine.py asks the store `cover_missed`): the run survives and
the covered day does not add to its length. Each time a streak rule pays, the day it paid
on is noted (`streak_paid`): the runs are the check-in and covered days themselves, so a
make-up check-in (server/core/make_up.py) that joins two runs finds what each paid by
their days, pays what the joined run reaches, and nothing either side was paid already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from server.core import accounts, members
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post
from server.core.periods import period_key
from server.core.program import ProgramSettings
from server.store import bulk, sql
from server.store.db import is_postgres
from server.store.models import Member, MemberCounter, MemberStreak, StreakFreezePurchase

FREEZE_SCOPE = "streak:freeze"  # period counters of freezes bought
MAKE_UP_SCOPE = "streak:make-up"  # ... and of make-up check-ins


@dataclass(frozen=True)
class Run:
    """Consecutive days checked in or covered by a freeze; `length` counts the former."""

    first_day: date
    last_day: date
    length: int


@dataclass(frozen=True)
class StreakView:
    """A member's check-in streak as they see it."""

    current: int  # the run's length, 0 once it is broken beyond what freezes cover
    last_day: date | None
    freezes_held: int
    freezes_bought: int
    freezes_used: int


def lock_member(member_id: int) -> Member:
    """The member's row, locked as recording their events locks it: one decision about a
    member's streak at a time, across processes."""
    members.get(member_id)  # MEMBER_NOT_FOUND
    if is_postgres():
        bulk.run("SELECT id FROM member WHERE id = ? FOR NO KEY UPDATE", (member_id,))
    return Member.get_by_id(member_id)


def times_this_period(member_id: int, scope: str, period: str) -> int:
    row = bulk.run(
        "SELECT times FROM period_counter WHERE member_id = ? AND scope = ? AND period = ?",
        (member_id, scope, period),
    ).fetchone()
    return row[0] if row else 0


def count_use(member_id: int, scope: str, period: str, points: int) -> None:
    bulk.run(
        "INSERT INTO period_counter (member_id, scope, period, times, points) "
        "VALUES (?, ?, ?, 1, ?) ON CONFLICT (member_id, scope, period) DO UPDATE SET "
        "times = period_counter.times + 1, points = period_counter.points + excluded.points",
        (member_id, scope, period, points),
    )


def buy_freeze(member_id: int, *, now: datetime, settings: ProgramSettings) -> int:
    """Spend the program's price for one streak freeze (inside the caller's transaction);
    returns the purchase's id. NOT_OFFERED, FREEZE_LIMIT_REACHED, INSUFFICIENT_POINTS."""
    if settings.freeze_cost is None:
        raise DomainError(
            ErrorCode.NOT_OFFERED, "this program does not sell streak freezes", "memberId"
        )
    lock_member(member_id)
    today = settings.local_day(now)
    period = period_key(settings.freeze_period or "day", today)
    if settings.freeze_limit is not None and settings.freeze_period is not None:
        if times_this_period(member_id, FREEZE_SCOPE, period) >= settings.freeze_limit:
            raise DomainError(
                ErrorCode.FREEZE_LIMIT_REACHED,
                f"at most {settings.freeze_limit} streak freezes per {settings.freeze_period}",
                "memberId",
            )
    cost = settings.freeze_cost
    txn = post(
        "streak_freeze",
        [
            Leg(accounts.wallet(member_id, AccountKind.AVAILABLE), -cost, spend=True),
            Leg(accounts.program_account(AccountKind.STREAK), cost),
        ],
        now=now,
        member_id=member_id,
        cause=Cause(reason="streak freeze"),
    )
    if settings.freeze_period is not None:
        count_use(member_id, FREEZE_SCOPE, period, cost)
    bulk.run(
        "INSERT INTO member_streak (member_id, freezes_held, freezes_bought, freezes_used) "
        "VALUES (?, 1, 1, 0) ON CONFLICT (member_id) DO UPDATE SET "
        "freezes_held = member_streak.freezes_held + 1, "
        "freezes_bought = member_streak.freezes_bought + 1",
        (member_id,),
    )
    return StreakFreezePurchase.create(member=member_id, txn=txn.id, created_at=now).id


def view(member_id: int, *, now: datetime, settings: ProgramSettings) -> StreakView:
    """The member's current check-in run, its last day and their freezes."""
    counter = MemberCounter.get_or_none(
        MemberCounter.member == member_id, MemberCounter.event_type == "checkin"
    )
    held = MemberStreak.get_or_none(MemberStreak.member == member_id)
    freezes = (held.freezes_held, held.freezes_bought, held.freezes_used) if held else (0, 0, 0)
    if counter is None or counter.last_day is None:
        return StreakView(0, None, *freezes)
    missed = (settings.local_day(now) - counter.last_day).days - 1
    alive = missed <= freezes[0]  # freezes would cover what was missed so far
    return StreakView(counter.streak if alive else 0, counter.last_day, *freezes)


# -- what recording check-ins reads and writes (server/core/ingest.py) ---------------------
# Nothing for a check-in the day after the last: freezes are read only when days were
# missed, and written only when used; what a streak rule paid only when it paid.


def freezes_held(member_id: int) -> int:
    """Freezes a member holds (read after the member is locked)."""
    row = bulk.run(
        "SELECT freezes_held FROM member_streak WHERE member_id = ?", (member_id,)
    ).fetchone()
    return row[0] if row else 0


def write(
    paid: dict[tuple[int, date, str], int],
    freezes: dict[int, list[date]],
    now: datetime,
    writes: bulk.Writes,
) -> None:
    """A batch's streak rules paid ((member, day paid, rule) -> times) and the freezes
    used (member -> the days they covered)."""
    if paid:
        writes.insert(
            "streak_paid",
            ("member_id", "day", "rule_id", "times"),
            [(m, sql.day(day), rule, times) for (m, day, rule), times in sorted(paid.items())],
            tail="ON CONFLICT (member_id, day, rule_id) DO UPDATE SET "
            "times = streak_paid.times + excluded.times",
        )
    covered = [(m, sql.day(d), sql.instant(now)) for m, days in freezes.items() for d in days]
    if covered:
        writes.insert("streak_freeze_day", ("member_id", "day", "used_at"), covered)
        used = sorted((m, len(days)) for m, days in freezes.items() if days)
        table, params = bulk.rows_of(("m", "n"), used)
        writes.add(
            "UPDATE member_streak SET freezes_held = member_streak.freezes_held - v.n, "
            f"freezes_used = member_streak.freezes_used + v.n FROM {table} AS v "
            "WHERE member_streak.member_id = v.m",
            params,
        )
