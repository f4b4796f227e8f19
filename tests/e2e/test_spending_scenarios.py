"""Spending points through the GraphQL API: catalog, checkout, lotteries, expiry."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from server.core import tick
from server.core.verify import verify
from server.store.models import Lot, LotteryPrize

PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"""
PROGRAM = """program "shop" {
  timezone "Asia/Shanghai"
  points expire 365 days after earned
  redeem rate 100 points = 1.00 CNY
  deduct at most 50% of order
}
"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e, community: "fans"})
  { member { id } userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "test", idempotencyKey: $k}) { userErrors { code } } }"""
BALANCE = "query($id: ID!) { member(id: $id) { availablePoints heldPoints } }"
ITEM = """mutation($input: CatalogItemInput!) { catalogItemCreate(input: $input) {
  item { id stock pointsPrice } userErrors { code message field } } }"""
REDEEM = """mutation($m: ID!, $i: ID!, $q: Int!, $k: String!) { redemptionCreate(input: {
  memberId: $m, itemId: $i, quantity: $q, idempotencyKey: $k}) {
  redemption { id status points quantity } replayed userErrors { code message field } } }"""
CANCEL = """mutation($id: ID!) { redemptionCancel(id: $id, reason: "changed my mind") {
  redemption { status } replayed userErrors { code } } }"""


@pytest.fixture
def shop(api, clock):
    clock.set(datetime(2026, 1, 10, 2, tzinfo=UTC))
    api.mutate(PUBLISH, {"s": PROGRAM})
    return api


def member(api, name, points=0):
    mid = api.mutate(UPSERT, {"e": name})["member"]["id"]
    if points:
        api.mutate(ADJUST, {"m": mid, "p": points, "k": f"seed-{name}"})
    return mid


def balance(api, mid):
    data = api.call(BALANCE, {"id": mid})["member"]
    return data["availablePoints"], data["heldPoints"]


