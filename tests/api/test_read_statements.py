"""A page costs the same statements for 5 items as for 50, whatever nested fields it asks.

Every list is read with its nested fields, first 5 items then 50, and the statements the
database executed are counted (server/api/batch.py loads what a field needs for the whole
page at once). Counts are exact, not timings.
"""

from __future__ import annotations

import itertools
import random

import pytest

from server.app import create_app
from server.config import Config
from server.core.clock import FixedClock
from server.core.generation import generation
from tests.conftest import START
from tests.statements import recorded

N = 50
RULES = """
event visit
campaign "daily" "Daily" {
  checkin award 3
}
campaign "talk" "Talk" {
  message award 5 after review
}
"""
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = (
    "mutation($i: MemberUpsertInput!) { memberUpsert(input: $i) { member { id } "
    "userErrors { code message } } }"
)
ADJUST = (
    "mutation($i: PointsAdjustInput!) { pointsAdjust(input: $i) "
    "{ transaction { id } request { id } userErrors { code message } } }"
)
REVERSE = (
    'mutation($t: ID!) { transactionReverse(input: {transactionId: $t, reason: "undo"}) '
    "{ userErrors { code message } } }"
)
CHECKIN = (
    "mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m, idempotencyKey: $k}) "
    "{ userErrors { code message } } }"
)
MESSAGE = (
    'mutation($m: ID!, $k: String!) { eventRecord(input: {memberId: $m, type: "message", '
    "idempotencyKey: $k}) { userErrors { code message } } }"
)
ITEM = (
    'mutation { catalogItemCreate(input: {title: "Pin", pointsPrice: 1}) '
    "{ item { id } userErrors { code } } }"
)
REDEEM = (
    "mutation($m: ID!, $i: ID!, $k: String!) { redemptionCreate(input: {memberId: $m, "
    "itemId: $i, idempotencyKey: $k}) { userErrors { code message } } }"
)
LOTTERY = (
    'mutation($i: ID!) { lotteryCreate(input: {title: "Spin", cost: 1, prizes: [{kind: '
    '"item", label: "Pin", weight: 1, itemId: $i}, {kind: "points", label: "P", weight: 1, '
    "points: 2}]}) { lottery { id } userErrors { code message } } }"
)
DRAW = (
    "mutation($l: ID!, $m: ID!, $k: String!) { lotteryDraw(input: {lotteryId: $l, "
    "memberId: $m, idempotencyKey: $k}) { userErrors { code message } } }"
)
TASK = (
    'mutation { taskCreate(input: {key: "share", title: "Share"}) '
    "{ task { id } userErrors { code } } }"
)
SUBMIT = (
    "mutation($t: ID!, $m: ID!, $k: String!) { submissionCreate(input: {taskId: $t, "
    'memberId: $m, proof: "p", idempotencyKey: $k}) { userErrors { code message } } }'
)

MEMBER_FIELDS = """
  id externalId availablePoints pendingPoints heldPoints
  communities { community invitedByExternalId }
  affordableItems { id title }
  expiringPoints { total }
  rank(metric: "checkins", period: DAY) { rank score member { id } }
  ledger(first: 3) { edges { node {
    id amount accountKind member { id availablePoints }
    transaction {
      id why member { id } event { id type } reverses { id } reversedBy { id }
      entries { id account balanceAfter member { id } }
    }
  } } }
"""
TRANSACTION = "{ id why event { id } member { id } reversedBy { id } entries { id amount } }"
PAGES = {
    "members": "query($n: Int) { members(first: $n) { edges { node {" + MEMBER_FIELDS + "} } } }",
    "ledger": "query($n: Int) { ledger(first: $n) { edges { node { id amount "
    "member { id availablePoints communities { community } } transaction "
    + TRANSACTION
    + " } } } }",
    "leaderboard": 'query($n: Int) { leaderboard(metric: "checkins", period: DAY, first: $n) '
    "{ rank score member { id externalId availablePoints communities { community } "
    "ledger(first: 2) { edges { node { id transaction { id } } } } } } }",
    "redemptions": "query($n: Int, $m: ID!) { redemptions(memberId: $m, first: $n) { edges "
    "{ node { id member { id availablePoints } item { id title available } "
    "transaction " + TRANSACTION + " } } } }",
    "draws": "query($n: Int, $l: ID!) { draws(lotteryId: $l, first: $n) { edges { node { id "
    "member { id } prize { id item { id } } redemption { id item { id } member { id } } } } } }",
    "lotteries": "query($n: Int) { lotteries(first: $n) { edges { node { id "
    "prizes { id item { id title } } odds { probability prize { id item { id } } } } } } }",
    "submissions": "query($n: Int) { submissions(first: $n, status: null) { edges { node { id "
    "task { id key } member { id availablePoints } event { id } } } } }",
    "reviews": "query($n: Int) { reviewQueue(first: $n) { edges { node { points "
    "transaction " + TRANSACTION + " member { id externalId } } } } }",
    "adjustment requests": "query($n: Int) { adjustmentRequests(first: $n) { edges { node { "
    "id points member { id availablePoints } transaction { id } } } } }",
    "catalog items": "query($n: Int) { catalogItems(first: $n) { edges { node { id available "
    "} } } }",
}


