"""Board periods missed while the scheduler was down are paid when it comes back: every
one, oldest first, once, however many processes close them at the same moment."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dsl
from server.core import events, leaderboard, members, program, rules
from server.core.tick import tick
from server.core.verify import verify
from server.store.db import write_transaction
from server.store.models import LedgerTransaction, PeriodPayout

SHANGHAI = ZoneInfo("Asia/Shanghai")
BOARD = "\n  every week top 2 by messages award 50, 30"
RULES = """program "club" {
  timezone "Asia/Shanghai"
}
campaign "speak" "Speak up" {%s
  every week top 2 by messages award 50, 30
}
"""


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


MONDAY = local(2026, 3, 2, 9)  # week 10 of 2026


def publish(clock, extra: str = "", source: str = RULES) -> None:
    with write_transaction():
        rules.publish([("speak.rules", source.replace("%s", extra))], now=clock.now(), actor="t")


def talk(clock, weeks: int, start: datetime = MONDAY) -> list[int]:
    """Three members; in each week, member i sends i + 1 messages (m2 wins, m1 second)."""
    settings = program.load()
    with write_transaction():
        ids = [members.upsert(f"m{i}", now=start).member.id for i in range(3)]
    for week in range(weeks):
        for i, member in enumerate(ids):
            for n in range(i + 1):
                at = start + timedelta(weeks=week, hours=n, minutes=i)
                with write_transaction():
                    events.record(
                        member, "message", now=at, settings=settings, attributes={"length": 9}
                    )
    return ids


def prizes() -> list[tuple[str, int, int]]:
    """(period, member, points) of every prize paid, in the order they were paid."""
    out = []
    for txn in LedgerTransaction.select().where(LedgerTransaction.kind == "leaderboard"):
        points = sum(p.amount for p in txn.postings if p.member_id)
        out.append((txn.reason.split(" rank")[0], txn.member_id, points))
    return out


def test_a_three_week_outage_pays_all_three_weekly_boards_once_oldest_first(db, clock):
    clock.set(MONDAY)
    publish(clock)
    m0, m1, m2 = talk(clock, weeks=4)
    assert tick(local(2026, 3, 9, 0, 5)).periods_paid == 1  # week 10, on time
    # The scheduler is down from then until Monday 30 March: weeks 11, 12 and 13 closed.
    report = tick(local(2026, 3, 30, 0, 5))
    assert [(c.period, c.points) for c in report.closings] == [
        ("w2026-11", 80),
        ("w2026-12", 80),
        ("w2026-13", 80),
    ]
    assert "paid speak week 2026-11 (speak.rules:5): 80 points to 2 members" in str(report)
    assert prizes() == [
        (f"week 2026-{week}", member, points)
        for week in (10, 11, 12, 13)
        for member, points in ((m2, 50), (m1, 30))
    ]
    assert tick(local(2026, 3, 30, 0, 10)).closings == ()
    assert tick(local(2026, 4, 6, 0, 5)).periods_paid == 0  # week 14: nobody spoke
    assert PeriodPayout.select().count() == 5
    assert verify().ok


def test_periods_before_the_rule_was_published_are_not_paid(db, clock):
    clock.set(MONDAY)
    publish(clock, "\n  message award 1", source=RULES.replace(BOARD, ""))
    talk(clock, weeks=4)
    assert tick(local(2026, 3, 16, 12)).closings == ()
    # The board arrives on Wednesday of week 12: weeks 10 and 11 had no board to pay,
    # and the scheduler is down until week 14.
    clock.set(local(2026, 3, 18, 12))
    publish(clock, "\n  message award 1")
    report = tick(local(2026, 4, 1, 12))
    assert [(c.period, c.points) for c in report.closings] == [("w2026-12", 80), ("w2026-13", 80)]


def test_a_period_the_budget_cannot_pay_is_reported(db, clock):
    clock.set(MONDAY)
    publish(clock, "\n  budget 100 points")
    talk(clock, weeks=2)
    report = tick(local(2026, 3, 16, 0, 5))
    assert [(c.period, c.points, c.due) for c in report.closings] == [
        ("w2026-10", 80, 80),
        ("w2026-11", 20, 80),
    ]
    text = str(report)
    assert (
        "could not pay speak week 2026-11 (speak.rules:6) in full: the budget ran out; "
        "20 of 80 points paid" in text
    )
    assert tick(local(2026, 3, 16, 0, 10)).closings == ()  # reported once, never paid twice


def _close(url, at_iso, start, results):
    from server.core import program as program_module
    from server.store.db import bind, open_database

    db = bind(open_database(url))
    with db.connection_context():
        settings = program_module.load()
        start.wait(timeout=60)
        closings = leaderboard.close_periods(datetime.fromisoformat(at_iso), settings)
        results.put([(c.period, c.points) for c in closings])
    db.close_all()


def test_two_processes_catching_up_at_once_pay_each_period_once(db, db_url, clock):
    clock.set(MONDAY)
    publish(clock)
    talk(clock, weeks=3)
    db.close()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    after = local(2026, 3, 23, 0, 5)
    procs = [
        ctx.Process(target=_close, args=(db_url, after.isoformat(), start, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    reported = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    paid = sorted(c for r in reported for c in r)
    assert paid == [("w2026-10", 80), ("w2026-11", 80), ("w2026-12", 80)]
    assert len(prizes()) == 6
    assert PeriodPayout.select().count() == 3
    assert verify().ok


DRAFT = """program "club" {
  timezone "Asia/Shanghai"
}
campaign "prizes" {
  every week top 2 by messages award 50, 30
  every week top 5 by messages award 10
}
"""


def test_a_draft_prices_ended_periods_from_their_boards_and_the_rest_at_most(db, clock):
    clock.set(MONDAY)
    publish(clock)
    talk(clock, weeks=2)  # weeks 10 and 11: three members on each board
    compiled, _ = dsl.load([("prizes.rules", DRAFT)], today=MONDAY.date())
    priced = leaderboard.price_closes(
        compiled.campaigns.values(),
        MONDAY,
        local(2026, 3, 30),
        now=local(2026, 3, 17, 12),  # weeks 12 and 13 have not ended
        settings=program.load(),
    )
    assert [(p.label, p.points, p.ended) for p in priced] == [
        ("prizes week 2026-10 (prizes.rules:5)", 80, True),
        ("prizes week 2026-11 (prizes.rules:5)", 80, True),
        ("prizes week 2026-12 (prizes.rules:5)", 80, False),
        ("prizes week 2026-13 (prizes.rules:5)", 80, False),
        ("prizes week 2026-10 (prizes.rules:6)", 30, True),  # three of five places
        ("prizes week 2026-11 (prizes.rules:6)", 30, True),
        ("prizes week 2026-12 (prizes.rules:6)", 50, False),  # all five, at most
        ("prizes week 2026-13 (prizes.rules:6)", 50, False),
    ]
    assert PeriodPayout.select().count() == 0  # priced, not paid
