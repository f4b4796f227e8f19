"""Random sequences of check-ins, missed days, streak freezes and make-up check-ins,
checked against a model of the days: the streak awards paid equal the model's, a run
pays each milestone once however it was joined, and the books stay sound."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from server.core import accounts, adjustments, events, make_up, members, program, rules, streaks
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.verify import verify
from server.store.db import write_transaction
from server.store.models import LedgerTransaction
from tests.support import reset_tables

RULES = """program "club" {
  streak freeze costs 5 points, at most 2 per month
  make-up checkin costs 3 points within 3 days, at most 3 per month
}
campaign "s" "Streaks" {
  checkin streak 3 award 10 repeating
  checkin streak 5 award 7
  checkin total 6 award 1
}
"""
REPEATING, ONCE, TOTAL = 3, 5, 6
GRANT = 100_000
START = date(2026, 3, 1)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC)


class Model:
    """The member's days: checked in (live or made up) and covered by a freeze; a run is a
    block of consecutive days of either kind, as long as its checked-in days."""

    def __init__(self) -> None:
        self.checked: set[date] = set()
        self.covered: set[date] = set()
        self.freezes = 0
        self.paid: dict[tuple[date, int], int] = {}  # (run start, rule) -> times paid
        self.totals = {REPEATING: 0, ONCE: 0, TOTAL: 0}
        self.spent = 0

    def block(self, day: date) -> tuple[date, int]:
        """The run containing `day`: its first day and length."""
        days = self.checked | self.covered
        first = day
        while first - timedelta(days=1) in days:
            first -= timedelta(days=1)
        length, d = 0, first
        while d in days:
            length += d in self.checked
            d += timedelta(days=1)
        return first, length

    def check_in(self, day: date) -> None:
        last = max(self.checked, default=None)
        if last is not None and 0 < (gap := (day - last).days - 1) <= self.freezes:
            self.freezes -= gap
            self.covered |= {last + timedelta(days=n) for n in range(1, gap + 1)}
        self.checked.add(day)
        first, length = self.block(day)
        if length % REPEATING == 0:
            self._pay(first, REPEATING)
        if length == ONCE:
            self._pay(first, ONCE)
        if len(self.checked) == TOTAL:
            self.totals[TOTAL] += 1

    def make_up(self, day: date) -> None:
        before = (
            self.block(day - timedelta(days=1))[0]
            if day - timedelta(days=1) in (self.checked | self.covered)
            else None
        )
        after = day + timedelta(days=1)
        after_first = after if after in self.checked | self.covered else None
        self.checked.add(day)
        first, length = self.block(day)
        for every in (REPEATING, ONCE):
            had = sum(self.paid.pop((s, every), 0) for s in {before, after_first} - {None})
            self.paid[(first, every)] = had
            target = length // every if every == REPEATING else int(length >= every)
            for _ in range(max(target - had, 0)):
                self._pay(first, every)
        if len(self.checked) == TOTAL:
            self.totals[TOTAL] += 1

    def _pay(self, first: date, every: int) -> None:
        self.paid[(first, every)] = self.paid.get((first, every), 0) + 1
        self.totals[every] += 1


def make_machine(db, clock):
    class StreakMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            reset_tables(db)
            self.today = START
            clock.set(_at(self.today))
            with write_transaction():
                rules.publish([("club.rules", RULES)], now=clock.now(), actor="t")
                self.member = members.upsert("m", now=clock.now()).member.id
                adjustments.adjust(
                    self.member, GRANT, "r", actor="t", now=clock.now(), settings=program.load()
                )
            self.model = Model()
            self.bought: dict[str, int] = {}  # month -> freezes bought
            self.made: dict[str, int] = {}  # month -> make-ups

        @rule(check_in=st.booleans(), skip=st.integers(0, 2))
        def next_day(self, check_in, skip):
            self.today += timedelta(days=1 + skip)
            clock.set(_at(self.today))
            if check_in:
                with write_transaction():
                    events.record(self.member, "checkin", now=clock.now(), settings=program.load())
                self.model.check_in(self.today)

        @rule()
        def buy_freeze(self):
            month = self.today.strftime("%Y-%m")
            try:
                with write_transaction():
                    streaks.buy_freeze(self.member, now=clock.now(), settings=program.load())
            except DomainError as exc:
                assert exc.code is ErrorCode.FREEZE_LIMIT_REACHED
                assert self.bought.get(month, 0) == 2
                return
            assert self.bought.get(month, 0) < 2
            self.bought[month] = self.bought.get(month, 0) + 1
            self.model.freezes += 1
            self.model.spent += 5

        @rule(back=st.integers(0, 4))
        def make_up_day(self, back):
            day = self.today - timedelta(days=back)
            month = self.today.strftime("%Y-%m")
            m = self.model
            try:
                with write_transaction():
                    make_up.make_up(self.member, day, now=clock.now(), settings=program.load())
            except DomainError as exc:
                expected = (
                    ErrorCode.MAKE_UP_DAY_NOT_PAST
                    if back == 0
                    else ErrorCode.MAKE_UP_TOO_OLD
                    if back > 3 or day < START  # the program began on START
                    else ErrorCode.DAY_NOT_MISSED
                    if day in m.checked | m.covered
                    else ErrorCode.MAKE_UP_LIMIT_REACHED
                )
                assert exc.code is expected, (exc, day)
                if expected is ErrorCode.MAKE_UP_LIMIT_REACHED:
                    assert self.made.get(month, 0) == 3
                return
            assert 0 < back <= 3 and day >= START and day not in m.checked | m.covered
            assert self.made.get(month, 0) < 3
            self.made[month] = self.made.get(month, 0) + 1
            m.make_up(day)
            m.spent += 3

        @invariant()
        def streak_awards_match_the_model(self):
            paid = {REPEATING: 0, ONCE: 0, TOTAL: 0}
            for (text,) in (
                LedgerTransaction.select(LedgerTransaction.rule_text)
                .where(LedgerTransaction.kind == "award")
                .tuples()
            ):
                if "repeating" in text:
                    paid[REPEATING] += 1
                elif "streak 5" in text:
                    paid[ONCE] += 1
                else:
                    paid[TOTAL] += 1
            assert paid == self.model.totals
            m = self.model
            expected = GRANT - m.spent + 10 * paid[REPEATING] + 7 * paid[ONCE] + paid[TOTAL]
            assert accounts.wallet(self.member, AccountKind.AVAILABLE).balance == expected
            view = streaks.view(self.member, now=clock.now(), settings=program.load())
            assert view.freezes_held == m.freezes
            if m.checked:
                last = max(m.checked)
                assert view.last_day == last
                alive = (self.today - last).days - 1 <= m.freezes
                assert view.current == (m.block(last)[1] if alive else 0)

        @invariant()
        def books_are_sound(self):
            report = verify()
            assert report.ok, [str(p) for p in report.problems]

    return StreakMachine


def test_streak_state_machine(db, clock):
    run_state_machine_as_test(
        make_machine(db, clock),
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
