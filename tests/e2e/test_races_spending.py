"""Race harness rows over spending points (the harness: tests/e2e/race_harness.py):
checkout holds, captures, voids and refunds; redemptions, stock and catalog items;
lottery draws.
"""

from __future__ import annotations

import pytest

from tests.e2e import race_harness
from tests.e2e.race_harness import N, Race, first_and_replays, kinds, member, wallet
from tests.e2e.racing import Call, World, codes

pytestmark = pytest.mark.slow

HOLD = """mutation($o: String!, $m: ID!, $p: Int!, $a: Decimal! = "100.00") {
  checkoutHold(input: {orderId: $o, memberId: $m, points: $p, orderAmount: $a,
  currency: "CNY"}) { checkout { status points } replayed userErrors { code field } } }"""
CAPTURE = """mutation($o: String!) { checkoutCapture(orderId: $o) { checkout { status }
  replayed userErrors { code field } } }"""
VOID = """mutation($o: String!) { checkoutVoid(orderId: $o) { checkout { status }
  replayed userErrors { code field } } }"""
REFUND = """mutation($o: String!, $r: String!, $a: Decimal!) { checkoutRefund(input:
  {orderId: $o, refundId: $r, amount: $a}) { pointsReturned replayed
  checkout { refundedPoints refundedAmount } userErrors { code field } } }"""
CHECKOUT = """query($o: String!) { checkout(orderId: $o) { status refundedPoints
  refundedAmount } }"""
ITEM = """mutation($in: CatalogItemInput!) { catalogItemCreate(input: $in) { item { id stock }
  userErrors { code field } } }"""
ITEM_CREATE = """mutation($in: CatalogItemInput!, $k: String) { catalogItemCreate(input: $in,
  idempotencyKey: $k) { item { id } replayed userErrors { code field } } }"""
RESTOCK = """mutation($id: ID!, $q: Int!, $k: String) { catalogItemRestock(id: $id,
  quantity: $q, idempotencyKey: $k) { item { stock } replayed userErrors { code field } } }"""
STOCK = "query($id: ID!) { catalogItem(id: $id) { stock } }"
REDEEM = """mutation($m: ID!, $i: ID!, $k: String!) { redemptionCreate(input: {memberId: $m,
  itemId: $i, idempotencyKey: $k}) { redemption { id status } replayed
  userErrors { code field } } }"""
FULFILL = """mutation($id: ID!) { redemptionFulfill(id: $id) { redemption { status }
  replayed userErrors { code field } } }"""
CANCEL = """mutation($id: ID!) { redemptionCancel(id: $id, reason: "race") {
  redemption { status } replayed userErrors { code field } } }"""
LOTTERY = """mutation($in: LotteryCreateInput!) { lotteryCreate(input: $in) { lottery { id }
  userErrors { code field } } }"""
DRAW = """mutation($l: ID!, $m: ID!, $k: String!) { lotteryDraw(input: {lotteryId: $l,
  memberId: $m, idempotencyKey: $k}) { draw { id outcome pity } replayed
  userErrors { code field } } }"""
DRAWS = """query($l: ID!) { draws(lotteryId: $l, first: 100) { edges { node { id outcome
  pity } } } }"""
RETIRE_ITEM = """mutation($id: ID!) { catalogItemRetire(id: $id) { item { retiredAt }
  userErrors { code } } }"""


# -- helpers that arrange worlds through the API ---------------------------------------


def held_order(w: World, points: int = 40, balance: int = 100, amount: str = "100.00"):
    mid = member(w, balance)
    order = w.name("order")
    w.mutate("service", HOLD, {"o": order, "m": mid, "p": points, "a": amount})
    return mid, order


def captured_order(w: World, points: int = 40, balance: int = 100, amount: str = "100.00"):
    mid, order = held_order(w, points, balance, amount)
    w.mutate("service", CAPTURE, {"o": order})
    return mid, order


def item(w: World, **fields) -> str:
    payload = w.mutate(
        "admin", ITEM, {"in": {"title": w.name("item"), "pointsPrice": 10, **fields}}
    )
    return payload["item"]["id"]


# -- checkout --------------------------------------------------------------------------


def refunds_with_different_ids(w, ctx):
    return [Call("service", REFUND, {"o": ctx[1], "r": f"r{i}", "a": "100.00"}) for i in range(N)]


