"""One member's events, sent at once to two server processes on one database, are decided
one at a time: all recorded, none refused as out of order, the member's counters exact."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.store.db import bind, open_database
from tests.e2e.servers import Server, graphql

RECORD = """mutation($m: ID!, $k: String!) { eventRecord(input: {memberId: $m, type: "message",
  idempotencyKey: $k, community: "fans", attributes: {length: 12}}) {
  event { id occurredAt } replayed userErrors { code message } } }"""
UPSERT = """mutation($e: String!, $by: String) { memberUpsert(input: {externalId: $e,
  community: "fans", invitedByExternalId: $by}) { member { id } userErrors { code message } } }"""
POINTS = "query($m: ID!) { member(id: $m) { availablePoints } }"
RACERS = 30


@pytest.fixture
def servers(empty_db_url):
    """Two `jifen serve` processes on one database, and the admin key."""
    # Messages beyond the flood rate earn nothing and count for nothing: not this test's topic.
    env = {"JIFEN_MESSAGE_RATE": "1000"}
    first = Server(empty_db_url, **env).start()
    key = first.admin_key()
    second = Server(empty_db_url, **env).start()
    yield (first, second), key
    logs = [server.stop() for server in (first, second)]  # both, before judging either
    for log in logs:
        assert "Traceback" not in log, log


def at_once(servers, key: str, query: str, variables: list[dict]) -> list[dict]:
    """Send every request at the same moment, alternating between the servers."""
    barrier = threading.Barrier(len(variables))

    def send(n: int) -> dict:
        barrier.wait(timeout=30)
        body = graphql(servers[n % 2].url, key, query, variables[n], timeout=60)
        assert "errors" not in body, body
        (payload,) = body["data"].values()
        return payload

    with ThreadPoolExecutor(len(variables)) as pool:
        return list(pool.map(send, range(len(variables))))


def upsert(server: Server, key: str, name: str, by: str | None = None) -> str:
    body = graphql(server.url, key, UPSERT, {"e": name, "by": by})
    assert body["data"]["memberUpsert"]["userErrors"] == [], body
    return body["data"]["memberUpsert"]["member"]["id"]


def points(server: Server, key: str, member: str) -> int:
    return graphql(server.url, key, POINTS, {"m": member})["data"]["member"]["availablePoints"]


def counter(url: str, member: str, event_type: str):
    from server.store.models import MemberCounter

    db = bind(open_database(url))
    try:
        with db.connection_context():
            return MemberCounter.get(
                MemberCounter.member == int(member.split("_")[1]),
                MemberCounter.event_type == event_type,
            )
    finally:
        db.close_all()


@pytest.mark.slow
def test_concurrent_messages_of_one_member_are_all_recorded_in_order(servers, empty_db_url):
    pair, key = servers
    ada = upsert(pair[0], key, "ada")
    before = points(pair[0], key, ada)
    results = at_once(pair, key, RECORD, [{"m": ada, "k": f"msg-{n}"} for n in range(RACERS)])
    assert [r["userErrors"] for r in results] == [[]] * RACERS
    assert not any(r["replayed"] for r in results)
    assert len({r["event"]["id"] for r in results}) == RACERS
    # `message where length >= 5 award 1 limit 20 per day`: the daily limit holds exactly.
    assert points(pair[1], key, ada) - before == 20
    count = counter(empty_db_url, ada, "message")
    assert (count.total, count.active) == (RACERS, RACERS)
    assert count.last_at.isoformat() == max(r["event"]["occurredAt"] for r in results)


@pytest.mark.slow
def test_concurrent_retries_of_one_key_on_two_processes_replay_the_first(servers, empty_db_url):
    pair, key = servers
    ada = upsert(pair[0], key, "ada")
    results = at_once(pair, key, RECORD, [{"m": ada, "k": "same"}] * 20)
    assert [r["userErrors"] for r in results] == [[]] * 20
    assert sorted(r["replayed"] for r in results) == [False] + [True] * 19
    assert len({r["event"]["id"] for r in results}) == 1
    count = counter(empty_db_url, ada, "message")
    assert (count.total, count.active) == (1, 1)


@pytest.mark.slow
def test_concurrent_referrals_of_one_inviter_climb_the_ladder_exactly(servers, empty_db_url):
    pair, key = servers
    upsert(pair[0], key, "host")
    friends = [{"e": f"friend-{n}", "by": "host"} for n in range(10)]
    results = at_once(pair, key, UPSERT, friends)
    assert [r["userErrors"] for r in results] == [[]] * 10
    # tier 1..2: 10 each, tier 3..4: 15 each, tier >= 5: 20 each.
    assert points(pair[1], key, "mbr_1") == 2 * 10 + 2 * 15 + 6 * 20
    count = counter(empty_db_url, "mbr_1", "referral")
    assert (count.total, count.active) == (10, 10)
