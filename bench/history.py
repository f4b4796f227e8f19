"""Benchmark 4: a member's ledger pages, and the analysts' daily summary, over a big ledger.

The ledger is filled directly with SQL (balanced award transactions: a member wallet
entry and an issuance entry each, spread over 30 days; one member owns a tenth of them),
then one server process answers, one request at a time:
  - `member.ledger(first: 50)` and the next page (`after`), alternating: p99 latency;
  - `ledgerSummary(groupBy: DAY)` over the 30 days (all entries): median seconds.
Each figure is shown next to the p99 of an empty query (`{ __typename }`) on the same
server in the same run: the floor of an HTTP + GraphQL round trip. The pages and the
floor are driven by wrk (`-t1 -c1`, for `--seconds` each) where it is installed, whose
own overhead is far below the Python client's; else by this process, `--requests` each.

    .venv/bin/python -m bench.history [--entries 1000000] [--requests 400] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx

from bench import report, servers, wrk

PAGE_TARGET_MS = 5.0
SUMMARY_TARGET_S = 1.0
MEMBERS = 1000
DAYS = 30
START = datetime(2026, 10, 1, tzinfo=UTC)
PAGE = """query($id: ID!, $after: String) { member(id: $id) { ledger(first: 50, after: $after) {
  edges { cursor node { id amount balanceAfter createdAt
                        transaction { kind campaign ruleText } } }
  pageInfo { hasNextPage endCursor } } } }"""
SUMMARY = """query($from: DateTime!, $to: DateTime!) {
  ledgerSummary(from: $from, to: $to, groupBy: DAY) {
    outstanding rows { group issued spent expired net outstanding members } } }"""


def fill(url: str, entries: int) -> str:
    """A ledger of `entries` postings (half member wallets, half issuance); an admin key."""
    from server.core import accounts, auth
    from server.core import members as core_members
    from server.core.accounts import AccountKind
    from server.store import migrate
    from server.store.db import bind, database, open_database, write_transaction
    from server.store.sql import instant

    db = bind(open_database(url))
    migrate.upgrade(db)
    with write_transaction():
        for i in range(MEMBERS):
            core_members.upsert(f"m{i}", now=START, community="fans")
        issuance = accounts.program_account(AccountKind.ISSUANCE, "speak").id
        _, key = auth.create_key(auth.Role.ADMIN, "bench", now=START)
    wallets = {
        member: accounts.wallet(member, AccountKind.AVAILABLE).id
        for member in range(1, MEMBERS + 1)
    }
    transactions = entries // 2
    step = DAYS * 86400 / transactions
    balances = dict.fromkeys(wallets, 0)
    chunk = 50_000
    for first in range(0, transactions, chunk):
        txns, postings = [], []
        for n in range(first, min(first + chunk, transactions)):
            member = 1 if n % 10 == 0 else 2 + n % (MEMBERS - 1)
            at = instant(START + timedelta(seconds=n * step))
            balances[member] += 1
            txns.append((n + 1, "award", member, at, "speak", 1, 3, "message award 1"))
            postings.append((2 * n + 1, n + 1, wallets[member], 1, member, at, balances[member]))
            postings.append((2 * n + 2, n + 1, issuance, -1, None, at, None))
        with write_transaction():
            database.obj.cursor().executemany(
                "INSERT INTO ledger_transaction (id, kind, member_id, created_at, campaign, "
                "campaign_version, rule_line, rule_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                txns,
            )
            database.obj.cursor().executemany(
                "INSERT INTO posting (id, txn_id, account_id, amount, member_id, created_at, "
                "balance_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
                postings,
            )
    with write_transaction():
        for member, balance in balances.items():
            database.execute_sql(
                "UPDATE account SET balance = ? WHERE id = ?", (balance, wallets[member])
            )
        database.execute_sql(
            "UPDATE account_slot SET balance = ? WHERE account_id = ? AND slot = 0",
            (-transactions, issuance),
        )
    database.execute_sql("ANALYZE")
    db.close_all()
    return key


def timed(client: httpx.Client, url: str, body: dict) -> tuple[float, dict]:
    began = time.perf_counter()
    response = client.post(url, json=body)
    elapsed = time.perf_counter() - began
    data = response.json()
    if response.status_code != 200 or "errors" in data:
        raise RuntimeError(f"request failed: {response.text[:300]}")
    return elapsed, data["data"]


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] * 1000


def measure(
    entries: int, requests: int, seconds: float = 10, *, python_client: bool = False
) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'history.db'}"
        key = fill(url, entries)
        port = servers.free_port()
        proc = servers.jifen(url, port)
        endpoint = f"http://127.0.0.1:{port}/graphql"
        try:
            with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=60) as client:
                for _ in range(20):  # warm up
                    timed(client, endpoint, {"query": "{ __typename }"})
                if wrk.available() and not python_client:
                    floor_ms, page_ms = _with_wrk(endpoint, key, seconds)
                else:
                    floor_ms, page_ms = _with_client(client, endpoint, requests)
                window = {
                    "from": START.isoformat(),
                    "to": (START + timedelta(days=DAYS)).isoformat(),
                }
                summaries = []
                for _ in range(5):
                    seconds, data = timed(client, endpoint, {"query": SUMMARY, "variables": window})
                    summaries.append(seconds)
                issued = sum(r["issued"] for r in data["ledgerSummary"]["rows"])
                if issued != entries // 2:
                    raise RuntimeError(f"summary issued {issued}, expected {entries // 2}")
        finally:
            servers.stop(proc)
    summary_s = statistics.median(summaries)
    return [
        ("empty query p99 (floor)", f"{floor_ms:.2f} ms", "1.00", "baseline"),
        (
            f"ledger page of 50 p99, {entries:,} entries",
            f"{page_ms:.2f} ms",
            f"{page_ms / floor_ms:.2f}",
            f"< {PAGE_TARGET_MS:.0f} ms",
        ),
        (
            f"daily summary, {DAYS} days, {entries:,} entries",
            f"{summary_s * 1000:.0f} ms",
            f"{summary_s * 1000 / floor_ms:.0f}",
            f"< {SUMMARY_TARGET_S:.0f} s",
        ),
    ]


# In wrk's numbering: requests 2k+1 and 2k+2 are a first page and its next page; every
# other pair is member 1's (a tenth of the ledger), the others spread over the rest.
_MEMBER = (
    "(math.floor((counter - 1) / 2) % 2 == 0) and 1 or (2 + math.floor((counter - 1) / 2) % 999)"
)


def _with_wrk(endpoint: str, key: str, seconds: float) -> tuple[float, float]:
    floor = wrk.run(
        endpoint,
        wrk.body("{ __typename }"),
        '"__typename"',
        seconds=seconds,
        connections=1,
        token=key,
    )
    pages = wrk.run(
        endpoint,
        wrk.body(PAGE, {"id": "mbr_@N@", "after": "@AFTER@"}),
        '"pageInfo":{',
        seconds=seconds,
        connections=1,
        token=key,
        number=_MEMBER,
        follow=True,
    )
    for done in (floor, pages):
        if done.failed or done.errors:
            raise RuntimeError(f"{done.failed + done.errors} failed: {done.first_failure}")
    return floor.p99_ms, pages.p99_ms


def _with_client(client: httpx.Client, endpoint: str, requests: int) -> tuple[float, float]:
    floor = [timed(client, endpoint, {"query": "{ __typename }"})[0] for _ in range(requests)]
    pages = []
    for n in range(requests // 2):
        member = "mbr_1" if n % 2 == 0 else f"mbr_{2 + n % (MEMBERS - 1)}"
        seconds, data = timed(client, endpoint, {"query": PAGE, "variables": {"id": member}})
        cursor = data["member"]["ledger"]["pageInfo"]["endCursor"]
        if not data["member"]["ledger"]["edges"]:
            raise RuntimeError(f"{member} has no ledger entries")
        variables = {"id": member, "after": cursor}
        more, _ = timed(client, endpoint, {"query": PAGE, "variables": variables})
        pages += [seconds, more]
    return p99(floor), p99(pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400, help="with the Python client")
    parser.add_argument("--seconds", type=float, default=10, help="per measure, with wrk")
    parser.add_argument(
        "--python-client", action="store_true", help="load from this process even with wrk"
    )
    args = parser.parse_args(argv)
    report.show(
        measure(args.entries, args.requests, args.seconds, python_client=args.python_client)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