class Alternating(random.Random):
    """Draws that win the item, then the points, in turn: any five draws in a row hold
    both kinds, so the first page of draws needs every loader the fifty need."""

    def __init__(self) -> None:
        super().__init__(0)
        self.values = itertools.cycle((0.25, 0.75))

    def random(self) -> float:
        return next(self.values)


@pytest.fixture
def app(db, clock):
    """The server with a budget no page here spends, over a window no test outlasts (so
    the once-a-window forgetting of idle callers falls on the first request, never in a
    count): only the page's own statements are counted."""
    config = Config(cost_budget=10**9, cost_window_seconds=10**6)
    return create_app(clock=clock, config=config, rng=Alternating())


@pytest.fixture
def still():
    """The generation's clock held still: no once-a-second re-read falls in a count."""
    generation.clock, before = FixedClock(START), generation.clock
    yield
    generation.clock = before


@pytest.fixture
def world(api, clock, still):
    """N members, each with a bit of everything; one member and one lottery with N of
    what is listed per member or per lottery."""
    assert api.call(PUBLISH, {"s": RULES})["rulesPublish"]["userErrors"] == []
    item = [api.mutate(ITEM)["item"]["id"] for _ in range(N)][0]
    task = api.mutate(TASK)["task"]["id"]
    lotteries = [api.mutate(LOTTERY, {"i": item})["lottery"]["id"] for _ in range(N)]
    members = []
    for n in range(N):
        inviter = {"invitedByExternalId": f"m{n - 1}"} if n else {}
        member = api.mutate(UPSERT, {"i": {"externalId": f"m{n}", "community": "fans", **inviter}})
        m = member["member"]["id"]
        members.append(m)
        adjust = {"memberId": m, "points": 500, "reason": "seed", "idempotencyKey": f"a{n}"}
        txn = api.mutate(ADJUST, {"i": adjust})["transaction"]["id"]
        api.mutate(REVERSE, {"t": txn})
        api.mutate(ADJUST, {"i": {**adjust, "idempotencyKey": f"b{n}"}})
        api.mutate(ADJUST, {"i": {**adjust, "points": 20_000, "idempotencyKey": f"c{n}"}})
        api.mutate(CHECKIN, {"m": m, "k": f"k{n}"})
        api.mutate(MESSAGE, {"m": m, "k": f"t{n}"})
        api.mutate(SUBMIT, {"t": task, "m": m, "k": f"s{n}"})
        api.mutate(REDEEM, {"m": members[0], "i": item, "k": f"r{n}"})
        api.mutate(DRAW, {"l": lotteries[0], "m": m, "k": f"d{n}"})
    return {"m": members[0], "l": lotteries[0], "members": members, "lotteries": lotteries}


def statements(api, db, query: str, variables: dict) -> tuple[int, int]:
    """How many statements one request ran, and how many items it listed."""
    api.call(query, variables)  # warm: the same request once before it is counted
    with recorded(db) as seen:
        data = api.call(query, variables)
    (listed,) = data.values()
    items = listed["edges"] if isinstance(listed, dict) else listed
    return len(seen), len(items)


@pytest.mark.slow
def test_a_page_costs_the_same_statements_for_5_items_as_for_50(api, db, world):
    counts = {}
    for name, query in PAGES.items():
        variables = {k: v for k, v in world.items() if f"${k}" in query}
        five, listed_five = statements(api, db, query, {**variables, "n": 5})
        fifty, listed_fifty = statements(api, db, query, {**variables, "n": N})
        assert (listed_five, listed_fifty) == (5, N), name
        counts[name] = (five, fifty)
    assert {name: five for name, (five, _) in counts.items()} == {
        name: fifty for name, (_, fifty) in counts.items()
    }, counts


# A page of 10 holds each member's whole ledger (the check-in's award, with its event, among
# it), whatever the lottery draw paid: every member needs the same kinds of rows.
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id
  ... on Member { availablePoints communities { community } ledger(first: 10) { edges { node {
    id transaction { id why entries { id } } } } } }
  ... on Lottery { prizes { id item { id title } } odds { probability } }
} }"""


@pytest.mark.slow
def test_nodes_cost_the_same_statements_for_5_ids_as_for_50(api, db, world):
    """Each kind of id is read in one statement, and what its objects need for all of them."""
    members, lotteries = world["members"], world["lotteries"]

    five, listed_five = statements(api, db, NODES, {"ids": members[:3] + lotteries[:2]})
    fifty, listed_fifty = statements(api, db, NODES, {"ids": members[:25] + lotteries[:25]})
    assert (listed_five, listed_fifty) == (5, N)
    assert five == fifty, (five, fifty)


def test_the_campaign_list_costs_the_same_statements_for_5_campaigns_as_for_50(api, db, still):
    query = "{ campaigns { key version pointsIssued budget budgetLeft activeFrom } }"
    counts = []
    for size in (5, N):
        source = "".join(
            f'campaign "c{i}" {{\n  budget {100 + i} points\n  checkin award 1\n}}\n'
            for i in range(size)
        )
        assert api.call(PUBLISH, {"s": source})["rulesPublish"]["userErrors"] == []
        api.call(query)
        with recorded(db) as seen:
            listed = api.call(query)["campaigns"]
        assert len([c for c in listed if c["budget"] is not None]) == size
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
