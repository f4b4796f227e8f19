"""Migration 0017: streak awards paid before `streak_paid` existed are read back from the
ledger, so a make-up check-in that joins their run does not pay the milestone again."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from server.core import adjustments, events, ledger, make_up, members, program, rules
from server.core.ledger import Cause
from server.core.verify import verify
from server.store import migrate
from server.store.db import open_database, write_transaction
from server.store.models import LedgerTransaction

BACKFILL = "0017_streak_paid_backfill"
RULES = """program "club" {
  make-up checkin costs 3 points within 3 days, at most 3 per month
}
campaign "daily" "Daily" {
  checkin award 2
  checkin streak 7 award 10
  checkin streak 3 award 1 repeating
}
"""
# The campaign republished: a new version with the same streak rules on other lines.
RULES_V2 = RULES.replace("checkin award 2", "checkin award 3\n  checkin total 100 award 1")
START = date(2026, 3, 1)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC)


def _streak_awards(member_id: int) -> list[tuple[str, int]]:
    return [
        (t.rule_text, t.event_id)
        for t in LedgerTransaction.select()
        .where(
            LedgerTransaction.member == member_id,
            LedgerTransaction.kind == "award",
            LedgerTransaction.rule_text.contains("streak"),
        )
        .order_by(LedgerTransaction.id)
    ]


def _paid(db) -> list[tuple]:
    rows = db.execute_sql(
        "SELECT member_id, day, rule_id, times FROM streak_paid ORDER BY member_id, day, rule_id"
    ).fetchall()
    return [(m, str(d), r, t) for m, d, r, t in rows]


def _older_release(db, clock) -> int:
    """A member paid the 7-day bonus (days 1-7, over two versions of the campaign), missed
    day 8 and checked in on days 9 and 10; then `streak_paid` is emptied, as a database
    that paid these awards before migration 0015 has it."""
    clock.set(_at(START))
    with write_transaction():
        rules.publish([("club.rules", RULES)], now=clock.now(), actor="t")
        member = members.upsert("m", now=clock.now()).member.id
        adjustments.adjust(member, 100, "r", actor="t", now=clock.now(), settings=program.load())
    for n in [*range(7), 8, 9]:
        clock.set(_at(START + timedelta(days=n)))
        if n == 4:
            with write_transaction():
                rules.publish([("club.rules", RULES_V2)], now=clock.now(), actor="t")
        with write_transaction():
            events.record(member, "checkin", now=clock.now(), settings=program.load())
    return member


def _backfill(db) -> None:
    """Migration 0017 applied by `jifen db upgrade`, as on the upgraded database."""
    forget = f"DELETE FROM {migrate.HISTORY_TABLE} WHERE name = {db.param}"
    db.execute_sql(forget, (BACKFILL,))
    try:
        assert migrate.upgrade(db) == [BACKFILL]
    finally:
        if migrate.pending(db):  # never leave the shared database behind the code
            runner = migrate.runner(db)
            runner.History.create(name=BACKFILL)


def _make_up_day_8(member: int, clock) -> None:
    clock.set(_at(START + timedelta(days=10)))
    with write_transaction():
        make_up.make_up(member, START + timedelta(days=7), now=clock.now(), settings=program.load())


def test_the_backfill_writes_what_the_engine_wrote(db, clock):
    member = _older_release(db, clock)
    written = _paid(db)
    # Days 3 and 6 paid the repeating rule, day 7 the 7-day bonus (in version 2).
    assert [(d, t) for _, d, _, t in written] == [
        ("2026-03-03", 1),
        ("2026-03-06", 1),
        ("2026-03-07", 1),
    ]
    db.execute_sql("DELETE FROM streak_paid")
    _backfill(db)
    assert _paid(db) == written
    _backfill(db)  # again: nothing changes
    assert _paid(db) == written
    assert len(_streak_awards(member)) == 3


def test_a_make_up_after_the_upgrade_does_not_pay_the_bonus_again(db, clock):
    member = _older_release(db, clock)
    db.execute_sql("DELETE FROM streak_paid")
    _backfill(db)
    before = _streak_awards(member)
    _make_up_day_8(member, clock)
    after = _streak_awards(member)
    # The joined run is 10 days: the 7-day bonus was paid; the repeating rule owes day 9.
    new = [text for text, _ in after[len(before) :]]
    assert new == ["checkin streak 3 award 1 repeating"]
    assert sum("streak 7" in text for text, _ in after) == 1
    assert verify().ok


def test_without_the_backfill_the_same_make_up_pays_the_bonus_twice(db, clock):
    """What the migration prevents: the older release's database, not backfilled."""
    member = _older_release(db, clock)
    db.execute_sql("DELETE FROM streak_paid")
    _make_up_day_8(member, clock)
    assert sum("streak 7" in text for text, _ in _streak_awards(member)) == 2


def test_the_gap_left_by_an_unshipped_number_is_no_obstacle(empty_db_url):
    db = open_database(empty_db_url)
    assert migrate.upgrade(db, target="0015_badges_streaks")
    applied = migrate.upgrade(db)
    assert BACKFILL in applied and applied == sorted(applied)
    assert migrate.pending(db) == [] and migrate.head() >= BACKFILL
    db.close_all()


def test_a_reversed_bonus_stays_paid(db, clock):
    """As for the engine: a reversal takes the points back, not the milestone."""
    member = _older_release(db, clock)
    bonus = LedgerTransaction.get(
        LedgerTransaction.member == member,
        LedgerTransaction.rule_text == "checkin streak 7 award 10",
    )
    with write_transaction():
        ledger.reverse(bonus.id, now=clock.now(), cause=Cause(reason="mistake"))
    written = _paid(db)
    db.execute_sql("DELETE FROM streak_paid")
    _backfill(db)
    assert _paid(db) == written
    _make_up_day_8(member, clock)
    assert sum("streak 7" in text for text, _ in _streak_awards(member)) == 1


def test_a_bonus_the_budget_cut_to_nothing_is_paid_by_a_later_make_up(db, clock):
    """Reached but never paid (the budget was spent): a joined run pays it once."""
    tight = 'campaign "daily" "Daily" {\n  budget 12 points\n  checkin award 2\n'
    tight += "  checkin streak 7 award 10\n}\n"
    head = RULES.split("campaign")[0]
    clock.set(_at(START))
    with write_transaction():
        rules.publish([("club.rules", head + tight)], now=clock.now(), actor="t")
        member = members.upsert("m", now=clock.now()).member.id
        adjustments.adjust(member, 100, "r", actor="t", now=clock.now(), settings=program.load())
    for n in [*range(7), 8, 9]:
        clock.set(_at(START + timedelta(days=n)))
        with write_transaction():
            events.record(member, "checkin", now=clock.now(), settings=program.load())
    assert _streak_awards(member) == [] and _paid(db) == []
    _backfill(db)
    assert _paid(db) == []
    with write_transaction():
        rules.publish(
            [("club.rules", head + tight.replace("12 points", "100 points"))],
            now=clock.now(),
            actor="t",
        )
    _make_up_day_8(member, clock)
    assert [text for text, _ in _streak_awards(member)] == ["checkin streak 7 award 10"]
    assert [(d, t) for _, d, _, t in _paid(db)] == [("2026-03-08", 1)]
