"""The race harness: every mutation that changes value or state, fired 20 at a time at
two server processes on one database, and the outcome checked against a model.

Each row of RACES arranges a small world through the API, fires its calls at once
(identical retries, different keys for the same thing, or conflicting pairs), and
checks exact counts, balances and states; after each row `ledger verify` must be clean.
A new mutation is one row.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.racing import Call, World, codes
from tests.receiver import serve
from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres

pytestmark = pytest.mark.slow

N = 20  # concurrent requests per race

RULES = """
program "Race club" {
  timezone "UTC"
  points expire 365 days after earned
  redeem rate 100 points = 1.00 CNY
  deduct at most 50% of order
}
campaign "invite" "Invite friends" {
  referral award 10 each until invitee leaves after review
}
campaign "speak" "Speak up" {
  message award 1
}
campaign "showup" "Show up" {
  checkin award 2
}
campaign "tasks" "Tasks" {
  task "race-task" award 30 after review
}
levels "Race levels" {
  qualify by points earned in last 30 days
  level "silver" at 1000000
  level "gold" at 2000000
  keep for 7 days after falling short
}
"""

PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s, filename: "race.rules"}) {
  campaigns { key version changed } userErrors { code message } } }"""
UPSERT = """mutation($e: String!, $c: String, $by: String) { memberUpsert(input: {externalId: $e,
  community: $c, invitedByExternalId: $by}) { member { id } created events { id type }
  userErrors { code field } } }"""
LEAVE = """mutation($m: ID!, $c: String!) { memberLeave(memberId: $m, community: $c) {
  event { id } replayed userErrors { code field } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!, $r: String = "race") {
  pointsAdjust(input: {memberId: $m, points: $p, reason: $r, idempotencyKey: $k}) {
  transaction { id } request { id } replayed userErrors { code field } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { availablePoints pendingPoints heldPoints
  ledger(first: 100) { edges { node { amount transaction { id kind } } } } } }"""
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
ITEMS = "{ catalogItems(first: 100) { edges { node { id title } } } }"
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
QUEUE = """{ reviewQueue(first: 100) { edges { node { transactionId member { id } status
  points } } } }"""
AWARD_REVIEW = """mutation($t: ID!, $d: Decision!) { awardReview(input: {transactionId: $t,
  decision: $d}) { review { status } replayed userErrors { code field } } }"""
TASK = """mutation($k: String!, $n: Int! = 1) { taskCreate(input: {key: $k, title: "Race",
  maxCompletions: $n}) { task { id } userErrors { code field } } }"""
SUBMIT = """mutation($t: ID!, $m: ID!, $k: String!) { submissionCreate(input: {taskId: $t,
  memberId: $m, proof: "done", idempotencyKey: $k}) { submission { id } replayed
  userErrors { code field } } }"""
SUBMISSION_REVIEW = """mutation($s: ID!, $d: Decision!) { submissionReview(input:
  {submissionId: $s, decision: $d}) { submission { status event { id } } replayed
  userErrors { code field } } }"""
ADJUSTMENT_REVIEW = """mutation($r: ID!, $d: Decision!) { adjustmentReview(requestId: $r,
  decision: $d) { request { status transaction { id } } replayed
  userErrors { code field } } }"""
REVERSE = """mutation($t: ID!) { transactionReverse(input: {transactionId: $t,
  reason: "race"}) { reversal { id } replayed userErrors { code field } } }"""
EVENT = """mutation($m: ID!, $k: String!, $a: JSON) { eventRecord(input: {memberId: $m,
  type: "message", idempotencyKey: $k, attributes: $a}) { event { id } replayed
  userErrors { code field } } }"""
EVENTS = """mutation($in: EventsRecordInput!) { eventsRecord(input: $in) { recorded replayed
  failed results { event { id } replayed userErrors { code } } userErrors { code } } }"""
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { event { id } replayed userErrors { code field } } }"""
CAMPAIGNS = "{ campaigns { key version } }"
LEVEL_SET = """mutation($m: ID!, $l: String) { memberLevelSet(input: {memberId: $m, level: $l,
  until: "2099-01-01T00:00:00Z", reason: "race"}) { level { key } userErrors { code } } }"""
LEVEL = """query($id: ID!) { member(id: $id) { level { key }
  levelHistory(first: 100) { edges { node { fromLevel toLevel cause } } } } }"""
RETIRE_ITEM = """mutation($id: ID!) { catalogItemRetire(id: $id) { item { retiredAt }
  userErrors { code } } }"""


@dataclass(frozen=True)
class Race:
    """One row: arrange a world, fire calls at once, check the outcome against a model."""

    name: str
    arrange: Callable[[World], Any]
    calls: Callable[[World, Any], list[Call]]
    check: Callable[[World, Any, list[dict]], None]


# -- helpers that arrange worlds through the API ---------------------------------------


def member(w: World, points: int = 0, community: str | None = None, by: str | None = None):
    external = w.name("m")
    payload = w.mutate("admin", UPSERT, {"e": external, "c": community, "by": by})
    mid = payload["member"]["id"]
    if points:
        w.mutate("admin", ADJUST, {"m": mid, "p": points, "k": w.name("seed")})
    return mid


def wallet(w: World, mid: str) -> tuple[int, int, int]:
    m = w.data("admin", MEMBER, {"id": mid})["member"]
    return m["availablePoints"], m["pendingPoints"], m["heldPoints"]


def kinds(w: World, mid: str) -> Counter:
    """How many transactions of each kind touched the member's wallets."""
    m = w.data("admin", MEMBER, {"id": mid})["member"]
    seen = {
        e["node"]["transaction"]["id"]: e["node"]["transaction"]["kind"]
        for e in m["ledger"]["edges"]
    }
    return Counter(seen.values())


