"""eventsRecord: many events in one request, each judged exactly as if sent alone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.api.cost import query_cost
from server.core.verify import verify
from server.store.models import Event, IdempotencyKey, LedgerTransaction
from tests.e2e.test_campaign_scenarios import PUBLISH, demo_source, local

BATCH = """
mutation($events: [EventRecordInput!]!) {
  eventsRecord(input: {events: $events}) {
    results {
      event { id type transactions { campaign ruleText entries { amount account } } }
      replayed
      userErrors { code message field }
    }
    recorded replayed failed
    userErrors { code message field }
  }
}"""
ONE = """
mutation($input: EventRecordInput!) {
  eventRecord(input: $input) {
    event { id type transactions { campaign ruleText entries { amount account } } }
    userErrors { code message field }
  }
}"""
UPSERT = """
mutation($e: String!) {
  memberUpsert(input: {externalId: $e, community: "fans"}) { member { id } }
}"""
BALANCE = "query($id: ID!) { member(id: $id) { availablePoints pendingPoints } }"


@pytest.fixture
def program(api, clock):
    clock.set(local(2026, 9, 1, 9, 0))
    assert api.call(PUBLISH, {"source": demo_source()})["rulesPublish"]["userErrors"] == []
    return api


def join(api, name):
    return api.call(UPSERT, {"e": name})["memberUpsert"]["member"]["id"]


def mixed_events(member: str, prefix: str) -> list[dict]:
    """Three days of check-ins, messages long and short, and a custom event."""
    events = []
    for day in range(3):
        at = local(2026, 9, 2 + day, 8, 0)
        events.append(_event(member, "checkin", f"{prefix}-c{day}", at))
        for n in range(3):
            length = 12 if n != 1 else 2  # the short one earns nothing
            events.append(
                _event(
                    member,
                    "message",
                    f"{prefix}-m{day}-{n}",
                    at + timedelta(minutes=n + 1),
                    {"length": length},
                )
            )
        events.append(_event(member, "share_live", f"{prefix}-s{day}", at + timedelta(hours=1)))
    return events


def _event(member, kind, key, at, attributes=None) -> dict:
    return {
        "memberId": member,
        "type": kind,
        "idempotencyKey": key,
        "community": "fans",
        "occurredAt": at.isoformat(),
        "attributes": attributes,
    }


def _transactions(result: dict) -> list:
    return [(t["campaign"], t["ruleText"]) for t in result["event"]["transactions"]]


def test_a_batch_awards_exactly_what_the_same_events_sent_alone_award(program, clock):
    clock.set(local(2026, 9, 5, 7, 0))  # the first event is 71 hours old: within the window
    batched, alone = join(program, "batched"), join(program, "alone")
    payload = program.call(BATCH, {"events": mixed_events(batched, "b")})["eventsRecord"]
    assert (payload["recorded"], payload["replayed"], payload["failed"]) == (15, 0, 0)
    singles = [program.call(ONE, {"input": e})["eventRecord"] for e in mixed_events(alone, "a")]
    assert [_transactions(r) for r in payload["results"]] == [_transactions(r) for r in singles]
    assert [r["event"]["type"] for r in payload["results"]][:2] == ["checkin", "message"]
    assert program.call(BALANCE, {"id": batched}) == program.call(BALANCE, {"id": alone})
    # 3 check-ins x 2 and 6 long messages x 1, nothing for the short ones.
    assert program.call(BALANCE, {"id": batched})["member"]["availablePoints"] == 12
    assert verify().ok


def test_a_refused_event_undoes_only_itself(program, clock):
    clock.set(local(2026, 9, 5, 7, 0))  # the first event is 71 hours old: within the window
    member = join(program, "m")
    events = mixed_events(member, "k")[:5]
    events[1] = {**events[1], "type": "join"}  # reserved: recorded by memberUpsert only
    events[3] = {**events[3], "occurredAt": local(2026, 9, 2, 7, 30).isoformat()}  # out of order
    before = Event.select().count()
    payload = program.call(BATCH, {"events": events})["eventsRecord"]
    assert (payload["recorded"], payload["failed"]) == (3, 2)
    errors = [[(e["code"], e["field"]) for e in r["userErrors"]] for r in payload["results"]]
    assert errors == [
        [],
        [("EVENT_TYPE_RESERVED", "events.1.type")],
        [],
        [("EVENT_OUT_OF_ORDER", "events.3.occurredAt")],
        [],
    ]
    assert Event.select().count() == before + 3
    # The refused events left no key behind: fixed, they can be sent again.
    assert not IdempotencyKey.select().where(IdempotencyKey.key.in_(["k-m0-0", "k-m0-2"])).count()
    assert verify().ok


def test_a_resent_batch_records_nothing_twice(program, clock):
    clock.set(local(2026, 9, 5, 7, 0))  # the first event is 71 hours old: within the window
    member = join(program, "m")
    events = mixed_events(member, "r")
    first = program.call(BATCH, {"events": events})["eventsRecord"]
    transactions = LedgerTransaction.select().count()
    again = program.call(BATCH, {"events": events})["eventsRecord"]
    assert (again["recorded"], again["replayed"], again["failed"]) == (0, 15, 0)
    assert [r["event"]["id"] for r in again["results"]] == [
        r["event"]["id"] for r in first["results"]
    ]
    assert LedgerTransaction.select().count() == transactions
    # The same key twice in one batch: the second is a replay of the first.
    extra = _event(member, "share_live", "dup", local(2026, 9, 5, 6, 0))
    twice = program.call(BATCH, {"events": [extra, extra]})["eventsRecord"]
    assert [r["replayed"] for r in twice["results"]] == [False, True]
    # ... and sent again twice, both are replays of that same event.
    thrice = program.call(BATCH, {"events": [extra, extra]})["eventsRecord"]
    assert [(r["replayed"], r["userErrors"]) for r in thrice["results"]] == [(True, [])] * 2
    assert {r["event"]["id"] for r in thrice["results"]} == {twice["results"][0]["event"]["id"]}


def test_too_large_a_batch_is_refused_whole(program, clock):
    member = join(program, "m")
    events = [_event(member, "share_live", f"x{i}", local(2026, 9, 1, 8, 0)) for i in range(1001)]
    before = Event.select().count()
    payload = program.call(BATCH, {"events": events})["eventsRecord"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", "events")]
    assert "at most 1000" in payload["userErrors"][0]["message"]
    assert payload["results"] == [] and Event.select().count() == before


def test_a_batch_costs_one_more_per_event():
    events = [{"memberId": "mbr_1", "type": "x", "idempotencyKey": str(i)} for i in range(300)]
    small = query_cost(BATCH, {"events": events[:1]})
    assert query_cost(BATCH, {"events": events}) == small + 299
    inline = 'mutation { eventsRecord(input: {events: [{memberId: "mbr_1", type: "x", '
    inline += 'idempotencyKey: "a"}, {memberId: "mbr_1", type: "x", idempotencyKey: "b"}]}) '
    inline += "{ recorded } }"
    assert query_cost(inline, None) == 2 + 2
