"""Start the servers a benchmark measures, each in a process of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    command: list[str], port: int, env: dict[str, str] | None = None, probe: str = "/graphql"
) -> subprocess.Popen:
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        # JIFEN_BENCH_LOG=1 shows the servers' logs, to see why a request failed.
        stderr=None if os.environ.get("JIFEN_BENCH_LOG") else subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(
                f"http://127.0.0.1:{port}{probe}", json={"query": "{ __typename }"}, timeout=1
            )
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{command} did not start")


def jifen(
    database_url: str,
    port: int,
    *,
    rules: Path | None = None,
    env: dict | None = None,
    workers: int = 1,
) -> subprocess.Popen:
    return start(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(port),
            "--rules",
            str(rules or ROOT / "rules"),
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        port,
        {
            "DATABASE_URL": database_url,
            "JIFEN_TICK_SECONDS": "0",
            "JIFEN_COST_BUDGET": "1000000000",
            **(env or {}),
        },
    )


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
