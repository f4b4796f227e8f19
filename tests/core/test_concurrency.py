"""Concurrent writers from two processes: no overdraft, one effect per idempotency key."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from server.core import accounts, adjustments, idempotency, members
from server.core.accounts import AccountKind
from server.core.errors import DomainError
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store.db import bind, open_database, write_transaction
from server.store.models import LedgerTransaction

PROCESSES = 2
THREADS = 10


def _worker(url, barrier, results, member_id, points, key):
    """One process: THREADS threads that wait for every other thread, then adjust at once."""
    from datetime import UTC, datetime

    db = bind(open_database(url))

    def one(i):
        now = datetime.now(UTC)

        def work():
            return adjustments.adjust(
                member_id, points, "race", actor="t", now=now, settings=ProgramSettings()
            ).id

        barrier.wait(timeout=60)
        try:
            with db.connection_context():
                if key:
                    outcome = idempotency.run_once(
                        "key:test", key, "pointsAdjust", {"p": points}, now, work
                    )
                    results.put(("ok", outcome.result_id))
                else:
                    with write_transaction():
                        results.put(("ok", work()))
        except DomainError as exc:
            results.put(("error", exc.code.value))
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results.put(("crash", repr(exc)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close_all()


def race(db_url, member_id, points, key=None):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES * THREADS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(db_url, barrier, results, member_id, points, key))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in range(PROCESSES * THREADS)]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert [r for r in out if r[0] == "crash"] == []
    return out


@pytest.fixture
def funded(db, clock):
    with write_transaction():
        member = members.upsert("racer", now=clock.now()).member
        adjustments.adjust(
            member.id, 1000, "seed", actor="t", now=clock.now(), settings=ProgramSettings()
        )
    return member


def test_twenty_concurrent_debits_of_100_from_1000_leave_exactly_zero(db, db_url, funded):
    out = race(db_url, funded.id, -100)
    assert sorted(r[0] for r in out).count("ok") == 10
    assert sorted(r[1] for r in out if r[0] == "error") == ["INSUFFICIENT_POINTS"] * 10
    db.close()
    assert accounts.wallet(funded.id, AccountKind.AVAILABLE).balance == 0
    assert verify().ok


def test_twenty_concurrent_requests_with_one_key_make_one_transaction(db, db_url, funded):
    out = race(db_url, funded.id, 10, key="one-key")
    assert {r for r in out} == {("ok", out[0][1])}
    db.close()
    assert LedgerTransaction.select().count() == 2  # the seed and exactly one adjustment
    assert accounts.wallet(funded.id, AccountKind.AVAILABLE).balance == 1010
    assert verify().ok


def _checkin_worker(url, barrier, results, member_ids):
    from datetime import UTC, datetime

    from server.core import events, program

    db = bind(open_database(url))

    def one(member_id):
        barrier.wait(timeout=60)
        try:
            with db.connection_context(), write_transaction():
                now = datetime.now(UTC)
                event = events.record(member_id, "checkin", now=now, settings=program.load())
            results.put(("ok", event.id))
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results.put(("crash", repr(exc)))

    threads = [threading.Thread(target=one, args=(m,)) for m in member_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close_all()


def test_a_budget_is_exact_under_concurrent_awards(db, db_url, clock):
    from server.core import budgets, rules

    with write_transaction():
        rules.publish(
            [("t.rules", 'campaign "tiny" {\n budget 51 points\n checkin award 2\n}')],
            now=clock.now(),
            actor="t",
        )
        ids = [members.upsert(f"m{i}", now=clock.now()).member.id for i in range(40)]
    db.close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(ids))
    results = ctx.Queue()
    halves = [ids[: len(ids) // 2], ids[len(ids) // 2 :]]
    procs = [
        ctx.Process(target=_checkin_worker, args=(db_url, barrier, results, half))
        for half in halves
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in ids]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert [r for r in out if r[0] == "crash"] == []
    issued = -accounts.balance(accounts.program_account(AccountKind.ISSUANCE, "tiny"))
    assert issued == 51
    assert budgets.spent("tiny") == 51 and budgets.left("tiny") == 0
    awards = sorted(accounts.wallet(i, AccountKind.AVAILABLE).balance for i in ids)
    assert awards.count(2) == 25 and awards.count(1) == 1 and sum(awards) == 51
    assert verify().ok
