"""Race harness rows over earning points (the harness: tests/e2e/race_harness.py):
awards after review, joins and leaves, task submissions, recorded events and check-ins.
"""

from __future__ import annotations

import pytest

from tests.e2e import race_harness
from tests.e2e.race_harness import (
    UPSERT,
    N,
    Race,
    approvals_and_rejections,
    first_and_replays,
    kinds,
    member,
    one_decision,
    wallet,
)
from tests.e2e.racing import Call, World, codes

pytestmark = pytest.mark.slow

LEAVE = """mutation($m: ID!, $c: String!) { memberLeave(memberId: $m, community: $c) {
  event { id } replayed userErrors { code field } } }"""
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
EVENT = """mutation($m: ID!, $k: String!, $a: JSON) { eventRecord(input: {memberId: $m,
  type: "message", idempotencyKey: $k, attributes: $a}) { event { id } replayed
  userErrors { code field } } }"""
EVENTS = """mutation($in: EventsRecordInput!) { eventsRecord(input: $in) { recorded replayed
  failed results { event { id } replayed userErrors { code } } userErrors { code } } }"""
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { event { id } replayed userErrors { code field } } }"""


# -- helpers that arrange worlds through the API ---------------------------------------


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


# -- reviews ---------------------------------------------------------------------------


def identical_award_approvals(w, ctx):
    return [Call("reviewer", AWARD_REVIEW, {"t": ctx[2], "d": "APPROVE"}) for _ in range(N)]


def approved_once(w, ctx, payloads):
    first_and_replays(payloads)
    assert wallet(w, ctx[0]) == (10, 0, 0)
    assert kinds(w, ctx[0])["approval"] == 1


def approvals_against_rejections(w, ctx):
    return approvals_and_rejections("reviewer", AWARD_REVIEW, {"t": ctx[2]})


def approved_or_rejected(w, ctx, payloads):
    status = one_decision(payloads, "review")
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


# -- events ----------------------------------------------------------------------------


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


RACES = [
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
    Race("event: identical", lambda w: member(w), identical_events, recorded_once),
    Race("event: one member, many", lambda w: member(w), many_messages, every_message_counts),
    Race("events: overlapping batches", lambda w: member(w), overlapping_batches, each_key_once),
    Race("checkin: many keys", lambda w: member(w), checkins_with_keys, one_checkin),
]

world = race_harness.world  # this module's own world: two servers, on each database


@pytest.mark.parametrize("race", RACES, ids=[r.name for r in RACES])
def test_race(world, race):
    race_harness.run(world, race)
