"""Adjustments, reversals, the member ledger, analysts' listing, summary and export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from server.core.verify import verify
from server.store.models import LedgerTransaction, Posting

ADJUST = """
mutation($input: PointsAdjustInput!) {
  pointsAdjust(input: $input) {
    transaction { id kind reason actor entries { amount account accountKind balanceAfter } }
    member { availablePoints }
    replayed
    userErrors { code message field }
  }
}"""
REVERSE = """
mutation($id: ID!, $reason: String!) {
  transactionReverse(input: {transactionId: $id, reason: $reason}) {
    reversal { id kind reason reverses { id } entries { amount account } }
    reversed { id reversedBy { id } }
    userErrors { code message field }
  }
}"""
MEMBER_LEDGER = """
query($id: ID!, $first: Int, $after: String) {
  member(id: $id) {
    availablePoints
    ledger(first: $first, after: $after) {
      edges { cursor node { id amount balanceAfter transaction { kind reason } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
LEDGER = """
query($filter: LedgerFilter, $first: Int, $after: String) {
  ledger(filter: $filter, first: $first, after: $after) {
    edges { node { amount account member { externalId } transaction { kind } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SUMMARY = """
query($from: DateTime!, $to: DateTime!, $groupBy: SummaryGroupBy!) {
  ledgerSummary(from: $from, to: $to, groupBy: $groupBy) {
    outstanding
    rows { group startsAt endsAt issued spent expired net outstanding members }
  }
}"""


def new_member(api, external_id="alice"):
    return api.mutate(
        "mutation($e: String!) { memberUpsert(input: {externalId: $e}) "
        "{ member { id } userErrors { code } } }",
        {"e": external_id},
    )["member"]["id"]


def adjust(api, member_id, points, key, reason="goodwill"):
    return api.call(
        ADJUST,
        {
            "input": {
                "memberId": member_id,
                "points": points,
                "reason": reason,
                "idempotencyKey": key,
            }
        },
    )["pointsAdjust"]


def test_adjust_awards_and_deducts_with_reason_and_actor(api):
    alice = new_member(api)
    award = adjust(api, alice, 120, "a1", "welcome gift")
    assert award["userErrors"] == []
    assert award["member"]["availablePoints"] == 120
    txn = award["transaction"]
    assert (txn["kind"], txn["reason"], txn["actor"]) == (
        "adjustment",
        "welcome gift",
        "admin:test admin",
    )
    assert sorted((e["accountKind"], e["amount"]) for e in txn["entries"]) == [
        ("ADJUSTMENT", -120),
        ("AVAILABLE", 120),
    ]
    deduct = adjust(api, alice, -20, "a2", "duplicate account")
    assert deduct["member"]["availablePoints"] == 100


def test_adjust_retry_is_replayed_and_reuse_is_refused(api):
    alice = new_member(api)
    first = adjust(api, alice, 10, "same")
    again = adjust(api, alice, 10, "same")
    assert again["replayed"] and again["transaction"]["id"] == first["transaction"]["id"]
    assert again["member"]["availablePoints"] == 10
    reused = adjust(api, alice, 11, "same")
    assert reused["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert LedgerTransaction.select().count() == 1


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"points": 0}, "INVALID_POINTS", "points"),
        ({"points": 2_000_000_000}, "INVALID_POINTS", "points"),
        ({"points": -101}, "INSUFFICIENT_POINTS", "points"),
        ({"reason": ""}, "INVALID_INPUT", "reason"),
        ({"reason": "   "}, "INVALID_INPUT", "reason"),
        ({"reason": "x" * 501}, "INVALID_INPUT", "reason"),
        ({"memberId": "mbr_999"}, "MEMBER_NOT_FOUND", "memberId"),
        ({"memberId": "mbr_x"}, "INVALID_ID", "memberId"),
        ({"memberId": "txn_1"}, "INVALID_ID", "memberId"),
        ({"idempotencyKey": "k" * 201}, "INVALID_INPUT", "idempotencyKey"),
    ],
)
def test_bad_adjustments_are_user_errors_that_change_nothing(api, change, code, field):
    alice = new_member(api)
    adjust(api, alice, 100, "seed")
    before = Posting.select().count()
    result = api.call(
        ADJUST,
        {
            "input": {
                "memberId": alice,
                "points": 5,
                "reason": "r",
                "idempotencyKey": "bad",
                **change,
            }
        },
    )["pointsAdjust"]
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)]
    assert result["transaction"] is None
    assert Posting.select().count() == before
    # The key of a refused request stays free for a corrected retry.
    if code not in ("INVALID_ID", "MEMBER_NOT_FOUND") and field != "idempotencyKey":
        assert adjust(api, alice, 5, "bad", "r")["userErrors"] == []


def test_reverse_once_with_links_both_ways(api):
    alice = new_member(api)
    txn = adjust(api, alice, 30, "a")["transaction"]["id"]
    done = api.call(REVERSE, {"id": txn, "reason": "mistake"})["transactionReverse"]
    assert done["reversal"]["kind"] == "reversal"
    assert done["reversal"]["reverses"]["id"] == txn
    assert done["reversed"]["reversedBy"]["id"] == done["reversal"]["id"]
    again = api.call(REVERSE, {"id": txn, "reason": "again"})["transactionReverse"]
    assert again["userErrors"][0]["code"] == "ALREADY_REVERSED"
    undo = api.call(REVERSE, {"id": done["reversal"]["id"], "reason": "x"})
    assert undo["transactionReverse"]["userErrors"][0]["code"] == "NOT_REVERSIBLE"
    missing = api.call(REVERSE, {"id": "txn_999", "reason": "x"})["transactionReverse"]
    assert missing["userErrors"][0]["code"] == "TRANSACTION_NOT_FOUND"
    assert verify().ok


REVIEWED_RULES = """campaign "reviewed" {
  checkin award 7 after review
}
"""


def test_transactions_with_records_of_their_own_are_undone_through_them(api):
    """Reversing a pending award by hand would leave its review open over points that
    are gone (approving it later would mint them); a hold's, a redemption's likewise."""
    api.mutate(
        "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }",
        {"s": REVIEWED_RULES},
    )
    alice = new_member(api)
    adjust(api, alice, 100, "seed")
    api.mutate(
        """mutation($m: ID!) { checkinRecord(input: {memberId: $m, idempotencyKey: "c"}) {
        userErrors { code } } }""",
        {"m": alice},
    )
    (award,) = LedgerTransaction.select().where(LedgerTransaction.kind == "award")
    item = api.mutate(
        """mutation { catalogItemCreate(input: {title: "Mug", pointsPrice: 10}) {
        item { id } userErrors { code } } }"""
    )["item"]["id"]
    api.mutate(
        """mutation($m: ID!, $i: ID!) { redemptionCreate(input: {memberId: $m, itemId: $i,
        idempotencyKey: "r"}) { userErrors { code } } }""",
        {"m": alice, "i": item},
    )
    (redemption,) = LedgerTransaction.select().where(LedgerTransaction.kind == "redemption")
    for txn, names in ((award, "awardReview"), (redemption, "redemptionCancel")):
        refused = api.call(REVERSE, {"id": f"txn_{txn.id}", "reason": "x"})["transactionReverse"]
        [error] = refused["userErrors"]
        assert (error["code"], error["field"]) == ("NOT_REVERSIBLE", "transactionId")
        assert names in error["message"]
    assert LedgerTransaction.select().where(LedgerTransaction.kind == "reversal").count() == 0
    assert verify().ok


def test_member_ledger_pages_newest_first_with_running_balance(api, clock):
    alice = new_member(api)
    for i, points in enumerate([5, 7, -3, 11]):
        clock.advance(minutes=1)
        adjust(api, alice, points, f"k{i}")
    page = api.call(MEMBER_LEDGER, {"id": alice, "first": 3})["member"]
    assert [e["node"]["amount"] for e in page["ledger"]["edges"]] == [11, -3, 7]
    assert [e["node"]["balanceAfter"] for e in page["ledger"]["edges"]] == [20, 9, 12]
    rest = api.call(
        MEMBER_LEDGER, {"id": alice, "first": 3, "after": page["ledger"]["pageInfo"]["endCursor"]}
    )
    assert [e["node"]["amount"] for e in rest["member"]["ledger"]["edges"]] == [5]
    assert not rest["member"]["ledger"]["pageInfo"]["hasNextPage"]
    bad = api.raw(MEMBER_LEDGER, {"id": alice, "after": "not-a-cursor"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_analyst_ledger_filters_by_member_kind_scope_and_time(api, clock):
    alice, bob = new_member(api, "alice"), new_member(api, "bob")
    t0 = clock.now()
    adjust(api, alice, 10, "a")
    clock.advance(hours=1)
    t1 = clock.now()
    adjust(api, bob, 20, "b")
    txn = adjust(api, bob, 5, "c")["transaction"]["id"]
    api.mutate(REVERSE, {"id": txn, "reason": "oops"})
    analyst = api.as_("analyst")

    def amounts(flt):
        edges = analyst.call(LEDGER, {"filter": flt})["ledger"]["edges"]
        return [(e["node"]["account"], e["node"]["amount"]) for e in edges]

    assert amounts({"memberId": alice}) == [("available:1", 10)]
    assert amounts({"kinds": ["reversal"]}) == [("available:2", -5)]
    assert amounts({"scope": "PROGRAM_ACCOUNTS", "kinds": ["reversal"]}) == [("adjustment", 5)]
    assert len(amounts({"scope": "ALL"})) == 8
    assert amounts({"from": t0.isoformat(), "to": t1.isoformat()}) == [("available:1", 10)]


def test_summary_by_day_in_program_zone_and_by_kind(api, clock):
    alice, bob = new_member(api, "alice"), new_member(api, "bob")
    day1 = clock.now()
    adjust(api, alice, 100, "a")
    adjust(api, bob, 50, "b")
    clock.advance(days=1)
    adjust(api, alice, -30, "c")
    txn = adjust(api, bob, 20, "d")["transaction"]["id"]
    api.mutate(REVERSE, {"id": txn, "reason": "oops"})
    start = day1.replace(hour=0, minute=0)
    summary = api.as_("analyst").call(
        SUMMARY,
        {
            "from": start.isoformat(),
            "to": (start + timedelta(days=3)).isoformat(),
            "groupBy": "DAY",
        },
    )["ledgerSummary"]
    rows = [
        (r["group"], r["issued"], r["net"], r["outstanding"], r["members"]) for r in summary["rows"]
    ]
    # Deductions by hand count against issued: the adjustment account is one flow.
    assert rows == [
        ("2026-03-02", 150, 150, 150, 2),
        ("2026-03-03", -30, -30, 120, 2),
        ("2026-03-04", 0, 0, 120, 0),
    ]
    assert summary["outstanding"] == 120
    by_kind = api.as_("analyst").call(
        SUMMARY,
        {
            "from": start.isoformat(),
            "to": (start + timedelta(days=3)).isoformat(),
            "groupBy": "KIND",
        },
    )["ledgerSummary"]["rows"]
    assert [(r["group"], r["issued"]) for r in by_kind] == [("adjustment", 140), ("reversal", -20)]
    bad = api.as_("analyst").raw(
        SUMMARY, {"from": start.isoformat(), "to": start.isoformat(), "groupBy": "DAY"}
    )
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_export_streams_csv_for_analysts_only(api, client, keys, clock):
    alice = new_member(api)
    adjust(api, alice, 42, "a", "export me")
    params = {"from": "2026-03-01T00:00:00+00:00", "to": "2026-03-03T00:00:00+00:00"}
    response = client.get(
        "/export/ledger.csv", params=params, headers={"authorization": f"Bearer {keys['analyst']}"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(int(r["amount"]) for r in rows) == [-42, 42]
    assert {r["reason"] for r in rows} == {"export me"}
    assert (
        client.get(
            "/export/ledger.csv",
            params=params,
            headers={"authorization": f"Bearer {keys['service']}"},
        ).status_code
        == 403
    )
    assert client.get("/export/ledger.csv", params=params).status_code == 401
    bad = client.get(
        "/export/ledger.csv",
        params={"from": "yesterday", "to": "x"},
        headers={"authorization": f"Bearer {keys['analyst']}"},
    )
    assert bad.status_code == 400 and "from" in bad.json()["message"]


def test_export_batches_keep_every_entry_in_order(db, clock):
    from server.core import adjustments, members
    from server.core.history import export_csv
    from server.core.program import ProgramSettings
    from server.store.db import write_transaction

    with write_transaction():
        member = members.upsert("a", now=clock.now()).member
        for _ in range(25):
            adjustments.adjust(
                member.id, 1, "r", actor="t", now=clock.now(), settings=ProgramSettings()
            )
    text = "".join(
        export_csv(clock.now() - timedelta(days=1), clock.now() + timedelta(days=1), batch=7)
    )
    ids = [r["entry_id"] for r in csv.DictReader(io.StringIO(text))]
    assert ids == [f"ent_{n}" for n in range(1, 51)]
    assert datetime.fromisoformat(
        next(csv.DictReader(io.StringIO(text)))["created_at"]
    ) == clock.now().astimezone(UTC)


def test_export_memory_stays_flat_as_the_range_grows(db, clock):
    import tracemalloc

    from server.core import members
    from server.core.accounts import AccountKind, program_account, wallet
    from server.core.history import export_csv
    from server.core.ledger import Leg, post
    from server.store.db import write_transaction

    with write_transaction():
        member = members.upsert("a", now=clock.now()).member
        legs = (wallet(member.id, AccountKind.AVAILABLE), program_account(AccountKind.ADJUSTMENT))

    def grow_to(transactions):
        with write_transaction():
            have = Posting.select().count() // 2
            for _ in range(transactions - have):
                post(
                    "adjustment",
                    [Leg(legs[0], 1), Leg(legs[1], -1)],
                    now=clock.now(),
                    member_id=member.id,
                )

    def peak_while_exporting():
        tracemalloc.start()
        size = 0
        for chunk in export_csv(
            clock.now() - timedelta(days=1), clock.now() + timedelta(days=1), batch=200
        ):
            size += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak, size

    grow_to(500)
    small_peak, small_size = peak_while_exporting()
    grow_to(2500)
    large_peak, large_size = peak_while_exporting()
    assert large_size > 4.5 * small_size
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
