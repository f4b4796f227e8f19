"""A request id for every HTTP request and WebSocket: in every log line written while it is
served, in the `extensions` of every error it answers, and as the `X-Request-Id` response
header. An incoming `X-Request-Id` (from a proxy or the client) is kept when it is sane:
1 to 128 characters of letters, digits and `._:-`; otherwise the server makes one.
"""

from __future__ import annotations

import itertools
import re
import secrets
from contextvars import ContextVar

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

# Ids made here: this process's random prefix and a counter (no system call per request;
# unique across processes and restarts, not secret).
_PREFIX = secrets.token_hex(6)
_next = itertools.count(1).__next__

# Starlette runs sync work in threads with a copy of the context, so the id follows a
# request into the thread pool; the periodic jobs and other background work have none.
current: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id() -> str | None:
    """The id of the request being served here, if any."""
    return current.get()


def _incoming(headers) -> bytes | None:
    for name, value in headers:
        if name == HEADER:
            return value if _SANE.fullmatch(value) else None
    return None


class RequestIds:
    """ASGI middleware: sets the id for the request's duration and returns it as a header."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            return await self.app(scope, receive, send)
        raw = _incoming(scope.get("headers") or ())
        value = raw.decode("ascii") if raw is not None else f"{_PREFIX}-{_next():x}"
        token = current.set(value)
        if kind == "websocket":
            try:
                return await self.app(scope, receive, send)
            finally:
                current.reset(token)
        header = (HEADER, value.encode("ascii"))

        async def with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            current.reset(token)
