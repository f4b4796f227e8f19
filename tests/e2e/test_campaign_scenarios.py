"""The demo program's campaigns, driven through the GraphQL API with the clock set."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import dsl
from server.core.awards_batch import AwardsBatch
from server.core.verify import verify
from server.store.models import Event, LedgerTransaction, MemberCounter, Posting

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")

PUBLISH = """
mutation($source: String!) {
  rulesPublish(input: {source: $source, filename: "demo.rules"}) {
    campaigns { key version changed retired }
    diagnostics { text }
    userErrors { code message line column field }
  }
}"""
UPSERT = """
mutation($e: String!, $c: String, $by: String) {
  memberUpsert(input: {externalId: $e, community: $c, invitedByExternalId: $by}) {
    member { id } userErrors { code message }
  }
}"""
LEAVE = """
mutation($id: ID!) {
  memberLeave(memberId: $id, community: "fans") {
    event { transactions { kind why entries { amount account } } } userErrors { code }
  }
}"""
CHECKIN = """
mutation($id: ID!, $key: String!, $at: DateTime) {
  checkinRecord(input: {memberId: $id, idempotencyKey: $key, occurredAt: $at}) {
    event { transactions { id kind campaign campaignVersion ruleLine ruleText why
                           entries { amount account } } }
    replayed
    userErrors { code message }
  }
}"""
EVENT = """
mutation($id: ID!, $type: String!, $key: String!, $attributes: JSON) {
  eventRecord(input: {memberId: $id, type: $type, idempotencyKey: $key,
                      attributes: $attributes, community: "fans"}) {
    event { transactions { campaign ruleText entries { amount account } } }
    userErrors { code message field }
  }
}"""
BALANCE = "query($id: ID!) { member(id: $id) { availablePoints pendingPoints } }"
QUEUE = """
{ reviewQueue { edges { node { transactionId points campaign status member { externalId } } } } }
"""
REVIEW = """
mutation($t: ID!, $d: Decision!) {
  awardReview(input: {transactionId: $t, decision: $d, note: "ok"}) {
    review { status reviewer } userErrors { code message }
  }
}"""
CAMPAIGNS = "{ campaigns { key version budget budgetLeft pointsIssued retired } }"


def demo_source() -> str:
    return "\n".join(text for _, text in dsl.read_directory(ROOT / "rules"))


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def program(api, clock):
    """The demo rules, published on 1 September 2026 (Shanghai)."""
    clock.set(local(2026, 9, 1, 9, 0))
    result = api.call(PUBLISH, {"source": demo_source()})["rulesPublish"]
    assert result["userErrors"] == []
    return api


def join(api, name, by=None):
    return api.call(UPSERT, {"e": name, "c": "fans", "by": by})["memberUpsert"]["member"]["id"]


def balance(api, member):
    data = api.call(BALANCE, {"id": member})["member"]
    return data["availablePoints"], data["pendingPoints"]


def checkin(api, member, at, key=None):
    result = api.call(
        CHECKIN, {"id": member, "key": key or f"{member}-{at.isoformat()}", "at": at.isoformat()}
    )["checkinRecord"]
    assert result["userErrors"] == [], result
    return result["event"]["transactions"]


def test_checkin_pays_two_and_a_first_checkin_waits_for_review(program, clock):
    api = program
    ada = join(api, "ada")
    txns = checkin(api, ada, clock.now())
    assert sorted((t["campaign"], t["entries"][0]["amount"]) for t in txns) == [
        ("daily-checkin", 2),
        ("daily-checkin", 20),
    ]
    assert balance(api, ada) == (2, 20)
    (pending,) = api.as_("reviewer").call(QUEUE)["reviewQueue"]["edges"]
    assert pending["node"]["points"] == 20 and pending["node"]["status"] == "PENDING"
    decided = api.as_("reviewer").call(
        REVIEW, {"t": pending["node"]["transactionId"], "d": "APPROVE"}
    )["awardReview"]
    assert decided["review"] == {"status": "APPROVED", "reviewer": "reviewer:test reviewer"}
    assert balance(api, ada) == (22, 0)
    again = api.as_("reviewer").call(
        REVIEW, {"t": pending["node"]["transactionId"], "d": "REJECT"}
    )["awardReview"]
    assert again["userErrors"][0]["code"] == "ALREADY_REVIEWED"
    assert verify().ok


def test_a_rejected_review_makes_the_points_vanish(program, clock):
    api = program
    ada = join(api, "ada")
    checkin(api, ada, clock.now())
    (pending,) = api.call(QUEUE)["reviewQueue"]["edges"]
    api.mutate(REVIEW, {"t": pending["node"]["transactionId"], "d": "REJECT"})
    assert balance(api, ada) == (2, 0)
    assert verify().ok


def test_a_late_first_checkin_earns_no_welcome(program, clock):
    api = program
    ada = join(api, "ada")
    clock.advance(days=8)
    checkin(api, ada, clock.now())
    assert balance(api, ada) == (2, 0)


def test_seven_day_streak_resets_on_a_missed_day_in_local_time(program, clock):
    api = program
    ada = join(api, "ada")
    day = local(2026, 9, 2)
    gained = []
    # Alternate 23:30 and 00:30 local: each is its own calendar day in Shanghai.
    times = [
        day + timedelta(days=i, hours=23, minutes=30)
        if i % 2 == 0
        else day + timedelta(days=i, minutes=30)
        for i in range(7)
    ]
    for at in times:
        clock.set(at)
        gained.append(
            sum(
                t["entries"][0]["amount"]
                for t in checkin(api, ada, at)
                if t["campaign"] == "daily-checkin"
                and t["entries"][0]["account"].startswith("available")
            )
        )
    assert gained == [2, 2, 2, 2, 2, 2, 22]  # 7th day: 2 + streak 7 + repeating streak 7
    clock.set(day + timedelta(days=8, hours=12))  # day 8 missed: the run starts again
    gained = []
    for i in range(8, 15):
        at = day + timedelta(days=i + 1, hours=12)
        clock.set(at)
        gained.append(sum(t["entries"][0]["amount"] for t in checkin(api, ada, at)))
    assert gained == [2, 2, 2, 2, 2, 2, 22]


def test_the_thirtieth_checkin_pays_its_milestone_once(program, clock):
    api = program
    ada = join(api, "ada")
    for i in range(31):
        at = local(2026, 9, 2, 10) + timedelta(days=i)
        clock.set(at)
        texts = [t["ruleText"] for t in checkin(api, ada, at)]
        assert ("checkin total 30 award 50" in texts) == (i == 29)
    milestone = LedgerTransaction.select().where(
        LedgerTransaction.rule_text == "checkin total 30 award 50"
    )
    assert milestone.count() == 1


def test_referral_ladder_and_recount_when_an_invitee_leaves(program, clock):
    api = program
    host = join(api, "host")
    guests = [join(api, f"guest{i}", by="host") for i in range(1, 7)]
    awards = [
        t.postings.where(Posting.member.is_null(False)).get().amount
        for t in LedgerTransaction.select()
        .where(LedgerTransaction.campaign == "invite")
        .order_by(LedgerTransaction.id)
    ]
    assert awards == [10, 10, 15, 15, 20, 20]
    assert balance(api, host) == (90, 0)
    left = api.call(LEAVE, {"id": guests[1]})["memberLeave"]
    (clawback,) = left["event"]["transactions"]
    assert clawback["kind"] == "clawback"
    assert "invitee guest2 left fans" in clawback["why"]
    assert balance(api, host) == (80, 0)
    counter = MemberCounter.get(MemberCounter.member == 1, MemberCounter.event_type == "referral")
    assert (counter.total, counter.active) == (6, 5)
    join(api, "guest7", by="host")  # the 6th active referral: tier 6 pays 20
    assert balance(api, host) == (100, 0)
    rejoin = join(api, "guest2", by="host")  # coming back earns the inviter nothing
    assert rejoin == guests[1]
    assert balance(api, host) == (100, 0)
    assert verify().ok


def test_message_points_need_five_characters_and_stop_at_twenty_a_day(program, clock):
    api = program
    ada = join(api, "ada")
    for i in range(25):
        clock.advance(minutes=1)
        api.call(
            EVENT, {"id": ada, "type": "message", "key": f"m{i}", "attributes": {"length": 12}}
        )
    for i in range(3):
        clock.advance(minutes=1)
        api.call(
            EVENT, {"id": ada, "type": "message", "key": f"short{i}", "attributes": {"length": 3}}
        )
    assert balance(api, ada) == (20, 0)
    clock.advance(days=1)
    api.call(EVENT, {"id": ada, "type": "message", "key": "next-day", "attributes": {"length": 5}})
    assert balance(api, ada) == (21, 0)


def test_golden_week_orders_multiplier_and_budget(program, clock):
    api = program
    ada = join(api, "ada")
    clock.set(local(2027, 9, 30, 12))
    outside = api.call(
        EVENT, {"id": ada, "type": "order", "key": "o1", "attributes": {"amount": 95}}
    )["eventRecord"]
    assert outside["event"]["transactions"] == []
    clock.set(local(2027, 10, 2, 12))
    inside = api.call(
        EVENT, {"id": ada, "type": "order", "key": "o2", "attributes": {"amount": 95}}
    )["eventRecord"]
    assert [
        (t["campaign"], t["entries"][0]["amount"]) for t in inside["event"]["transactions"]
    ] == [("golden-week", 9)]
    txns = checkin(api, ada, clock.now())
    assert sorted(
        (t["campaign"], t["entries"][0]["amount"])
        for t in txns
        if t["entries"][0]["account"].startswith("available")
    ) == [("daily-checkin", 2), ("golden-week", 4)]  # 2 x 3 = 6: the extra 4 from golden week
    golden = {c["key"]: c for c in api.call(CAMPAIGNS)["campaigns"]}["golden-week"]
    assert golden["budget"] == 200000
    assert golden["budgetLeft"] == 200000 - 13
    assert golden["pointsIssued"] == 13


def test_a_budget_is_never_exceeded_and_then_awards_nothing(api, clock):
    source = 'campaign "tiny" {\n  budget 5 points\n  checkin award 2\n}\n'
    api.mutate(PUBLISH, {"source": source})
    members = [join(api, f"m{i}") for i in range(4)]
    for m in members:
        checkin(api, m, clock.now())
    assert [balance(api, m)[0] for m in members] == [2, 2, 1, 0]
    (tiny,) = api.call(CAMPAIGNS)["campaigns"]
    assert (tiny["budgetLeft"], tiny["pointsIssued"]) == (0, 5)
    assert LedgerTransaction.select().where(LedgerTransaction.campaign == "tiny").count() == 3


def test_the_same_event_twice_awards_once(program, clock):
    api = program
    ada = join(api, "ada")
    first = api.call(CHECKIN, {"id": ada, "key": "same"})["checkinRecord"]
    again = api.call(CHECKIN, {"id": ada, "key": "same"})["checkinRecord"]
    assert again["replayed"] and again["event"] == first["event"]
    assert balance(api, ada) == (2, 20)


def test_a_failure_during_evaluation_leaves_nothing_behind(program, clock, monkeypatch):
    api = program
    ada = join(api, "ada")
    events_before = Event.select().count()
    real_post = AwardsBatch._post

    def fail_midway(self, *args, **kwargs):
        # The event, its counters, the award transactions and the wallets are written by
        # now; the postings are not.
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(AwardsBatch, "_post", fail_midway)
    body = api.raw(CHECKIN, {"id": ada, "key": "boom"})
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert Event.select().count() == events_before
    assert not MemberCounter.select().where(MemberCounter.event_type == "checkin").exists()
    assert not LedgerTransaction.select().where(LedgerTransaction.kind == "award").exists()
    assert balance(api, ada) == (0, 0)
    monkeypatch.setattr(AwardsBatch, "_post", real_post)
    assert api.call(CHECKIN, {"id": ada, "key": "boom"})["checkinRecord"]["userErrors"] == []
    assert balance(api, ada) == (2, 20)


def test_a_new_version_applies_from_its_activation_only(api, clock):
    v1 = 'campaign "c" {\n  checkin award 2\n}\n'
    v2 = 'campaign "c" {\n  checkin award 5  # more!\n}\n'
    api.mutate(PUBLISH, {"source": v1})
    ada = join(api, "ada")
    (first,) = checkin(api, ada, clock.now())
    same = api.mutate(PUBLISH, {"source": v1 + "\n# a comment changes nothing\n"})
    assert same["campaigns"] == [{"key": "c", "version": 1, "changed": False, "retired": False}]
    clock.advance(hours=1)
    published = api.mutate(PUBLISH, {"source": v2})
    assert published["campaigns"][0]["version"] == 2
    clock.advance(days=1)
    (second,) = checkin(api, ada, clock.now())
    assert (first["campaignVersion"], first["entries"][0]["amount"]) == (1, 2)
    assert (second["campaignVersion"], second["entries"][0]["amount"]) == (2, 5)
    assert second["why"].startswith("award: checkin award 5 — c v2, demo.rules:2; checkin evt_")
    # An event that happened before v2 took effect is judged by v1.
    bob = join(api, "bob")
    (late,) = checkin(api, bob, clock.now() - timedelta(days=1, minutes=30))
    assert (late["campaignVersion"], late["entries"][0]["amount"]) == (1, 2)
    retired = api.mutate(PUBLISH, {"source": 'campaign "d" {\n  checkin award 1\n}\n'})
    assert {"key": "c", "version": 3, "changed": True, "retired": True} in retired["campaigns"]


def test_rules_with_errors_are_never_published(api):
    bad = 'campaign "c" {\n  checkin award\n  mesage award 1\n}\n'
    result = api.call(PUBLISH, {"source": bad})["rulesPublish"]
    assert [(e["code"], e["line"], e["column"]) for e in result["userErrors"]] == [
        ("RULES_INVALID", 2, 16),
        ("RULES_INVALID", 3, 3),
    ]
    assert result["campaigns"] == []
    assert api.call(CAMPAIGNS)["campaigns"] == []
    check = api.call(
        "query($s: String!) { rulesValidate(source: $s) { ok diagnostics "
        "{ severity code line column message } } }",
        {"s": bad},
    )["rulesValidate"]
    assert not check["ok"]
    assert [d["code"] for d in check["diagnostics"]] == ["SYNTAX", "UNKNOWN_EVENT"]


def test_events_out_of_order_are_refused(program, clock):
    api = program
    ada = join(api, "ada")
    clock.advance(hours=2)
    api.call(EVENT, {"id": ada, "type": "message", "key": "a", "attributes": {"length": 9}})
    earlier = (clock.now() - timedelta(hours=1)).isoformat()
    body = api.call(
        """mutation($id: ID!, $at: DateTime) { eventRecord(input: {memberId: $id,
        type: "message", idempotencyKey: "b", occurredAt: $at}) { userErrors { code } } }""",
        {"id": ada, "at": earlier},
    )
    assert body["eventRecord"]["userErrors"] == [{"code": "EVENT_OUT_OF_ORDER"}]


def test_caps_cut_awards_and_community_campaigns_see_only_their_events(api, clock):
    source = """campaign "chatty" {
  max 5 points per day
  message award 2
}
campaign "vip-only" {
  community "vip"
  message award 3 max 4 points per week
}
"""
    api.mutate(PUBLISH, {"source": source})
    ada = join(api, "ada")

    def message(key, community):
        return api.call(
            """mutation($id: ID!, $key: String!, $c: String) {
            eventRecord(input: {memberId: $id, type: "message", idempotencyKey: $key,
                                community: $c}) {
              event { transactions { campaign entries { amount account } } } } }""",
            {"id": ada, "key": key, "c": community},
        )["eventRecord"]

    paid = []
    for i in range(4):
        clock.advance(minutes=1)
        txns = message(f"f{i}", "fans")["event"]["transactions"]
        paid.append([(t["campaign"], t["entries"][0]["amount"]) for t in txns])
    assert paid == [[("chatty", 2)], [("chatty", 2)], [("chatty", 1)], []]
    clock.advance(days=1)
    txns = message("v1", "vip")["event"]["transactions"]
    assert [(t["campaign"], t["entries"][0]["amount"]) for t in txns] == [
        ("chatty", 2),
        ("vip-only", 3),
    ]
    clock.advance(minutes=1)
    txns = message("v2", "vip")["event"]["transactions"]
    assert [(t["campaign"], t["entries"][0]["amount"]) for t in txns] == [
        ("chatty", 2),
        ("vip-only", 1),
    ]  # 4 points a week
    assert balance(api, ada) == (13, 0)
