"""Many members racing for the last unit, the last prize, the last of a budget."""

from __future__ import annotations

import multiprocessing
import threading

from server.core import adjustments, catalog, lottery, members
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store.db import bind, open_database, write_transaction
from server.store.models import CatalogItem, Draw, Lottery, LotteryPrize

RACERS = 20


def _worker(url, barrier, results, job, target, member_ids):
    from datetime import UTC, datetime

    from server.core.errors import DomainError

    db = bind(open_database(url))

    def one(member_id):
        barrier.wait(timeout=60)
        now = datetime.now(UTC)
        try:
            with db.connection_context(), write_transaction():
                if job == "redeem":
                    catalog.redeem(member_id, target, 1, now=now, settings=ProgramSettings())
                else:
                    lottery.draw(target, member_id, now=now, settings=ProgramSettings())
            results.put(("ok", member_id))
        except DomainError as exc:
            results.put(("error", exc.code.value))
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results.put(("crash", repr(exc)))

    threads = [threading.Thread(target=one, args=(m,)) for m in member_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close_all()


def race(db_url, job, target, ids):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(ids))
    results = ctx.Queue()
    halves = [ids[::2], ids[1::2]]
    procs = [
        ctx.Process(target=_worker, args=(db_url, barrier, results, job, target, half))
        for half in halves
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in ids]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert [r for r in out if r[0] == "crash"] == []
    return out


def funded_members(clock, n=RACERS):
    ids = []
    with write_transaction():
        for i in range(n):
            m = members.upsert(f"racer{i}", now=clock.now()).member
            adjustments.adjust(
                m.id, 1000, "seed", actor="t", now=clock.now(), settings=ProgramSettings()
            )
            ids.append(m.id)
    return ids


def test_the_last_unit_goes_to_exactly_one_member(db, db_url, clock):
    ids = funded_members(clock)
    with write_transaction():
        item = catalog.create_item(
            catalog.ItemInput(title="Last one", points_price=100, stock=1), now=clock.now()
        )
    db.close()
    out = race(db_url, "redeem", item.id, ids)
    assert sum(1 for r in out if r[0] == "ok") == 1
    assert sorted(r[1] for r in out if r[0] == "error") == ["OUT_OF_STOCK"] * (RACERS - 1)
    assert CatalogItem.get_by_id(item.id).stock == 0
    assert verify().ok


def test_prize_stock_and_lottery_budget_are_never_exceeded(db, db_url, clock):
    ids = funded_members(clock)
    with write_transaction():
        stocked = lottery.create(
            lottery.LotteryInput(
                title="Stock",
                cost=5,
                prizes=[lottery.PrizeInput("points", "Five left", 1, points=10, stock=5)],
            ),
            now=clock.now(),
        )
        budgeted = lottery.create(
            lottery.LotteryInput(
                title="Budget",
                cost=5,
                budget=30,
                prizes=[lottery.PrizeInput("points", "Ten", 1, points=10)],
            ),
            now=clock.now(),
        )
    db.close()
    for lot_id, wins in ((stocked.id, 5), (budgeted.id, 3)):
        out = race(db_url, "draw", lot_id, ids)
        assert sum(1 for r in out if r[0] == "ok") == wins
        assert {r[1] for r in out if r[0] == "error"} == {"LOTTERY_SOLD_OUT"}
        assert Draw.select().where(Draw.lottery == lot_id).count() == wins
    assert LotteryPrize.get(LotteryPrize.label == "Five left").stock == 0
    assert Lottery.get_by_id(budgeted.id).budget_spent == 30
    assert verify().ok
