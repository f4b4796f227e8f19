"""Benchmark 10: re-evaluating the levels of 1,000,000 members, PostgreSQL and SQLite.

A scratch database gets the ladder of the demo rules (points earned in the last 365
days; silver, gold, black) and N members, each with one award (its transaction, posting
and lot) spread over the last 365 days, written set-based in SQL (generate_series / a
recursive CTE). The figure is the
scheduler's first run (`level_job.tick`): every member is evaluated — figures, levels,
history rows, level rows, each one statement. A second row is the next day's run, which
touches only the members whose award left the window. The baseline, measured in the same
run on the same database, is the bare aggregate of every member's points in the window
(`SELECT member_id, SUM(amount) ... GROUP BY member_id`): the floor of reading the
figures at all. Target: 1,000,000 members within 10 minutes on PostgreSQL.

    .venv/bin/python -m bench.levels [--members 1000000] [--databases postgres,sqlite]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import databases, report

TARGET_SECONDS = 600.0
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
RULES = """program "bench" {
  timezone "Asia/Shanghai"
}
levels "Member levels" {
  qualify by points earned in last 365 days
  level "silver" at 1000
  level "gold" at 5000 multiply 1.2
  level "black" at 20000 multiply 1.5
  keep for 30 days after falling short
  fall one level at a time
}
campaign "daily" "Daily" {
  checkin award 2
}
"""


def fill(url: str, members: int) -> None:
    """Migrate, publish, and write N members with a wallet and one award each, in SQL."""
    from server.core import rules
    from server.store import migrate
    from server.store.db import bind, database, is_postgres, open_database, write_transaction

    db = bind(open_database(url))
    migrate.upgrade(db)
    with write_transaction():
        rules.publish([("bench.rules", RULES)], now=NOW - timedelta(days=500), actor="bench")
    pg = is_postgres()
    series = (
        f"SELECT generate_series(1, {members}) AS i"
        if pg
        else f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {members})"
        " SELECT i FROM s"
    )
    # An award i minutes before NOW, spread over the 365 days of the window.
    spread = 365 * 24 * 60
    if pg:
        at = f"TIMESTAMP '{NOW.replace(tzinfo=None)}' - (i % {spread}) * INTERVAL '1 minute'"
    else:
        at = (
            f"strftime('%Y-%m-%d %H:%M:%f000', '{NOW.replace(tzinfo=None)}', "
            f"'-' || (i % {spread}) || ' minutes')"
        )
    amount = "(i * 37) % 25000 + 1"
    stamp = f"'{NOW.replace(tzinfo=None)}'"
    statements = [
        f"INSERT INTO member (id, external_id, created_at, updated_at) "
        f"SELECT i, 'm' || i, {stamp}, {stamp} FROM ({series}) s",
        f"INSERT INTO account (id, key, kind, member_id, balance, slots) "
        f"SELECT i + 1000, 'available:' || i, 'available', i, {amount}, 1 FROM ({series}) s",
        f"INSERT INTO ledger_transaction (id, kind, member_id, created_at, campaign) "
        f"SELECT i, 'award', i, {at}, 'daily' FROM ({series}) s",
        f"INSERT INTO posting (id, txn_id, account_id, amount, member_id, created_at) "
        f"SELECT i, i, i + 1000, {amount}, i, {at} FROM ({series}) s",
        f"INSERT INTO lot (id, member_id, posting_id, amount, remaining, earned_at) "
        f"SELECT i, i, i, {amount}, {amount}, {at} FROM ({series}) s",
    ]
    with write_transaction():
        for text in statements:
            database.execute_sql(text.replace("%", "%%") if pg else text)
    if pg:
        database.execute_sql("ANALYZE")
    else:
        database.execute_sql("ANALYZE")
    db.close_all()


def evaluate(url: str, at: datetime) -> tuple[float, int, int]:
    from server.core import level_job
    from server.store.db import bind, open_database

    db = bind(open_database(url))
    began = time.perf_counter()
    with db.connection_context():
        done = level_job.tick(at)
    seconds = time.perf_counter() - began
    db.close_all()
    return seconds, done.evaluated, done.changed


def baseline(url: str) -> float:
    from server.store.db import bind, open_database

    db = bind(open_database(url))
    start = NOW - timedelta(days=365)
    began = time.perf_counter()
    with db.connection_context():
        db.execute_sql(
            "SELECT member_id, SUM(amount) FROM lot WHERE earned_at >= %s "
            "GROUP BY member_id".replace("%s", "?" if url.startswith("sqlite") else "%s"),
            (start.replace(tzinfo=None) if not url.startswith("sqlite") else str(start)[:19],),
        ).fetchall()
    seconds = time.perf_counter() - began
    db.close_all()
    return seconds


NAMES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}


def measure(members: int, kinds: list[str]) -> list[report.Row]:
    rows: list[report.Row] = []
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp, databases.scratch(kind, Path(tmp), "lv") as url:
            began = time.perf_counter()
            fill(url, members)
            prepared = time.perf_counter() - began
            floor = baseline(url)
            seconds, evaluated, changed = evaluate(url, NOW)
            later, moved, dropped = evaluate(url, NOW + timedelta(days=1))
        rows += [
            (
                f"levels: evaluate {evaluated:,} members, {NAMES[kind]}",
                f"{seconds:.1f} s ({evaluated / seconds:,.0f}/s)",
                f"{seconds / floor:.1f}",
                f"<= {TARGET_SECONDS * members / 1_000_000:.0f} s",
            ),
            (f"  {changed:,} levels set; filled in {prepared:.0f} s", "", "", "reported"),
            (
                f"  next day: {moved:,} windows moved, {dropped:,} changed",
                f"{later:.2f} s",
                f"{later / floor:.2f}",
                "reported",
            ),
            ("  SUM of points by member (baseline)", f"{floor:.2f} s", "1.0", "baseline"),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--databases", default="postgres,sqlite")
    args = parser.parse_args(argv)
    report.show(measure(args.members, args.databases.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
