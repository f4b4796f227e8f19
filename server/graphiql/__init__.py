"""GraphiQL served by jifen itself: the page, and its scripts and styles from this package.

The files under static/ are the npm packages' own builds, pinned (VERSIONS lists them, with
the digests of the tarballs they came from), each with its license; nothing is loaded from
a CDN, so the IDE works behind a firewall. The page's Content-Security-Policy lets it load
scripts from this server only and talk to nothing but it.
"""

from __future__ import annotations

from importlib.resources import files

from starlette.responses import HTMLResponse, PlainTextResponse, Response

GRAPHIQL_VERSION = "3.8.3"
REACT_VERSION = "18.3.1"

# Served under /graphiql/; the page refers to them relative to /graphql.
ASSETS = {
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "graphiql.min.js": "text/javascript",
    "graphiql.min.css": "text/css",
    "jifen-graphiql.js": "text/javascript",
    "LICENSE.graphiql": "text/plain",
    "LICENSE.react": "text/plain",
    "LICENSE.react-dom": "text/plain",
}
_STATIC = files(__package__) / "static"

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>jifen GraphiQL</title>
  <link rel="stylesheet" href="graphiql/graphiql.min.css?v={GRAPHIQL_VERSION}">
  <style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="graphiql/react.production.min.js?v={REACT_VERSION}"></script>
  <script src="graphiql/react-dom.production.min.js?v={REACT_VERSION}"></script>
  <script src="graphiql/graphiql.min.js?v={GRAPHIQL_VERSION}"></script>
  <script src="graphiql/jifen-graphiql.js?v={GRAPHIQL_VERSION}"></script>
</body>
</html>
"""

# GraphiQL sets inline styles and embeds its fonts as data: URLs; scripts come only from
# here, and the page may connect to this server only (HTTP and WebSocket).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def page(scope, receive, send) -> None:
    """The IDE's page (GraphQLHTTP's `ide` hook: a browser's GET of /graphql)."""
    response = HTMLResponse(
        PAGE,
        headers={
            "content-security-policy": POLICY,
            "referrer-policy": "no-referrer",
            "x-content-type-options": "nosniff",
        },
    )
    await response(scope, receive, send)


async def assets(scope, receive, send) -> None:
    """The IDE's files, mounted at /graphiql; only the files listed in ASSETS."""
    name = scope.get("path", "").rsplit("/", 1)[-1]
    media = ASSETS.get(name)
    if scope["type"] != "http" or media is None or scope.get("method") not in ("GET", "HEAD"):
        response: Response = PlainTextResponse("not found\n", 404)
    else:
        response = Response(
            (_STATIC / name).read_bytes(),
            media_type=media,
            headers={"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"},
        )
    await response(scope, receive, send)