def test_redeem_limits_stock_and_cancel_once(shop):
    api = shop
    ada = member(api, "ada", 1000)
    item = api.mutate(
        ITEM,
        {
            "input": {
                "title": "Poster",
                "pointsPrice": 100,
                "stock": 3,
                "limitPerMember": 2,
                "limitPeriod": "week",
                "tags": ["Print"],
            }
        },
    )["item"]
    first = api.call(REDEEM, {"m": ada, "i": item["id"], "q": 2, "k": "r1"})["redemptionCreate"]
    assert first["redemption"]["points"] == 200 and first["userErrors"] == []
    assert api.call(REDEEM, {"m": ada, "i": item["id"], "q": 2, "k": "r1"})["redemptionCreate"][
        "replayed"
    ]
    over = api.call(REDEEM, {"m": ada, "i": item["id"], "q": 1, "k": "r2"})["redemptionCreate"]
    assert over["userErrors"][0]["code"] == "REDEMPTION_LIMIT_REACHED"
    assert balance(api, ada) == (800, 0)
    cancel = api.call(CANCEL, {"id": first["redemption"]["id"]})["redemptionCancel"]
    assert cancel["redemption"]["status"] == "cancelled"
    again = api.call(CANCEL, {"id": first["redemption"]["id"]})["redemptionCancel"]
    assert (again["replayed"], again["userErrors"]) == (True, [])  # a retry: nothing twice
    assert balance(api, ada) == (1000, 0)
    bob = member(api, "bob", 1000)
    for i in range(2):
        api.mutate(REDEEM, {"m": bob, "i": item["id"], "q": 1, "k": f"b{i}"})
    # One poster left: a member who cannot afford it is told so, and it stays in stock.
    poor = member(api, "poor", 50)
    broke = api.call(REDEEM, {"m": poor, "i": item["id"], "q": 1, "k": "p"})["redemptionCreate"]
    assert [e["code"] for e in broke["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert broke["redemption"] is None
    assert balance(api, poor) == (50, 0)
    carl = member(api, "carl", 1000)
    api.mutate(REDEEM, {"m": carl, "i": item["id"], "q": 1, "k": "c1"})
    out = api.call(REDEEM, {"m": carl, "i": item["id"], "q": 1, "k": "c2"})["redemptionCreate"]
    assert [e["code"] for e in out["userErrors"]] == ["OUT_OF_STOCK"]
    assert balance(api, carl) == (900, 0)
    assert verify().ok


def test_affordable_items_and_availability_windows(shop, clock):
    api = shop
    ada = member(api, "ada", 150)
    cheap = api.mutate(ITEM, {"input": {"title": "Sticker", "pointsPrice": 100}})["item"]
    api.mutate(ITEM, {"input": {"title": "Hoodie", "pointsPrice": 5000}})
    later = api.mutate(
        ITEM,
        {
            "input": {
                "title": "Later",
                "pointsPrice": 10,
                "availableFrom": "2026-02-01T00:00:00+08:00",
            }
        },
    )["item"]
    titles = api.call(
        "query($id: ID!) { member(id: $id) { affordableItems { title } } }", {"id": ada}
    )["member"]["affordableItems"]
    assert [t["title"] for t in titles] == ["Sticker"]
    early = api.call(REDEEM, {"m": ada, "i": later["id"], "q": 1, "k": "l"})["redemptionCreate"]
    assert early["userErrors"][0]["code"] == "ITEM_NOT_AVAILABLE"
    api.mutate(
        """mutation($id: ID!) { catalogItemRetire(id: $id) { userErrors { code } } }""",
        {"id": cheap["id"]},
    )
    gone = api.call(REDEEM, {"m": ada, "i": cheap["id"], "q": 1, "k": "s"})["redemptionCreate"]
    assert gone["userErrors"][0]["code"] == "ITEM_NOT_AVAILABLE"
    bad = api.call(ITEM, {"input": {"title": "", "pointsPrice": 0}})["catalogItemCreate"]
    assert bad["userErrors"][0]["code"] == "INVALID_INPUT"


QUOTE = """query($m: ID!, $a: Decimal!) { checkoutQuote(memberId: $m, orderAmount: $a,
  currency: "CNY") { availablePoints maxPoints maxValue currency } }"""
HOLD = """mutation($o: String!, $m: ID!, $p: Int!, $a: Decimal!) { checkoutHold(input: {
  orderId: $o, memberId: $m, points: $p, orderAmount: $a, currency: "CNY"}) {
  checkout { status points expiresAt } replayed userErrors { code message } } }"""
CAPTURE = """mutation($o: String!) { checkoutCapture(orderId: $o) { checkout { status }
  userErrors { code } } }"""
VOID = """mutation($o: String!) { checkoutVoid(orderId: $o) { checkout { status }
  userErrors { code } } }"""
REFUND = """mutation($o: String!, $r: String!, $a: Decimal!) { checkoutRefund(input: {
  orderId: $o, refundId: $r, amount: $a}) { pointsReturned replayed
  checkout { refundedPoints refundedAmount } userErrors { code message } } }"""


def test_points_and_cash_quote_hold_capture_partial_refund(shop, clock):
    api = shop
    ada = member(api, "ada", 5000)
    quote = api.call(QUOTE, {"m": ada, "a": "59.99"})["checkoutQuote"]
    # 50% of 59.99 is 29.995: 2999 points (29.99 CNY) is the most within it.
    assert quote == {
        "availablePoints": 5000,
        "maxPoints": 2999,
        "maxValue": "29.99",
        "currency": "CNY",
    }
    over = api.call(HOLD, {"o": "A1", "m": ada, "p": 3000, "a": "59.99"})["checkoutHold"]
    assert over["userErrors"][0]["code"] == "DEDUCTION_OVER_LIMIT"
    held = api.call(HOLD, {"o": "A1", "m": ada, "p": 2000, "a": "59.99"})["checkoutHold"]
    assert held["checkout"]["status"] == "held"
    assert balance(api, ada) == (3000, 2000)
    assert api.call(HOLD, {"o": "A1", "m": ada, "p": 2000, "a": "59.99"})["checkoutHold"][
        "replayed"
    ]
    reused = api.call(HOLD, {"o": "A1", "m": ada, "p": 10, "a": "59.99"})["checkoutHold"]
    assert reused["userErrors"][0]["code"] == "ORDER_ID_REUSED"
    spend_more = api.call(HOLD, {"o": "A2", "m": ada, "p": 3001, "a": "100.00"})["checkoutHold"]
    assert spend_more["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"
    assert api.call(CAPTURE, {"o": "A1"})["checkoutCapture"]["checkout"]["status"] == "captured"
    assert api.call(CAPTURE, {"o": "A1"})["checkoutCapture"]["userErrors"] == []
    assert api.call(VOID, {"o": "A1"})["checkoutVoid"]["userErrors"][0]["code"] == "INVALID_STATE"
    assert balance(api, ada) == (3000, 0)
    part = api.call(REFUND, {"o": "A1", "r": "R1", "a": "20.00"})["checkoutRefund"]
    assert part["pointsReturned"] == 666  # 2000 x 20.00 / 59.99, rounded down
    assert api.call(REFUND, {"o": "A1", "r": "R1", "a": "20.00"})["checkoutRefund"]["replayed"]
    too_much = api.call(REFUND, {"o": "A1", "r": "R2", "a": "50.00"})["checkoutRefund"]
    assert too_much["userErrors"][0]["code"] == "REFUND_OVER_ORDER"
    rest = api.call(REFUND, {"o": "A1", "r": "R3", "a": "39.99"})["checkoutRefund"]
    assert rest["pointsReturned"] == 2000 - 666
    assert rest["checkout"] == {"refundedPoints": 2000, "refundedAmount": "59.99"}
    assert balance(api, ada) == (5000, 0)
    assert verify().ok


def test_a_hold_left_alone_expires_back_to_the_member(shop, clock):
    api = shop
    ada = member(api, "ada", 1000)
    api.mutate(HOLD, {"o": "B1", "m": ada, "p": 500, "a": "20.00"})
    clock.advance(minutes=31)
    report = tick.tick(clock.now())
    assert report.holds_expired == 1
    assert balance(api, ada) == (1000, 0)
    assert (
        api.call(CAPTURE, {"o": "B1"})["checkoutCapture"]["userErrors"][0]["code"]
        == "INVALID_STATE"
    )
    assert verify().ok


def test_checkout_needs_a_redeem_rate_and_the_right_currency(api):
    ada = member(api, "ada", 100)
    body = api.raw(QUOTE, {"m": ada, "a": "10.00"})
    assert body["errors"][0]["extensions"]["code"] == "CHECKOUT_NOT_CONFIGURED"
    api.mutate(PUBLISH, {"s": PROGRAM})
    wrong = api.raw(
        """query($m: ID!) { checkoutQuote(memberId: $m, orderAmount: "10",
        currency: "USD") { maxPoints } }""",
        {"m": ada},
    )
    assert wrong["errors"][0]["extensions"]["code"] == "CURRENCY_MISMATCH"


LOTTERY = """mutation($input: LotteryCreateInput!) { lotteryCreate(input: $input) {
  lottery { id odds { probability prize { label } } } userErrors { code message field } } }"""
DRAW = """mutation($l: ID!, $m: ID!, $k: String!) { lotteryDraw(input: {lotteryId: $l,
  memberId: $m, idempotencyKey: $k}) { draw { outcome pity randomValue odds
  prize { label } } replayed userErrors { code message } } }"""


def test_lottery_with_a_guaranteed_win_and_a_pity_count(shop, app, clock):
    api = shop
    app.state.graphql.rng = random.Random(7)  # a seeded draw, for a stable test
    ada = member(api, "ada", 10_000)
    created = api.mutate(
        LOTTERY,
        {
            "input": {
                "title": "Lucky wheel",
                "cost": 10,
                "dailyLimit": 30,
                "guaranteeWin": True,
                "pityCount": 4,
                "missWeight": 50,
                "prizes": [
                    {"kind": "consolation", "label": "Thanks!", "weight": 90},
                    {
                        "kind": "points",
                        "label": "100 points",
                        "points": 100,
                        "weight": 9,
                        "stock": 5,
                    },
                    {"kind": "points", "label": "Jackpot", "points": 1000, "weight": 1},
                ],
            }
        },
    )
    odds = {o["prize"]["label"]: o["probability"] for o in created["lottery"]["odds"]}
    assert odds == {"Thanks!": 0.9, "100 points": 0.09, "Jackpot": 0.01}  # no miss: guaranteed
    lottery_id = created["lottery"]["id"]
    outcomes, labels = [], []
    for i in range(30):
        draw = api.call(DRAW, {"l": lottery_id, "m": ada, "k": f"d{i}"})["lotteryDraw"]
        assert draw["userErrors"] == []
        outcomes.append((draw["draw"]["outcome"], draw["draw"]["pity"]))
        labels.append(draw["draw"]["prize"]["label"])
    assert all(o != "none" for o, _ in outcomes)
    misses = 0
    for outcome, pity in outcomes:
        assert pity == (misses >= 4)  # after 4 draws without a real prize, a real one
        misses = 0 if outcome == "points" else misses + 1
        assert misses <= 4
    limit = api.call(DRAW, {"l": lottery_id, "m": ada, "k": "d30"})["lotteryDraw"]
    assert limit["userErrors"][0]["code"] == "DRAW_LIMIT_REACHED"
    # Each "100 points" won took one of its 5 from stock.
    prize = LotteryPrize.get(LotteryPrize.label == "100 points")
    assert prize.stock == 5 - labels.count("100 points"), labels
    assert verify().ok


def test_a_prize_out_of_stock_is_skipped_not_turned_into_nothing(shop, app):
    api = shop
    app.state.graphql.rng = random.Random(1)
    ada = member(api, "ada", 1000)
    lottery_id = api.mutate(
        LOTTERY,
        {
            "input": {
                "title": "Two prizes",
                "cost": 1,
                "prizes": [
                    {"kind": "points", "label": "A", "points": 5, "weight": 1, "stock": 1},
                    {"kind": "points", "label": "B", "points": 7, "weight": 1, "stock": 1},
                ],
            }
        },
    )["lottery"]["id"]
    labels = [
        api.call(DRAW, {"l": lottery_id, "m": ada, "k": f"x{i}"})["lotteryDraw"]["draw"]["prize"][
            "label"
        ]
        for i in range(2)
    ]
    assert sorted(labels) == ["A", "B"]
    sold_out = api.call(DRAW, {"l": lottery_id, "m": ada, "k": "x3"})["lotteryDraw"]
    assert sold_out["userErrors"][0]["code"] == "LOTTERY_SOLD_OUT"
    assert balance(api, ada) == (1000 - 2 + 12, 0)  # the third draw cost nothing


def test_earn_in_january_spend_in_march_expire_the_remainder_next_january(shop, clock):
    api = shop
    ada = member(api, "ada")
    api.mutate(ADJUST, {"m": ada, "p": 300, "k": "january"})  # earned 10 Jan 2026
    clock.set(datetime(2026, 3, 15, 4, tzinfo=UTC))
    api.mutate(ADJUST, {"m": ada, "p": 50, "k": "march"})
    item = api.mutate(ITEM, {"input": {"title": "Mug", "pointsPrice": 120}})["item"]
    api.mutate(REDEEM, {"m": ada, "i": item["id"], "q": 1, "k": "mug"})
    # The January lot is spent first: 180 of it is left, the March lot is whole.
    assert sorted(lot.remaining for lot in Lot.select()) == [50, 180]
    soon = api.call(
        """query($id: ID!) { member(id: $id) { expiringPoints(withinDays: 400) {
        total batches { points } } } }""",
        {"id": ada},
    )["member"]["expiringPoints"]
    assert soon == {"total": 230, "batches": [{"points": 180}, {"points": 50}]}
    clock.set(datetime(2027, 1, 10, 3, tzinfo=UTC))
    assert tick.tick(clock.now()).points_expired == 180
    assert tick.tick(clock.now()).points_expired == 0  # idempotent
    assert balance(api, ada) == (50, 0)
    assert verify().ok
