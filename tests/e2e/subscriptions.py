"""graphql-transport-ws for tests: every step waits for its own message, with a deadline."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.servers import free_port


class Socket:
    """One acknowledged graphql-transport-ws connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    @asynccontextmanager
    async def open(cls, base: str, token: str | None, timeout: float = 10):
        """Connect and init; returns once the server answered `connection_ack`."""
        url = base.replace("http", "ws", 1) + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=timeout) as ws:
            socket = cls(ws)
            payload = {"authorization": f"Bearer {token}"} if token else {}
            await socket.send({"type": "connection_init", "payload": payload})
            ack = await socket.receive(timeout)
            assert ack == {"type": "connection_ack"}, ack
            yield socket

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def subscribe(self, query: str, variables: dict | None = None, op: str = "1") -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": op, "type": "subscribe", "payload": payload})

    async def receive(self, timeout: float = 5) -> dict:
        """The next message other than a ping (answered), or TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message within {timeout} s")
            message = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def next(self, timeout: float = 5) -> dict:
        """The data of the next `next` message; an `error` or `complete` fails the test."""
        message = await self.receive(timeout)
        assert message.get("type") == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]


async def until(condition, timeout: float = 10, what: str = "the condition") -> None:
    """Poll `condition()` until it holds; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        await asyncio.sleep(0.01)


@contextmanager
def serve_in_thread(app, timeout: float = 30):
    """The app on a port of its own, in this process (so it shares the notify broker)."""
    server = uvicorn.Server(uvicorn.Config(app, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            assert thread.is_alive(), "the server thread stopped before it started"
            assert time.monotonic() < deadline, f"the server did not start within {timeout} s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
