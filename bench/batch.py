"""Benchmark 2: batch ingestion through `eventsRecord`, 1,000 mixed events per request.

One server process with the demo rules (on PostgreSQL also two: `postgres:2`, the
target being 1.6x one); this process sends the batches over two connections per
process. Each member checks in, writes six messages (two too short to earn),
places an order and shares a live stream, in time order: the full rules, counters,
leaderboards and ledger run for every event. Figure: events recorded per second
(median of the runs), next to the naive baseline's check-ins per second measured in
the same run, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.batch [--events 20000] [--runs 3]
        [--databases sqlite,postgres,postgres:2] [--in-process]

`--in-process`: the same batches through `ingest.record` in this process, no server, no
GraphQL (one process only): the batch path's own cost, as wall and CPU time per event,
each batch in its own write transaction (its commit included), the first left out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import checkin_http, cpu, databases, report, servers
from bench.load import drive
from tests.support import PostgresUnavailable

TARGETS = {"sqlite": 20_000, "postgres": 5_000}
PER_MEMBER = 9
# Up to 1,000 events per request, whole members only: two batches in flight at once
# never hold events of the same member, whose events must stay in order.
BATCH = 1000 // PER_MEMBER * PER_MEMBER
RECORD = """mutation($events: [EventRecordInput!]!) {
  eventsRecord(input: {events: $events}) { recorded failed
    results { userErrors { code message field } } } }"""


def member_events(i: int, start: datetime, key: str = "") -> list[dict]:
    member = f"mbr_{i + 1}"
    at = start + timedelta(milliseconds=i)

    def event(n: int, kind: str, attributes: dict | None = None) -> dict:
        return {
            "memberId": member,
            "type": kind,
            "idempotencyKey": f"{key}{i}-{n}",
            "community": "fans",
            "occurredAt": (at + timedelta(microseconds=n)).isoformat(),
            "attributes": attributes,
        }

    events = [event(0, "checkin")]
    events += [event(1 + n, "message", {"length": 3 if n % 3 == 2 else 12}) for n in range(6)]
    events.append(event(7, "order", {"amount": 95}))
    events.append(event(8, "share_live"))
    return events


def batches(total: int, start: datetime) -> list[dict]:
    events = [e for i in range(total // PER_MEMBER) for e in member_events(i, start)]
    return [
        {"query": RECORD, "variables": {"events": events[n : n + BATCH]}}
        for n in range(0, len(events), BATCH)
    ]


def run(kind: str, tmp: Path, total: int, busy: list[float] | None = None) -> float:
    """Events per second for `total` events through the server (`postgres:2`: two
    processes)."""
    now = datetime.now(UTC)
    database, _, processes = kind.partition(":")
    workers = int(processes or 1)
    with databases.scratch(database, tmp, "batch") as url:
        key = databases.prepare(url, total // PER_MEMBER, now=now - timedelta(minutes=2))
        bodies = batches(total, now - timedelta(minutes=1))
        port = servers.free_port()
        proc = servers.jifen(url, port, workers=workers)
        try:
            with cpu.Busy() as cores:
                result = drive(
                    f"http://127.0.0.1:{port}/graphql",
                    bodies,
                    headers={"authorization": f"Bearer {key}"},
                    concurrency=2 * workers,
                    ok=lambda b: "errors" not in b and b["data"]["eventsRecord"]["failed"] == 0,
                )
        finally:
            servers.stop(proc)
    if result.errors:
        raise RuntimeError(
            f"{kind}: {result.errors} batches failed: {refusals(result.first_error)}"
        )
    if busy is not None and cores.share is not None:
        busy.append(cores.share)
    return sum(len(b["variables"]["events"]) for b in bodies) / result.seconds


def run_in_process(database: str, tmp: Path, total: int) -> tuple[float, float]:
    """(events per second, CPU ms per event) of `ingest.record` for `total` events."""
    from server.core import ingest, program
    from server.store.db import bind, open_database, write_transaction

    now = datetime.now(UTC)
    total += BATCH  # the first batch warms up
    with databases.scratch(database, tmp, "batch") as url:
        databases.prepare(url, total // PER_MEMBER, now=now - timedelta(minutes=2))
        db = bind(open_database(url))
        try:
            bodies = batches(total, now - timedelta(minutes=1))
            with write_transaction():
                settings = program.load()
            seconds = cpu = 0.0
            events = 0
            for n, body in enumerate(bodies):
                items = [incoming(e) for e in body["variables"]["events"]]
                wall, used = time.perf_counter(), time.process_time()
                with write_transaction():
                    results = ingest.record(items, now=datetime.now(UTC), settings=settings)
                if n:
                    seconds += time.perf_counter() - wall
                    cpu += time.process_time() - used
                    events += len(items)
                failed = [r.error for r in results if r.error is not None]
                if failed:
                    raise RuntimeError(f"{database}: {len(failed)} events refused: {failed[0]}")
        finally:
            db.close_all()
    return events / seconds, 1000 * cpu / events


def incoming(event: dict):
    """An event as `eventsRecord` hands it to `ingest.record` (key scope: a service key)."""
    from server.core import idempotency, ingest

    member_id = int(event["memberId"].removeprefix("mbr_"))
    args = {
        "memberId": member_id,
        "type": event["type"],
        "community": event["community"],
        "occurredAt": event["occurredAt"],
        "attributes": event["attributes"],
    }
    return ingest.Incoming(
        member_id,
        event["type"],
        event["community"],
        datetime.fromisoformat(event["occurredAt"]),
        event["attributes"] or None,
        ingest.Claim(
            "key:bench",
            event["idempotencyKey"],
            "eventRecord",
            idempotency.request_hash("eventRecord", args),
        ),
    )


def measure_in_process(total: int, runs: int, kinds: list[str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for kind in kinds:
        database, _, processes = kind.partition(":")
        if processes:
            continue  # one process only
        figures = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    figures.append(run_in_process(database, Path(tmp), total))
                except PostgresUnavailable as exc:
                    print(f"[batch] {kind} skipped: {exc}", file=sys.stderr)
        if not figures:
            rows.append((f"ingest.record x{BATCH}, {kind}", "skipped", "", "in-process"))
            continue
        rate = statistics.median(f[0] for f in figures)
        cpu = statistics.median(f[1] for f in figures)
        label = f"ingest.record x{BATCH}, {kind}"
        rows.append((label, f"{rate:,.0f} events/s", "", "in-process"))
        rows.append((f"  CPU of this process per event, {kind}", f"{cpu:.3f} ms", "", "in-process"))
    return rows


def refusals(text: str) -> str:
    """The distinct user errors in a failed batch's answer, or the answer itself."""
    try:
        results = json.loads(text.partition(" ")[2])["data"]["eventsRecord"]["results"]
    except (ValueError, KeyError, TypeError):
        return text[:1000]
    errors = {(e["code"], e["message"]) for r in results for e in r["userErrors"]}
    return "; ".join(f"{code}: {message}" for code, message in sorted(errors))


