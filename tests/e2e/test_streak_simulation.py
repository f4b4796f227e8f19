"""A simulation replays freezes and make-ups as they happened live, reports the badges a
draft gives, and prices streak protection on a line of its own."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from server.core import adjustments, events, make_up, members, program, rules, streaks
from server.core.simulate import simulate
from server.store.db import write_transaction
from server.store.models import LedgerTransaction

RULES = """program "club" {
  streak freeze costs 50 points, at most 2 per month
  make-up checkin costs 30 points within 3 days, at most 3 per month
}
campaign "daily" "Daily check-in" {
  checkin award 2
  checkin streak 7 badge "week-one" award 10
  checkin total 9 badge "nine"
}
"""
DRAFT = RULES.replace("costs 50 points", "costs 70 points").replace(
    "  make-up checkin costs 30 points within 3 days, at most 3 per month\n", ""
)
D1 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _live(clock) -> int:
    clock.set(D1)
    with write_transaction():
        rules.publish([("club.rules", RULES)], now=clock.now(), actor="t")
        mid = members.upsert("m", now=clock.now()).member.id
        adjustments.adjust(mid, 500, "r", actor="t", now=clock.now(), settings=program.load())

    def at(day: int, hour: int = 9) -> None:
        clock.set(D1 + timedelta(days=day - 1, hours=hour - 9))

    def check_in(day: int) -> None:
        at(day)
        with write_transaction():
            events.record(mid, "checkin", now=clock.now(), settings=program.load())

    for day in (1, 2, 3, 4, 5, 6, 8):
        check_in(day)
    at(8, 20)
    with write_transaction():
        make_up.make_up(
            mid, (D1 + timedelta(days=6)).date(), now=clock.now(), settings=program.load()
        )
        streaks.buy_freeze(mid, now=clock.now(), settings=program.load())
    check_in(10)  # day 9 missed, the freeze covers it
    return mid


def test_the_replay_pays_what_the_live_engine_paid(db, clock):
    _live(clock)
    live = Counter()
    for text, _txn in (
        LedgerTransaction.select(LedgerTransaction.rule_text, LedgerTransaction.id)
        .where(LedgerTransaction.kind == "award")
        .tuples()
    ):
        live[text] += 1
    report = simulate([("club.rules", RULES)], D1, D1 + timedelta(days=11), now=clock.now())
    replayed = Counter({r.text: r.awards for r in report.rules.values() if r.awards})
    assert replayed == live
    assert live['checkin streak 7 badge "week-one" award 10'] == 1
    assert live["checkin award 2"] == 8  # the make-up earns no plain check-in award
    assert {k: len(v) for k, v in report.badges.items()} == {"week-one": 1, "nine": 1}
    p = report.protection
    assert (p.freezes, p.freeze_points, p.make_ups, p.make_up_points, p.refused) == (
        1,
        50,
        1,
        30,
        0,
    )


def test_a_draft_prices_protection_its_own_way(db, clock):
    _live(clock)
    report = simulate([("club.rules", DRAFT)], D1, D1 + timedelta(days=11), now=clock.now())
    p = report.protection
    assert (p.freezes, p.freeze_points, p.make_ups, p.make_up_points, p.refused) == (
        1,
        70,
        0,
        0,
        1,
    )
    assert p.points == 70
