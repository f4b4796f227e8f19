"""Benchmark 8: PostgreSQL, 16 clients, every award from one budgeted campaign.

Each of 16 concurrent clients records `ping` events for its own member through
`eventRecord`; one campaign awards 2 points per ping from a budget set to 3/4 of what
all the pings would earn, so the budget runs out during the run. Measured for one and
for two server processes (the clients split between them), with the budget kept on one
row (`JIFEN_BUDGET_SHARES=1`, the design before) and in 16 shares (the default):
  - requests per second (median of the runs);
  - lock waits: how many backends of the benchmark's database wait on a lock
    (`wait_event_type = 'Lock'` in pg_stat_activity), sampled every 5 ms;
  - exactness: the campaign spent exactly its budget, and its issuance account agrees.

    .venv/bin/python -m bench.contention [--requests 4000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench import databases, report, servers
from bench.load import drive

CLIENTS = 16
POINTS = 2
RECORD = """mutation($m: ID!, $k: String!, $at: DateTime!) { eventRecord(input: {memberId: $m,
  type: "ping", idempotencyKey: $k, occurredAt: $at}) { userErrors { code message } } }"""


def rules_text(budget: int) -> str:
    return (
        "event ping\n"
        'campaign "launch" "Launch" {\n'
        f"  budget {budget} points\n"
        f"  ping award {POINTS}\n"
        "}\n"
    )


def prepare(url: str, rules_dir: Path, shares: int) -> str:
    import os

    os.environ["JIFEN_BUDGET_SHARES"] = str(shares)
    import dsl
    from server.core import auth, budgets, rules
    from server.core import members as core_members
    from server.store import migrate
    from server.store.db import bind, open_database, write_transaction

    budgets.SHARES = shares  # this process may have imported budgets already
    db = bind(open_database(url))
    migrate.upgrade(db)
    now = datetime.now(UTC) - timedelta(minutes=2)
    with write_transaction():
        rules.publish(dsl.read_directory(rules_dir), now=now, actor="bench")
        for i in range(CLIENTS):
            core_members.upsert(f"m{i}", now=now)
        _, key = auth.create_key(auth.Role.SERVICE, "bench", now=now)
    db.close_all()
    return key


class LockSampler:
    """Counts backends of one database waiting on a lock, every few milliseconds."""

    def __init__(self, url: str, database: str) -> None:
        self.connection = psycopg.connect(url, autocommit=True)
        self.database = database
        self.samples: list[int] = []
        self.waiting_on: Counter = Counter()  # statement -> samples it was seen waiting
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rows = self.connection.execute(
                "SELECT left(query, 60) FROM pg_stat_activity "
                "WHERE datname = %s AND wait_event_type = 'Lock'",
                (self.database,),
            ).fetchall()
            self.samples.append(len(rows))
            self.waiting_on.update(r[0] for r in rows)
            time.sleep(0.005)

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.connection.close()


def check_exact(url: str, budget: int) -> str:
    from server.core import accounts, budgets
    from server.core.accounts import AccountKind
    from server.core.verify import verify
    from server.store.db import bind, open_database

    db = bind(open_database(url))
    spent = budgets.spent("launch")
    issued = -accounts.balance(accounts.program_account(AccountKind.ISSUANCE, "launch"))
    ok = verify().ok
    db.close_all()
    if spent != budget or issued != budget or not ok:
        raise RuntimeError(f"budget {budget}: spent {spent}, issued {issued}, verify {ok}")
    return "exact"


def run(requests: int, processes: int, shares: int) -> tuple[float, float, float]:
    """(requests/s, mean backends waiting on locks, share of samples with any waiting)."""
    budget = requests * POINTS * 3 // 4
    with (
        tempfile.TemporaryDirectory() as tmp,
        databases.scratch("postgres", Path(tmp), "contention") as url,
    ):
        rules_dir = Path(tmp) / "rules"
        rules_dir.mkdir()
        (rules_dir / "launch.rules").write_text(rules_text(budget))
        key = prepare(url, rules_dir, shares)
        env = {"JIFEN_BUDGET_SHARES": str(shares)}
        ports = [servers.free_port() for _ in range(processes)]
        procs = [servers.jifen(url, port, rules=rules_dir, env=env) for port in ports]
        start = datetime.now(UTC) - timedelta(minutes=1)
        bodies = [
            {
                "query": RECORD,
                "variables": {
                    "m": f"mbr_{n % CLIENTS + 1}",
                    "k": f"p{n}",
                    "at": (start + timedelta(microseconds=n)).isoformat(),
                },
            }
            for n in range(requests)
        ]
        try:
            with LockSampler(url, url.rsplit("/", 1)[1]) as sampler:
                result = drive(
                    [f"http://127.0.0.1:{port}/graphql" for port in ports],
                    bodies,
                    headers={"authorization": f"Bearer {key}"},
                    concurrency=CLIENTS,
                    ok=lambda b: "errors" not in b and not b["data"]["eventRecord"]["userErrors"],
                    lanes=True,
                )
        finally:
            for proc in procs:
                servers.stop(proc)
        if result.errors:
            raise RuntimeError(f"{result.errors} requests failed: {result.first_error[:500]}")
        check_exact(url, budget)
    if os.environ.get("JIFEN_BENCH_LOG"):
        print(
            f"{processes} proc, {shares} shares: {sampler.waiting_on.most_common(4)}",
            file=sys.stderr,
        )
    samples = sampler.samples or [0]
    waiting = statistics.mean(samples)
    busy = sum(1 for s in samples if s) / len(samples)
    return result.rate, waiting, busy


def measure(requests: int, runs: int) -> list[tuple[str, str, str, str]]:
    configs = [(1, 1), (1, 2), (16, 1), (16, 2)]  # (shares, processes)
    figures: dict[tuple[int, int], list[tuple[float, float, float]]] = {c: [] for c in configs}
    for _ in range(runs):
        for shares, processes in configs:
            figures[shares, processes].append(run(requests, processes, shares))
    med = {c: tuple(statistics.median(f[i] for f in figures[c]) for i in range(3)) for c in configs}
    base = med[1, 1][0]
    rows = []
    for shares, processes in configs:
        rate, waiting, busy = med[shares, processes]
        layout = "one budget row" if shares == 1 else f"{shares} budget shares"
        target = {(16, 2): f">= {med[16, 1][0] / base:.2f}", (1, 1): "baseline"}.get(
            (shares, processes), "reported"
        )
        rows.append(
            (
                f"PG {CLIENTS} clients, {processes} proc, {layout}",
                f"{rate:,.0f} req/s",
                f"{rate / base:.2f}",
                target,
            )
        )
        rows.append(
            (
                "  lock waits: mean backends / time any",
                f"{waiting:.2f} / {busy:.0%}",
                "",
                "exact budget",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    report.show(measure(args.requests, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
