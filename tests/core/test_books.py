"""`ledger verify` proves each domain's books: a world that touches every domain verifies
clean, and each corruption a race could leave behind is named."""

from __future__ import annotations

import pytest

from server.core.verify import verify

RULES = """
program "Books" {
  timezone "UTC"
  redeem rate 100 points = 1.00 CNY
  deduct at most 50% of order
}
campaign "budgeted" "Budgeted" {
  budget 1000 points
  message award 5
}
campaign "reviewed" "Reviewed" {
  checkin award 7 after review
}
"""
PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id }
  userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $k: String!) { pointsAdjust(input: {memberId: $m, points: 1000,
  reason: "seed", idempotencyKey: $k}) { userErrors { code } } }"""
HOLD = """mutation($o: String!, $m: ID!, $p: Int!) { checkoutHold(input: {orderId: $o,
  memberId: $m, points: $p, orderAmount: "100.00", currency: "CNY"}) { userErrors { code } } }"""
CAPTURE = """mutation($o: String!) { checkoutCapture(orderId: $o) { userErrors { code } } }"""
REFUND = """mutation { checkoutRefund(input: {orderId: "o1", refundId: "r1", amount: "50.00"}) {
  pointsReturned userErrors { code } } }"""
MESSAGE = """mutation($m: ID!, $k: String!) { eventRecord(input: {memberId: $m, type: "message",
  idempotencyKey: $k}) { userErrors { code } } }"""
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { userErrors { code } } }"""
QUEUE = "{ reviewQueue { edges { node { transactionId } } } }"
REJECT = """mutation($t: ID!) { awardReview(input: {transactionId: $t, decision: REJECT}) {
  userErrors { code } } }"""
ITEM = """mutation { catalogItemCreate(input: {title: "Mug", pointsPrice: 10, stock: 5}) {
  item { id } userErrors { code } } }"""
REDEEM = """mutation($m: ID!, $i: ID!) { redemptionCreate(input: {memberId: $m, itemId: $i,
  idempotencyKey: "red"}) { userErrors { code } } }"""
LOTTERY = """mutation { lotteryCreate(input: {title: "Spin", cost: 1, budget: 100, prizes: [
  {kind: "points", label: "Ten", weight: 1, points: 10, stock: 3}]}) { lottery { id }
  userErrors { code } } }"""
DRAW = """mutation($l: ID!, $m: ID!) { lotteryDraw(input: {lotteryId: $l, memberId: $m,
  idempotencyKey: "draw"}) { userErrors { code } } }"""


@pytest.fixture
def books(api):
    """One of everything: refunds, holds, reviews, stock, prizes, budgets."""
    api.mutate(PUBLISH, {"s": RULES})
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    bob = api.mutate(UPSERT, {"e": "bob"})["member"]["id"]
    api.mutate(ADJUST, {"m": ada, "k": "seed"})
    api.mutate(HOLD, {"o": "o1", "m": ada, "p": 40})
    api.mutate(CAPTURE, {"o": "o1"})
    assert api.mutate(REFUND)["pointsReturned"] == 20
    api.mutate(HOLD, {"o": "o2", "m": ada, "p": 30})
    api.mutate(MESSAGE, {"m": ada, "k": "m1"})
    for who in (ada, bob):
        api.mutate(CHECKIN, {"m": who, "k": f"c-{who}"})
    first, _ = api.call(QUEUE)["reviewQueue"]["edges"]
    api.mutate(REJECT, {"t": first["node"]["transactionId"]})
    item = api.mutate(ITEM)["item"]["id"]
    api.mutate(REDEEM, {"m": ada, "i": item})
    lottery = api.mutate(LOTTERY)["lottery"]["id"]
    api.mutate(DRAW, {"l": lottery, "m": ada})
    assert [str(p) for p in verify().problems] == []
    return api


@pytest.mark.parametrize(
    ("corruption", "check", "subject"),
    [
        (
            "UPDATE checkout SET refunded_points = 45 WHERE order_id = 'o1'",
            "refunds within what was captured",
            "checkout o1",
        ),
        (
            "UPDATE checkout_refund SET points = points + 1",
            "refunds within what was captured",
            "checkout o1",
        ),
        (
            "UPDATE checkout SET status = 'voided' WHERE order_id = 'o2'",
            "held points equal open holds",
            "account held:1",
        ),
        (
            "UPDATE review SET points = points + 1 WHERE status = 'pending'",
            "pending points equal open reviews",
            "account pending:2",
        ),
        (
            "UPDATE review SET status = 'revoked' WHERE status = 'pending'",
            "rejected and revoked awards hold nothing",
            "award",
        ),
        (
            "UPDATE catalog_item SET stock = stock + 1",
            "stock equals its movements",
            "catalog item 1",
        ),
        (
            "UPDATE lottery_prize SET stock = stock + 1",
            "stock equals its movements",
            "lottery prize 1",
        ),
        (
            "UPDATE campaign_budget_share SET spent = budget + 1 WHERE share = 0",
            "budgets never overspent",
            "budget of budgeted",
        ),
        (
            "UPDATE lottery SET budget_spent = 20",
            "budgets never overspent",
            "lottery 1",
        ),
        (
            "UPDATE account SET balance = balance - 1000 WHERE key = 'checkout'",
            "program accounts keep their sign",
            "account checkout",
        ),
        (
            "UPDATE ledger_transaction SET campaign_version = 9 WHERE kind = 'award'",
            "awards name a live rule version",
            "transaction",
        ),
    ],
)
def test_each_broken_book_is_named(books, db, corruption, check, subject):
    db.execute_sql(corruption)
    problems = verify().problems
    assert [p for p in problems if p.check == check and p.subject.startswith(subject)], [
        str(p) for p in problems
    ]
