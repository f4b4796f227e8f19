"""Make-up check-in (补签): a member pays to check in for a day they missed, within the
program's window; the runs on both sides of that day join, and every streak or total
award the joined run reaches is paid at once, exactly once.

Each time a streak rule pays, the day it paid on is kept (`streak_paid`): a joined run owes
a rule what it reaches (N once; with `repeating`, once per N days of the run) less what
was paid on any of its days, so nothing is paid twice, however the runs were built. The
runs themselves are the member's check-in and freeze-covered days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from dsl.ast import Streak, Total
from dsl.compiler import CompiledRule, Facts
from server.core import accounts, badges, budgets, notify, program, streaks
from server.core.accounts import AccountKind
from server.core.awards_batch import Award, AwardsBatch
from server.core.engine import Grant, _grant, _note, _within_budgets, _within_limits
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post
from server.core.periods import period_key
from server.core.program import ProgramSettings
from server.core.rules import book
from server.core.streaks import MAKE_UP_SCOPE, Run
from server.store import bulk, sql
from server.store.models import (
    Checkin,
    CheckinMakeUp,
    Event,
    MemberCounter,
    StreakFreezeDay,
)


@dataclass
class MadeUp:
    """A make-up check-in: its event, the run it is part of now, and what it paid."""

    event: Event
    day: date
    run: Run
    awards: list[Award] = field(default_factory=list)
    badges: list[str] = field(default_factory=list)


def make_up(member_id: int, day: date, *, now: datetime, settings: ProgramSettings) -> MadeUp:
    """Charge the program's price and check the member in for `day` (inside the caller's
    transaction). NOT_OFFERED, MAKE_UP_DAY_NOT_PAST, MAKE_UP_TOO_OLD, DAY_NOT_MISSED,
    MAKE_UP_LIMIT_REACHED, INSUFFICIENT_POINTS: refused, nothing charged."""
    cost, window = settings.make_up_cost, settings.make_up_days
    if cost is None or window is None:
        raise DomainError(
            ErrorCode.NOT_OFFERED, "this program does not offer make-up check-ins", "day"
        )
    today = settings.local_day(now)
    if day >= today:
        raise DomainError(
            ErrorCode.MAKE_UP_DAY_NOT_PAST,
            f"{day.isoformat()} is not a past day ({settings.timezone}): check in as usual",
            "day",
        )
    if day < today - timedelta(days=window):
        raise DomainError(
            ErrorCode.MAKE_UP_TOO_OLD,
            f"{day.isoformat()} is more than {window} days ago: only the last {window} days "
            "can be made up",
            "day",
        )
    member = streaks.lock_member(member_id)
    began = settings.local_day(program.started_at(now))
    if day < began:
        raise DomainError(
            ErrorCode.MAKE_UP_TOO_OLD,
            f"{day.isoformat()} is before the program began ({began.isoformat()})",
            "day",
        )
    _check_missed(member_id, day, settings)
    period = None
    if settings.make_up_limit is not None and settings.make_up_period is not None:
        period = period_key(settings.make_up_period, today)
        if streaks.times_this_period(member_id, MAKE_UP_SCOPE, period) >= settings.make_up_limit:
            raise DomainError(
                ErrorCode.MAKE_UP_LIMIT_REACHED,
                f"at most {settings.make_up_limit} make-up check-ins per {settings.make_up_period}",
                "day",
            )
    txn = post(
        "checkin_make_up",
        [
            Leg(accounts.wallet(member_id, AccountKind.AVAILABLE), -cost, spend=True),
            Leg(accounts.program_account(AccountKind.STREAK), cost),
        ],
        now=now,
        member_id=member_id,
        cause=Cause(reason=f"make-up check-in for {day.isoformat()}"),
    )
    if period is not None:
        streaks.count_use(member_id, MAKE_UP_SCOPE, period, cost)
    occurred_at = datetime.combine(day, time(12), tzinfo=settings.zone)  # that day, midday
    event = Event.create(
        type="checkin",
        member=member_id,
        community=None,
        occurred_at=occurred_at,
        recorded_at=now,
        attributes={"makeUp": True},
    )
    Checkin.create(member=member_id, day=day, event=event.id)
    CheckinMakeUp.create(member=member_id, day=day, event=event.id, txn=txn.id, created_at=now)
    run = _join(member_id, day)
    total = _count(member_id, day, occurred_at, run)
    made = MadeUp(event, day, run)
    _pay(made, member, total, now=now, settings=settings)
    return made


def _check_missed(member_id: int, day: date, settings: ProgramSettings) -> None:
    if Checkin.select().where(Checkin.member == member_id, Checkin.day == day).exists():
        raise DomainError(
            ErrorCode.DAY_NOT_MISSED,
            f"already checked in on {day.isoformat()} ({settings.timezone})",
            "day",
        )
    if (
        StreakFreezeDay.select()
        .where(StreakFreezeDay.member == member_id, StreakFreezeDay.day == day)
        .exists()
    ):
        raise DomainError(
            ErrorCode.DAY_NOT_MISSED,
            f"a streak freeze already covered {day.isoformat()}: the run did not break",
            "day",
        )


def _counter(member_id: int) -> MemberCounter | None:
    return MemberCounter.get_or_none(
        MemberCounter.member == member_id, MemberCounter.event_type == "checkin"
    )


def _join(member_id: int, day: date) -> Run:
    """The run `day` is part of now (it is checked in): the days checked in or covered by
    a freeze on both sides of it, as far as they go without a gap."""
    checked = {
        sql.read_date(d)
        for (d,) in bulk.run("SELECT day FROM checkin WHERE member_id = ?", (member_id,))
    }
    covered = {
        sql.read_date(d)
        for (d,) in bulk.run("SELECT day FROM streak_freeze_day WHERE member_id = ?", (member_id,))
    }
    days = checked | covered
    first = last = day
    while first - timedelta(days=1) in days:
        first -= timedelta(days=1)
    while last + timedelta(days=1) in days:
        last += timedelta(days=1)
    length = sum(1 for d in checked if first <= d <= last)
    return Run(first, last, length)


def _count(member_id: int, day: date, at: datetime, run: Run) -> int:
    """The member's check-in counter takes the day; the current run is the joined one
    when it reaches the last day checked in. Returns the new total."""
    counter = _counter(member_id)
    if counter is None:
        MemberCounter.create(
            member=member_id,
            event_type="checkin",
            total=1,
            active=1,
            streak=run.length,
            last_day=run.last_day,
            last_at=at,
        )
        return 1
    changes = {
        MemberCounter.total: MemberCounter.total + 1,
        MemberCounter.active: MemberCounter.active + 1,
    }
    if counter.last_day is None or run.last_day >= counter.last_day:
        changes[MemberCounter.streak] = run.length
        changes[MemberCounter.last_day] = run.last_day
        if counter.last_at is None or at > counter.last_at:
            changes[MemberCounter.last_at] = at
    MemberCounter.update(changes).where(
        MemberCounter.member == member_id, MemberCounter.event_type == "checkin"
    ).execute()
    return counter.total + 1


class _Counts:
    """The engine's limit and budget reads for the awards of one make-up."""

    def __init__(self, member_id: int) -> None:
        self.member_id = member_id
        self.moved: dict[tuple[str, str], list[int]] = {}

    def used(self, member_id: int, scope: str, period: str) -> tuple[int, int]:
        row = bulk.run(
            "SELECT times, points FROM period_counter "
            "WHERE member_id = ? AND scope = ? AND period = ?",
            (member_id, scope, period),
        ).fetchone()
        times, points = row if row else (0, 0)
        extra = self.moved.get((scope, period), [0, 0])
        return times + extra[0], points + extra[1]

    def add_use(self, scope: str, period: str, points: int) -> None:
        row = self.moved.setdefault((scope, period), [0, 0])
        row[0] += 1
        row[1] += points

    def take_budget(self, campaign, points: int) -> int:
        return budgets.take(campaign.key, points)

    def write(self) -> None:
        for (scope, period), (times, points) in self.moved.items():
            bulk.run(
                "INSERT INTO period_counter (member_id, scope, period, times, points) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (member_id, scope, period) DO UPDATE SET "
                "times = period_counter.times + excluded.times, "
                "points = period_counter.points + excluded.points",
                (self.member_id, scope, period, times, points),
            )