def one_full_refund(w, ctx, payloads):
    mid, order = ctx
    assert codes(payloads) == ["REFUND_OVER_ORDER"] * (N - 1) + ["ok"]
    assert sorted(p["pointsReturned"] for p in payloads if not p["userErrors"]) == [40]
    assert wallet(w, mid) == (100, 0, 0)
    assert w.data("admin", CHECKOUT, {"o": order})["checkout"]["refundedPoints"] == 40


def same_refund_twenty_times(w, ctx):
    refund = w.name("r")
    return [Call("service", REFUND, {"o": ctx[1], "r": refund, "a": "100.00"}) for _ in range(N)]


def refunded_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert {p["pointsReturned"] for p in payloads} == {40}
    assert wallet(w, ctx[0]) == (100, 0, 0)
    assert kinds(w, ctx[0])["checkout_refund"] == 1


def partial_refunds(w, ctx):
    return [Call("service", REFUND, {"o": ctx[1], "r": f"p{i}", "a": "60.00"}) for i in range(N)]


def one_partial_refund(w, ctx, payloads):
    mid, order = ctx
    assert codes(payloads) == ["REFUND_OVER_ORDER"] * (N - 1) + ["ok"]
    assert [p["pointsReturned"] for p in payloads if not p["userErrors"]] == [24]
    assert wallet(w, mid) == (84, 0, 0)
    shown = w.data("admin", CHECKOUT, {"o": order})["checkout"]
    assert (shown["refundedPoints"], shown["refundedAmount"]) == (24, "60.00")


def identical_holds(w, ctx):
    mid, order = ctx
    return [Call("service", HOLD, {"o": order, "m": mid, "p": 40}) for _ in range(N)]


def held_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx[0]) == (60, 0, 40)
    assert kinds(w, ctx[0])["checkout_hold"] == 1


def holds_of_one_order_with_other_points(w, ctx):
    mid, order = ctx
    return [Call("service", HOLD, {"o": order, "m": mid, "p": 10 + i}) for i in range(N)]


def one_hold_wins(w, ctx, payloads):
    assert codes(payloads) == ["ORDER_ID_REUSED"] * (N - 1) + ["ok"]
    (winner,) = [p for p in payloads if not p["userErrors"]]
    points = winner["checkout"]["points"]
    assert wallet(w, ctx[0]) == (100 - points, 0, points)


def holds_beyond_the_balance(w, ctx):
    mid = ctx[0]
    return [Call("service", HOLD, {"o": w.name("order"), "m": mid, "p": 30}) for _ in range(N)]


def three_holds_fit(w, ctx, payloads):
    assert codes(payloads) == ["INSUFFICIENT_POINTS"] * (N - 3) + ["ok"] * 3
    assert wallet(w, ctx[0]) == (10, 0, 90)


def identical(query: str, **variables):
    def calls(w, ctx):
        return [Call("service", query, {"o": ctx[1], **variables}) for _ in range(N)]

    return calls


def captured_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert {p["checkout"]["status"] for p in payloads} == {"captured"}
    assert wallet(w, ctx[0]) == (60, 0, 0)
    assert kinds(w, ctx[0])["checkout_capture"] == 1


def voided_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx[0]) == (100, 0, 0)
    assert kinds(w, ctx[0])["checkout_release"] == 1


def captures_against_voids(w, ctx):
    order = ctx[1]
    return [Call("service", CAPTURE if i % 2 else VOID, {"o": order}) for i in range(N)]


