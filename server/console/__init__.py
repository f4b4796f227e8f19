"""The operator console: static pages served at /console that talk only to /graphql.

Everything the browser loads is in `static/` (no CDN, no build step); the console holds
no authority of its own: it sends the user's key with each request, so it can do nothing
the API would refuse that key.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

PAGE = Path(__file__).parent / "index.html"  # the shell; its language is filled in
STATIC = Path(__file__).parent / "static"
LANGUAGES = ("en", "zh")

# Only the server's own scripts, styles and API: an injected script or a stray link to
# another host would not load, and the page cannot be framed.
HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def console_app(language: str = "en") -> SecurityHeaders:
    """The console as an ASGI app to mount; `language` (en or zh) is its default."""
    default = language if language in LANGUAGES else "en"
    page = PAGE.read_text(encoding="utf-8").replace("{{language}}", default)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers={"cache-control": "no-cache"})

    return SecurityHeaders(
        Starlette(routes=[Route("/", index), Mount("/", StaticFiles(directory=STATIC))])
    )


class SecurityHeaders:
    """Adds HEADERS to every response of the wrapped app."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        async def sending(message):
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in HEADERS.items()),
                ]
            await send(message)

        await self.app(scope, receive, sending)
