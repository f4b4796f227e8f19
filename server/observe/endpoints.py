"""/metrics (Prometheus) and /readyz (may this process take traffic?)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from server.core.clock import Clock
from server.store.db import database

log = logging.getLogger("jifen")

POOL_EVERY = 5.0  # seconds between samples of this process's connection pool


def metrics_endpoint(clock: Clock, token: str | None):
    from server.observe import metrics

    async def serve_metrics(request: Request) -> Response:
        if not metrics.authorized(request.headers.get("authorization"), token):
            return PlainTextResponse(
                "send the metrics token as `Authorization: Bearer <token>`\n",
                401,
                headers={"www-authenticate": "Bearer"},
            )
        body = await run_in_threadpool(_in_connection, lambda: metrics.render(clock.now))
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return serve_metrics


async def readyz(request: Request) -> Response:
    """200 when the database answers and has every migration this server knows; else 503
    with the reason, so a load balancer sends traffic elsewhere until it is fixed."""
    problem = await run_in_threadpool(not_ready)
    if problem is not None:
        log.warning("not ready: %s", problem)
        return PlainTextResponse(f"not ready: {problem}\n", 503)
    return PlainTextResponse("ready\n")


def not_ready() -> str | None:
    """Why this process should not take traffic, or None."""
    from server.store import migrate

    if database.obj is None:
        return "no database is bound"
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
            pending = migrate.pending(database.obj)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"database unavailable: {first}"
    if pending:
        return (
            f"database migrations not applied: {', '.join(pending)}; "
            "run `jifen db upgrade` (or restart `jifen serve`, which applies them)"
        )
    return None


async def sample_pool_forever() -> None:
    """Keep this process's pool gauges current, so the sum over workers means something."""
    from server.observe import metrics

    while True:
        with contextlib.suppress(Exception):
            metrics.sample_pool()
        await asyncio.sleep(POOL_EVERY)


def _in_connection(work):
    with database.connection_context():
        return work()
