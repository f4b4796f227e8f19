"""Benchmark 9: importing history — 100,000 events (and their members' joins) on SQLite.

`jifen import` runs as a process of its own on a scratch SQLite database with the demo
rules published, over a JSON-lines file of joins and a mix of check-ins, messages and
orders spread over 60 days. Its figure is the whole command's wall time (start-up,
parsing, every record judged and written); the baseline, measured in the same run, is
SQLite from Python inserting as many event rows in one transaction (executemany): the
floor of writing the events at all. Target: 100,000 events within a minute.

    .venv/bin/python -m bench.import_history [--events 100000] [--members 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import report, servers

TARGET_SECONDS = 60.0


def history(path: Path, events: int, members: int) -> None:
    """Joins, then `events` events of the members over 60 days, in time order."""
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w") as out:
        for m in range(members):
            at = start + timedelta(minutes=m)
            invited = {"invitedBy": f"h{m // 10}"} if m >= 10 and m % 3 == 0 else {}
            out.write(
                json.dumps(
                    {
                        "kind": "join",
                        "externalId": f"h{m}",
                        "community": "fans",
                        "at": at.isoformat(),
                        **invited,
                    }
                )
                + "\n"
            )
        span = timedelta(days=60).total_seconds()
        times = sorted(rng.uniform(0, span) for _ in range(events))
        for n, offset in enumerate(times):
            at = start + timedelta(days=2, seconds=offset)
            member = f"h{rng.randrange(members)}"
            kind = rng.random()
            record = {"kind": "event", "externalId": member, "at": at.isoformat(), "key": f"e{n}"}
            if kind < 0.2:
                record["type"] = "checkin"
            elif kind < 0.9:
                record["type"] = "message"
                record["attributes"] = {"length": rng.randrange(1, 40), "text": f"t{n}"}
            else:
                record["type"] = "order"
                record["attributes"] = {"amount": rng.randrange(1, 500)}
            out.write(json.dumps(record) + "\n")


def prepare(path: Path) -> None:
    import dsl
    from server.core import rules
    from server.store import migrate
    from server.store.db import bind, open_database, write_transaction

    db = bind(open_database(f"sqlite:///{path}"))
    migrate.upgrade(db)
    with write_transaction():
        rules.publish(
            dsl.read_directory(servers.ROOT / "rules"),
            now=datetime(2024, 12, 1, tzinfo=UTC),
            actor="bench",
        )
    db.close_all()


def run_import(tmp: Path, events: int, members: int) -> tuple[float, str]:
    data = tmp / "history.jsonl"
    history(data, events, members)
    db = tmp / "import.db"
    prepare(db)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "import", str(data)],
        cwd=servers.ROOT,
        env={"DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1) or "imported" not in done.stdout:
        raise RuntimeError(f"import failed: {done.stderr[-2000:]}")
    return seconds, done.stdout.splitlines()[0]


def run_baseline(tmp: Path, events: int) -> float:
    """As many event rows, inserted by SQLite from Python in one transaction."""
    db = tmp / "baseline.db"
    prepare(db)
    rows = [
        ("message", 1, None, "2025-01-01 00:00:00.000000", "2025-01-01 00:00:00.000000", "{}")
        for _ in range(events)
    ]
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO member (external_id, created_at, updated_at) VALUES ('b', '', '')")
    began = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO event (type, member_id, community, occurred_at, recorded_at, "
            "attributes) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def measure(events: int, members: int) -> list[report.Row]:
    with tempfile.TemporaryDirectory() as tmp:
        baseline = run_baseline(Path(tmp), events)
        seconds, summary = run_import(Path(tmp), events, members)
    rate, base_rate = events / seconds, events / baseline
    return [
        (
            f"import {events:,} events + {members:,} joins, SQLite",
            f"{seconds:.1f} s ({rate:,.0f}/s)",
            f"{rate / base_rate:.3f}",
            f"<= {TARGET_SECONDS * events / 100_000:.0f} s",
        ),
        ("  raw executemany of the events (baseline)", f"{base_rate:,.0f}/s", "1.000", "baseline"),
        ("  " + summary[:46], "", "", "reported"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=2_000)
    args = parser.parse_args(argv)
    report.show(measure(args.events, args.members))
    return 0


if __name__ == "__main__":
    sys.exit(main())
