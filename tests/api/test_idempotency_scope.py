"""Idempotency keys belong to the caller: one API key's or member's key is never another's."""

from __future__ import annotations

from datetime import date

from server.core import auth, birthdays, program
from server.core.auth import Role
from server.store.db import write_transaction
from server.store.models import Event, IdempotencyKey, LedgerTransaction

UPSERT = """
mutation($e: String!, $birthday: Date) {
  memberUpsert(input: {externalId: $e, birthday: $birthday}) { member { id } userErrors { code } }
}"""
CHECKIN = """
mutation($id: ID!, $key: String!) {
  checkinRecord(input: {memberId: $id, idempotencyKey: $key}) {
    event { id } replayed userErrors { code message field }
  }
}"""
ADJUST = """
mutation($id: ID!, $key: String!) {
  pointsAdjust(input: {memberId: $id, points: 50, reason: "welcome gift", idempotencyKey: $key}) {
    transaction { id } member { availablePoints } replayed userErrors { code message field }
  }
}"""
EVENT = """
mutation($id: ID!, $key: String!, $type: String!) {
  eventRecord(input: {memberId: $id, type: $type, idempotencyKey: $key}) {
    event { id type } replayed userErrors { code message field }
  }
}"""


def member(api, external_id: str, birthday: str | None = None) -> str:
    variables = {"e": external_id, "birthday": birthday}
    return api.mutate(UPSERT, variables)["member"]["id"]


def test_a_members_key_cannot_squat_the_operators_welcome_gift(api, clock):
    mallory = member(api, "wx-666")
    ada = member(api, "wx-10001")
    squat = {"id": mallory, "key": "welcome-wx-10001"}  # the README's own key pattern
    as_mallory = api.as_(auth.member_token(1, now=clock.now()))
    checked_in = as_mallory.mutate(CHECKIN, squat)
    gift = {"id": ada, "key": "welcome-wx-10001"}
    operator = api.as_("operator")
    paid = operator.mutate(ADJUST, gift)
    assert (paid["replayed"], paid["member"]["availablePoints"]) == (False, 50)
    # Each caller's retry replays its own first result.
    again = as_mallory.mutate(CHECKIN, squat)
    assert (again["replayed"], again["event"]["id"]) == (True, checked_in["event"]["id"])
    paid_again = operator.mutate(ADJUST, gift)
    assert paid_again["replayed"]
    assert paid_again["transaction"]["id"] == paid["transaction"]["id"]
    assert paid_again["member"]["availablePoints"] == 50
    assert LedgerTransaction.select().where(LedgerTransaction.kind == "adjustment").count() == 1


def test_one_key_from_two_api_keys_is_two_keys(api, clock):
    ada = member(api, "ada")
    with write_transaction():
        _, other = auth.create_key(Role.SERVICE, "second bot", now=clock.now())
    first = api.as_("service").mutate(EVENT, {"id": ada, "key": "msg-1", "type": "ping"})
    second = api.as_(other).mutate(EVENT, {"id": ada, "key": "msg-1", "type": "pong"})
    assert (first["replayed"], second["replayed"]) == (False, False)
    assert first["event"]["id"] != second["event"]["id"]
    assert [e.type for e in Event.select().order_by(Event.id)] == ["ping", "pong"]
    # Within one caller the key still means one request.
    reused = api.as_("service").call(EVENT, {"id": ada, "key": "msg-1", "type": "pong"})
    assert [e["code"] for e in reused["eventRecord"]["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]


def test_a_callers_key_cannot_stop_the_birthday_job(api, clock):
    today = clock.now().date()
    ada = member(api, "ada", date(1990, today.month, today.day).isoformat())
    taken = f"birthday:1:{today.year}"  # the key the scheduler uses for this birthday
    api.as_("service").mutate(EVENT, {"id": ada, "key": taken, "type": "ping"})
    with write_transaction():
        assert birthdays.emit(clock.now(), program.load()) == 1
    assert Event.select().where(Event.type == "birthday").count() == 1
    assert IdempotencyKey.select().where(IdempotencyKey.key == taken).count() == 2
