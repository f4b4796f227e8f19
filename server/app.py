"""The Starlette application: /graphql (HTTP and WebSocket), the ledger export, health."""

from __future__ import annotations

import asyncio
import gc
import logging
import time as timer
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from server import graphiql
from server.api.context import Context, bearer_token
from server.api.cost import Budgets
from server.api.gate import EXPORT_ROLES
from server.api.http import GraphQLHTTP
from server.api.realtime import TransportWSHandler, refusal
from server.api.scalars import instant_problem
from server.api.schema import build_schema, schema
from server.config import Config
from server.console import console_app
from server.core import deliveries, history, notify, program, rules
from server.core.clock import Clock, SystemClock
from server.core.generation import CHANNEL as GENERATION_CHANNEL
from server.core.generation import generation
from server.observe import endpoints, tracing
from server.observe import metrics as metered
from server.observe.requests import RequestIds
from server.preflight import bootstrap_admin_key
from server.store import migrate, writer
from server.store.db import (
    bind,
    database,
    is_postgres,
    open_database,
    write_transaction,
)
from server.store.listen import dsn_of, listen

log = logging.getLogger("jifen")


class SubscriptionApp(GraphQL):
    """strawberry's ASGI app, for subscriptions over WebSocket; queries and mutations over
    HTTP go to the project's own endpoint (server/api/http.py)."""

    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, schema, config: Config, http: GraphQLHTTP) -> None:
        super().__init__(
            schema,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            graphql_ide=None,  # GraphiQL is jifen's own page (server/graphiql)
        )
        self.http = http

    async def get_context(self, request, response) -> Context:
        return Context(
            clock=self.http.clock,
            rng=self.http.rng,
            token=bearer_token(request.headers),
            request=request,
            response=response,
        )

    async def on_ws_connect(self, context: Context):
        """Subscriptions authenticate in connection_init: {"authorization": "Bearer <key>"}."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or params.get("token")
        token = (
            raw.split(" ", 1)[1].strip()
            if isinstance(raw, str) and raw.lower().startswith("bearer ")
            else raw
        )
        context.token = token if isinstance(token, str) and token else None
        refused = await run_in_threadpool(in_connection, lambda: refusal(context))
        if refused is not None:
            context.request.state.refusal = refused
            raise refused
        return UNSET


def create_app(
    *,
    database_url: str | None = None,
    clock: Clock | None = None,
    rules_dir: Path | None = None,
    bootstrap: bool = True,
    tick_seconds: float | None = None,
    rng=None,
    config: Config | None = None,
    prepare: bool = True,
) -> Starlette:
    """The server. With `database_url` it opens that database on start and, unless told
    not to (`prepare=False`: a worker of several, whose parent did it), migrates it,
    publishes `rules_dir` and makes the first admin key; without, it uses the database
    already bound (tests)."""
    clock = clock or SystemClock()
    config = config or Config.from_env()
    if config.tracing:
        tracing.setup()
    served = (
        schema
        if config.introspection and not config.tracing
        else build_schema(introspection=config.introspection, tracing=config.tracing)
    )
    budgets = Budgets(config.cost_budget, config.cost_window_seconds, shared=None)
    graphql = GraphQLHTTP(served, clock=clock, budgets=budgets, rng=rng)
    subscriptions = SubscriptionApp(served, config, graphql)
    if config.graphiql:
        graphql.ide = graphiql.page
    if tick_seconds is None:
        tick_seconds = config.tick_seconds if database_url else 0

    @asynccontextmanager
    async def lifespan(app):
        scheduler = listener = hooks = None
        notify.broker.bind(asyncio.get_running_loop())
        if database_url is not None:
            if prepare:
                prepare_database(database_url, rules_dir, clock=clock, bootstrap=bootstrap)
            else:
                bind(open_database(database_url))
            if tick_seconds > 0:
                scheduler = asyncio.create_task(_scheduler(clock, tick_seconds))
            if config.webhook_seconds > 0:
                hooks = asyncio.create_task(
                    deliveries.work_forever(
                        clock, config.webhook_seconds, config.webhook_timeout_seconds
                    )
                )
        if database.obj is not None and is_postgres():
            channels = {
                notify.CHANNEL: notify.dispatch,
                GENERATION_CHANNEL: generation.heard,
            }
            listening = asyncio.Event()
            listener = asyncio.create_task(
                listen(
                    dsn_of(database.obj), channels, ready=listening, on_connect=generation.expire
                )
            )
            await _until_listening(listening)
        writer.start()
        sampler = asyncio.create_task(endpoints.sample_pool_forever())
        yield
        await run_in_threadpool(writer.stop)
        metered.stop()
        for task in (scheduler, listener, sampler, hooks):
            if task is not None:
                task.cancel()
        if database_url is not None:
            database.obj.close_all()

    async def export_ledger(request: Request):
        context = Context(clock=clock, token=bearer_token(request.headers))
        principal = await run_in_threadpool(in_connection, lambda: context.principal)
        if principal is None:
            return JSONResponse(
                {
                    "error": "UNAUTHENTICATED",
                    "message": "send an analyst or admin key as `Authorization: Bearer <key>`",
                },
                401,
            )
        if principal.role not in EXPORT_ROLES:
            return JSONResponse(
                {
                    "error": "FORBIDDEN",
                    "message": "only analyst and admin keys may export the ledger",
                },
                403,
            )
        zone = await run_in_threadpool(in_connection, lambda: program.load().zone)
        try:
            since = _instant(request.query_params.get("from"), "from", zone)
            until = _instant(request.query_params.get("to"), "to", zone)
        except ValueError as exc:
            return JSONResponse({"error": "INVALID_INPUT", "message": str(exc)}, 400)
        if until <= since:
            return JSONResponse(
                {"error": "INVALID_INPUT", "message": "`to` must be after `from`"}, 400
            )
        name = f"ledger-{since:%Y%m%d}-{until:%Y%m%d}.csv"
        return StreamingResponse(
            _each_in_connection(history.export_csv(since, until)),
            media_type="text/csv",
            headers={"content-disposition": f"attachment; filename={name}"},
        )

    async def health(request: Request):
        try:
            await run_in_threadpool(in_connection, lambda: database.execute_sql("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            log.warning("health check failed: %s", exc)
            return PlainTextResponse("database unavailable\n", 503)
        return PlainTextResponse("ok\n")

    app = Starlette(
        routes=[
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", subscriptions),
            Route("/export/ledger.csv", export_ledger),
            Route("/healthz", health),
            Route("/readyz", endpoints.readyz),
            *(
                [Route("/metrics", endpoints.metrics_endpoint(clock, config.metrics_token))]
                if config.metrics
                else []
            ),
            *([Mount("/graphiql", graphiql.assets)] if config.graphiql else []),
            Mount("/console", console_app(config.language)),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIds),
            Middleware(BodyLimit, limit=config.max_body_bytes),
            *(
                [
                    Middleware(
                        CORSMiddleware,
                        allow_origins=list(config.cors_origins),
                        allow_methods=["GET", "POST"],
                        allow_headers=["authorization", "content-type", "x-request-id"],
                        expose_headers=["x-request-id"],
                    )
                ]
                if config.cors_origins
                else []
            ),
        ],
    )
    app.state.clock = clock
    app.state.graphql = graphql  # tests seed its lottery generator (graphql.rng)
    return app


def prepare_database(
    url: str, rules_dir: Path | None, *, clock: Clock, bootstrap: bool = True
) -> None:
    """Bind, migrate, publish the rules directory and make the first admin key (printed
    once): what a server does on start, and `jifen serve --workers` once for all."""
    db = bind(open_database(url))
    applied = migrate.upgrade(db)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    if rules_dir is not None:
        publish_directory(rules_dir, now=clock.now())
    if bootstrap:
        key_file = bootstrap_admin_key()
        if key_file is not None:
            log.info("first start: an admin key was written to %s", key_file)


def worker_app() -> Starlette:
    """One of `jifen serve --workers N`: the parent prepared the database already."""
    from server.observe import logs
    from server.store.db import database_url

    logs.configure()  # a worker is a fresh process: its logging is not the parent's
    app = create_app(database_url=database_url(), prepare=False)
    freeze_start_up()
    return app


def freeze_start_up() -> None:
    """What start-up made (modules, the schema, caches) lives as long as the process:
    frozen, a full collection no longer walks it (~45 ms each, now and then a request's
    tail). The thresholds stay: larger ones made fewer but longer pauses, measured worse
    at the 99th percentile (docs/performance.md, section 12)."""
    gc.collect()
    gc.freeze()


LISTEN_WAIT_SECONDS = 10.0


async def _until_listening(listening: asyncio.Event) -> None:
    """Serve once this process hears other processes' changes: a request served before
    would not see an announced revocation until the generation's next re-read. The
    database may be down at start; then serve anyway after a while (the listener keeps
    trying, and the re-read once a second still applies)."""
    try:
        await asyncio.wait_for(listening.wait(), LISTEN_WAIT_SECONDS)
    except TimeoutError:
        log.warning(
            "not yet listening for announced changes after %.0f s; serving anyway",
            LISTEN_WAIT_SECONDS,
        )


async def _scheduler(clock: Clock, every: float) -> None:
    """Run the periodic jobs every `every` seconds; each is idempotent across processes."""
    from server.core.tick import tick

    while True:
        await asyncio.sleep(every)
        began = timer.perf_counter()
        try:
            report = await run_in_threadpool(in_connection, lambda: tick(clock.now()))
            if report.busy:
                log.info("tick: %s", report)
        except Exception:  # noqa: BLE001 - a failed run is logged; the next one retries
            log.exception("tick failed")
            metered.scheduler_run(timer.perf_counter() - began, ok=False)
        else:
            metered.scheduler_run(timer.perf_counter() - began, ok=True)


def publish_directory(rules_dir: Path, *, now: datetime) -> None:
    """Make the rule files of a directory the rules in force (new versions where changed)."""
    import dsl

    with write_transaction():
        published, diagnostics = rules.publish(
            dsl.read_directory(rules_dir), now=now, actor="rules directory"
        )
    for d in diagnostics:
        log.warning("%s", d.format())
    changed = [f"{p.campaign} v{p.version}" for p in published if p.changed]
    log.info(
        "rules from %s: %d campaigns%s",
        rules_dir,
        len(published),
        f"; new versions: {', '.join(changed)}" if changed else ", none changed",
    )


class BodyLimit:
    """Refuse request bodies larger than `limit` bytes with 413, before reading them all."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send):
        body = (
            b'{"errors":[{"message":"request body too large","extensions":{"code":'
            b'"INVALID_INPUT"}}]}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def in_connection(work):
    """Run `work` holding a pooled connection, returned when it is done."""
    with database.connection_context():
        return work()


def _each_in_connection(chunks):
    # A streamed body is pulled from whichever worker thread is free, so each step
    # takes and returns its own connection; the export pages by keyset, never by cursor.
    iterator = iter(chunks)
    while True:
        chunk = in_connection(lambda: next(iterator, None))
        if chunk is None:
            return
        yield chunk


def _instant(value: str | None, name: str, zone: tzinfo) -> datetime:
    """A bound of the export: a date-time with an offset, or a date (midnight in the
    program's time zone, as `jifen export ledger` reads it)."""
    examples = "e.g. 2026-01-01 or 2026-01-01T00:00:00+08:00"
    if not value:
        raise ValueError(f"`{name}` is required, {examples}")
    # An unencoded "+" in a query string arrives as a space.
    value = value.replace(" ", "+")
    try:
        at = (
            datetime.combine(date.fromisoformat(value), time(), zone)
            if ":" not in value
            else datetime.fromisoformat(value)
        )
    except ValueError as exc:
        raise ValueError(
            f"`{name}` is not an ISO 8601 date or date-time: {value[:40]!r}; {examples}"
        ) from exc
    if at.tzinfo is None:
        # The example is built from what was understood, so it is itself accepted.
        example = at.replace(tzinfo=UTC).isoformat()
        raise ValueError(f"`{name}` needs a time zone offset, e.g. {example}")
    # Checked before the first byte is sent: a failure inside the stream would cut it.
    problem = instant_problem(at)
    if problem:
        raise ValueError(f"`{name}` {problem}")
    return at
