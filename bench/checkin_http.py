"""Benchmark 1: `checkinRecord` over HTTP with the demo rules, against the naive baseline.

Both servers run on SQLite in processes of their own; this process drives them with 16
concurrent connections, each request a check-in of a different member. Medians of the
runs are compared: requests per second (target: at least 3x the baseline) and p99.

    .venv/bin/python -m bench.checkin_http [--requests 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench import report, servers
from bench.load import drive

TARGET = 3.0
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { userErrors { code } } }"""
BASELINE = "mutation($m: Int!, $k: String!) { checkinRecord(memberId: $m, idempotencyKey: $k) }"


def prepare_jifen(path: Path, members: int) -> str:
    import dsl
    from server.core import auth, rules
    from server.core import members as core_members
    from server.store import migrate
    from server.store.db import bind, open_database, write_transaction

    db = bind(open_database(f"sqlite:///{path}"))
    migrate.upgrade(db)
    now = datetime.now(UTC)
    with write_transaction():
        rules.publish(dsl.read_directory(servers.ROOT / "rules"), now=now, actor="bench")
        for i in range(members):
            core_members.upsert(f"m{i}", now=now, community="fans")
        _, key = auth.create_key(auth.Role.SERVICE, "bench", now=now)
    db.close_all()
    return key


def run_jifen(tmp: Path, requests: int) -> tuple[float, float]:
    path = tmp / "jifen.db"
    key = prepare_jifen(path, requests)
    port = servers.free_port()
    proc = servers.jifen(f"sqlite:///{path}", port)
    try:
        bodies = [
            {"query": CHECKIN, "variables": {"m": f"mbr_{i + 1}", "k": f"c{i}"}}
            for i in range(requests)
        ]
        result = drive(
            f"http://127.0.0.1:{port}/graphql",
            bodies,
            headers={"authorization": f"Bearer {key}"},
            ok=lambda b: "errors" not in b and not b["data"]["checkinRecord"]["userErrors"],
        )
    finally:
        servers.stop(proc)
    if result.errors:
        raise RuntimeError(f"jifen: {result.errors} failed requests")
    return result.rate, result.p99_ms


def run_baseline(tmp: Path, requests: int) -> tuple[float, float]:
    from bench.baseline import app as baseline

    path = tmp / "baseline.db"
    baseline.prepare(str(path), requests)
    port = servers.free_port()
    proc = servers.start([sys.executable, "-m", "bench.baseline.app", str(port), str(path)], port)
    try:
        bodies = [
            {"query": BASELINE, "variables": {"m": i + 1, "k": f"c{i}"}} for i in range(requests)
        ]
        result = drive(f"http://127.0.0.1:{port}/graphql", bodies)
    finally:
        servers.stop(proc)
    if result.errors:
        raise RuntimeError(f"baseline: {result.errors} failed requests")
    return result.rate, result.p99_ms


def measure(requests: int, runs: int) -> list[tuple[str, str, str, str]]:
    ours, base = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            base.append(run_baseline(Path(tmp), requests))
            ours.append(run_jifen(Path(tmp), requests))
    rate = statistics.median(r for r, _ in ours)
    base_rate = statistics.median(r for r, _ in base)
    p99 = statistics.median(p for _, p in ours)
    base_p99 = statistics.median(p for _, p in base)
    return [
        ("checkinRecord over HTTP, baseline", f"{base_rate:,.0f} req/s", "1.00", "baseline"),
        (
            "checkinRecord over HTTP, jifen",
            f"{rate:,.0f} req/s",
            f"{rate / base_rate:.2f}",
            f">= {TARGET:.1f}",
        ),
        (
            "checkinRecord p99, baseline / jifen",
            f"{base_p99:.1f} / {p99:.1f} ms",
            f"{p99 / base_p99:.2f}",
            "reported",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    report.show(measure(args.requests, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
