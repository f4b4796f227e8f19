"""Streak protection and badges under concurrency: two server processes on one database,
20 requests at once (identical retries, and different requests for the same thing)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.racing import Call, World, codes, world_on

pytestmark = pytest.mark.slow

N = 20
RULES = """
program "Race club" {
  timezone "UTC"
  streak freeze costs 50 points, at most 2 per month
  make-up checkin costs 30 points within 3 days, at most 3 per month
}
event cheer
campaign "showup" "Show up" {
  checkin streak 2 award 5
  cheer badge "cheerful"
}
"""
PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s}) {
  userErrors { code message } } }"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id }
  userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "race", idempotencyKey: $k}) { userErrors { code } } }"""
CHECKIN = """mutation($m: ID!, $k: String!, $at: DateTime) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k, occurredAt: $at}) { userErrors { code } } }"""
FREEZE = """mutation($m: ID!, $k: String!) { streakFreezeBuy(input: {memberId: $m,
  idempotencyKey: $k}) { replayed streak { freezesHeld } userErrors { code } } }"""
MAKE_UP = """mutation($m: ID!, $d: Date!, $k: String!) { checkinMakeUp(input: {memberId: $m,
  day: $d, idempotencyKey: $k}) { replayed event { id } userErrors { code } } }"""
CHEER = """mutation($m: ID!, $k: String!) { eventRecord(input: {memberId: $m, type: "cheer",
  idempotencyKey: $k}) { replayed userErrors { code } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { availablePoints
  streak { current freezesHeld freezesBought } badges { key }
  ledger(first: 100) { edges { node { transaction { id kind } } } } } }"""
BADGES = "{ badges { key holders } }"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory):
    with world_on(request.param, tmp_path_factory, "streaks") as w:
        w.mutate("admin", PUBLISH, {"s": RULES})
        _began_days_ago(w, 10)
        yield w


def _began_days_ago(w: World, days: int) -> None:
    """The program began a few days ago: missed days exist to make up (read by the servers
    only when first needed, so this is what they see)."""
    from server.store.db import bind, open_database

    db = bind(open_database(w.database_url))
    try:
        with db.connection_context():
            began = (datetime.now(UTC) - timedelta(days=days)).isoformat()
            db.execute_sql(
                "INSERT INTO setting (key, value) VALUES ('program_started_at', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value".replace(
                    "%s", "%s" if w.database_url.startswith("postgres") else "?"
                ),
                (began,),
            )
    finally:
        db.close_all()


def _member(w: World, points: int) -> str:
    mid = w.mutate("admin", UPSERT, {"e": w.name("m")})["member"]["id"]
    if points:
        w.mutate("admin", ADJUST, {"m": mid, "p": points, "k": w.name("seed")})
    return mid


def _state(w: World, mid: str) -> tuple[dict, Counter]:
    m = w.data("admin", MEMBER, {"id": mid})["member"]
    seen = {
        e["node"]["transaction"]["id"]: e["node"]["transaction"]["kind"]
        for e in m["ledger"]["edges"]
    }
    return m, Counter(seen.values())


def _day(back: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=back)).isoformat()


def test_identical_freeze_purchases_buy_one(world):
    mid = _member(world, 500)
    payloads = world.fire([Call("admin", FREEZE, {"m": mid, "k": f"{mid}-one"}) for _ in range(N)])
    assert codes(payloads) == ["ok"] * N
    assert sorted(p["replayed"] for p in payloads) == [False] + [True] * (N - 1)
    m, kinds = _state(world, mid)
    assert m["availablePoints"] == 450 and kinds["streak_freeze"] == 1
    assert m["streak"]["freezesHeld"] == 1
    assert world.verify() == []


