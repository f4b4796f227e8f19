"""`ledger verify` proves the books of badges and streak protection: a world with freezes
used, a make-up and a badge verifies clean, and each corruption a race could leave is
named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.core.verify import verify

RULES = """
program "Books" {
  timezone "UTC"
  streak freeze costs 5 points
  make-up checkin costs 3 points within 3 days
}
campaign "daily" "Daily" {
  checkin streak 3 badge "three" award 10
}
"""
PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"""
UPSERT = """mutation { memberUpsert(input: {externalId: "ada"}) { member { id }
  userErrors { code } } }"""
ADJUST = """mutation($m: ID!) { pointsAdjust(input: {memberId: $m, points: 100,
  reason: "seed", idempotencyKey: "seed"}) { userErrors { code } } }"""
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { userErrors { code } } }"""
FREEZE = """mutation($m: ID!, $k: String!) { streakFreezeBuy(input: {memberId: $m,
  idempotencyKey: $k}) { userErrors { code } } }"""
MAKE_UP = """mutation($m: ID!, $d: Date!) { checkinMakeUp(input: {memberId: $m, day: $d,
  idempotencyKey: "mu"}) { badges userErrors { code } } }"""
D1 = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture
def books(api, clock):
    clock.set(D1)
    api.mutate(PUBLISH, {"s": RULES})
    ada = api.mutate(UPSERT)["member"]["id"]
    api.mutate(ADJUST, {"m": ada})
    for day in (1, 3, 5):  # day 2 made up below, day 4 covered by a freeze
        clock.set(D1 + timedelta(days=day - 1))
        api.mutate(CHECKIN, {"m": ada, "k": f"c{day}"})
        if day == 3:
            made = api.mutate(MAKE_UP, {"m": ada, "d": "2026-03-03"})
            assert made["badges"] == ["three"]
            api.mutate(FREEZE, {"m": ada, "k": "f1"})
            api.mutate(FREEZE, {"m": ada, "k": "f2"})
    assert [str(p) for p in verify().problems] == []
    return api


@pytest.mark.parametrize(
    ("corruption", "check", "subject"),
    [
        (
            "UPDATE member_streak SET freezes_held = freezes_held + 1",
            "freezes held within those bought",
            "member 1",
        ),
        (
            "UPDATE member_streak SET freezes_held = -1, freezes_used = freezes_bought + 1",
            "freezes held within those bought",
            "member 1",
        ),
        (
            "DELETE FROM streak_freeze_day",
            "freezes held within those bought",
            "member 1",
        ),
        (
            "DELETE FROM streak_freeze_purchase WHERE id = 2",
            "streak spends match their purchases",
            "transaction",
        ),
        (
            "UPDATE streak_freeze_purchase SET txn_id = 1",
            "streak spends match their purchases",
            "member 1",
        ),
        (
            "DELETE FROM checkin WHERE event_id IN (SELECT event_id FROM checkin_make_up)",
            "make-ups are check-ins",
            "member 1",
        ),
        (
            "UPDATE checkin_make_up SET txn_id = 1",
            "streak spends match their purchases",
            "member 1",
        ),
        (
            "UPDATE account SET balance = balance - 100 WHERE key = 'streak'",
            "program accounts keep their sign",
            "account streak",
        ),
    ],
)
def test_each_broken_book_is_named(books, db, corruption, check, subject):
    db.execute_sql(corruption)
    problems = verify().problems
    assert [p for p in problems if p.check == check and p.subject.startswith(subject)], [
        str(p) for p in problems
    ]
