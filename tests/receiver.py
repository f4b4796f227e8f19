"""A real HTTP receiver for webhook tests: a server on a free local port, in a thread,
that records every request and answers with the status the test sets."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """What came in, and what to answer next (`status`, or `answers` taken in order)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.answers: list[int] = []
        self._lock = threading.Lock()
        self.url = ""
        self.stop: Callable[[], None] = lambda: None

    def take(self, request: Received) -> int:
        with self._lock:
            self.received.append(request)
            return self.answers.pop(0) if self.answers else self.status

    def events(self) -> list[str]:
        """The `Jifen-Event-Id` of every request, in order of arrival."""
        with self._lock:
            return [r.headers["jifen-event-id"] for r in self.received]


def serve() -> Receiver:
    """A receiver listening until its `stop()`."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = state.take(Received(self.path, headers, body))
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"receiver is down")

        def log_message(self, *args) -> None:  # keep test output quiet
            return

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a worker sends 20 at once, and two servers may

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/jifen"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    state.stop = stop
    return state


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = serve()
    try:
        yield state
    finally:
        state.stop()


def verify_signature(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """How a receiver checks `Jifen-Signature` (docs/operations.md shows the same code)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts["v1"])
