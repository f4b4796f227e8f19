"""Real server processes for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[2]


# Below Linux's ephemeral range (32768-60999): a port the kernel hands to no outgoing
# connection between this check and the server binding it.
PORTS = range(20_000, 32_000)
_given: set[int] = set()


def free_port() -> int:
    """A port nobody listens on, never handed out before in this process (two servers
    started together never get the same one)."""
    offset = os.getpid() * 97
    for n in range(len(PORTS)):
        port = PORTS[(offset + n) % len(PORTS)]
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


class Server:
    """`jifen serve` on a port of its own, started and stopped (or killed) by the test."""

    def __init__(self, database_url: str, port: int | None = None, **env: str) -> None:
        self.database_url = database_url
        self.port = port or free_port()
        # The first start writes the admin key there (never to the console).
        self.key_file = Path(tempfile.mkdtemp(prefix="jifen-keys-")) / "admin-key"
        self.env = {
            "DATABASE_URL": database_url,
            "PATH": "/usr/bin",
            "JIFEN_TICK_SECONDS": "0",
            "JIFEN_ADMIN_KEY_FILE": str(self.key_file),
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        # Everything the server prints, read as it comes: a pipe nobody reads fills up
        # (64 KiB of log lines) and then stalls the server in the middle of a request.
        self.lines: list[str] = []
        self.drain: threading.Thread | None = None

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.cli",
                "serve",
                "--port",
                str(self.port),
                "--rules",
                str(ROOT / "rules"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        # A daemon: a server a failed test left running must not keep pytest from exiting.
        self.drain = threading.Thread(
            target=self.lines.extend, args=(self.proc.stdout,), daemon=True
        )
        self.drain.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(self._output())

    def admin_key(self) -> str:
        """The key the first start wrote (written before the server answers)."""
        if not self.key_file.exists():
            raise AssertionError("no admin key written: was the database not empty?")
        return self.key_file.read_text().strip()

    def kill(self) -> None:
        """kill -9: no shutdown, no flushing, mid-request."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._output()

    def stop(self) -> str:
        """Stop the server; what it printed since it started."""
        if self.proc.poll() is not None:
            return ""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self._output()

    def _output(self) -> str:
        """What the server printed, once it has exited (the drain then ends)."""
        self.proc.wait(timeout=10)
        if self.drain is not None:
            self.drain.join(timeout=10)
        if not self.proc.stdout.closed:
            self.proc.stdout.close()
        return "".join(self.lines)


def graphql(
    url: str, key: str, query: str, variables: dict | None = None, timeout: float = 10
) -> dict:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {key}"},
        timeout=timeout,
    )
    return response.json()
