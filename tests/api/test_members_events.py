"""Members, communities, events and check-ins through the GraphQL API."""

from __future__ import annotations

from datetime import UTC, datetime

from server.core import program
from server.core.program import ProgramSettings
from server.store.db import write_transaction
from server.store.models import Checkin, Event, Member

UPSERT = """
mutation($input: MemberUpsertInput!) {
  memberUpsert(input: $input) {
    member { id externalId displayName birthday joinedAt availablePoints
             communities { community joinedAt leftAt invitedByExternalId } }
    created
    events { type community attributes member { externalId } }
    userErrors { code message field }
  }
}"""
LEAVE = """
mutation($id: ID!, $community: String!) {
  memberLeave(memberId: $id, community: $community) {
    event { type community }
    member { communities { community leftAt } }
    userErrors { code message field }
  }
}"""
CHECKIN = """
mutation($input: CheckinRecordInput!) {
  checkinRecord(input: $input) {
    event { id type occurredAt }
    day
    replayed
    userErrors { code message field }
  }
}"""
EVENT = """
mutation($input: EventRecordInput!) {
  eventRecord(input: $input) {
    event { id type community attributes occurredAt recordedAt member { externalId } }
    replayed
    userErrors { code message field }
  }
}"""
MEMBER = """
query($id: ID, $externalId: String) {
  member(id: $id, externalId: $externalId) { id externalId availablePoints }
}"""
MEMBERS = """
query($first: Int, $after: String, $community: String) {
  members(first: $first, after: $after, community: $community) {
    edges { cursor node { externalId } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def upsert(api, **fields):
    return api.call(UPSERT, {"input": fields})["memberUpsert"]


def test_upsert_creates_then_updates_by_external_id(api):
    first = upsert(api, externalId="wx-1", displayName="Ada", birthday="1990-05-01")
    assert first["created"] and first["userErrors"] == []
    assert first["member"]["id"].startswith("mbr_")
    again = upsert(api, externalId="wx-1", displayName="Ada L.")
    assert not again["created"]
    assert again["member"]["id"] == first["member"]["id"]
    assert again["member"]["displayName"] == "Ada L."
    assert again["member"]["birthday"] == "1990-05-01"
    assert Member.select().count() == 1


def test_joining_with_an_inviter_records_join_and_referral(api, clock):
    upsert(api, externalId="host", community="fans")
    guest = upsert(api, externalId="guest", community="fans", invitedByExternalId="host")
    kinds = [(e["type"], e["member"]["externalId"]) for e in guest["events"]]
    assert kinds == [("join", "guest"), ("referral", "host")]
    assert guest["events"][1]["attributes"]["invitee"] == "guest"
    assert guest["member"]["joinedAt"] == clock.now().isoformat()
    assert guest["member"]["communities"][0]["invitedByExternalId"] == "host"


def test_joining_twice_is_a_no_op_and_rejoining_brings_no_second_referral(api, clock):
    upsert(api, externalId="host", community="fans")
    guest = upsert(api, externalId="guest", community="fans", invitedByExternalId="host")
    assert upsert(api, externalId="guest", community="fans")["events"] == []
    left = api.call(LEAVE, {"id": guest["member"]["id"], "community": "fans"})["memberLeave"]
    assert left["event"]["type"] == "leave"
    assert left["member"]["communities"][0]["leftAt"] is not None
    clock.advance(days=3)
    back = upsert(api, externalId="guest", community="fans", invitedByExternalId="host")
    assert [e["type"] for e in back["events"]] == ["join"]
    assert back["events"][0]["attributes"]["rejoin"] is True
    assert Event.select().where(Event.type == "referral").count() == 1


def test_leaving_a_community_one_is_not_in_is_a_user_error(api):
    member = upsert(api, externalId="x")["member"]
    left = api.call(LEAVE, {"id": member["id"], "community": "fans"})["memberLeave"]
    assert left["userErrors"][0]["code"] == "NOT_IN_COMMUNITY"


def test_referral_mistakes_are_user_errors_that_change_nothing(api):
    upsert(api, externalId="host", community="fans")
    cases = [
        (
            {"externalId": "g", "community": "fans", "invitedByExternalId": "g"},
            "INVALID_REFERRAL",
            "invitedByExternalId",
        ),
        (
            {"externalId": "g", "community": "fans", "invitedByExternalId": "nobody"},
            "MEMBER_NOT_FOUND",
            "invitedByExternalId",
        ),
        (
            {"externalId": "g", "invitedByExternalId": "host"},
            "INVALID_REFERRAL",
            "invitedByExternalId",
        ),
        ({"externalId": "", "community": "fans"}, "INVALID_INPUT", "externalId"),
        ({"externalId": "g", "community": "bad key!"}, "INVALID_INPUT", "community"),
        ({"externalId": "g", "displayName": "x" * 201}, "INVALID_INPUT", "displayName"),
        ({"externalId": "g", "birthday": "2099-01-01"}, "INVALID_INPUT", "birthday"),
    ]
    for fields, code, field in cases:
        result = upsert(api, **fields)
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)], fields
        assert result["member"] is None
    assert Member.select().count() == 1


def test_member_is_found_by_id_or_external_id(api):
    created = upsert(api, externalId="wx-9")["member"]
    by_id = api.call(MEMBER, {"id": created["id"]})["member"]
    by_ext = api.call(MEMBER, {"externalId": "wx-9"})["member"]
    assert by_id == by_ext
    assert api.call(MEMBER, {"externalId": "nobody"})["member"] is None
    bad = api.raw(MEMBER, {"id": "txn_1"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ID"


def test_members_page_by_keyset_cursor(api):
    for i in range(5):
        upsert(api, externalId=f"m{i}", community="fans" if i % 2 == 0 else "club")
    page = api.call(MEMBERS, {"first": 2})["members"]
    assert [e["node"]["externalId"] for e in page["edges"]] == ["m4", "m3"]
    assert page["pageInfo"]["hasNextPage"]
    rest = api.call(MEMBERS, {"first": 10, "after": page["pageInfo"]["endCursor"]})["members"]
    assert [e["node"]["externalId"] for e in rest["edges"]] == ["m2", "m1", "m0"]
    assert not rest["pageInfo"]["hasNextPage"]
    fans = api.call(MEMBERS, {"community": "fans"})["members"]
    assert [e["node"]["externalId"] for e in fans["edges"]] == ["m4", "m2", "m0"]
    too_many = api.raw(MEMBERS, {"first": 101})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_checkin_once_per_local_day_in_the_program_time_zone(api, clock):
    with write_transaction():
        program.save(ProgramSettings(timezone="Asia/Shanghai"))
    member = upsert(api, externalId="a")["member"]
    clock.set(datetime(2026, 3, 3, 10, 0, tzinfo=UTC))  # 18:00 on 3 March, local
    # 23:30 and 00:30 in Shanghai are two calendar days.
    late = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 on 2 March, local
    early = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March, local
    one = api.call(
        CHECKIN,
        {
            "input": {
                "memberId": member["id"],
                "idempotencyKey": "c1",
                "occurredAt": late.isoformat(),
            }
        },
    )["checkinRecord"]
    two = api.call(
        CHECKIN,
        {
            "input": {
                "memberId": member["id"],
                "idempotencyKey": "c2",
                "occurredAt": early.isoformat(),
            }
        },
    )["checkinRecord"]
    assert (one["day"], two["day"]) == ("2026-03-02", "2026-03-03")
    three = api.call(
        CHECKIN, {"input": {"memberId": member["id"], "idempotencyKey": "c3", "community": "other"}}
    )["checkinRecord"]
    assert three["userErrors"][0]["code"] == "ALREADY_CHECKED_IN"
    assert "2026-03-03" in three["userErrors"][0]["message"]
    assert Checkin.select().count() == 2
    assert Event.select().where(Event.type == "checkin").count() == 2


def test_a_retried_checkin_returns_the_first_result(api):
    member = upsert(api, externalId="a")["member"]
    variables = {"input": {"memberId": member["id"], "idempotencyKey": "same"}}
    first = api.call(CHECKIN, variables)["checkinRecord"]
    again = api.call(CHECKIN, variables)["checkinRecord"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["event"]["id"] == first["event"]["id"]
    assert again["userErrors"] == []


def test_event_record_stores_attributes_and_retries_once(api, clock):
    member = upsert(api, externalId="a")["member"]
    event = {
        "memberId": member["id"],
        "type": "message",
        "idempotencyKey": "m-1",
        "community": "fans",
        "attributes": {"length": 12, "channel": "group"},
    }
    first = api.call(EVENT, {"input": event})["eventRecord"]
    assert first["event"]["attributes"] == {"length": 12, "channel": "group"}
    assert first["event"]["occurredAt"] == clock.now().isoformat()
    again = api.call(EVENT, {"input": event})["eventRecord"]
    assert again["replayed"] and again["event"]["id"] == first["event"]["id"]
    reused = api.call(EVENT, {"input": {**event, "attributes": {"length": 13}}})["eventRecord"]
    assert reused["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Event.select().where(Event.type == "message").count() == 1


def test_bad_events_are_user_errors_that_change_nothing(api, clock):
    member = upsert(api, externalId="a")["member"]
    base = {"memberId": member["id"], "type": "message", "idempotencyKey": "k"}
    future = datetime(2027, 1, 1, tzinfo=UTC).isoformat()
    cases = [
        ({"type": "Message!"}, "INVALID_EVENT_TYPE", "type"),
        ({"type": "join"}, "EVENT_TYPE_RESERVED", "type"),
        ({"type": "referral"}, "EVENT_TYPE_RESERVED", "type"),
        ({"type": "birthday"}, "EVENT_TYPE_RESERVED", "type"),
        ({"memberId": "mbr_999"}, "MEMBER_NOT_FOUND", "memberId"),
        ({"memberId": "nope"}, "INVALID_ID", "memberId"),
        ({"occurredAt": future}, "EVENT_OUT_OF_ORDER", "occurredAt"),
        ({"attributes": [1, 2]}, "INVALID_INPUT", "attributes"),
        ({"attributes": {"x": "y" * 5000}}, "INVALID_INPUT", "attributes"),
        ({"idempotencyKey": ""}, "INVALID_INPUT", "idempotencyKey"),
        ({"community": "a b"}, "INVALID_INPUT", "community"),
    ]
    before = Event.select().count()
    for change, code, field in cases:
        result = api.call(EVENT, {"input": {**base, **change}})["eventRecord"]
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)], change
    assert Event.select().count() == before
