"""Levels in the core: the multiplier floored once after a campaign's, the batch and the
one-by-one paths agreeing, counting an event, the scheduler touching only members whose
window moved, and `jifen ledger verify` catching a level that disagrees with its history."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from server.core import level_job, rules, tick
from server.core.ingest import Incoming, record
from server.core.members import upsert
from server.core.program import load
from server.core.verify import verify
from server.store.db import write_transaction
from server.store.models import LedgerTransaction, LevelHistory, MemberLevel

SHANGHAI = ZoneInfo("Asia/Shanghai")
LADDER = """levels "Levels" {
  qualify by QUALIFY
  level "silver" at 3
  level "gold" at 5 multiply 1.5
}
"""
CAMPAIGNS = """program "club" {
  timezone "Asia/Shanghai"
}
campaign "daily" "Daily" {
  checkin award 5
  order award 1 per 10 amount
}
campaign "boost" "Boost" {
  checkin multiply 1.3
}
"""


def publish(clock, qualify: str = "checkins in last 7 days") -> None:
    source = CAMPAIGNS + LADDER.replace("QUALIFY", qualify)
    with write_transaction():
        rules.publish([("club.rules", source)], now=clock.now(), actor="admin:t")


def member(clock, name: str) -> int:
    with write_transaction():
        return upsert(name, now=clock.now(), community="fans").member.id


def events(clock, *items: Incoming) -> list:
    with write_transaction():
        return record(list(items), now=clock.now(), settings=load())


def level_of(member_id: int) -> str | None:
    row = MemberLevel.get_or_none(MemberLevel.member == member_id)
    return row.level if row is not None else None


@pytest.fixture
def club(db, clock):
    clock.set(datetime(2026, 3, 1, 12, tzinfo=SHANGHAI))
    publish(clock)
    return clock


def checkin_days(clock, member_id: int, days: int) -> None:
    for _ in range(days):
        events(clock, Incoming(member_id, "checkin"))
        clock.advance(days=1)


def test_a_level_multiplies_after_the_campaign_multiplier_floored_once(club):
    clock = club
    ada = member(clock, "ada")
    checkin_days(clock, ada, 5)  # the 5th check-in made her gold, before its award
    assert level_of(ada) == "gold"
    (result,) = events(clock, Incoming(ada, "checkin"))
    # 5, and the boost's floor(5 x 0.3) = 1: 6 in all; x1.5 = 9, floored once.
    assert [g.points for g in result.grants] == [8, 1]
    award = LedgerTransaction.get(LedgerTransaction.id == result.awards[0].id)
    assert award.reason == 'level "gold" multiplied 6 by 1.5: +3 on this award'
    assert verify().ok


def test_a_batch_and_one_at_a_time_reach_the_same_levels(club):
    clock = club
    ada, bob = member(clock, "ada"), member(clock, "bob")
    for _ in range(4):
        events(clock, Incoming(ada, "checkin"), Incoming(bob, "checkin"))
        clock.advance(days=1)
    assert (level_of(ada), level_of(bob)) == ("silver", "silver")
    assert LevelHistory.select().count() == 2


def test_the_sum_of_an_attribute_in_the_calendar_year(db, clock):
    clock.set(datetime(2026, 12, 30, 12, tzinfo=SHANGHAI))
    publish(clock, "amount of order in calendar year")
    ada = member(clock, "ada")
    events(clock, Incoming(ada, "order", attributes={"amount": "3.5"}))
    assert level_of(ada) == "silver"  # 3.5 >= 3
    events(clock, Incoming(ada, "order", attributes={"amount": 2}))
    assert level_of(ada) == "gold"
    clock.set(datetime(2027, 1, 1, 0, 1, tzinfo=SHANGHAI))  # a new year, Shanghai time
    tick.tick(clock.now())
    assert level_of(ada) is None  # no grace in this ladder: dropped at once
    assert [h.cause for h in LevelHistory.select().order_by(LevelHistory.id)] == [
        "qualified",
        "qualified",
        "fell-short",
    ]


def test_the_scheduler_evaluates_only_members_whose_window_moved(club):
    clock = club
    ada, bob = member(clock, "ada"), member(clock, "bob")
    checkin_days(clock, ada, 3)
    first = level_job.tick(clock.now())
    assert first.full and first.evaluated == 1  # only ada has anything
    clock.advance(days=2)
    checkin_days(clock, bob, 3)
    quiet = level_job.tick(clock.now())
    # Since the last run, ada's first two check-ins left the 7-day window.
    assert (quiet.full, quiet.evaluated, quiet.changed) == (False, 1, 1)
    assert (level_of(ada), level_of(bob)) == (None, "silver")


def test_verify_names_a_level_that_disagrees_with_its_history(club, db):
    clock = club
    ada = member(clock, "ada")
    checkin_days(clock, ada, 3)
    assert verify().ok
    db.execute_sql("UPDATE member_level SET level = 'gold'")
    report = verify()
    assert [str(p) for p in report.problems] == [
        f"levels agree with their history: member {ada}: holds level gold, "
        "but its history last went to silver"
    ]
    db.execute_sql("UPDATE member_level SET level = 'silver'")
    db.execute_sql(
        "INSERT INTO level_history (member_id, from_level, to_level, at, cause) "
        "SELECT member_id, 'gold', 'silver', at, 'qualified' FROM level_history"
    )
    assert [p.message for p in verify().problems] == [
        "level change 2 starts from gold, but the change before it ended at silver"
    ]


def test_rules_without_levels_take_the_ladder_away(club):
    clock = club
    ada = member(clock, "ada")
    checkin_days(clock, ada, 5)
    with write_transaction():
        rules.publish([("club.rules", CAMPAIGNS)], now=clock.now(), actor="admin:t")
    (result,) = events(clock, Incoming(ada, "checkin"))
    assert [g.points for g in result.grants] == [5, 1]  # no level multiplies


def test_a_simulation_prices_the_drafts_multiplier_at_todays_levels(club):
    from datetime import timedelta

    from server.core.simulate import simulate

    clock = club
    ada = member(clock, "ada")
    since = clock.now()
    checkin_days(clock, ada, 6)  # gold from the 5th; the 6th paid 8 + 1
    draft = CAMPAIGNS + LADDER.replace("QUALIFY", "checkins in last 7 days").replace(
        "multiply 1.5", "multiply 2"
    )
    report = simulate(
        [("club.rules", draft)], since, clock.now() + timedelta(seconds=1), now=clock.now()
    )
    # Six check-ins at ada's level today (gold, x2 in the draft): (5 + 1) x 2 each.
    assert report.campaigns["daily"].points == 6 * 11


def test_points_count_from_when_they_were_earned_not_when_they_were_recorded(db, clock):
    from datetime import timedelta

    from server.core import levels

    clock.set(datetime(2026, 3, 1, 12, tzinfo=SHANGHAI))
    publish(clock, "points earned in last 7 days")
    ada = member(clock, "ada")
    old = clock.now() - timedelta(days=10)
    events(clock, Incoming(ada, "checkin", occurred_at=old, imported=True))
    events(clock, Incoming(ada, "checkin"))
    # The imported check-in's 5 + 1 were earned 10 days ago: outside the window.
    assert levels.figure_of(ada, levels.ladder(), clock.now(), load()) == 6
    assert level_of(ada) == "gold"  # 6 >= 5
