"""Drive a server from this (second) process: N requests over C connections, async."""

from __future__ import annotations

import asyncio
import statistics
import time
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
    url: str, bodies: list[dict], headers: dict, concurrency: int, ok: Callable[[dict], bool]
) -> LoadResult:
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    errors = 0
    first_error = ""

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, first_error
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(url, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or not ok(response.json()):
                errors += 1
                first_error = first_error or f"{response.status_code} {response.text[:500]}"

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return LoadResult(len(bodies), elapsed, latencies, errors, first_error)


def drive(
    url: str,
    bodies: list[dict],
    *,
    headers: dict | None = None,
    concurrency: int = 16,
    ok: Callable[[dict], bool] = lambda body: "errors" not in body,
) -> LoadResult:
    return asyncio.run(_drive(url, bodies, headers or {}, concurrency, ok))
