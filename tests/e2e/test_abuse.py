"""What farms points in real communities earns nothing here."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.store.models import Event, LedgerTransaction

RULES = """campaign "welcome" {
  join award 50
}
campaign "invite" {
  referral award 10 until invitee leaves
}
campaign "speak" {
  message award 1
}
"""
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = """mutation($e: String!, $c: String, $by: String) { memberUpsert(input: {
  externalId: $e, community: $c, invitedByExternalId: $by}) { member { id }
  events { type } userErrors { code field } } }"""
LEAVE = """mutation($m: ID!, $c: String!) { memberLeave(memberId: $m, community: $c) {
  userErrors { code } } }"""
MESSAGE = """mutation($m: ID!, $k: String!, $a: JSON) { eventRecord(input: {memberId: $m,
  type: "message", idempotencyKey: $k, attributes: $a}) { event { attributes
  transactions { id } } userErrors { code } } }"""
BALANCE = "query($id: ID!) { member(id: $id) { availablePoints } }"


@pytest.fixture
def farm(api):
    api.mutate(PUBLISH, {"s": RULES})
    return api


def points(api, member):
    return api.call(BALANCE, {"id": member})["member"]["availablePoints"]


def test_leaving_and_rejoining_never_earns_join_or_referral_rewards_twice(farm):
    api = farm
    host = api.call(UPSERT, {"e": "host", "c": "fans"})["memberUpsert"]["member"]["id"]
    guest = api.call(UPSERT, {"e": "guest", "c": "fans", "by": "host"})["memberUpsert"]
    guest_id = guest["member"]["id"]
    assert (points(api, host), points(api, guest_id)) == (60, 50)
    for _ in range(3):
        api.mutate(LEAVE, {"m": guest_id, "c": "fans"})
        again = api.call(UPSERT, {"e": "guest", "c": "fans", "by": "host"})["memberUpsert"]
        assert [e["type"] for e in again["events"]] == ["join"]
    assert points(api, guest_id) == 50  # the welcome once
    assert points(api, host) == 50  # the referral was taken back at the first leave


def test_no_self_referral_and_no_referral_of_someone_already_in(farm):
    api = farm
    api.call(UPSERT, {"e": "a", "c": "fans"})
    own = api.call(UPSERT, {"e": "b", "c": "fans", "by": "b"})["memberUpsert"]
    assert own["userErrors"] == [{"code": "INVALID_REFERRAL", "field": "invitedByExternalId"}]
    api.call(UPSERT, {"e": "b", "c": "fans"})
    # b is already in the program: a cannot "bring" b to another community.
    moved = api.call(UPSERT, {"e": "b", "c": "club", "by": "a"})["memberUpsert"]
    assert [e["type"] for e in moved["events"]] == ["join"]


def test_circular_referrals_earn_nothing(farm):
    api = farm
    api.call(UPSERT, {"e": "a", "c": "fans"})
    api.call(UPSERT, {"e": "b", "c": "fans", "by": "a"})
    api.call(UPSERT, {"e": "c", "c": "fans", "by": "b"})
    referral_awards = LedgerTransaction.select().where(LedgerTransaction.campaign == "invite")
    assert referral_awards.count() == 2
    api.call(UPSERT, {"e": "a", "c": "club", "by": "c"})  # closing the circle
    api.call(UPSERT, {"e": "b", "c": "club", "by": "a"})
    assert referral_awards.count() == 2
    assert Event.select().where(Event.type == "referral").count() == 2


def test_repeated_messages_and_floods_earn_nothing(farm, clock):
    api = farm
    ada = api.call(UPSERT, {"e": "ada"})["memberUpsert"]["member"]["id"]
    first = api.call(MESSAGE, {"m": ada, "k": "m1", "a": {"text": "Hello all", "length": 9}})
    assert first["eventRecord"]["event"]["transactions"]
    clock.advance(seconds=5)
    repeat = api.call(MESSAGE, {"m": ada, "k": "m2", "a": {"text": " hello ALL ", "length": 11}})
    assert repeat["eventRecord"]["event"]["transactions"] == []
    assert repeat["eventRecord"]["event"]["attributes"]["ignored"] == "duplicate"
    clock.set(clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1))
    sent, ignored = [], []
    for i in range(15):  # within one clock minute, more than the default 10
        clock.advance(seconds=1)
        result = api.call(MESSAGE, {"m": ada, "k": f"f{i}", "a": {"text": f"new {i}"}})
        sent.append(bool(result["eventRecord"]["event"]["transactions"]))
        ignored.append(result["eventRecord"]["event"]["attributes"].get("ignored"))
    assert sent == [True] * 10 + [False] * 5
    assert ignored == [None] * 10 + ["flood"] * 5
    assert points(api, ada) == 1 + 10
    assert LedgerTransaction.select().where(
        LedgerTransaction.campaign == "speak"
    ).count() == points(api, ada)


def test_joining_made_up_communities_earns_one_welcome(farm):
    api = farm
    ada = api.call(UPSERT, {"e": "ada", "c": "fans"})["memberUpsert"]["member"]["id"]
    for i in range(5):
        joined = api.call(UPSERT, {"e": "ada", "c": f"made-up-{i}"})["memberUpsert"]
        assert [e["type"] for e in joined["events"]] == ["join"]
    assert points(api, ada) == 50
