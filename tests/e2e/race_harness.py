"""The race harness: every mutation that changes value or state, fired 20 at a time at
two server processes on one database, and the outcome checked against a model.

Each row of RACES (in test_races_spending.py, test_races_earning.py and
test_races_operators.py, by area) arranges a small world through the API, fires its calls
at once (identical retries, different keys for the same thing, or conflicting pairs), and
checks exact counts, balances and states; after each row `ledger verify` must be clean.
A new mutation is one row. Here: what the rows share, and the world they race in (a
test file's `world = race_harness.world` gives it its own, on SQLite and on PostgreSQL).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.racing import Call, World, codes, world_on

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
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!, $r: String = "race") {
  pointsAdjust(input: {memberId: $m, points: $p, reason: $r, idempotencyKey: $k}) {
  transaction { id } request { id } replayed userErrors { code field } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { availablePoints pendingPoints heldPoints
  ledger(first: 100) { edges { node { amount transaction { id kind } } } } } }"""


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


def approvals_and_rejections(who: str, query: str, variables: dict) -> list[Call]:
    """N decisions on one thing, approve and reject in turn."""
    return [
        Call(who, query, {**variables, "d": "APPROVE" if i % 2 else "REJECT"}) for i in range(N)
    ]


def one_decision(payloads: list[dict], field: str) -> str:
    """Conflicting decisions: the first wins, the others are refused; the status it left."""
    assert codes(payloads) == ["ALREADY_REVIEWED"] * (N // 2) + ["ok"] * (N // 2)
    (status,) = {p[field]["status"] for p in payloads if not p["userErrors"]}
    return status


# -- the world and one race in it ------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory):
    with world_on(request.param, tmp_path_factory, "races") as w:
        w.mutate("admin", PUBLISH, {"s": RULES})
        yield w


def run(world: World, race: Race) -> None:
    """Arrange, fire at once, check the outcome; the books must still balance."""
    ctx = race.arrange(world)
    payloads = world.fire(race.calls(world, ctx))
    race.check(world, ctx, payloads)
    assert world.verify() == []