def replays(payloads: list[dict]) -> list[bool]:
    return sorted(p["replayed"] for p in payloads)


def first_and_replays(payloads: list[dict]) -> None:
    """Identical retries: all succeed, exactly one did the work, the rest replayed it."""
    assert codes(payloads) == ["ok"] * len(payloads)
    assert replays(payloads) == [False] + [True] * (len(payloads) - 1)


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


def pending_referral(w: World) -> tuple[str, str, str]:
    """An inviter, an invitee in `fans`, and the inviter's award waiting for review."""
    inviter = w.name("m")
    inviter_id = w.mutate("admin", UPSERT, {"e": inviter, "c": "fans"})["member"]["id"]
    invitee_id = member(w, community="fans", by=inviter)
    queue = w.data("admin", QUEUE)["reviewQueue"]["edges"]
    (txn,) = [
        e["node"]["transactionId"]
        for e in queue
        if e["node"]["member"]["id"] == inviter_id and e["node"]["status"] == "PENDING"
    ]
    return inviter_id, invitee_id, txn


def submission(w: World) -> tuple[str, str]:
    """A member's submission of the task the rules pay 30 for, waiting for review."""
    if not hasattr(w, "paid_task"):
        w.paid_task = w.mutate("admin", TASK, {"k": "race-task", "n": 1})["task"]["id"]
    task = w.paid_task
    mid = member(w)
    sub = w.mutate("service", SUBMIT, {"t": task, "m": mid, "k": w.name("sub")})
    return mid, sub["submission"]["id"]


# -- checkout ------------------------------------------------------------------------


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


# -- catalog -------------------------------------------------------------------------


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


# -- reviews ---------------------------------------------------------------------------


def identical_award_approvals(w, ctx):
    return [Call("reviewer", AWARD_REVIEW, {"t": ctx[2], "d": "APPROVE"}) for _ in range(N)]


def approved_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx[0]) == (10, 0, 0)
    assert kinds(w, ctx[0])["approval"] == 1


def approvals_against_rejections(w, ctx):
    return [
        Call("reviewer", AWARD_REVIEW, {"t": ctx[2], "d": "APPROVE" if i % 2 else "REJECT"})
        for i in range(N)
    ]


