"""Benchmark 7: the server's memory after ingesting a million events.

One server process (SQLite, demo rules) ingests mixed events through `eventsRecord`
(1,000 per request): 10,000 members, day after day, each checking in, writing six
messages, ordering and sharing, with the rules in force. The server's resident memory
(VmRSS from /proc) is read right after start and after every tenth of the events;
figures: the memory at the end, its peak (VmHWM), and the growth over the last half of
the run, which stays flat when nothing accumulates per event.

    .venv/bin/python -m bench.memory [--events 1000000] [--members 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import databases, report, servers
from bench.batch import BATCH, PER_MEMBER, RECORD, member_events, refusals
from bench.load import drive

TARGET_MB = 300.0


def rss(pid: int) -> tuple[float, float]:
    """(resident, peak resident) in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def bodies(total: int, members: int, first_day: datetime) -> list[dict]:
    events = []
    day = 0
    while len(events) < total:
        start = first_day + timedelta(days=day)
        for i in range(members):
            events += member_events(i, start, key=f"d{day}-")
        day += 1
    events = events[:total]
    return [
        {"query": RECORD, "variables": {"events": events[n : n + BATCH]}}
        for n in range(0, len(events), BATCH)
    ]


def allow_backdating(url: str, hours: int) -> None:
    """The days of history are sent through eventsRecord, each with its own occurredAt."""
    from server.core import program
    from server.store.db import bind, open_database, write_transaction

    db = bind(open_database(url))
    with write_transaction():
        program.set_backdate_hours(hours)
    db.close_all()


def measure(total: int, members: int) -> list[tuple[str, str, str, str]]:
    days = -(-total // (members * PER_MEMBER))
    now = datetime.now(UTC)
    first_day = now - timedelta(days=days + 1)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'memory.db'}"
        key = databases.prepare(url, members, now=first_day - timedelta(hours=1))
        allow_backdating(url, hours=(days + 2) * 24)
        port = servers.free_port()
        proc = servers.jifen(url, port)
        try:
            started, _ = rss(proc.pid)
            work = bodies(total, members, first_day)
            tenth = max(len(work) // 10, 1)
            curve = []
            seconds = 0.0
            for n in range(0, len(work), tenth):
                result = drive(
                    f"http://127.0.0.1:{port}/graphql",
                    work[n : n + tenth],
                    headers={"authorization": f"Bearer {key}"},
                    concurrency=2,
                    ok=lambda b: "errors" not in b and b["data"]["eventsRecord"]["failed"] == 0,
                )
                if result.errors:
                    raise RuntimeError(f"{result.errors} failed: {refusals(result.first_error)}")
                seconds += result.seconds
                curve.append(rss(proc.pid)[0])
                print(
                    f"  {min((n + tenth) * BATCH, total):>9,} events: {curve[-1]:.0f} MB",
                    file=sys.stderr,
                )
            end, peak = rss(proc.pid)
        finally:
            servers.stop(proc)
    half = curve[len(curve) // 2 - 1] if len(curve) > 1 else started
    return [
        ("server memory right after start", f"{started:.0f} MB", "1.00", "baseline"),
        (
            f"server memory after {total:,} events",
            f"{end:.0f} MB",
            f"{end / started:.2f}",
            f"< {TARGET_MB:.0f} MB",
        ),
        ("  peak / growth over the second half", f"{peak:.0f} / {end - half:+.0f} MB", "", ""),
        ("  ingestion rate meanwhile", f"{total / seconds:,.0f} events/s", "", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args(argv)
    report.show(measure(args.events, args.members))
    return 0


if __name__ == "__main__":
    sys.exit(main())
