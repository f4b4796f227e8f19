"""The Starlette application: /graphql (HTTP and WebSocket), the ledger export, health."""

from __future__ import annotations

import asyncio
import logging
import math
import os
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from cross_web import HTTPException
from graphql import GraphQLError
from peewee import InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from server.api.context import Context, bearer_token
from server.api.cost import Budgets, has_nul, query_cost
from server.api.errors import is_unavailable
from server.api.gate import EXPORT_ROLES
from server.api.schema import build_schema, schema
from server.config import Config
from server.core import auth, history, notify, rules
from server.core.clock import Clock, SystemClock
from server.core.errors import ErrorCode
from server.store import migrate
from server.store.db import (
    DatabaseUnavailable,
    bind,
    database,
    is_postgres,
    open_database,
    write_transaction,
)
from server.store.listen import dsn_of, listen

log = logging.getLogger("jifen")


class GraphQLApp(GraphQL):
    """strawberry's ASGI view, executing each HTTP operation in a worker thread.

    Resolvers are plain functions over a synchronous database driver; running the whole
    operation in one thread keeps the event loop free and costs one hop per request.
    """

    def __init__(self, clock: Clock, config: Config, rng=None) -> None:
        super().__init__(
            schema if config.introspection else build_schema(introspection=False),
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            graphql_ide="graphiql" if config.graphiql else None,
        )
        self.clock = clock
        self.rng = rng
        self.budgets = Budgets(config.cost_budget, config.cost_window_seconds)

    async def get_context(self, request, response) -> Context:
        return Context(
            clock=self.clock,
            rng=self.rng,
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
        principal = await run_in_threadpool(in_connection, lambda: context.principal)
        if principal is None:
            raise ConnectionRejectionError({"reason": "a valid token is required"})
        return UNSET

    def _charge(self, context: Context, request_data):
        """Refuse NUL characters; price the operation and take it from the token's budget."""
        if has_nul(request_data.query or "", request_data.variables):
            error = GraphQLError(
                "text may not contain NUL characters",
                extensions={"code": ErrorCode.INVALID_INPUT.value},
            )
            return ExecutionResult(data=None, errors=[error]), None
        cost = query_cost(
            request_data.query or "", request_data.variables, request_data.operation_name
        )
        principal = context.principal
        if principal is None or cost == 0:
            return None, None
        who = f"{principal.role.value}:{principal.name}:{principal.member_id}"
        capacity = self.budgets.capacity
        if cost > capacity:
            error = GraphQLError(
                f"this query costs {cost}, more than a whole budget of {capacity}: ask for "
                "fewer items per page or fewer nested lists",
                extensions={
                    "code": ErrorCode.QUERY_TOO_COSTLY.value,
                    "cost": {"requested": cost, "budget": capacity},
                },
            )
            return ExecutionResult(data=None, errors=[error]), None
        allowed, remaining, wait = self.budgets.charge(who, cost)
        if not allowed:
            error = GraphQLError(
                f"query budget spent: retry in {math.ceil(wait)} s",
                extensions={
                    "code": ErrorCode.RATE_LIMITED.value,
                    "retryAfter": math.ceil(wait),
                    "cost": {"requested": cost, "remaining": int(remaining)},
                },
            )
            return ExecutionResult(data=None, errors=[error]), None
        return None, {"requested": cost, "remaining": int(remaining)}

    async def execute_single(
        self, request, request_adapter, sub_response, context, root_value, request_data
    ):
        allowed = OperationType.from_http(request_adapter.method)
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed = allowed - {OperationType.QUERY}

        def execute():
            try:
                return run()
            except (OperationalError, InterfaceError, DatabaseUnavailable) as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("database unavailable: %s", exc)
                error = GraphQLError(
                    "the database is unavailable; retry (with the same idempotency key)",
                    extensions={"code": ErrorCode.UNAVAILABLE.value},
                )
                return ExecutionResult(data=None, errors=[error])

        def run():
            with database.connection_context():
                refused, cost = self._charge(context, request_data)
                if refused is not None:
                    return refused
                result = self.schema.execute_sync(
                    request_data.query,
                    root_value=root_value,
                    variable_values=request_data.variables,
                    context_value=context,
                    operation_name=request_data.operation_name,
                    allowed_operation_types=allowed,
                    operation_extensions=request_data.extensions,
                )
                if cost is not None:
                    result.extensions = {**(result.extensions or {}), "cost": cost}
                return result

        try:
            return await run_in_threadpool(execute)
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except InvalidOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason(request_adapter.method)) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e


def create_app(
    *,
    database_url: str | None = None,
    clock: Clock | None = None,
    rules_dir: Path | None = None,
    bootstrap: bool = True,
    tick_seconds: float | None = None,
    rng=None,
    config: Config | None = None,
) -> Starlette:
    """The server. With `database_url` it opens and migrates that database on start;
    without, it uses the database already bound (tests)."""
    clock = clock or SystemClock()
    config = config or Config.from_env()
    graphql = GraphQLApp(clock, config, rng=rng)
    if tick_seconds is None:
        tick_seconds = float(os.environ.get("JIFEN_TICK_SECONDS", "60")) if database_url else 0

    @asynccontextmanager
    async def lifespan(app):
        scheduler = listener = None
        notify.broker.bind(asyncio.get_running_loop())
        if database_url is not None:
            db = bind(open_database(database_url))
            applied = migrate.upgrade(db)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            if rules_dir is not None:
                publish_directory(rules_dir, now=clock.now())
            if tick_seconds > 0:
                scheduler = asyncio.create_task(_scheduler(clock, tick_seconds))
            if bootstrap:
                key = auth.bootstrap_admin(now=clock.now())
                if key:
                    print(
                        "\n  First start: an admin key was created. It is shown only once:"
                        f"\n\n    {key}\n\n  Send it as `Authorization: Bearer <key>`.\n",
                        flush=True,
                    )
        if database.obj is not None and is_postgres():
            listener = asyncio.create_task(
                listen(dsn_of(database.obj), notify.CHANNEL, notify.dispatch)
            )
        yield
        for task in (scheduler, listener):
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
        try:
            since = _instant(request.query_params.get("from"), "from")
            until = _instant(request.query_params.get("to"), "to")
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
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/export/ledger.csv", export_ledger),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(BodyLimit, limit=config.max_body_bytes),
            *(
                [
                    Middleware(
                        CORSMiddleware,
                        allow_origins=list(config.cors_origins),
                        allow_methods=["GET", "POST"],
                        allow_headers=["authorization", "content-type"],
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


async def _scheduler(clock: Clock, every: float) -> None:
    """Run the periodic jobs every `every` seconds; each is idempotent across processes."""
    from server.core.tick import tick

    while True:
        await asyncio.sleep(every)
        try:
            report = await run_in_threadpool(in_connection, lambda: tick(clock.now()))
            if report.busy:
                log.info("tick: %s", report)
        except Exception:  # noqa: BLE001 - a failed run is logged; the next one retries
            log.exception("tick failed")


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


def _instant(value: str | None, name: str) -> datetime:
    if not value:
        raise ValueError(f"`{name}` is required, e.g. 2026-01-01T00:00:00+08:00")
    # An unencoded "+" in a query string arrives as a space.
    value = value.replace(" ", "+")
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"`{name}` is not an ISO 8601 date-time: {value!r}") from exc
    if at.tzinfo is None:
        raise ValueError(f"`{name}` needs a time zone offset, e.g. {value}+00:00")
    return at
