"""Leaderboards, tasks, birthdays and two-person adjustments, with the clock set."""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.core import leaderboard, program, tick
from server.core.verify import verify
from server.store.db import write_transaction
from server.store.models import Event, LedgerTransaction, PeriodPayout

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = """program "club" {
  timezone "Asia/Shanghai"
}
campaign "speak" "Speak up" {
  every week top 5 by messages award 50, 30, 20, 10, 10
}
campaign "tasks" "Tasks" {
  task "share-live" award 30 after review
}
campaign "moments" "Moments" {
  birthday award 88
}
"""
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = """mutation($e: String!, $b: Date) { memberUpsert(input: {externalId: $e,
  birthday: $b, community: "fans"}) { member { id } userErrors { code } } }"""
MESSAGE = """mutation($m: ID!, $k: String!) { eventRecord(input: {memberId: $m, type: "message",
  idempotencyKey: $k, community: "fans", attributes: {length: 9}}) { userErrors { code } } }"""
BOARD = """query($at: DateTime) { leaderboard(metric: "messages", period: WEEK, at: $at, first: 8)
  { rank score member { externalId } } }"""
BALANCE = "query($id: ID!) { member(id: $id) { availablePoints pendingPoints } }"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def club(api, clock):
    clock.set(local(2026, 3, 1, 12))  # a Sunday
    api.mutate(PUBLISH, {"s": RULES})
    return api


def _close_in_process(url, at_iso, start, results):
    """One process closing periods: waits at `start` so both claim the period at once."""
    from server.core import program as program_module
    from server.store.db import bind, open_database

    db = bind(open_database(url))
    with db.connection_context():
        settings = program_module.load()
        start.wait(timeout=60)
        closings = leaderboard.close_periods(datetime.fromisoformat(at_iso), settings)
        results.put(sum(1 for c in closings if c.points))
    db.close_all()


