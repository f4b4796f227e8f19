"""What one check-in costs the database, counted statement by statement (not timed).

A check-in with the demo rules, by a member whose day earns the plain daily award,
once the process has served one request (its caches of keys, settings and rules are
warm): every SQL statement it runs is counted, transaction control aside.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

import dsl
from server.core.clock import FixedClock
from server.core.generation import generation
from server.store.db import database
from tests.conftest import START
from tests.e2e.servers import ROOT

PUBLISH = """mutation($s: String!, $f: String!) { rulesPublish(input: {source: $s,
  filename: $f}) { userErrors { code } } }"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e, community: "fans"})
  { member { id } userErrors { code } } }"""
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { day replayed userErrors { code } } }"""
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")

# The budget of the demo's campaigns: claim the key, the member (and on PostgreSQL,
# locked, then its counters), the event, the day's check-in, the counter, the award's
# transaction, the wallet, the postings, the lot, the campaign's issuance slot, the
# leaderboards, (SQLite) the key's result. The demo's `levels` ladder adds one: the award
# moved the qualifying figure, one SELECT decides the level (the level held is read with
# the member).
EXPECTED = {"sqlite": 12, "postgres": 10}
LADDER = 1
LEVELS_BLOCK = re.compile(r'^levels "[^"]*" \{.*?^\}\n', re.MULTILINE | re.DOTALL)


@contextmanager
def counted():
    seen: list[str] = []
    db = database.obj
    real = db.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        if not sql.lstrip().upper().startswith(CONTROL):
            seen.append(sql)
        return real(sql, params, *args, **kwargs)

    db.execute_sql = execute_sql
    try:
        yield seen
    finally:
        del db.execute_sql


@pytest.fixture
def still():
    """The generation's clock held still: no once-a-second re-read falls in a count."""
    generation.clock, before = FixedClock(START), generation.clock
    yield
    generation.clock = before


@pytest.fixture(params=["campaigns", "campaigns and ladder"])
def demo(api, still, request):
    # The demo's files published as one: the campaigns the server publishes at start,
    # without or with the demo's ladder of levels.
    source = "\n".join(text for _, text in dsl.read_directory(ROOT / "rules"))
    if request.param == "campaigns":
        source, removed = LEVELS_BLOCK.subn("", source)
        assert removed == 1
    api.mutate(PUBLISH, {"s": source, "f": "demo.rules"})
    api.ladder = request.param != "campaigns"
    return api


def test_a_check_in_costs_at_most_twelve_statements_and_a_ladder_one_more(demo, db_url, clock):
    api = demo
    members = [api.mutate(UPSERT, {"e": f"m{i}"})["member"]["id"] for i in range(2)]
    clock.advance(days=10)  # long past "first within 7 days of joining"
    assert api.mutate(CHECKIN, {"m": members[0], "k": "warm"})["day"]
    clock.advance(minutes=1)
    with counted() as statements:
        done = api.mutate(CHECKIN, {"m": members[1], "k": "counted"})
    assert done["replayed"] is False
    backend = "postgres" if db_url.startswith("postgres") else "sqlite"
    expected = EXPECTED[backend] + (LADDER if api.ladder else 0)
    assert len(statements) == expected, "\n".join(s[:120] for s in statements)


def test_a_batch_costs_what_one_event_costs(demo, db_url, clock):
    """Set-based: fifty check-ins of fifty members write each table once."""
    api = demo
    members = [api.mutate(UPSERT, {"e": f"m{i}"})["member"]["id"] for i in range(51)]
    clock.advance(days=10)
    batch = """mutation($in: EventsRecordInput!) { eventsRecord(input: $in) { recorded
      userErrors { code } } }"""
    warm = {"memberId": members[0], "type": "message", "idempotencyKey": "warm"}
    api.mutate(batch, {"in": {"events": [{**warm, "attributes": {"length": 9}}]}})
    clock.advance(minutes=1)
    checkins = [
        {"memberId": m, "type": "message", "idempotencyKey": f"k{m}", "attributes": {"length": 9}}
        for m in members[1:]
    ]
    with counted() as many:
        assert api.mutate(batch, {"in": {"events": checkins}})["recorded"] == 50
    with counted() as one:
        single = [{**checkins[0], "idempotencyKey": "again-one"}]
        assert api.mutate(batch, {"in": {"events": single}})["recorded"] == 1
    assert len(many) == len(one), "\n".join(s[:120] for s in many)
