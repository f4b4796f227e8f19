"""The batch path and the one-by-one path keep identical books.

Hypothesis draws a stream of events for a few members — check-ins over days, messages
(some repeated, some floods), orders, custom events, retries of the same key — and
records it twice in one database: once event by event (`eventRecord`/`checkinRecord`,
one request each) for members A1..An, once in batches (`eventsRecord`, cut at random
places) for their twins B1..Bn. Every member and its twin must end with the same
results per event, the same awards (campaign, rule line, points, pending), balances,
counters, period counters, standings and stored events.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.store.models import (
    Event,
    LedgerTransaction,
    MemberCounter,
    PeriodCounter,
    Posting,
    Standing,
)

RULES = """
program "Twins" {
  timezone "Asia/Shanghai"
  points expire 30 days after earned
}
campaign "show" "Show up" {
  checkin award 2
  checkin streak 3 award 5 repeating
  checkin total 4 award 7
  checkin first within 2 days of joining award 9 after review
}
campaign "talk" "Talk" {
  max 6 points per day
  message where length >= 5 award 1 limit 4 per day
  message where length >= 20 award 3
}
campaign "double" "Double" {
  message multiply 2
}
campaign "shop" "Shop" {
  order award 1 per 10 amount
}
event share
campaign "share" "Share" {
  share award 4 limit 1 per week
}
"""
PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s, filename: "twins.rules"})
  { userErrors { code message line } } }"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e, community: "fans"})
  { member { id } userErrors { code } } }"""
EVENT = """mutation($in: EventRecordInput!) { eventRecord(input: $in) { event { id }
  replayed userErrors { code } } }"""
CHECKIN = """mutation($in: CheckinRecordInput!) { checkinRecord(input: $in) { event { id }
  replayed userErrors { code } } }"""
BATCH = """mutation($in: EventsRecordInput!) { eventsRecord(input: $in) { results {
  event { id } replayed userErrors { code } } userErrors { code } } }"""

MEMBERS = 3
EXAMPLES = itertools.count()
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

event_kinds = st.one_of(
    st.tuples(st.just("checkin"), st.none()),
    st.tuples(
        st.just("message"),
        st.fixed_dictionaries(
            {"length": st.sampled_from([3, 8, 25]), "text": st.sampled_from(["hi", "yo", "la"])}
        ),
    ),
    st.tuples(st.just("order"), st.fixed_dictionaries({"amount": st.integers(0, 95)})),
    st.tuples(st.just("share"), st.none()),
)
streams = st.lists(
    st.tuples(
        st.integers(0, MEMBERS - 1),  # whose
        event_kinds,
        st.sampled_from([0, 0, 20, 600, 7200, 86400, 90000]),  # seconds after the last one
        st.booleans(),  # also sent again with the same key (a retry)
        st.booleans(),  # the batch ends after this one
    ),
    min_size=1,
    max_size=30,
)


def _input(member: str, kind: str, attributes, key: str, at: datetime, batch: bool) -> dict:
    out = {"memberId": member, "idempotencyKey": key, "occurredAt": at.isoformat()}
    if kind != "checkin" or batch:
        out["type"] = kind
        out["attributes"] = attributes
    return out


def _one(api, item: dict) -> tuple:
    if "type" in item:
        payload = api.call(EVENT, {"in": item})["eventRecord"]
    else:
        payload = api.call(CHECKIN, {"in": item})["checkinRecord"]
    return _outcome(payload)


def _outcome(payload: dict) -> tuple:
    codes = tuple(e["code"] for e in payload["userErrors"])
    return (codes, payload["replayed"] if not codes else None)


def _books(member_id: int) -> dict:
    """Everything the ledger and the engine keep about one member, without ids."""
    awards = [
        (t.campaign, t.rule_line, t.rule_text, p.amount, p.account.kind)
        for t in LedgerTransaction.select().where(LedgerTransaction.member == member_id)
        for p in Posting.select().where(Posting.txn == t.id, Posting.member == member_id)
    ]
    return {
        "awards": sorted(awards),
        "counters": sorted(
            (c.event_type, c.total, c.active, c.streak, str(c.last_day))
            for c in MemberCounter.select().where(MemberCounter.member == member_id)
        ),
        "periods": sorted(
            (p.scope, p.period, p.times, p.points)
            for p in PeriodCounter.select().where(PeriodCounter.member == member_id)
        ),
        "standings": sorted(
            (s.metric, s.period, s.scope, s.score)
            for s in Standing.select().where(Standing.member == member_id)
        ),
        "events": sorted(
            (e.type, e.occurred_at.isoformat(), sorted((e.attributes or {}).items()))
            for e in Event.select().where(Event.member == member_id, Event.type != "join")
        ),
    }


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams)
def test_batches_and_single_events_keep_identical_books(api, clock, stream):
    # Each example in the same database: members and keys of its own.
    ex = next(EXAMPLES)
    service = api.as_("service")
    clock.set(START)
    api.mutate(PUBLISH, {"s": RULES})
    twins = [
        (
            api.mutate(UPSERT, {"e": f"a{ex}-{n}"})["member"]["id"],
            api.mutate(UPSERT, {"e": f"b{ex}-{n}"})["member"]["id"],
        )
        for n in range(MEMBERS)
    ]
    at = START
    single: list[tuple] = []
    batched: list[tuple] = []
    pending: list[dict] = []

    def flush():
        if pending:
            body = service.call(BATCH, {"in": {"events": list(pending)}})["eventsRecord"]
            batched.extend(_outcome(r) for r in body["results"])
            pending.clear()

    for n, (who, (kind, attributes), gap, retry, cut) in enumerate(stream):
        at += timedelta(seconds=gap)
        if pending and at - datetime.fromisoformat(pending[0]["occurredAt"]) > timedelta(hours=40):
            flush()  # a batch stays within the window a service may report late
        clock.set(at)
        a, b = twins[who]
        copies = 2 if retry else 1
        for _ in range(copies):
            single.append(_one(service, _input(a, kind, attributes, f"a{ex}-{n}", at, False)))
            pending.append(_input(b, kind, attributes, f"b{ex}-{n}", at, True))
        if cut:
            flush()
    flush()
    assert batched == single
    for a, b in twins:
        assert _books(int(b[4:])) == _books(int(a[4:]))
