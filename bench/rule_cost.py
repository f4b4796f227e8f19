"""Per-event rule cost with many campaigns on other event types, against none.

The engine indexes compiled rules by event type, so a check-in or message should cost
the same whether 0 or 1,000 campaigns listen to other events. Both setups record the
same events through the core (counters, rules, ledger, one transaction per event) on a
fresh SQLite database; each is measured several times, alternating, and the medians
are compared.

    .venv/bin/python -m bench.rule_cost [--campaigns 1000] [--events 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.core import events, members, program, rules
from server.store import migrate
from server.store.db import bind, open_database, write_transaction

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.10  # at most 10% slower with the extra campaigns


def other_campaigns(n: int) -> str:
    lines = [f"event other{i}" for i in range(n)]
    for i in range(n):
        lines += [
            f'campaign "other-{i}" {{',
            f"  other{i} award 1 limit 3 per day",
            f"  other{i} tier >=2 award 5",
            "}",
        ]
    return "\n".join(lines) + "\n"


def setup(directory: Path, extra: int) -> tuple[object, list[int], datetime]:
    db = bind(open_database(f"sqlite:///{directory / f'bench-{extra}.db'}"))
    migrate.upgrade(db)
    start = datetime(2026, 3, 2, 1, tzinfo=UTC)
    files = [(str(p), p.read_text()) for p in sorted((ROOT / "rules").glob("*.rules"))]
    files.append(("others.rules", other_campaigns(extra)))
    with write_transaction():
        rules.publish(files, now=start, actor="bench")
        ids = [members.upsert(f"m{i}", now=start, community="fans").member.id for i in range(50)]
    rules.book.at(start)  # compile once, outside the measurement
    return db, ids, start


def run(db, ids: list[int], start: datetime, n: int, offset: int) -> float:
    """Seconds per event for n events (check-ins and messages)."""
    bind(db)
    settings = program.load()
    rules.book.at(start)  # both setups share the process's rule book: load it untimed
    at = start + timedelta(days=offset)
    began = time.perf_counter()
    for i in range(n):
        member = ids[i % len(ids)]
        at += timedelta(seconds=1)
        with write_transaction():
            if i < len(ids):
                events.record(member, "checkin", now=at, occurred_at=at, settings=settings)
            else:
                events.record(
                    member,
                    "message",
                    now=at,
                    occurred_at=at,
                    settings=settings,
                    attributes={"length": 10 + i % 7},
                )
    return (time.perf_counter() - began) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = setup(Path(tmp), 0)
        many = setup(Path(tmp), args.campaigns)
        times = {0: [], args.campaigns: []}
        for r in range(args.runs):
            for extra, (db, ids, start) in ((0, base), (args.campaigns, many)):
                times[extra].append(run(db, ids, start, args.events, offset=r))
        for db, _, _ in (base, many):
            db.close_all()
    baseline = statistics.median(times[0])
    loaded = statistics.median(times[args.campaigns])
    ratio = round(loaded / baseline, 2)  # judged as printed
    print(f"{'benchmark':<44} {'figure':>14} {'ratio':>7} {'target':>8}")
    print(
        f"{'per-event cost, no other campaigns':<44} {baseline * 1e6:>11.0f} us "
        f"{1.0:>7.2f} {'baseline':>8}"
    )
    print(
        f"{f'per-event cost, {args.campaigns} other campaigns':<44} "
        f"{loaded * 1e6:>11.0f} us {ratio:>7.2f} {f'<= {TARGET:.2f}':>8}"
    )
    print(f"(medians of {args.runs} runs of {args.events} events each; SQLite)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
