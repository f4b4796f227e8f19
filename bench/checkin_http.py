"""Benchmark 1: `checkinRecord` over HTTP with the demo rules, against the naive baseline,
and `{ __typename }` on both servers, in one run.

Both servers run on SQLite, one process each, started once. The four measures are
interleaved within each round — jifen check-in, baseline check-in, jifen `__typename`,
baseline `__typename` — so a slow moment of the machine falls on all of them; the figures
are the medians of the rounds. Load comes from wrk (`wrk -t1 -c8`, a Lua script gives each
check-in its own member and idempotency key) where it is installed, else from
bench/load.py with 8 connections. Printed: check-ins per second (target: at least 2.0x
the baseline), check-ins as a share of the same server's `__typename` rate (target: at
least 0.60), and the p99 of check-ins (target: not above the baseline's).

    .venv/bin/python -m bench.checkin_http [--seconds 10] [--rounds 3] [--python-client]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import report, servers, wrk
from bench.load import drive

TARGET = 2.0
SHARE_TARGET = 0.60
CONNECTIONS = 8
CAP = 3000  # check-ins per second a server could possibly reach: members to prepare
PYTHON_RATE = 150  # requests per second of a run with the Python client (a fixed count)
CHECKIN = """mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: $k}) { userErrors { code } } }"""
BASELINE = "mutation($m: Int!, $k: String!) { checkinRecord(memberId: $m, idempotencyKey: $k) }"
TYPENAME = "{ __typename }"


@dataclass(frozen=True)
class Figure:
    rate: float
    p99_ms: float


def prepare_jifen(path: Path, members: int) -> str:
    """A database with the demo rules and `members` members who joined just now (each
    checks in once: their first check-in, as a new member's); a service key."""
    import dsl
    from server.core import auth, rules
    from server.core import members as core_members
    from server.core.accounts import AccountKind
    from server.store import migrate
    from server.store.db import bind, database, open_database, write_transaction
    from server.store.sql import instant

    db = bind(open_database(f"sqlite:///{path}"))
    migrate.upgrade(db)
    now = datetime.now(UTC)
    with write_transaction():
        rules.publish(dsl.read_directory(servers.ROOT / "rules"), now=now, actor="bench")
        core_members.upsert("m0", now=now, community="fans")  # the join as the API does it
        _, key = auth.create_key(auth.Role.SERVICE, "bench", now=now)
    at = instant(now)
    # The rest in bulk, as `upsert` leaves a member who joined: the row, the membership,
    # the three wallets (tens of thousands, so not one by one).
    with write_transaction():
        cursor = database.obj.cursor()
        cursor.executemany(
            "INSERT INTO member (id, external_id, joined_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(i, f"m{i - 1}", at, at, at) for i in range(2, members + 1)],
        )
        cursor.executemany(
            "INSERT INTO membership (member_id, community, first_joined_at, joined_at) "
            "VALUES (?, 'fans', ?, ?)",
            [(i, at, at) for i in range(2, members + 1)],
        )
        cursor.executemany(
            "INSERT INTO account (key, kind, member_id, balance, slots) VALUES (?, ?, ?, 0, 1)",
            [
                (f"{kind.value}:{i}", kind.value, i)
                for i in range(2, members + 1)
                for kind in (AccountKind.AVAILABLE, AccountKind.PENDING, AccountKind.HELD)
            ],
        )
    db.close_all()
    return key


def run_baseline(tmp: Path, requests: int) -> tuple[float, float]:
    """The baseline's check-ins alone, `requests` of them from the Python client over 16
    connections: (per second, p99 ms). Benchmark 2 compares its batches with this."""
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


def measure(seconds: float, rounds: int, *, python_client: bool = False) -> list[report.Row]:
    use_wrk = wrk.available() and not python_client
    # Each check-in needs a member of its own (one check-in a day each).
    per_run = int((CAP if use_wrk else PYTHON_RATE) * seconds)
    members = per_run * rounds + 10
    with tempfile.TemporaryDirectory() as tmp:
        from bench.baseline import app as baseline

        jifen_db, baseline_db = Path(tmp) / "jifen.db", Path(tmp) / "baseline.db"
        key = prepare_jifen(jifen_db, members)
        baseline.prepare(str(baseline_db), members)
        ours_port, base_port = servers.free_port(), servers.free_port()
        ours = servers.jifen(f"sqlite:///{jifen_db}", ours_port)
        base = servers.start(
            [sys.executable, "-m", "bench.baseline.app", str(base_port), str(baseline_db)],
            base_port,
        )
        try:
            figures = _rounds(
                f"http://127.0.0.1:{ours_port}/graphql",
                f"http://127.0.0.1:{base_port}/graphql",
                key,
                seconds,
                rounds,
                per_run,
                use_wrk,
            )
        finally:
            servers.stop(ours)
            servers.stop(base)
    return _rows(figures, "wrk -t1 -c8" if use_wrk else "python client, 8 connections")


def _rounds(ours, base, key, seconds, rounds, per_run, use_wrk) -> dict[str, list[Figure]]:
    figures: dict[str, list[Figure]] = {name: [] for name in ("ours", "base", "ours0", "base0")}
    checkin = {
        "ours": (ours, CHECKIN, {"m": "mbr_@N@", "k": "c@N@"}, key, '"userErrors":[]'),
        "base": (base, BASELINE, {"m": "@N@#", "k": "c@N@"}, None, '"data":{"checkinRecord":'),
    }
    for n in range(rounds):
        first = n * per_run + 1  # members from 2 on: m0 (1) checked in nowhere
        for name, (url, query, variables, token, expect) in checkin.items():
            figures[name].append(
                _load(url, query, variables, token, expect, seconds, first, per_run, use_wrk)
            )
        for name, url, token in (("ours0", ours, key), ("base0", base, None)):
            figures[name].append(
                _load(url, TYPENAME, {}, token, '"__typename"', seconds, 0, per_run, use_wrk)
            )
    return figures


def _load(url, query, variables, token, expect, seconds, first, most, use_wrk) -> Figure:
    if use_wrk:
        template = wrk.body(query, variables)
        done = wrk.run(url, template, expect, seconds=seconds, first=first, token=token)
        if done.failed or done.errors:
            raise RuntimeError(f"{url}: {done.failed + done.errors} failed: {done.first_failure}")
        if wrk.NUMBER in template and done.requests > most:
            raise RuntimeError(f"{done.requests} requests: more than the {most} members prepared")
        return Figure(done.rate, done.p99_ms)
    # The Python client sends a fixed number: as many as there are members for a run.
    template = wrk.body(query, variables)
    bodies = [
        json.loads(template.replace(wrk.NUMBER, str(i))) for i in range(first + 1, first + 1 + most)
    ]
    result = drive(
        url,
        bodies,
        headers={"authorization": f"Bearer {token}"} if token else {},
        concurrency=CONNECTIONS,
        # Either server's JSON, written back without spaces: the data is there.
        ok=lambda b: b.get("data") is not None and "errors" not in b and not _refused(b),
    )
    if result.errors:
        raise RuntimeError(f"{url}: {result.errors} failed: {result.first_error}")
    return Figure(result.rate, result.p99_ms)


def _refused(body: dict) -> bool:
    payload = body["data"].get("checkinRecord")
    return isinstance(payload, dict) and bool(payload["userErrors"])


def _rows(figures: dict[str, list[Figure]], how: str) -> list[report.Row]:
    rate = {k: statistics.median(f.rate for f in v) for k, v in figures.items()}
    p99 = {k: statistics.median(f.p99_ms for f in v) for k, v in figures.items()}
    return [
        (
            f"checkinRecord over HTTP, baseline ({how})",
            f"{rate['base']:,.0f} req/s",
            "1.00",
            "baseline",
        ),
        (
            "checkinRecord over HTTP, jifen",
            f"{rate['ours']:,.0f} req/s",
            f"{rate['ours'] / rate['base']:.2f}",
            f">= {TARGET:.1f}",
        ),
        (
            "{ __typename }, baseline / jifen",
            f"{rate['base0']:,.0f} / {rate['ours0']:,.0f}",
            f"{rate['ours0'] / rate['base0']:.2f}",
            "reported",
        ),
        (
            "check-ins / own __typename rate, jifen",
            f"{rate['ours'] / rate['ours0']:.0%}",
            f"{rate['ours'] / rate['ours0']:.2f}",
            f">= {SHARE_TARGET:.2f}",
        ),
        (
            "check-ins / own __typename rate, baseline",
            f"{rate['base'] / rate['base0']:.0%}",
            f"{rate['base'] / rate['base0']:.2f}",
            "reported",
        ),
        (
            "checkinRecord p99, jifen / baseline",
            f"{p99['ours']:.1f} / {p99['base']:.1f} ms",
            f"{p99['ours'] / p99['base']:.2f}",
            "<= 1.00",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per measure and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--python-client", action="store_true", help="load from bench/load.py even with wrk"
    )
    args = parser.parse_args(argv)
    report.show(measure(args.seconds, args.rounds, python_client=args.python_client))
    return 0


if __name__ == "__main__":
    sys.exit(main())