def measure(total: int, runs: int, kinds: list[str]) -> list[tuple[str, str, str, str]]:
    figures: dict[str, list[float]] = {kind: [] for kind in kinds}
    busy: dict[str, list[float]] = {kind: [] for kind in kinds}  # the cores' busy share
    base: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            base.append(checkin_http.run_baseline(Path(tmp), min(total // 10, 1000))[0])
            for kind in kinds:
                try:
                    figures[kind].append(run(kind, Path(tmp), total, busy[kind]))
                except PostgresUnavailable as exc:
                    print(f"[batch] {kind} skipped: {exc}", file=sys.stderr)
    base_rate = statistics.median(base)
    rows = [("naive baseline check-ins (same run)", f"{base_rate:,.0f} req/s", "1.00", "baseline")]
    for kind in kinds:
        if not figures[kind]:
            rows.append((f"eventsRecord x{BATCH}, {kind}", "skipped", "", "PostgreSQL"))
            continue
        rate = statistics.median(figures[kind])
        database, _, processes = kind.partition(":")
        if processes and figures.get(database):
            one = statistics.median(figures[database])
            label = f"eventsRecord x{BATCH}, {processes} processes vs 1, {database}"
            rows.append((label, f"{rate:,.0f} events/s", f"{rate / one:.2f}", ">= 1.6"))
            rows += _cores(kind, busy)
            continue
        rows.append(
            (
                f"eventsRecord x{BATCH}, {kind}",
                f"{rate:,.0f} events/s",
                f"{rate / base_rate:.1f}",
                f">= {TARGETS[database]:,}/s",
            )
        )
        rows += _cores(kind, busy)
    return rows


def _cores(kind: str, busy: dict[str, list[float]]) -> list[tuple[str, str, str, str]]:
    """How busy the machine's cores were during `kind`'s runs (median): a second process
    cannot add what the first left no core for."""
    if not busy.get(kind):
        return []
    share = statistics.median(busy[kind])
    return [(f"  cores busy during {kind}", f"{share:.0%} of {os.cpu_count()}", "", "reported")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgres,postgres:2")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="the batches through ingest.record in this process (no server, no GraphQL)",
    )
    args = parser.parse_args(argv)
    kinds = args.databases.split(",")
    if args.in_process:
        report.show(measure_in_process(args.events, args.runs, kinds))
    else:
        report.show(measure(args.events, args.runs, kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