def capture_or_void(w, ctx, payloads):
    status = w.data("admin", CHECKOUT, {"o": ctx[1]})["checkout"]["status"]
    winners = [p for p in payloads if not p["userErrors"]]
    assert {p["checkout"]["status"] for p in winners} == {status}
    assert len(winners) == N // 2
    assert codes(payloads) == ["INVALID_STATE"] * (N // 2) + ["ok"] * (N // 2)
    assert wallet(w, ctx[0]) == ((60, 0, 0) if status == "captured" else (100, 0, 0))


def refunds_against_void(w, ctx):
    # A captured order: voids are refused whatever the refunds do.
    order = ctx[1]
    return [
        Call("service", VOID, {"o": order})
        if i % 2
        else Call("service", REFUND, {"o": order, "r": f"v{i}", "a": "10.00"})
        for i in range(N)
    ]


def refunds_only(w, ctx, payloads):
    assert codes(payloads) == ["INVALID_STATE"] * (N // 2) + ["ok"] * (N // 2)
    # Ten refunds of 10.00 of a 100.00 order that spent 40 points: 4 points each.
    assert wallet(w, ctx[0]) == (100, 0, 0)
    assert w.data("admin", CHECKOUT, {"o": ctx[1]})["checkout"]["refundedAmount"] == "100.00"


# -- catalog ---------------------------------------------------------------------------


def one_member_many_keys(w: World) -> dict:
    return {"item": item(w, stock=100, limitPerMember=2, limitPeriod="day"), "m": member(w, 1000)}


def redeem_with_keys(w, ctx):
    return [
        Call("service", REDEEM, {"m": ctx["m"], "i": ctx["item"], "k": w.name("k")})
        for _ in range(N)
    ]


def two_per_day(w, ctx, payloads):
    assert codes(payloads) == ["REDEMPTION_LIMIT_REACHED"] * (N - 2) + ["ok"] * 2
    assert wallet(w, ctx["m"]) == (980, 0, 0)
    assert w.data("admin", STOCK, {"id": ctx["item"]})["catalogItem"]["stock"] == 98


def stock_for_many(w: World) -> dict:
    return {"item": item(w, stock=5), "members": [member(w, 100) for _ in range(N)]}


def many_redeem(w, ctx):
    return [
        Call("service", REDEEM, {"m": m, "i": ctx["item"], "k": w.name("k")})
        for m in ctx["members"]
    ]


def five_redeemed(w, ctx, payloads):
    assert codes(payloads) == ["OUT_OF_STOCK"] * (N - 5) + ["ok"] * 5
    assert w.data("admin", STOCK, {"id": ctx["item"]})["catalogItem"]["stock"] == 0
    spent = sorted(wallet(w, m)[0] for m in ctx["members"])
    assert spent == [90] * 5 + [100] * (N - 5)


def redeemed(w: World) -> dict:
    ctx = {"item": item(w, stock=3), "m": member(w, 100)}
    ctx["r"] = w.mutate("service", REDEEM, {"m": ctx["m"], "i": ctx["item"], "k": w.name("k")})[
        "redemption"
    ]["id"]
    return ctx


def identical_cancels(w, ctx):
    return [Call("service", CANCEL, {"id": ctx["r"]}) for _ in range(N)]


def cancelled_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx["m"]) == (100, 0, 0)
    assert w.data("admin", STOCK, {"id": ctx["item"]})["catalogItem"]["stock"] == 3
    assert kinds(w, ctx["m"])["redemption_cancel"] == 1


def identical_fulfills(w, ctx):
    return [Call("service", FULFILL, {"id": ctx["r"]}) for _ in range(N)]


def fulfilled_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx["m"]) == (90, 0, 0)


def fulfills_against_cancels(w, ctx):
    return [Call("service", FULFILL if i % 2 else CANCEL, {"id": ctx["r"]}) for i in range(N)]


