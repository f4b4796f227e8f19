"""The scheduler's jobs racing members in another process: expiry against spends, hold
expiry against captures. Each point ends in exactly one place, and the books verify."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta

from server.core import adjustments, checkout, expiry, members
from server.core.accounts import AccountKind, wallet
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store.db import write_transaction
from server.store.models import Checkout, LedgerTransaction

MEMBERS = 20
SETTINGS = ProgramSettings(
    points_expire_days=30, redeem_points=100, redeem_amount="1.00", currency="CNY"
)


def _job(url, barrier, results, job, at, targets):
    """One process: a job (the scheduler's, or members' requests in threads) at `at`."""
    from server.core.errors import DomainError
    from server.store.db import bind, open_database

    db = bind(open_database(url))

    def one(target):
        barrier.wait(timeout=60)
        try:
            with db.connection_context():
                if job == "expire":
                    results.put(("expired", expiry.expire_due(at)))
                elif job == "expire-holds":
                    results.put(("expired", checkout.expire_holds(at)))
                elif job == "spend":
                    with write_transaction():
                        adjustments.adjust(
                            target, -100, "spend", actor="t", now=at, settings=SETTINGS
                        )
                    results.put(("spent", target))
                else:
                    with write_transaction():
                        checkout.capture(target, now=at)
                    results.put(("captured", target))
        except DomainError as exc:
            results.put(("refused", exc.code.value))
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results.put(("crash", repr(exc)))

    threads = [threading.Thread(target=one, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close_all()


def race(db_url, first, second):
    """Run two jobs, each (job, at, targets), in two processes at once; all results."""
    ctx = multiprocessing.get_context("spawn")
    parties = len(first[2]) + len(second[2])
    barrier, results = ctx.Barrier(parties), ctx.Queue()
    procs = [ctx.Process(target=_job, args=(db_url, barrier, results, *j)) for j in (first, second)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in range(parties)]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert [r for r in out if r[0] == "crash"] == []
    return out


def funded(clock, points=100):
    ids = []
    with write_transaction():
        for i in range(MEMBERS):
            m = members.upsert(f"m{i}", now=clock.now()).member
            adjustments.adjust(m.id, points, "seed", actor="t", now=clock.now(), settings=SETTINGS)
            ids.append(m.id)
    return ids


def test_expiry_and_spends_never_both_take_a_point(db, db_url, clock):
    ids = funded(clock)
    due = clock.now() + timedelta(days=31)
    db.close()
    out = race(db_url, ("expire", due, [None]), ("spend", due, ids))
    spent = [r for r in out if r[0] == "spent"]
    refused = [r for r in out if r[0] == "refused"]
    (expired,) = [r[1] for r in out if r[0] == "expired"]
    assert len(spent) + len(refused) == MEMBERS
    assert {r[1] for r in refused} <= {"INSUFFICIENT_POINTS"}
    # Every member's 100 points went exactly one way: spent or expired.
    assert expired == 100 * len(refused)
    assert [wallet(m, AccountKind.AVAILABLE).balance for m in ids] == [0] * MEMBERS
    assert [str(p) for p in verify().problems] == []


def test_a_hold_is_captured_or_expires_never_both(db, db_url, clock):
    ids = funded(clock)
    start = clock.now()
    with write_transaction():
        orders = [
            checkout.hold(
                f"order-{m}", m, 40, checkout.Decimal("100.00"), "CNY", now=start, settings=SETTINGS
            )[0].order_id
            for m in ids
        ]
    db.close()
    ttl = checkout.hold_ttl()
    out = race(
        db_url,
        ("expire-holds", start + ttl + timedelta(minutes=1), [None]),
        ("capture", start + ttl - timedelta(minutes=1), orders),
    )
    captured = {r[1] for r in out if r[0] == "captured"}
    (expired,) = [r[1] for r in out if r[0] == "expired"]
    assert len(captured) + expired == MEMBERS
    statuses = {row.order_id: row.status for row in Checkout.select()}
    assert statuses == {o: "captured" if o in captured else "expired" for o in orders}
    for m, order in zip(ids, orders, strict=True):
        spent = 40 if order in captured else 0
        assert wallet(m, AccountKind.AVAILABLE).balance == 100 - spent
        assert wallet(m, AccountKind.HELD).balance == 0
    assert LedgerTransaction.select().where(
        LedgerTransaction.kind == "checkout_capture"
    ).count() == len(captured)
    assert [str(p) for p in verify().problems] == []
