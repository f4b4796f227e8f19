"""Race harness rows over operators' tools (the harness: tests/e2e/race_harness.py):
member levels, adjustments and their review, reversals, webhooks (delivered by the
servers' own workers) and publishing rules.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e import race_harness
from tests.e2e.race_harness import (
    ADJUST,
    PUBLISH,
    RULES,
    N,
    Race,
    approvals_and_rejections,
    first_and_replays,
    member,
    one_decision,
    wallet,
)
from tests.e2e.racing import Call, World, codes
from tests.receiver import serve

pytestmark = pytest.mark.slow

ADJUSTMENT_REVIEW = """mutation($r: ID!, $d: Decision!) { adjustmentReview(requestId: $r,
  decision: $d) { request { status transaction { id } } replayed
  userErrors { code field } } }"""
REVERSE = """mutation($t: ID!) { transactionReverse(input: {transactionId: $t,
  reason: "race"}) { reversal { id } replayed userErrors { code field } } }"""
CAMPAIGNS = "{ campaigns { key version } }"
LEVEL_SET = """mutation($m: ID!, $l: String) { memberLevelSet(input: {memberId: $m, level: $l,
  until: "2099-01-01T00:00:00Z", reason: "race"}) { level { key } userErrors { code } } }"""
LEVEL = """query($id: ID!) { member(id: $id) { level { key }
  levelHistory(first: 100) { edges { node { fromLevel toLevel cause } } } } }"""


# -- adjustments -----------------------------------------------------------------------


def large_request(w: World) -> tuple[str, str]:
    mid = member(w, 500)
    request = w.mutate("operator", ADJUST, {"m": mid, "p": 20000, "k": w.name("big")})
    return mid, request["request"]["id"]


def identical_adjustment_approvals(w, ctx):
    return [Call("operator2", ADJUSTMENT_REVIEW, {"r": ctx[1], "d": "APPROVE"}) for _ in range(N)]


def adjusted_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx[0]) == (20500, 0, 0)


def adjustment_decisions(w, ctx):
    return approvals_and_rejections("operator2", ADJUSTMENT_REVIEW, {"r": ctx[1]})


def decided_once(w, ctx, payloads):
    status = one_decision(payloads, "request")
    assert wallet(w, ctx[0]) == ((20500, 0, 0) if status == "approved" else (500, 0, 0))


def identical_adjustments(w, ctx):
    key = w.name("k")
    return [Call("operator", ADJUST, {"m": ctx, "p": 7, "k": key}) for _ in range(N)]


def adjusted_by_seven(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx) == (107, 0, 0)


def deductions(w, ctx):
    return [Call("operator", ADJUST, {"m": ctx, "p": -30, "k": w.name("d")}) for _ in range(N)]


def three_deductions(w, ctx, payloads):
    assert codes(payloads) == ["INSUFFICIENT_POINTS"] * (N - 3) + ["ok"] * 3
    assert wallet(w, ctx) == (10, 0, 0)


def adjusted_transaction(w: World) -> tuple[str, str]:
    mid = member(w)
    txn = w.mutate("operator", ADJUST, {"m": mid, "p": 50, "k": w.name("a")})["transaction"]["id"]
    return mid, txn


def identical_reversals(w, ctx):
    return [Call("operator", REVERSE, {"t": ctx[1]}) for _ in range(N)]


def reversed_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert len({p["reversal"]["id"] for p in payloads}) == 1
    assert wallet(w, ctx[0]) == (0, 0, 0)


# -- rules -----------------------------------------------------------------------------


def republish(w, ctx):
    source = RULES + f'campaign "{ctx}" {{\n  message award 1\n}}\n'
    return [Call("operator", PUBLISH, {"s": source}) for _ in range(N // 2)]


def one_new_version(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * (N // 2)
    versions = {c["key"]: c["version"] for c in w.data("admin", CAMPAIGNS)["campaigns"]}
    assert versions[ctx] == 1
    changed = [c for p in payloads for c in p["campaigns"] if c["changed"]]
    assert [c["key"] for c in changed] == [ctx]


# -- webhooks: the servers' own delivery workers send to a receiver in this process ----


WEBHOOK_CREATE = """mutation($u: String!, $k: String) { webhookEndpointCreate(input: {url: $u,
  events: [POINTS_CHANGED]}, idempotencyKey: $k) { endpoint { id } secret replayed
  userErrors { code field } } }"""
WEBHOOK_ENDPOINTS = "{ webhookEndpoints { id url } }"
WEBHOOK_DELIVERIES = """query($e: ID) { webhookDeliveries(endpointId: $e, first: 100) {
  edges { node { id eventId status attempts redeliveries } } } }"""
REDELIVER = """mutation($d: ID!) { webhookRedeliver(deliveryId: $d) { delivery { id status
  redeliveries } replayed userErrors { code field } } }"""


def hook_receiver(w: World):
    """One receiver for the module's world, started on first use."""
    if w.receiver is None:
        w.receiver = serve()
    return w.receiver


