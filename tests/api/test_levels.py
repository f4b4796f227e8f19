"""Member levels through the API, with the clock set: rising, the level's multiplier,
falling short, the grace period, one level at a time, an operator's level, a clawback."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.core import tick
from server.core.verify import verify
from server.store.models import AuditEntry, LevelHistory, MemberLevel

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = """program "club" {
  timezone "Asia/Shanghai"
}
levels "Member levels" {
  qualify by points earned in last 30 days
  level "silver" at 100
  level "gold" at 200 multiply 1.2
  keep for 10 days after falling short
  fall one level at a time
}
campaign "daily" "Daily" {
  checkin award 10
}
campaign "invite" "Invite" {
  referral award 60 until invitee leaves
}
"""
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = """mutation($e: String!, $by: String) { memberUpsert(input: {externalId: $e,
  community: "fans", invitedByExternalId: $by}) { member { id } userErrors { code } } }"""
LEAVE = """mutation($id: ID!) { memberLeave(memberId: $id, community: "fans") {
  userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "welcome gift", idempotencyKey: $k}) { userErrors { code } } }"""
CHECKIN = """mutation($id: ID!, $key: String!) {
  checkinRecord(input: {memberId: $id, idempotencyKey: $key}) {
    event { transactions { why reason entries { amount account } } } userErrors { code } } }"""
LEVEL = """query($id: ID!) { member(id: $id) { level { key name multiply since until
  qualifyingFigure nextLevel toNext }
  levelHistory(first: 10) { edges { node { fromLevel toLevel cause reason } } } } }"""
SET = """mutation($m: ID!, $l: String, $u: DateTime!, $r: String!) {
  memberLevelSet(input: {memberId: $m, level: $l, until: $u, reason: $r}) {
    level { key until } request { id status } userErrors { code field } } }"""
LADDER = """{ levels { name qualifyBy window keepDays oneLevelAtATime membersWithoutLevel
  steps { key at multiply members } } }"""


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def club(api, clock):
    clock.set(local(2026, 3, 1, 12))
    api.mutate(PUBLISH, {"s": RULES})
    return api


def join(api, name: str, by: str | None = None) -> str:
    return api.mutate(UPSERT, {"e": name, "by": by})["member"]["id"]


def level(api, member: str) -> dict:
    return api.call(LEVEL, {"id": member})["member"]


def history(api, member: str) -> list[tuple]:
    edges = level(api, member)["levelHistory"]["edges"]
    return [(e["node"]["fromLevel"], e["node"]["toLevel"], e["node"]["cause"]) for e in edges]


def checkin(api, member: str, key: str) -> list[dict]:
    return api.mutate(CHECKIN, {"id": member, "key": key})["event"]["transactions"]


def test_rise_to_gold_earn_more_fall_short_keep_through_grace_drop_one_level(club, clock):
    api = club
    ada = join(api, "ada")
    assert level(api, ada)["level"]["key"] is None
    api.mutate(ADJUST, {"m": ada, "p": 200, "k": "gift"})  # a manual credit counts
    now = level(api, ada)["level"]
    assert (now["key"], now["multiply"], now["qualifyingFigure"]) == ("gold", "1.2", 200)
    assert now["nextLevel"] is None and now["toNext"] is None and now["until"] is None
    assert history(api, ada) == [(None, "gold", "qualified")]

    (award,) = checkin(api, ada, "c1")  # 10, times 1.2
    assert [e["amount"] for e in award["entries"] if e["account"].startswith("available")] == [12]
    assert 'level "gold" multiplied 10 by 1.2' in award["why"]
    assert level(api, ada)["level"]["qualifyingFigure"] == 212

    # 31 days on, nothing is left in the window: short, but gold is kept 10 days.
    clock.advance(days=31)
    tick.tick(clock.now())
    now = level(api, ada)["level"]
    assert (now["key"], now["qualifyingFigure"]) == ("gold", 0)
    assert now["until"] == (clock.now() + timedelta(days=10)).isoformat()
    clock.advance(days=9)
    tick.tick(clock.now())
    assert level(api, ada)["level"]["key"] == "gold"
    (award,) = checkin(api, ada, "c2")  # still gold: still x1.2
    assert [e["amount"] for e in award["entries"] if e["account"].startswith("available")] == [12]

    clock.advance(days=1, minutes=1)  # the grace period is over: one level down
    tick.tick(clock.now())
    now = level(api, ada)["level"]
    assert (now["key"], now["nextLevel"], now["toNext"]) == ("silver", "gold", 188)
    assert now["until"] == (clock.now() + timedelta(days=10)).isoformat()  # silver's grace
    assert history(api, ada) == [("gold", "silver", "grace-ended"), (None, "gold", "qualified")]
    (award,) = checkin(api, ada, "c3")  # silver multiplies nothing
    assert [e["amount"] for e in award["entries"] if e["account"].startswith("available")] == [10]

    ladder = api.call(LADDER)["levels"]
    assert ladder["steps"] == [
        {"key": "silver", "at": 100, "multiply": None, "members": 1},
        {"key": "gold", "at": 200, "multiply": "1.2", "members": 0},
    ]
    in_force = api.call("{ rulesInForce }")["rulesInForce"]
    assert 'levels "Member levels" {\n  qualify by points earned in last 30 days\n' in in_force
    assert (ladder["qualifyBy"], ladder["window"], ladder["keepDays"]) == (
        "points earned",
        "last 30 days",
        10,
    )
    assert verify().ok


def test_spending_and_deductions_never_lower_the_figure(club, clock):
    api = club
    bob = join(api, "bob")
    api.mutate(ADJUST, {"m": bob, "p": 150, "k": "a"})
    api.mutate(ADJUST, {"m": bob, "p": -100, "k": "b"})
    now = level(api, bob)["level"]
    assert (now["key"], now["qualifyingFigure"]) == ("silver", 150)


def test_an_operators_level_holds_until_its_date(club, clock, keys):
    api = club
    cy = join(api, "cy")
    until = clock.now() + timedelta(days=7)
    done = api.mutate(SET, {"m": cy, "l": "gold", "u": until.isoformat(), "r": "guest star"})
    assert done["level"] == {"key": "gold", "until": until.isoformat()}
    assert history(api, cy) == [(None, "gold", "manual")]
    assert level(api, cy)["levelHistory"]["edges"][0]["node"]["reason"] == "guest star"
    entry = AuditEntry.get(AuditEntry.action == "level.set")
    assert entry.details["reason"] == "guest star"
    (award,) = checkin(api, cy, "c1")
    assert [e["amount"] for e in award["entries"] if e["account"].startswith("available")] == [12]

    clock.advance(days=6)
    tick.tick(clock.now())
    assert level(api, cy)["level"]["key"] == "gold"
    clock.advance(days=1, minutes=1)  # the floor ended; the figure is short: grace begins
    tick.tick(clock.now())
    now = level(api, cy)["level"]
    assert now["key"] == "gold"
    assert now["until"] == (clock.now() + timedelta(days=10)).isoformat()
    assert MemberLevel.get(MemberLevel.member == 1).floor_level is None

    # Refusals change nothing.
    for variables, code in [
        ({"l": "platinum", "u": until.isoformat()}, "UNKNOWN_LEVEL"),
        ({"l": "gold", "u": (clock.now() - timedelta(days=1)).isoformat()}, "INVALID_INPUT"),
    ]:
        got = api.call(SET, {"m": cy, "r": "x", **variables})["memberLevelSet"]
        assert [e["code"] for e in got["userErrors"]] == [code]
    assert LevelHistory.select().count() == 1
    member = api.as_("analyst").raw(SET, {"m": cy, "l": "gold", "u": until.isoformat(), "r": "x"})
    assert member["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert verify().ok


def test_a_second_operator_approves_a_level_where_the_program_asks(club, clock, monkeypatch):
    from server.core import level_set

    monkeypatch.setattr(level_set, "needs_approval", lambda: True)
    api = club
    dee = join(api, "dee")
    until = (clock.now() + timedelta(days=7)).isoformat()
    done = api.mutate(SET, {"m": dee, "l": "silver", "u": until, "r": "moderator"})
    assert done["request"]["status"] == "pending" and done["level"]["key"] is None
    decide = """mutation($r: ID!) { levelRequestDecide(input: {levelRequestId: $r, approve: true}) {
      request { status } userErrors { code } } }"""
    same = api.call(decide, {"r": done["request"]["id"]})["levelRequestDecide"]
    assert [e["code"] for e in same["userErrors"]] == ["SAME_OPERATOR"]
    other = api.as_("operator").mutate(decide, {"r": done["request"]["id"]})
    assert other["request"]["status"] == "approved"
    assert level(api, dee)["level"]["key"] == "silver"


def test_a_clawed_back_referral_lowers_the_qualifying_figure(club, clock):
    api = club
    join(api, "host")
    guests = [join(api, f"guest{i}", by="host") for i in range(2)]
    host = level(api, "mbr_1")
    assert (host["level"]["key"], host["level"]["qualifyingFigure"]) == ("silver", 120)
    api.mutate(LEAVE, {"id": guests[0]})  # the award for guest0 is clawed back
    host = level(api, "mbr_1")["level"]
    assert (host["key"], host["qualifyingFigure"]) == ("silver", 60)  # kept: grace
    assert host["until"] == (clock.now() + timedelta(days=10)).isoformat()
    assert verify().ok


def test_a_member_sees_their_own_level_and_not_anothers(club, clock):
    api = club
    ada, bob = join(api, "ada"), join(api, "bob")
    token = api.mutate(
        "mutation($m: ID!) { memberTokenCreate(memberId: $m) { token userErrors { code } } }",
        {"m": ada},
    )["token"]
    own = api.as_(token).call(LEVEL, {"id": ada})["member"]["level"]
    assert own["qualifyingFigure"] == 0
    other = api.as_(token).raw(LEVEL, {"id": bob})
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_level_changes_reach_the_members_own_subscription_and_the_activity_feed(
    club, client, clock
):
    import time

    from server.core import notify
    from server.core.levels_notice import level_topic
    from tests.api.test_ownership import Inbox, error_codes

    api = club
    ada, bob = join(api, "ada"), join(api, "bob")
    token = api.mutate(
        "mutation($m: ID!) { memberTokenCreate(memberId: $m) { token userErrors { code } } }",
        {"m": ada},
    )["token"]
    subscribe = (
        "subscription($m: ID!) { levelChanged(memberId: $m) { memberId fromLevel toLevel cause } }"
    )
    feed = "subscription { activity { kind memberName text } }"
    deadline = time.monotonic() + 30
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        inbox = Inbox(ws)
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert inbox.get(deadline, 10) == {"type": "connection_ack"}
        for n, (text, variables) in enumerate(
            [(subscribe, {"m": bob}), (subscribe, {"m": ada}), (feed, {})]
        ):
            payload = {"query": text, "variables": variables}
            ws.send_json({"id": str(n), "type": "subscribe", "payload": payload})
        refused = inbox.get(deadline, 10)
        assert refused["id"] == "0"
        assert error_codes(refused) == {"FORBIDDEN"}, refused
        ada_id = int(ada.split("_")[1])
        while notify.broker.subscribers(level_topic(ada_id)) == 0:
            time.sleep(0.02)
        while notify.broker.subscribers(notify.activity_topic(None)) == 0:
            time.sleep(0.02)
        api.mutate(ADJUST, {"m": ada, "p": 100, "k": "gift"})
        got = {}
        while len(got) < 2:
            message = inbox.get(deadline, 1.0)
            if message is not None and message.get("type") == "next":
                got[message["id"]] = message["payload"]["data"]
    assert got["1"]["levelChanged"] == {
        "memberId": ada,
        "fromLevel": None,
        "toLevel": "silver",
        "cause": "qualified",
    }
    assert got["2"]["activity"] == {
        "kind": "levelChanged",
        "memberName": "a member",
        "text": "a member reached silver",
    }