def fulfilled_or_cancelled(w, ctx, payloads):
    assert codes(payloads) == ["INVALID_STATE"] * (N // 2) + ["ok"] * (N // 2)
    status = {p["redemption"]["status"] for p in payloads if not p["userErrors"]}
    assert len(status) == 1
    stock = w.data("admin", STOCK, {"id": ctx["item"]})["catalogItem"]["stock"]
    if status == {"cancelled"}:
        assert (wallet(w, ctx["m"]), stock) == ((100, 0, 0), 3)
    else:
        assert (wallet(w, ctx["m"]), stock) == ((90, 0, 0), 2)


def restocks_with_keys(w, ctx):
    return [Call("operator", RESTOCK, {"id": ctx, "q": 1, "k": w.name("k")}) for _ in range(N)]


def restocked_by_all(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * N
    assert w.data("admin", STOCK, {"id": ctx})["catalogItem"]["stock"] == N


def identical_restocks(w, ctx):
    key = w.name("k")
    return [Call("operator", RESTOCK, {"id": ctx, "q": 7, "k": key}) for _ in range(N)]


def restocked_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert w.data("admin", STOCK, {"id": ctx})["catalogItem"]["stock"] == 7


def identical_item_creates(w, ctx):
    title = w.name("created")
    return [
        Call("operator", ITEM_CREATE, {"in": {"title": title, "pointsPrice": 5}, "k": title})
        for _ in range(N)
    ]


def one_item_created(w, ctx, payloads):
    first_and_replays(payloads)
    assert len({p["item"]["id"] for p in payloads}) == 1


def identical_retires(w, ctx):
    return [Call("operator", RETIRE_ITEM, {"id": ctx}) for _ in range(N)]


def retired_at_once(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * N
    assert len({p["item"]["retiredAt"] for p in payloads}) == 1


# -- lotteries -------------------------------------------------------------------------


def lottery_with(w: World, **fields) -> dict:
    lottery = w.mutate(
        "admin",
        LOTTERY,
        {
            "in": {
                "title": w.name("lottery"),
                "cost": 1,
                "prizes": [{"kind": "points", "label": "one", "weight": 1, "points": 1}],
                **fields,
            }
        },
    )["lottery"]["id"]
    return {"l": lottery, "m": member(w, 1000)}


def draws_of_one_member(w, ctx):
    return [
        Call("service", DRAW, {"l": ctx["l"], "m": ctx["m"], "k": w.name("d")}) for _ in range(N)
    ]


def three_a_day(w, ctx, payloads):
    assert codes(payloads) == ["DRAW_LIMIT_REACHED"] * (N - 3) + ["ok"] * 3


def pity_in_order(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * N
    edges = w.data("admin", DRAWS, {"l": ctx["l"]})["draws"]["edges"]
    outcomes = [e["node"] for e in sorted(edges, key=lambda e: int(e["node"]["id"][4:]))]
    misses = 0
    for d in outcomes:
        # Every 4th draw after three misses is a guaranteed win, and only that one.
        assert d["pity"] == (misses == 3)
        misses = 0 if d["outcome"] != "none" else misses + 1
        assert misses <= 3


def identical_draws(w, ctx):
    key = w.name("k")
    return [Call("service", DRAW, {"l": ctx["l"], "m": ctx["m"], "k": key}) for _ in range(N)]


def drawn_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert len({p["draw"]["id"] for p in payloads}) == 1
    assert kinds(w, ctx["m"])["lottery_draw"] == 1


RACES = [
    Race(
        "refund: full, different ids", captured_order, refunds_with_different_ids, one_full_refund
    ),
    Race("refund: identical retries", captured_order, same_refund_twenty_times, refunded_once),
    Race("refund: 60 of 100, twenty times", captured_order, partial_refunds, one_partial_refund),
    Race("refund vs void", captured_order, refunds_against_void, refunds_only),
    Race(
        "hold: identical retries",
        lambda w: (member(w, 100), w.name("o")),
        identical_holds,
        held_once,
    ),
    Race(
        "hold: one order, other details",
        lambda w: (member(w, 100), w.name("o")),
        holds_of_one_order_with_other_points,
        one_hold_wins,
    ),
    Race(
        "hold: beyond the balance",
        lambda w: (member(w, 100),),
        holds_beyond_the_balance,
        three_holds_fit,
    ),
    Race("capture: identical retries", held_order, identical(CAPTURE), captured_once),
    Race("void: identical retries", held_order, identical(VOID), voided_once),
    Race("capture vs void", held_order, captures_against_voids, capture_or_void),
    Race("redeem: last units", stock_for_many, many_redeem, five_redeemed),
    Race("redeem: per-member limit", one_member_many_keys, redeem_with_keys, two_per_day),
    Race("redemption cancel: identical", redeemed, identical_cancels, cancelled_once),
    Race("redemption fulfill: identical", redeemed, identical_fulfills, fulfilled_once),
    Race("fulfill vs cancel", redeemed, fulfills_against_cancels, fulfilled_or_cancelled),
    Race(
        "restock: different keys", lambda w: item(w, stock=0), restocks_with_keys, restocked_by_all
    ),
    Race(
        "restock: identical retries", lambda w: item(w, stock=0), identical_restocks, restocked_once
    ),
    Race(
        "item create: identical retries", lambda w: None, identical_item_creates, one_item_created
    ),
    Race("item retire: identical", lambda w: item(w), identical_retires, retired_at_once),
    Race(
        "draw: daily limit",
        lambda w: lottery_with(w, dailyLimit=3),
        draws_of_one_member,
        three_a_day,
    ),
    Race(
        "draw: pity count",
        lambda w: lottery_with(w, missWeight=1_000_000, pityCount=3),
        draws_of_one_member,
        pity_in_order,
    ),
    Race("draw: identical retries", lottery_with, identical_draws, drawn_once),
]

world = race_harness.world  # this module's own world: two servers, on each database


@pytest.mark.parametrize("race", RACES, ids=[r.name for r in RACES])
def test_race(world, race):
    race_harness.run(world, race)
