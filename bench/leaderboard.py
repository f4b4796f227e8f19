"""Benchmark 5: the week's top 100 by messages, with a million messages recorded.

The database is filled directly with SQL: members, message events spread over the
current week (a few members write a lot, most write a little), and the standings the
engine keeps per event (day, week and month, program-wide and per community), summed
from those same events. One server process answers `leaderboard(metric: "messages",
period: WEEK, first: 100)` one request at a time: p99 latency, next to the p99 of an
empty query on the same server in the same run. Requests come from wrk (`-t1 -c1`, for
`--seconds` each) where it is installed, else from this process (`--requests` each).

    .venv/bin/python -m bench.leaderboard [--messages 1000000] [--members 50000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2 as httpx

from bench import report, servers, wrk
from bench.history import p99, timed

TARGET_MS = 10.0
ZONE = ZoneInfo("Asia/Shanghai")  # the demo program's time zone
TOP = """{ leaderboard(metric: "messages", period: WEEK, first: 100) {
  rank score reachedAt member { id externalId displayName } } }"""


def fill(url: str, messages: int, members: int) -> str:
    """Members, their messages this week and the standings they make; an admin key."""
    from server.core import auth
    from server.core.periods import period_key
    from server.store import migrate
    from server.store.db import bind, database, open_database, write_transaction
    from server.store.sql import instant

    db = bind(open_database(url))
    migrate.upgrade(db)
    now = datetime.now(UTC)
    local = now.astimezone(ZONE)
    week_start = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    span = max((now - week_start).total_seconds() - 60, 60)
    joined = instant(week_start - timedelta(days=30))
    with write_transaction():
        _, key = auth.create_key(auth.Role.ADMIN, "bench", now=now)
        database.obj.cursor().executemany(
            "INSERT INTO member (id, external_id, display_name, joined_at, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(i, f"m{i}", f"Member {i}", joined, joined, joined) for i in range(1, members + 1)],
        )
    rng = random.Random(7)
    scores: Counter = Counter()
    reached: dict[tuple, str] = {}
    times = sorted(rng.random() * span for _ in range(messages))
    chunk = 100_000
    for first in range(0, messages, chunk):
        rows = []
        for n in range(first, min(first + chunk, messages)):
            member = min(int(rng.paretovariate(1.2)), members)  # a long tail of talkers
            member = member if rng.random() < 0.3 else rng.randint(1, members)
            at = week_start + timedelta(seconds=times[n])
            stamp = instant(at)
            rows.append((n + 1, "message", member, "fans", stamp, stamp, '{"length":12}'))
            day = at.date()
            for period in ("day", "week", "month"):
                for scope in ("", "fans"):
                    standing = ("message", period_key(period, day), scope, member)
                    scores[standing] += 1
                    reached[standing] = stamp
        with write_transaction():
            database.obj.cursor().executemany(
                "INSERT INTO event (id, type, member_id, community, occurred_at, recorded_at, "
                "attributes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    with write_transaction():
        database.obj.cursor().executemany(
            "INSERT INTO standing (metric, period, scope, member_id, score, reached_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(*k, score, reached[k]) for k, score in scores.items()],
        )
    database.execute_sql("ANALYZE")
    db.close_all()
    return key


def measure(
    messages: int,
    members: int,
    requests: int,
    seconds: float = 10,
    *,
    python_client: bool = False,
) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'leaderboard.db'}"
        key = fill(url, messages, members)
        port = servers.free_port()
        proc = servers.jifen(url, port)
        endpoint = f"http://127.0.0.1:{port}/graphql"
        try:
            with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=60) as client:
                for _ in range(20):
                    _, data = timed(client, endpoint, {"query": TOP})
                places = data["leaderboard"]
                if len(places) != min(100, members) or places[0]["score"] < places[-1]["score"]:
                    raise RuntimeError(f"unexpected board: {places[:3]}")
                if wrk.available() and not python_client:
                    floor_ms, board_ms = (
                        _wrk(endpoint, key, query, expect, seconds)
                        for query, expect in (
                            ("{ __typename }", '"__typename"'),
                            (TOP, '"leaderboard":[{'),
                        )
                    )
                else:
                    floor_ms, board_ms = (
                        p99([timed(client, endpoint, {"query": q})[0] for _ in range(requests)])
                        for q in ("{ __typename }", TOP)
                    )
        finally:
            servers.stop(proc)
    return [
        ("empty query p99 (floor)", f"{floor_ms:.2f} ms", "1.00", "baseline"),
        (
            f"week top 100 p99, {messages:,} messages",
            f"{board_ms:.2f} ms",
            f"{board_ms / floor_ms:.2f}",
            f"< {TARGET_MS:.0f} ms",
        ),
    ]


def _wrk(endpoint: str, key: str, query: str, expect: str, seconds: float) -> float:
    done = wrk.run(endpoint, wrk.body(query), expect, seconds=seconds, connections=1, token=key)
    if done.failed or done.errors:
        raise RuntimeError(f"{done.failed + done.errors} failed: {done.first_failure}")
    return done.p99_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=400, help="with the Python client")
    parser.add_argument("--seconds", type=float, default=10, help="per measure, with wrk")
    parser.add_argument(
        "--python-client", action="store_true", help="load from this process even with wrk"
    )
    args = parser.parse_args(argv)
    report.show(
        measure(
            args.messages,
            args.members,
            args.requests,
            args.seconds,
            python_client=args.python_client,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
