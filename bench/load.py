"""Drive a server from this (second) process: N requests over C connections, async."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx2 as httpx


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p99_ms(self) -> float:
        return (
            statistics.quantiles(self.latencies, n=100)[98] * 1000
            if len(self.latencies) >= 2
            else 0.0
        )


async def _drive(
    urls: list[str],
    bodies: list[dict],
    headers: dict,
    concurrency: int,
    ok: Callable[[dict], bool],
    lanes: bool,
) -> LoadResult:
    shared: deque = deque(bodies)
    # With lanes, worker n sends bodies n, n + concurrency, ... in order (one member each).
    queues = [deque(bodies[n::concurrency]) for n in range(concurrency)] if lanes else None
    latencies: list[float] = []
    errors = 0
    first_error = ""

    async def worker(client: httpx.AsyncClient, url: str, queue: deque) -> None:
        nonlocal errors, first_error
        while queue:
            body = queue.popleft()
            started = time.perf_counter()
            response = await client.post(url, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or not ok(response.json()):
                errors += 1
                first_error = first_error or f"{response.status_code} {response.text}"

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(
            *(
                worker(client, urls[n % len(urls)], queues[n] if queues else shared)
                for n in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - began
    return LoadResult(len(bodies), elapsed, latencies, errors, first_error)


def drive(
    url: str | list[str],
    bodies: list[dict],
    *,
    headers: dict | None = None,
    concurrency: int = 16,
    ok: Callable[[dict], bool] = lambda body: "errors" not in body,
    lanes: bool = False,
) -> LoadResult:
    """Send `bodies` over `concurrency` connections; worker n uses url n (round robin).

    `lanes`: worker n sends bodies n, n + concurrency, ... in that order, so requests
    that must stay in order (one member's events) do.
    """
    urls = [url] if isinstance(url, str) else url
    return asyncio.run(_drive(urls, bodies, headers or {}, concurrency, ok, lanes))