def test_freeze_purchases_with_different_keys_stop_at_the_limit(world):
    mid = _member(world, 500)
    payloads = world.fire([Call("admin", FREEZE, {"m": mid, "k": f"{mid}-k{i}"}) for i in range(N)])
    assert codes(payloads) == ["FREEZE_LIMIT_REACHED"] * (N - 2) + ["ok"] * 2
    m, kinds = _state(world, mid)
    assert m["availablePoints"] == 400 and kinds["streak_freeze"] == 2
    assert (m["streak"]["freezesHeld"], m["streak"]["freezesBought"]) == (2, 2)
    assert world.verify() == []


def test_freeze_purchases_beyond_the_balance(world):
    mid = _member(world, 60)
    payloads = world.fire([Call("admin", FREEZE, {"m": mid, "k": f"{mid}-k{i}"}) for i in range(N)])
    assert codes(payloads) == ["INSUFFICIENT_POINTS"] * (N - 1) + ["ok"]
    assert _state(world, mid)[0]["availablePoints"] == 10
    assert world.verify() == []


def _missed_yesterday(w: World) -> str:
    """A member who checked in the day before yesterday and today, not yesterday."""
    mid = _member(w, 500)
    at = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0, second=0)
    w.mutate("service", CHECKIN, {"m": mid, "k": w.name("c"), "at": at.isoformat()})
    w.mutate("service", CHECKIN, {"m": mid, "k": w.name("c")})
    return mid


def test_identical_make_ups_charge_and_pay_once(world):
    mid = _missed_yesterday(world)
    call = Call("service", MAKE_UP, {"m": mid, "d": _day(1), "k": f"{mid}-same"})
    payloads = world.fire([call] * N)
    assert codes(payloads) == ["ok"] * N
    assert sorted(p["replayed"] for p in payloads) == [False] + [True] * (N - 1)
    assert len({p["event"]["id"] for p in payloads}) == 1
    m, kinds = _state(world, mid)
    # The joined run of 3 days reached `streak 2` once (the live path could not).
    assert kinds["checkin_make_up"] == 1 and kinds["award"] == 1
    assert m["availablePoints"] == 500 - 30 + 5 and m["streak"]["current"] == 3
    assert world.verify() == []


def test_make_ups_of_one_day_with_different_keys_make_it_up_once(world):
    mid = _missed_yesterday(world)
    payloads = world.fire(
        [Call("service", MAKE_UP, {"m": mid, "d": _day(1), "k": f"{mid}-k{i}"}) for i in range(N)]
    )
    assert codes(payloads) == ["DAY_NOT_MISSED"] * (N - 1) + ["ok"]
    m, kinds = _state(world, mid)
    assert kinds["checkin_make_up"] == 1 and kinds["award"] == 1
    assert m["availablePoints"] == 500 - 30 + 5
    assert world.verify() == []


def test_make_ups_of_different_days_against_freezes_and_the_limit(world):
    mid = _member(world, 1000)
    calls = [
        Call("service", MAKE_UP, {"m": mid, "d": _day(1 + i % 3), "k": f"{mid}-d{i}"})
        if i % 2
        else Call("service", FREEZE, {"m": mid, "k": f"{mid}-f{i}"})
        for i in range(N)
    ]
    payloads = world.fire(calls)
    assert codes(payloads).count("ok") == 3 + 2  # each day once; two freezes a month
    m, kinds = _state(world, mid)
    assert kinds["checkin_make_up"] == 3 and kinds["streak_freeze"] == 2
    assert m["streak"]["current"] == 3 and kinds["award"] == 1  # the joined run of 3
    assert m["availablePoints"] == 1000 - 3 * 30 - 2 * 50 + 5
    assert world.verify() == []


def test_concurrent_events_earn_a_badge_once(world):
    mid = _member(world, 0)
    payloads = world.fire(
        [Call("service", CHEER, {"m": mid, "k": f"{mid}-k{i}"}) for i in range(N)]
    )
    assert codes(payloads) == ["ok"] * N
    m, _ = _state(world, mid)
    assert [b["key"] for b in m["badges"]] == ["cheerful"]
    holders = {b["key"]: b["holders"] for b in world.data("admin", BADGES)["badges"]}
    assert holders["cheerful"] >= 1
    assert world.verify() == []