def _owed(rule: CompiledRule, run: Run, total: int, paid: int) -> list[Facts]:
    """The firings of a streak or total rule the joined run (or new total) reaches and
    that were not paid: one Facts each."""
    streak = rule.source.qualifier(Streak)
    if streak is not None:
        n = streak.days
        reached = [n * k for k in range(1, run.length // n + 1)] if rule.source.repeating else []
        if not rule.source.repeating and run.length >= n:
            reached = [n]
        due = reached[paid:] if paid < len(reached) else []
        return [Facts({}, total, total, m, True, None) for m in due]
    if rule.source.qualifier(Total) is not None:
        return [Facts({}, total, total, run.length, False, None)]
    return []  # a plain check-in award: a make-up buys the day, not its points


def _pay(made: MadeUp, member, total: int, *, now: datetime, settings: ProgramSettings) -> None:
    rules = book.at(now)
    today = settings.local_day(now)
    member_id, run = member.id, made.run
    # What the streak rules paid within the joined run, on whichever side.
    paid = {
        rule_id: int(times)
        for rule_id, times in bulk.run(
            "SELECT rule_id, SUM(times) FROM streak_paid WHERE member_id = ? "
            "AND day >= ? AND day <= ? GROUP BY rule_id",
            (member_id, sql.day(run.first_day), sql.day(run.last_day)),
        ).fetchall()
    }
    counts = _Counts(member_id)
    grants: list[Grant] = []
    more_paid: dict[str, int] = defaultdict(int)
    used: dict[tuple[str, str], int] = {}
    earned: list[str] = []
    held = badges.held_keys([member_id]).get(member_id, set())
    for rule in rules.by_event.get("checkin", ()):
        campaign = rules.campaigns[rule.campaign]
        if not campaign.active_on(today) or campaign.community is not None:
            continue
        for facts in _owed(rule, run, total, paid.get(rule.rule_id, 0)):
            if not rule.reached(facts):
                continue
            if rule.badge is not None and rule.badge not in held:
                held.add(rule.badge)
                earned.append((rule.badge, rule.campaign))
            points = rule.award(facts)
            if points <= 0:
                continue
            grant = _grant(rule, campaign, rules.versions[campaign.key], points, today)
            points = _within_limits(member_id, rule, grant, today, counts, used)
            if points <= 0:
                continue
            grant = _note(used, replace(grant, points=points))
            grants.append(grant)
    grants = _within_budgets(grants, counts)
    awards = AwardsBatch(now)
    reviews = []
    for g in grants:
        for scope, period in g.periods:
            counts.add_use(scope, period, g.points)
        if g.streak is not None:
            more_paid[g.rule_id] += 1
        award = awards.add(
            Award(
                member_id,
                g.campaign.key,
                g.points,
                g.pending,
                Cause(
                    event_id=made.event.id,
                    campaign=g.campaign.key,
                    campaign_version=g.version,
                    rule_line=g.line,
                    rule_text=g.text,
                    rule_file=g.campaign.file,
                ),
                None if g.pending else settings.expiry_for(now),
                earned_at=now,
            )
        )
        made.awards.append(award)
        if g.pending:
            reviews.append((award, g))
    counts.write()
    awards.flush()
    if reviews:
        bulk.insert(
            "review",
            ("txn_id", "member_id", "campaign", "points", "status", "created_at"),
            [
                (a.id, member_id, g.campaign.key, g.points, "pending", sql.instant(now))
                for a, g in reviews
            ],
        )
    for rule_id, times in more_paid.items():
        bulk.run(
            "INSERT INTO streak_paid (member_id, day, rule_id, times) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (member_id, day, rule_id) DO UPDATE SET "
            "times = streak_paid.times + excluded.times",
            (member_id, sql.day(made.day), rule_id, times),
        )
    writes = bulk.Writes()
    badges.write([(badges.Earned(member_id, b, c, now), made.event.id) for b, c in earned], writes)
    writes.run()
    made.badges = [b for b, _ in earned]
    for b in made.badges:
        badges.announce(None, member, b, now)
    for g in grants:
        if g.streak is not None:
            who = member.display_name or member.external_id
            notify.announce(
                None, "streak", member, f"{who} reached a {g.streak}-day checkin streak", now
            )
