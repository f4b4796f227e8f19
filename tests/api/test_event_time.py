"""When an event happened is the program's to say: members cannot choose it, services only
within the backdating window, and nobody before the program began."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.core import auth, program
from server.core.errors import DomainError, ErrorCode
from server.core.program import ProgramSettings
from server.store.db import write_transaction
from server.store.models import Checkin, Event, LedgerTransaction

UPSERT = """
mutation($e: String!) {
  memberUpsert(input: {externalId: $e}) { member { id } userErrors { code } }
}"""
PUBLISH = """
mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code message } } }
"""
RULES = """campaign "daily" {
  checkin award 2
  checkin streak 3 award 25 repeating
  checkin total 10 award 50
}
"""
CHECKIN = """
mutation($id: ID!, $key: String!, $at: DateTime) {
  checkinRecord(input: {memberId: $id, idempotencyKey: $key, occurredAt: $at}) {
    event { occurredAt } day userErrors { code message field }
  }
}"""
EVENT = """
mutation($id: ID!, $key: String!, $at: DateTime) {
  eventRecord(input: {memberId: $id, type: "share", idempotencyKey: $key, occurredAt: $at}) {
    event { occurredAt } userErrors { code message field }
  }
}"""
BALANCE = "query($id: ID!) { member(id: $id) { availablePoints } }"


@pytest.fixture
def ada(api, clock):
    """A member of a program that began ten days ago (its keys were made then)."""
    assert api.call(PUBLISH, {"s": RULES})["rulesPublish"]["userErrors"] == []
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    clock.advance(days=10)
    return ada


def errors(payload: dict) -> list[tuple[str, str]]:
    (result,) = payload.values()
    return [(e["code"], e["field"]) for e in result["userErrors"]]


def test_a_member_cannot_backfill_their_own_checkins(api, clock, ada):
    me = api.as_(auth.member_token(1, now=clock.now()))
    for n in range(12, 0, -1):
        at = (clock.now() - timedelta(days=n)).isoformat()
        body = me.call(CHECKIN, {"id": ada, "key": f"back-{n}", "at": at})
        assert errors(body) == [("OCCURRED_AT_NOT_ALLOWED", "occurredAt")], n
    # Not even "now": a member token never sends the time.
    body = me.call(CHECKIN, {"id": ada, "key": "now", "at": clock.now().isoformat()})
    assert errors(body) == [("OCCURRED_AT_NOT_ALLOWED", "occurredAt")]
    assert Checkin.select().count() == 0
    assert LedgerTransaction.select().count() == 0
    today = me.call(CHECKIN, {"id": ada, "key": "today"})["checkinRecord"]
    assert today["userErrors"] == [] and today["event"]["occurredAt"] == clock.now().isoformat()
    assert api.call(BALANCE, {"id": ada})["member"]["availablePoints"] == 2


@pytest.mark.parametrize("role", ["service", "admin"])
def test_a_service_may_backdate_within_the_window_only(api, clock, ada, role):
    caller = api.as_(role)
    window = timedelta(hours=ProgramSettings().backdate_hours)
    assert window == timedelta(hours=72)
    too_old = clock.now() - window - timedelta(seconds=1)
    body = caller.call(CHECKIN, {"id": ada, "key": "old", "at": too_old.isoformat()})
    assert errors(body) == [("OCCURRED_AT_TOO_OLD", "occurredAt")]
    assert "72 hours" in body["checkinRecord"]["userErrors"][0]["message"]
    oldest = clock.now() - window
    body = caller.call(CHECKIN, {"id": ada, "key": "oldest", "at": oldest.isoformat()})
    assert errors(body) == []
    assert body["checkinRecord"]["event"]["occurredAt"] == oldest.isoformat()
    assert Checkin.select().count() == 1


def test_absurd_dates_are_refused(api, ada):
    for query in (CHECKIN, EVENT):
        body = api.as_("service").call(query, {"id": ada, "key": "k", "at": "1900-01-01T00:00Z"})
        assert errors(body) == [("OCCURRED_AT_TOO_OLD", "occurredAt")], query
    assert Event.select().count() == 0


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00-12:00", "0001-01-01T00:00:00+14:00"])
def test_dates_no_database_holds_are_refused_before_anything_runs(api, ada, at):
    for query in (CHECKIN, EVENT):
        body = api.as_("service").raw(query, {"id": ada, "key": "k", "at": at})
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "$at" in error["message"] and "outside the supported range" in error["message"]
    assert Event.select().count() == 0


def test_nothing_happened_before_the_program_began(api, clock):
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    began = clock.now()  # the keys and ada were made now: the program's first records
    clock.advance(hours=10)
    service = api.as_("service")
    body = service.call(
        EVENT, {"id": ada, "key": "a", "at": (began - timedelta(hours=1)).isoformat()}
    )
    assert errors(body) == [("OCCURRED_AT_BEFORE_PROGRAM", "occurredAt")]
    assert began.isoformat() in body["eventRecord"]["userErrors"][0]["message"]
    body = service.call(EVENT, {"id": ada, "key": "b", "at": began.isoformat()})
    assert errors(body) == []
    # Recorded once, in a setting of its own, whatever is recorded later.
    with write_transaction():
        assert program.started_at(clock.now()) == began


def test_the_window_is_a_program_setting_that_publishing_rules_keeps(api, clock, ada):
    with write_transaction():
        program.set_backdate_hours(24)
    assert api.call(PUBLISH, {"s": RULES})["rulesPublish"]["userErrors"] == []
    assert program.load().backdate_hours == 24
    at = clock.now() - timedelta(hours=25)
    body = api.as_("service").call(EVENT, {"id": ada, "key": "a", "at": at.isoformat()})
    assert errors(body) == [("OCCURRED_AT_TOO_OLD", "occurredAt")]
    assert "24 hours" in body["eventRecord"]["userErrors"][0]["message"]
    body = api.as_("service").call(
        EVENT, {"id": ada, "key": "b", "at": (at + timedelta(hours=2)).isoformat()}
    )
    assert errors(body) == []


@pytest.mark.parametrize("hours", [-1, program.MAX_BACKDATE_HOURS + 1])
def test_the_window_is_bounded(db, hours):
    with pytest.raises(DomainError) as refused, write_transaction():
        program.set_backdate_hours(hours)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "backdateHours")
    assert program.load().backdate_hours == 72