def test_a_week_of_messages_pays_the_weekly_top_five_once(club, clock, db, db_url):
    api = club
    ids = [api.mutate(UPSERT, {"e": f"m{i}"})["member"]["id"] for i in range(8)]
    # Monday 2 March to Sunday 8 March: member i sends i + 1 messages, one every 12 hours.
    monday = local(2026, 3, 2, 9)
    for i, member in enumerate(ids):
        for n in range(i + 1):
            clock.set(monday + timedelta(hours=12 * n, minutes=i))
            api.mutate(MESSAGE, {"m": member, "k": f"{member}-{n}"})
    clock.set(local(2026, 3, 8, 20))
    api.mutate(MESSAGE, {"m": ids[2], "k": "tie"})  # m2 reaches 4 on Sunday; m3 did Tuesday
    clock.set(local(2026, 3, 8, 21))
    board = api.call(BOARD, {})["leaderboard"]
    assert [(e["member"]["externalId"], e["score"]) for e in board[:6]] == [
        ("m7", 8),
        ("m6", 7),
        ("m5", 6),
        ("m4", 5),
        ("m3", 4),
        ("m2", 4),
    ]
    assert [e["rank"] for e in board[:6]] == [1, 2, 3, 4, 5, 6]
    assert PeriodPayout.select().count() == 0  # nothing has closed the week yet
    # Monday 9 March, 00:05 in Shanghai: the week has closed and is unpaid. Two processes
    # close it at the same moment; between them they pay it once.
    after = local(2026, 3, 9, 0, 5)
    db.close()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_close_in_process, args=(db_url, after.isoformat(), start, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    reported = []
    with contextlib.suppress(queue.Empty):  # a process that failed reports nothing
        for _ in procs:
            reported.append(results.get(timeout=120))
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(reported) == [0, 1]  # one paid the week, the other found it paid
    payouts = LedgerTransaction.select().where(LedgerTransaction.kind == "leaderboard")
    paid = sorted((t.member_id, sum(p.amount for p in t.postings if p.member_id)) for t in payouts)
    assert paid == [(4, 10), (5, 10), (6, 20), (7, 30), (8, 50)]
    assert PeriodPayout.select().where(PeriodPayout.period == "w2026-10").count() == 1
    winner = payouts.order_by(LedgerTransaction.id).first()
    assert winner.reason == "week 2026-10 rank 1 by messages"
    clock.set(after)
    assert tick.tick(clock.now()).periods_paid == 0  # and the periodic job finds it paid
    assert verify().ok


def test_member_rank_and_community_boards(club, clock):
    api = club
    a, b = (api.mutate(UPSERT, {"e": e})["member"]["id"] for e in ("a", "b"))
    for k in range(3):
        api.call(MESSAGE, {"m": b, "k": f"b{k}"})
    api.call(MESSAGE, {"m": a, "k": "a0"})
    ranks = api.call(
        """query($id: ID!) { member(id: $id) {
        rank(metric: "messages", period: DAY) { rank score }
        fans: rank(metric: "messages", period: DAY, community: "fans") { rank }
        nowhere: rank(metric: "messages", period: DAY, community: "vip") { rank } } }""",
        {"id": a},
    )["member"]
    assert ranks == {"rank": {"rank": 2, "score": 1}, "fans": {"rank": 2}, "nowhere": None}


TASK = """mutation { taskCreate(input: {key: "share-live", title: "Share our live stream",
  instructions: "Post the link", maxCompletions: 1}) { task { id } userErrors { code } } }"""
SUBMIT = """mutation($t: ID!, $m: ID!, $k: String!) { submissionCreate(input: {taskId: $t,
  memberId: $m, proof: "shared it", links: ["https://example.org/p/1"], idempotencyKey: $k})
  { submission { id status } replayed userErrors { code } } }"""
QUEUE = """{ submissions { edges { node { id status member { externalId } task { key } } } } }"""
DECIDE = """mutation($s: ID!, $d: Decision!) { submissionReview(input: {submissionId: $s,
  decision: $d, note: "looks good"}) { submission { status event { type } }
  replayed userErrors { code } } }"""


def test_a_task_is_submitted_approved_and_paid_once(club, clock):
    api = club
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    task = api.mutate(TASK)["task"]["id"]
    sent = api.call(SUBMIT, {"t": task, "m": ada, "k": "s1"})["submissionCreate"]
    assert sent["submission"]["status"] == "pending"
    again = api.call(SUBMIT, {"t": task, "m": ada, "k": "s2"})["submissionCreate"]
    assert again["userErrors"][0]["code"] == "SUBMISSION_LIMIT_REACHED"
    (queued,) = api.as_("reviewer").call(QUEUE)["submissions"]["edges"]
    assert queued["node"]["task"]["key"] == "share-live"
    decided = api.as_("reviewer").call(DECIDE, {"s": queued["node"]["id"], "d": "APPROVE"})
    assert decided["submissionReview"]["submission"] == {
        "status": "approved",
        "event": {"type": "task"},
    }
    assert decided["submissionReview"]["replayed"] is False
    # The same decision again is a retry: it replays; the other decision is refused.
    twice = api.as_("reviewer").call(DECIDE, {"s": queued["node"]["id"], "d": "APPROVE"})
    assert (twice["submissionReview"]["replayed"], twice["submissionReview"]["userErrors"]) == (
        True,
        [],
    )
    undo = api.as_("reviewer").call(DECIDE, {"s": queued["node"]["id"], "d": "REJECT"})
    assert undo["submissionReview"]["userErrors"] == [{"code": "ALREADY_REVIEWED"}]
    # The reviewer already approved: `after review` pays spendable points at once.
    assert api.call(BALANCE, {"id": ada})["member"] == {"availablePoints": 30, "pendingPoints": 0}
    assert Event.select().where(Event.type == "task").count() == 1
    assert api.as_("reviewer").call(QUEUE)["submissions"]["edges"] == []
    direct = api.call(
        """mutation($m: ID!) { eventRecord(input: {memberId: $m, type: "task",
        idempotencyKey: "x"}) { userErrors { code } } }""",
        {"m": ada},
    )
    assert direct["eventRecord"]["userErrors"][0]["code"] == "EVENT_TYPE_RESERVED"


def test_a_birthday_is_paid_once_a_year(club, clock):
    api = club
    ada = api.mutate(UPSERT, {"e": "ada", "b": "1990-03-05"})["member"]["id"]
    leap = api.mutate(UPSERT, {"e": "leap", "b": "2000-02-29"})["member"]["id"]
    clock.set(local(2026, 3, 4, 23, 59))
    assert tick.tick(clock.now()).birthdays == 0
    clock.set(local(2026, 3, 5, 0, 1))  # midnight in Shanghai, 16:01 UTC the day before
    assert tick.tick(clock.now()).birthdays == 1
    clock.set(local(2026, 3, 5, 18))
    assert tick.tick(clock.now()).birthdays == 0
    assert api.call(BALANCE, {"id": ada})["member"]["availablePoints"] == 88
    clock.set(local(2027, 2, 28, 9))  # no 29 February in 2027
    assert tick.tick(clock.now()).birthdays == 1
    assert api.call(BALANCE, {"id": leap})["member"]["availablePoints"] == 88
    clock.set(local(2027, 3, 5, 9))
    tick.tick(clock.now())
    assert api.call(BALANCE, {"id": ada})["member"]["availablePoints"] == 176


ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "compensation for the outage", idempotencyKey: $k}) {
  transaction { id } request { id status requestedBy } userErrors { code } } }"""
APPROVE = """mutation($r: ID!) { adjustmentReview(requestId: $r, decision: APPROVE) {
  request { status decidedBy transaction { actor approver entries { amount } } }
  userErrors { code } } }"""


def test_large_adjustments_need_a_second_operator(club, keys, clock, monkeypatch):
    from server.core import auth

    api = club
    monkeypatch.setenv("JIFEN_ADJUSTMENT_APPROVAL_OVER", "500")
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    small = api.as_("operator").call(ADJUST, {"m": ada, "p": 500, "k": "a"})["pointsAdjust"]
    assert small["transaction"] and small["request"] is None
    big = api.as_("operator").call(ADJUST, {"m": ada, "p": 5000, "k": "b"})["pointsAdjust"]
    assert big["transaction"] is None
    assert big["request"]["status"] == "pending"
    request = big["request"]["id"]
    same = api.as_("operator").call(APPROVE, {"r": request})["adjustmentReview"]
    assert same["userErrors"][0]["code"] == "SAME_OPERATOR"
    with write_transaction():
        _, second = auth.create_key(auth.Role.OPERATOR, "second operator", now=clock.now())
    done = api.as_(second).call(APPROVE, {"r": request})["adjustmentReview"]
    txn = done["request"]["transaction"]
    assert done["request"]["status"] == "approved"
    assert (txn["actor"], txn["approver"]) == ("operator:test operator", "operator:second operator")
    assert api.call(BALANCE, {"id": ada})["member"]["availablePoints"] == 5500
    replay = api.as_("operator").call(ADJUST, {"m": ada, "p": 5000, "k": "b"})["pointsAdjust"]
    assert replay["request"]["id"] == request  # a retry finds the same request
    assert verify().ok


def test_periods_between_two_instants_are_the_ones_that_ended_between_them(db):
    settings = program.ProgramSettings(timezone="Asia/Shanghai")
    now = local(2026, 3, 9, 0, 5)
    weeks = leaderboard.periods_between("week", local(2026, 2, 25, 12), now, settings)
    assert weeks == [("w2026-09", local(2026, 3, 2)), ("w2026-10", local(2026, 3, 9))]
    months = leaderboard.periods_between("month", local(2025, 12, 31, 23), now, settings)
    assert [k for k, _ in months] == ["m2025-12", "m2026-01", "m2026-02"]
    # An instant on a boundary belongs to the period it starts.
    days = leaderboard.periods_between("day", local(2026, 3, 8), now, settings)
    assert days == [("d2026-03-08", local(2026, 3, 9))]
    assert leaderboard.period_of("w2026-10") == ("week", date(2026, 3, 2))
    assert leaderboard.period_of("m2026-12") == ("month", date(2026, 12, 1))