def approved_or_rejected(w, ctx, payloads):
    assert codes(payloads) == ["ALREADY_REVIEWED"] * (N // 2) + ["ok"] * (N // 2)
    (status,) = {p["review"]["status"] for p in payloads if not p["userErrors"]}
    assert wallet(w, ctx[0]) == ((10, 0, 0) if status == "APPROVED" else (0, 0, 0))


def review_against_leave(w, ctx):
    inviter, invitee, txn = ctx
    return [
        Call("reviewer", AWARD_REVIEW, {"t": txn, "d": "APPROVE"})
        if i % 2
        else Call("service", LEAVE, {"m": invitee, "c": "fans"})
        for i in range(N)
    ]


def nothing_left_after_leave(w, ctx, payloads):
    # However they interleave, the invitee left: the inviter keeps nothing.
    assert wallet(w, ctx[0]) == (0, 0, 0)
    leaves = [p for p in payloads if "event" in p]
    assert sorted(p["replayed"] for p in leaves) == [False] + [True] * (len(leaves) - 1)


def identical_leaves(w, ctx):
    return [Call("service", LEAVE, {"m": ctx[1], "c": "fans"}) for _ in range(N)]


def left_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert len({p["event"]["id"] for p in payloads}) == 1
    assert wallet(w, ctx[0]) == (0, 0, 0)


def inviter(w: World) -> str:
    name = w.name("host")
    w.mutate("admin", UPSERT, {"e": name, "c": "fans"})
    return name


def identical_joins(w, ctx):
    name, inviter = w.name("joiner"), ctx
    return [Call("service", UPSERT, {"e": name, "c": "fans", "by": inviter}) for _ in range(N)]


def joined_once(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * N
    assert sorted(p["created"] for p in payloads) == [False] * (N - 1) + [True]
    recorded = [e["type"] for p in payloads for e in p["events"]]
    assert sorted(recorded) == ["join", "referral"]


def identical_submission_approvals(w, ctx):
    return [Call("reviewer", SUBMISSION_REVIEW, {"s": ctx[1], "d": "APPROVE"}) for _ in range(N)]


def task_paid_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert len({p["submission"]["event"]["id"] for p in payloads}) == 1
    assert wallet(w, ctx[0]) == (30, 0, 0)


def submissions_with_keys(w, ctx):
    task = w.mutate("admin", TASK, {"k": w.name("task"), "n": 2})["task"]["id"]
    return [Call("service", SUBMIT, {"t": task, "m": ctx, "k": w.name("k")}) for _ in range(N)]


def two_submissions(w, ctx, payloads):
    assert codes(payloads) == ["SUBMISSION_LIMIT_REACHED"] * (N - 2) + ["ok"] * 2


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
    return [
        Call("operator2", ADJUSTMENT_REVIEW, {"r": ctx[1], "d": "APPROVE" if i % 2 else "REJECT"})
        for i in range(N)
    ]


def decided_once(w, ctx, payloads):
    assert codes(payloads) == ["ALREADY_REVIEWED"] * (N // 2) + ["ok"] * (N // 2)
    (status,) = {p["request"]["status"] for p in payloads if not p["userErrors"]}
    assert wallet(w, ctx[0]) == ((20500, 0, 0) if status == "approved" else (500, 0, 0))


# -- ledger and events -----------------------------------------------------------------


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


def identical_events(w, ctx):
    key = w.name("k")
    return [Call("service", EVENT, {"m": ctx, "k": key, "a": {"length": 9}}) for _ in range(N)]


def recorded_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx) == (1, 0, 0)


def many_messages(w, ctx):
    return [
        Call("service", EVENT, {"m": ctx, "k": w.name("msg"), "a": {"text": w.name("t")}})
        for _ in range(N)
    ]


def every_message_counts(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * N
    assert wallet(w, ctx) == (N, 0, 0)


def overlapping_batches(w, ctx):
    keys = [w.name("b") for _ in range(10)]
    return [
        Call(
            "service",
            EVENTS,
            {
                "in": {
                    "events": [
                        {"memberId": ctx, "type": "message", "idempotencyKey": k} for k in keys
                    ]
                }
            },
        )
        for _ in range(N // 2)
    ]


def each_key_once(w, ctx, payloads):
    assert sum(p["recorded"] for p in payloads) == 10
    assert sum(p["replayed"] for p in payloads) == 10 * (N // 2 - 1)
    assert wallet(w, ctx) == (10, 0, 0)


def checkins_with_keys(w, ctx):
    return [Call("service", CHECKIN, {"m": ctx, "k": w.name("c")}) for _ in range(N)]


def one_checkin(w, ctx, payloads):
    assert codes(payloads) == ["ALREADY_CHECKED_IN"] * (N - 1) + ["ok"]
    assert wallet(w, ctx) == (2, 0, 0)


def republish(w, ctx):
    source = RULES + f'campaign "{ctx}" {{\n  message award 1\n}}\n'
    return [Call("operator", PUBLISH, {"s": source}) for _ in range(N // 2)]


def one_new_version(w, ctx, payloads):
    assert codes(payloads) == ["ok"] * (N // 2)
    versions = {c["key"]: c["version"] for c in w.data("admin", CAMPAIGNS)["campaigns"]}
    assert versions[ctx] == 1
    changed = [c for p in payloads for c in p["campaigns"] if c["changed"]]
    assert [c["key"] for c in changed] == [ctx]


# -- webhooks: the servers' own delivery workers send to a receiver in this process -----

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
    Race("award review: identical", pending_referral, identical_award_approvals, approved_once),
    Race(
        "award review: approve vs reject",
        pending_referral,
        approvals_against_rejections,
        approved_or_rejected,
    ),
    Race("award review vs leave", pending_referral, review_against_leave, nothing_left_after_leave),
    Race("leave: identical", pending_referral, identical_leaves, left_once),
    Race("join: identical", inviter, identical_joins, joined_once),
    Race("submission: limit", lambda w: member(w), submissions_with_keys, two_submissions),
    Race(
        "submission review: identical", submission, identical_submission_approvals, task_paid_once
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
    Race("event: identical", lambda w: member(w), identical_events, recorded_once),
    Race("event: one member, many", lambda w: member(w), many_messages, every_message_counts),
    Race("events: overlapping batches", lambda w: member(w), overlapping_batches, each_key_once),
    Race("checkin: many keys", lambda w: member(w), checkins_with_keys, one_checkin),
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


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory):
    from tests.conftest import IN_CI

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('races') / 'races.db'}"
        w = World(url).start()
        w.mutate("admin", PUBLISH, {"s": RULES})
        yield w
        w.stop()
        return
    try:
        with temporary_postgres(postgres_admin_url()) as url:
            w = World(url).start()
            try:
                w.mutate("admin", PUBLISH, {"s": RULES})
                yield w
            finally:
                w.stop()
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.mark.parametrize("race", RACES, ids=[r.name for r in RACES])
def test_race(world, race):
    ctx = race.arrange(world)
    payloads = world.fire(race.calls(world, ctx))
    race.check(world, ctx, payloads)
    assert world.verify() == []