def receiver_for(w: World) -> tuple[str, str]:
    """A path of its own on the receiver, registered as an endpoint: (url, endpoint id)."""
    url = f"{hook_receiver(w).url}/{w.name('hook')}"
    endpoint = w.mutate("admin", WEBHOOK_CREATE, {"u": url})["endpoint"]["id"]
    return url, endpoint


def arrivals(w: World, url: str) -> list[str]:
    path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    return [r.headers["jifen-event-id"] for r in w.receiver.received if r.path == "/" + path]


def settle(w: World, url: str, count: int) -> list[str]:
    """The events that reached `url` once `count` have, and nothing more came for 2 s."""
    deadline = time.monotonic() + 60
    while len(arrivals(w, url)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # a second worker round in each server: nothing more may come
    return arrivals(w, url)


def identical_endpoint_creations(w, ctx):
    key, url = w.name("k"), f"{hook_receiver(w).url}/{w.name('created')}"
    return [Call("operator", WEBHOOK_CREATE, {"u": url, "k": key}) for _ in range(N)]


def one_endpoint(w, ctx, payloads):
    first_and_replays(payloads)
    assert len({p["endpoint"]["id"] for p in payloads}) == 1
    assert len({p["secret"] for p in payloads}) == 1
    listed = [e["id"] for e in w.data("admin", WEBHOOK_ENDPOINTS)["webhookEndpoints"]]
    assert listed.count(payloads[0]["endpoint"]["id"]) == 1


def delivered_change(w: World):
    """An endpoint, and one change delivered to it by the servers: (url, delivery id)."""
    url, endpoint = receiver_for(w)
    member(w, 5)
    assert len(settle(w, url, 1)) == 1
    (edge,) = w.data("admin", WEBHOOK_DELIVERIES, {"e": endpoint})["webhookDeliveries"]["edges"]
    assert edge["node"]["status"] == "DELIVERED"
    return url, edge["node"]["id"]


def identical_redeliveries(w, ctx):
    return [Call("operator", REDELIVER, {"d": ctx[1]}) for _ in range(N)]


def redelivered_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert {p["delivery"]["redeliveries"] for p in payloads} == {1}
    events = settle(w, ctx[0], 2)
    assert len(events) == 2 and len(set(events)) == 1


def burst_to_endpoint(w: World):
    url, _ = receiver_for(w)
    return url, [member(w) for _ in range(4)]


def adjustments_of_many(w, ctx):
    return [
        Call("operator", ADJUST, {"m": ctx[1][i % 4], "p": 3, "k": w.name("k")}) for i in range(N)
    ]


def each_change_delivered_once(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * N
    events = settle(w, ctx[0], N)
    assert len(events) == N and len(set(events)) == N


# -- levels ----------------------------------------------------------------------------


def level_sets(*levels: str):
    def calls(w, ctx):
        return [
            Call("operator", LEVEL_SET, {"m": ctx, "l": levels[i % len(levels)]}) for i in range(N)
        ]

    return calls


def level_history(w: World, mid: str) -> tuple[str | None, list[tuple]]:
    m = w.data("admin", LEVEL, {"id": mid})["member"]
    edges = reversed(m["levelHistory"]["edges"])
    return m["level"]["key"], [(e["node"]["fromLevel"], e["node"]["toLevel"]) for e in edges]


def set_once(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * N
    assert level_history(w, ctx) == ("gold", [(None, "gold")])


def set_silver_and_gold(w, ctx, payloads):
    """Whatever order they commit in, each change starts where the one before ended (ledger
    verify checks it) and gold, once set, stays: a lower floor never lowers a level."""
    assert codes(payloads) == ["ok"] * N
    key, changes = level_history(w, ctx)
    assert key == "gold"
    assert changes in ([(None, "gold")], [(None, "silver"), ("silver", "gold")])


RACES = [
    Race("level set: identical", lambda w: member(w), level_sets("gold"), set_once),
    Race(
        "level set: silver vs gold",
        lambda w: member(w),
        level_sets("silver", "gold"),
        set_silver_and_gold,
    ),
    Race(
        "adjustment review: identical",
        large_request,
        identical_adjustment_approvals,
        adjusted_once,
    ),
    Race("adjustment review: approve vs reject", large_request, adjustment_decisions, decided_once),
    Race("adjust: identical", lambda w: member(w, 100), identical_adjustments, adjusted_by_seven),
    Race("adjust: deductions", lambda w: member(w, 100), deductions, three_deductions),
    Race("reverse: identical", adjusted_transaction, identical_reversals, reversed_once),
    Race("webhook endpoint: identical", lambda w: None, identical_endpoint_creations, one_endpoint),
    Race(
        "webhook redeliver: identical", delivered_change, identical_redeliveries, redelivered_once
    ),
    Race(
        "webhooks: two servers deliver",
        burst_to_endpoint,
        adjustments_of_many,
        each_change_delivered_once,
    ),
    Race(
        "rules publish: identical",
        lambda w: w.name("extra").replace("-", ""),
        republish,
        one_new_version,
    ),
]

world = race_harness.world  # this module's own world: two servers, on each database


@pytest.mark.parametrize("race", RACES, ids=[r.name for r in RACES])
def test_race(world, race):
    race_harness.run(world, race)
