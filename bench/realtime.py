"""Benchmark 6: 1,000 `pointsChanged` subscribers, and changes reaching them while
other mutations go on.

One server process (SQLite, demo rules). This process opens 1,000 graphql-transport-ws
connections, each subscribed to its own member's points. It then sends one message
event per subscribed member (2 at a time) while 4 more clients keep recording messages
of other members. Figure: the p99 of the time from sending the mutation that changes a
member's points to that member's subscriber receiving the change, next to the p99 of
the mutation's own round trip in the same run. Every change must arrive.

    .venv/bin/python -m bench.realtime [--subscribers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from websockets.asyncio.client import connect

from bench import databases, report, servers

TARGET_MS = 100.0
BACKGROUND_MEMBERS = 200
SUBSCRIBE = "subscription($m: ID!) { pointsChanged(memberId: $m) { transactionId available } }"
MESSAGE = """mutation($m: ID!, $k: String!) { eventRecord(input: {memberId: $m, type: "message",
  idempotencyKey: $k, community: "fans", attributes: {length: 12}}) { userErrors { code } } }"""


class Subscriber:
    """One connection, one subscription; remembers when each change arrived."""

    def __init__(self, url: str, key: str, member: str) -> None:
        self.url, self.key, self.member = url, key, member
        self.arrivals: list[float] = []
        self.ready = asyncio.Event()
        self.got = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with connect(
            self.url, subprotocols=["graphql-transport-ws"], open_timeout=60, max_queue=None
        ) as ws:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {self.key}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"not acknowledged: {ack}")
            payload = {"query": SUBSCRIBE, "variables": {"m": self.member}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            self.ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if message.get("type") == "next":
                    self.arrivals.append(time.perf_counter())
                    self.got.set()
                elif message.get("type") in ("error", "complete"):
                    raise RuntimeError(f"{self.member}: {message}")


async def _measure(port: int, key: str, subscribers: int) -> tuple[list[float], list[float]]:
    base = f"http://127.0.0.1:{port}/graphql"
    members = [f"mbr_{i + 1}" for i in range(subscribers)]
    subs = [Subscriber(base.replace("http", "ws"), key, m) for m in members]
    stop = asyncio.Event()
    gate = asyncio.Semaphore(50)

    async def start(sub: Subscriber) -> None:
        async with gate:
            task = asyncio.create_task(sub.run(stop))
            tasks.append(task)
            await asyncio.wait(
                {task, asyncio.create_task(sub.ready.wait())},
                timeout=60,
                return_when=asyncio.FIRST_COMPLETED,
            )

    tasks: list[asyncio.Task] = []
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=30, headers=headers, limits=limits) as client:
        await asyncio.gather(*(start(s) for s in subs))
        if not all(s.ready.is_set() for s in subs):
            raise RuntimeError("not every subscriber connected")

        async def change(member: str, key: str) -> float:
            began = time.perf_counter()
            body = {"query": MESSAGE, "variables": {"m": member, "k": key}}
            response = await client.post(base, json=body)
            if response.status_code != 200 or "errors" in response.json():
                raise RuntimeError(response.text[:300])
            return began

        # Warm up: one change each, until every subscription is seen to be live.
        for n in range(0, subscribers, 50):
            await asyncio.gather(*(change(m, f"w-{m}") for m in members[n : n + 50]))
        await asyncio.wait_for(asyncio.gather(*(s.got.wait() for s in subs)), 60)
        for s in subs:
            s.arrivals.clear()

        background_stop = asyncio.Event()

        async def background(lane: int) -> None:
            n = 0
            while not background_stop.is_set():
                member = f"mbr_{subscribers + 1 + (lane * 50 + n % 50)}"
                await change(member, f"b{lane}-{n}")
                n += 1

        load = [asyncio.create_task(background(lane)) for lane in range(4)]
        sent: dict[str, float] = {}
        trips: list[float] = []
        lanes = asyncio.Semaphore(2)

        async def measured(member: str) -> None:
            async with lanes:
                began = await change(member, f"m-{member}")
                sent[member] = began
                trips.append(time.perf_counter() - began)

        await asyncio.gather(*(measured(m) for m in members))
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and not all(s.arrivals for s in subs):
            await asyncio.sleep(0.05)
        background_stop.set()
        await asyncio.gather(*load)
        stop.set()
        await asyncio.gather(*tasks)
    missing = [s.member for s in subs if not s.arrivals]
    if missing:
        raise RuntimeError(f"{len(missing)} subscribers never got their change: {missing[:5]}")
    delays = [s.arrivals[0] - sent[s.member] for s in subs]
    return delays, trips


def measure(subscribers: int) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'realtime.db'}"
        now = datetime.now(UTC) - timedelta(minutes=2)
        key = databases.prepare(url, subscribers + BACKGROUND_MEMBERS, now=now)
        port = servers.free_port()
        proc = servers.jifen(url, port)
        try:
            delays, trips = asyncio.run(_measure(port, key, subscribers))
        finally:
            servers.stop(proc)
    delay = statistics.quantiles(delays, n=100)[98] * 1000
    trip = statistics.quantiles(trips, n=100)[98] * 1000
    return [
        ("mutation round trip p99 (same run)", f"{trip:.1f} ms", "1.00", "baseline"),
        (
            f"change reaches its subscriber p99, {subscribers:,} subs",
            f"{delay:.1f} ms",
            f"{delay / trip:.2f}",
            f"< {TARGET_MS:.0f} ms",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args(argv)
    report.show(measure(args.subscribers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
