"""Badges, streak freezes and make-up check-ins through the API, with the clock set."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.core.verify import verify

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = """program "club" {
  timezone "Asia/Shanghai"
  streak freeze costs 50 points, at most 2 per month
  make-up checkin costs 30 points within 3 days, at most 3 per month
}
badge "week-one" "Week one" description "Seven days in a row" image "https://example.com/w.png"
campaign "daily" "Daily check-in" {
  checkin award 2
  checkin streak 7 badge "week-one" award 10
  checkin total 10 award 5
  checkin total 12 badge "dozen"
}
"""
PLAIN = """program "club" {
  timezone "Asia/Shanghai"
}
campaign "daily" "Daily check-in" {
  checkin award 2
}
"""
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e, displayName: $e,
  community: "fans"}) { member { id } userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "test", idempotencyKey: $k}) { userErrors { code } } }"""
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { day userErrors { code message } } }"""
BACKDATED = """mutation($m: ID!, $k: String!, $at: DateTime!) { checkinRecord(input: {
  memberId: $m, idempotencyKey: $k, occurredAt: $at}) { userErrors { code } } }"""
MAKE_UP = """mutation($m: ID!, $d: Date!, $k: String!) { checkinMakeUp(input: {memberId: $m,
  day: $d, idempotencyKey: $k}) { event { id occurredAt } badges replayed
  streak { current lastDay freezesHeld }
  transactions { kind reason entries { amount accountKind } }
  userErrors { code message field } } }"""
FREEZE = """mutation($m: ID!, $k: String!) { streakFreezeBuy(input: {memberId: $m,
  idempotencyKey: $k}) { replayed streak { current freezesHeld freezesBought }
  transaction { kind entries { amount accountKind } } userErrors { code message } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { availablePoints
  streak { current lastDay freezesHeld freezesBought freezesUsed }
  badges { key name description imageUrl campaign event { id type } } } }"""
BADGES = "{ badges { key name description imageUrl holders } }"
DESCRIBE = """mutation($k: String!, $n: String, $u: String) { badgeDescribe(input: {key: $k,
  name: $n, imageUrl: $u}) { badge { key name imageUrl holders } userErrors { code field } } }"""
TOKEN = """mutation($m: ID!) { memberTokenCreate(memberId: $m, ttlSeconds: 86400)
  { token userErrors { code } } }"""
STREAK_AWARDS = """query($id: ID!) { member(id: $id) { ledger(first: 100) { edges { node {
  amount transaction { kind reason } } } } } }"""


def local(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


D1 = date(2026, 3, 2)


def day(n: int) -> date:
    return D1 + timedelta(days=n - 1)


@pytest.fixture
def club(api, clock):
    clock.set(local(D1, 8))
    api.mutate(PUBLISH, {"s": RULES})
    return api


def _member(api, name: str, points: int = 100) -> str:
    mid = api.mutate(UPSERT, {"e": name})["member"]["id"]
    if points:
        api.mutate(ADJUST, {"m": mid, "p": points, "k": f"{name}-grant"})
    return mid


def _checkin(api, clock, mid: str, n: int) -> None:
    clock.set(local(day(n)))
    api.mutate(CHECKIN, {"m": mid, "k": f"{mid}-{n}"})


def _points(transaction: dict) -> int:
    """What a transaction moved in the member's wallets."""
    return sum(
        e["amount"] for e in transaction["entries"] if e["accountKind"] in ("AVAILABLE", "PENDING")
    )


def _balance(api, mid: str) -> int:
    return api.call(MEMBER, {"id": mid})["member"]["availablePoints"]


def _streak_awards(api, mid: str) -> int:
    edges = api.call(STREAK_AWARDS, {"id": mid})["member"]["ledger"]["edges"]
    return sum(1 for e in edges if "streak 7" in (e["node"]["transaction"]["reason"] or ""))


def test_a_missed_day_made_up_within_the_window_pays_the_streak_bonus_once(club, clock):
    api = club
    mid = _member(api, "ming")
    for n in range(1, 7):
        _checkin(api, clock, mid, n)
    _checkin(api, clock, mid, 8)  # day 7 missed: a new run of 1
    assert api.call(MEMBER, {"id": mid})["member"]["streak"]["current"] == 1
    clock.set(local(day(8), 20))
    made = api.mutate(MAKE_UP, {"m": mid, "d": day(7).isoformat(), "k": "mu-7"})
    assert made["streak"] == {"current": 8, "lastDay": day(8).isoformat(), "freezesHeld": 0}
    assert [(t["kind"], _points(t)) for t in made["transactions"]] == [
        ("checkin_make_up", -30),
        ("award", 10),
    ]
    assert made["badges"] == ["week-one"]
    # 6 + 1 check-ins at 2, the make-up's 30, the 7-day bonus once.
    assert _balance(api, mid) == 100 + 7 * 2 - 30 + 10
    again = api.call(MAKE_UP, {"m": mid, "d": day(7).isoformat(), "k": "mu-7"})["checkinMakeUp"]
    assert again["replayed"] and again["userErrors"] == [] and again["badges"] == ["week-one"]
    assert _balance(api, mid) == 100 + 7 * 2 - 30 + 10
    for n in range(9, 15):  # the joined run goes on: no second bonus for it
        _checkin(api, clock, mid, n)
    assert _streak_awards(api, mid) == 1
    member = api.call(MEMBER, {"id": mid})["member"]
    assert member["streak"]["current"] == 14
    # Check-ins 1..6, 8, the make-up, 9..14: the 10th earns the total award once, the 12th
    # the badge alone.
    assert member["availablePoints"] == 100 + 13 * 2 - 30 + 10 + 5
    assert [(b["key"], b["name"]) for b in member["badges"]] == [
        ("week-one", "Week one"),
        ("dozen", "dozen"),
    ]
    week = member["badges"][0]
    assert week["event"]["type"] == "checkin" and week["campaign"] == "daily"
    assert week["imageUrl"] == "https://example.com/w.png"
    # A broken run built again is a new run: its 7th day pays (once).
    for n in range(16, 23):
        _checkin(api, clock, mid, n)
    assert _streak_awards(api, mid) == 2
    listed = {b["key"]: b for b in api.call(BADGES)["badges"]}
    assert listed["week-one"]["holders"] == 1 and listed["dozen"]["holders"] == 1
    assert verify().ok, verify().problems


def test_a_held_freeze_keeps_the_run_through_a_missed_day(club, clock):
    api = club
    mid = _member(api, "fang")
    bought = api.mutate(FREEZE, {"m": mid, "k": "f1"})
    assert (bought["transaction"]["kind"], _points(bought["transaction"])) == ("streak_freeze", -50)
    assert bought["streak"]["freezesHeld"] == 1
    for n in (1, 2, 3, 5):  # day 4 missed
        _checkin(api, clock, mid, n)
    streak = api.call(MEMBER, {"id": mid})["member"]["streak"]
    assert streak == {
        "current": 4,  # the covered day does not add to the run
        "lastDay": day(5).isoformat(),
        "freezesHeld": 0,
        "freezesBought": 1,
        "freezesUsed": 1,
    }
    # The covered day was not missed: it cannot be bought again.
    error = _refused(api, MAKE_UP, {"m": mid, "d": day(4).isoformat(), "k": "covered"})
    assert error["code"] == "DAY_NOT_MISSED"
    for n in (6, 7, 8):
        _checkin(api, clock, mid, n)
    assert _streak_awards(api, mid) == 1  # the 7th day of the run is day 8
    assert _balance(api, mid) == 100 - 50 + 7 * 2 + 10
    # Without a freeze held, a missed day breaks the run.
    _checkin(api, clock, mid, 10)
    assert api.call(MEMBER, {"id": mid})["member"]["streak"]["current"] == 1
    assert verify().ok, verify().problems


def _refused(api, query: str, variables: dict) -> dict:
    (payload,) = api.call(query, variables).values()
    assert len(payload["userErrors"]) == 1, payload
    return payload["userErrors"][0]


def test_every_refusal_has_its_code_and_charges_nothing(club, clock):
    api = club
    mid = _member(api, "lan")
    poor = _member(api, "poor", points=0)
    for n in (1, 2, 3):
        _checkin(api, clock, mid, n)
    clock.set(local(day(4)))
    error = _refused(api, MAKE_UP, {"m": mid, "d": day(3).isoformat(), "k": "x-3"})
    assert (error["code"], error["field"]) == ("DAY_NOT_MISSED", "day")
    clock.set(local(day(8)))
    cases = [
        (day(8), "MAKE_UP_DAY_NOT_PAST"),
        (day(9), "MAKE_UP_DAY_NOT_PAST"),
        (day(4), "MAKE_UP_TOO_OLD"),  # 4 days ago; the window is 3
    ]
    for which, code in cases:
        error = _refused(api, MAKE_UP, {"m": mid, "d": which.isoformat(), "k": f"x-{which}"})
        assert (error["code"], error["field"]) == (code, "day")
        assert _balance(api, mid) == 100 + 3 * 2
    assert _refused(api, MAKE_UP, {"m": poor, "d": day(7).isoformat(), "k": "p"})["code"] == (
        "INSUFFICIENT_POINTS"
    )
    assert _refused(api, FREEZE, {"m": poor, "k": "p"})["code"] == "INSUFFICIENT_POINTS"
    for n in (5, 6, 7):
        api.mutate(MAKE_UP, {"m": mid, "d": day(n).isoformat(), "k": f"ok-{n}"})
    clock.set(local(day(9)))
    assert (
        _refused(api, MAKE_UP, {"m": mid, "d": day(8).isoformat(), "k": "fourth"})["code"]
        == "MAKE_UP_LIMIT_REACHED"
    )
    api.mutate(ADJUST, {"m": mid, "p": 200, "k": "more"})
    api.mutate(FREEZE, {"m": mid, "k": "f1"})
    api.mutate(FREEZE, {"m": mid, "k": "f2"})
    before = _balance(api, mid)
    assert _refused(api, FREEZE, {"m": mid, "k": "f3"})["code"] == "FREEZE_LIMIT_REACHED"
    assert _balance(api, mid) == before
    clock.set(local(date(2026, 4, 1)))  # a new month: the limits start again
    api.mutate(FREEZE, {"m": mid, "k": "f3"})
    api.mutate(PUBLISH, {"s": PLAIN})
    assert _refused(api, FREEZE, {"m": mid, "k": "f4"})["code"] == "NOT_OFFERED"
    error = _refused(api, MAKE_UP, {"m": mid, "d": "2026-03-31", "k": "n"})
    assert error["code"] == "NOT_OFFERED"
    assert verify().ok, verify().problems


def test_members_make_up_only_their_own_days_and_read_only_their_own_streak(club, clock):
    api = club
    mine, other = _member(api, "me"), _member(api, "other")
    _checkin(api, clock, mine, 1)
    clock.set(local(day(3)))
    me = api.as_(api.mutate(TOKEN, {"m": mine})["token"])  # tokens last a day
    made = me.mutate(MAKE_UP, {"m": mine, "d": day(2).isoformat(), "k": "self"})
    assert made["streak"]["current"] == 2
    body = me.raw(MAKE_UP, {"m": other, "d": day(2).isoformat(), "k": "theirs"})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = me.raw(FREEZE, {"m": other, "k": "theirs"})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = me.raw(MEMBER, {"id": other})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert me.call(MEMBER, {"id": mine})["member"]["streak"]["current"] == 2
    # A member still cannot backfill a check-in by giving its time.
    body = me.call(BACKDATED, {"m": mine, "k": "back", "at": local(day(1), 20).isoformat()})
    assert body["checkinRecord"]["userErrors"] == [{"code": "OCCURRED_AT_NOT_ALLOWED"}]
    # A service can make up a member's day.
    clock.set(local(day(5)))
    api.as_("service").mutate(MAKE_UP, {"m": other, "d": day(4).isoformat(), "k": "svc"})


def test_operators_describe_badges(club, clock):
    api = club
    described = api.mutate(DESCRIBE, {"k": "dozen", "n": "A dozen", "u": "https://x.test/d.png"})
    assert described["badge"] == {
        "key": "dozen",
        "name": "A dozen",
        "imageUrl": "https://x.test/d.png",
        "holders": 0,
    }
    bad = api.call(DESCRIBE, {"k": "dozen", "u": "javascript:alert(1)"})["badgeDescribe"]
    assert bad["userErrors"] == [{"code": "INVALID_INPUT", "field": "imageUrl"}]
    bad = api.call(DESCRIBE, {"k": "no spaces"})["badgeDescribe"]
    assert bad["userErrors"] == [{"code": "INVALID_INPUT", "field": "key"}]
    body = api.as_("service").raw(DESCRIBE, {"k": "dozen", "n": "x"})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    keys = [b["key"] for b in api.call(BADGES)["badges"]]
    assert keys == ["dozen", "week-one"]


def test_a_badge_earned_is_told_in_the_activity_feed(club, clock, monkeypatch):
    from server.core import notify

    told = []
    monkeypatch.setattr(notify, "announce", lambda *args: told.append(args[1:4:2]))
    api = club
    mid = _member(api, "hua", points=0)
    for n in range(1, 8):
        _checkin(api, clock, mid, n)
    assert ("badge", "hua earned the badge Week one") in told
    assert ("streak", "hua reached a 7-day checkin streak") in told


SIMULATE = """query($s: String!, $f: DateTime!, $t: DateTime!) { rulesSimulate(source: $s,
  from: $f, to: $t) { badges { key members }
  protection { freezes freezePoints makeUps makeUpPoints refused } } }"""


def test_the_simulation_reports_badges_and_prices_protection(club, clock):
    api = club
    mid = _member(api, "sim")
    for n in (1, 2, 3, 4, 5, 6, 8):
        _checkin(api, clock, mid, n)
    clock.set(local(day(8), 20))
    api.mutate(MAKE_UP, {"m": mid, "d": day(7).isoformat(), "k": "sim-mu"})
    api.mutate(FREEZE, {"m": mid, "k": "sim-f"})
    draft = RULES.replace("costs 50 points", "costs 80 points")
    window = {"f": local(D1, 0).isoformat(), "t": local(day(9), 0).isoformat()}
    report = api.call(SIMULATE, {"s": draft, **window})["rulesSimulate"]
    assert report["badges"] == [{"key": "week-one", "members": 1}]
    assert report["protection"] == {
        "freezes": 1,
        "freezePoints": 80,
        "makeUps": 1,
        "makeUpPoints": 30,
        "refused": 0,
    }
