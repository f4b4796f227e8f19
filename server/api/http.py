"""GraphQL over HTTP at /graphql: GET and POST, by the GraphQL-over-HTTP specification.

The endpoint reads the request's bytes itself (server/api/request.py refuses, with a JSON
error that has a code, whatever is not one well-formed GraphQL request), prices the
operation against the caller's budget and runs it with strawberry's public
`Schema.execute_sync` in a worker thread. Every answer is JSON and every error carries
`extensions.code`.

Status codes: `application/json` answers 200 for every well-formed request, errors
included; `application/graphql-response+json` (when the client accepts it) answers 400
for a request that did not run (parse, validation, variables), 429 when rate limited.
Malformed requests get 400, unsupported media types 415, mutations over GET 405.
"""

from __future__ import annotations

import json
import logging
import math
from time import perf_counter
from typing import Any

import orjson
from graphql import (
    BREAK,
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    ListValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
    visit,
)
from graphql.language import Visitor
from peewee import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types.graphql import OperationType as StrawberryOperationType

from server.api.context import Context, bearer_token
from server.api.cost import Budgets
from server.api.errors import is_unavailable
from server.api.persisted import PersistedQueries
from server.api.request import JSON, InputRefused, Params, RequestRefused, prepare, read_params
from server.api.scalars import InputValueError
from server.core.clock import Clock
from server.core.errors import ErrorCode
from server.observe import metrics
from server.observe.requests import current as request_id
from server.store.db import DatabaseUnavailable, connection_lost, database

log = logging.getLogger("jifen.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"


class GraphQLHTTP:
    """The ASGI app behind Route("/graphql"); a browser's GET goes to `ide` (GraphiQL)."""

    def __init__(self, schema, *, clock: Clock, budgets: Budgets, ide=None, rng=None) -> None:
        self.schema = schema
        self.clock = clock
        self.budgets = budgets
        self.ide = ide
        self.rng = rng  # lottery draws: None means the system's secure generator
        self.persisted = PersistedQueries()  # this process's, by hash (server/api/persisted.py)

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        if _wants_ide(request):
            if self.ide is not None:
                return await self.ide(scope, receive, send)
            response = _refusal(
                RequestRefused(404, "GraphiQL is turned off here; POST GraphQL as JSON"), JSON
            )
        else:
            response = await self.respond(request)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        began = perf_counter()
        media = _media_type(request.headers.get("accept"))
        name, kind = "unknown", "unknown"  # until the request is understood
        try:
            params = await read_params(request)
            context = Context(
                clock=self.clock, rng=self.rng, token=bearer_token(request.headers), request=request
            )
            try:
                digest = None
                if params.query is None or (
                    params.extensions is not None and "persistedQuery" in params.extensions
                ):
                    digest = self.persisted.resolve(params)
                prepared, operation = prepare(params, request.method, self.schema.documents)
                if digest is not None:
                    self.persisted.keep(digest, params.query)
            except InputRefused as refused:
                payload = _payload(errors=[refused.error])
                metrics.observe_request(name, kind, "user_error", perf_counter() - began)
                return _result(payload, media, ran=False)
            kind = operation.operation.value
            name = operation.name.value if operation.name is not None else "anonymous"
            client = request.client.host if request.client else "unknown"
            payload, ran = await run_in_threadpool(
                self.execute, params, prepared, operation, context, client
            )
            outcome = metrics.outcome_of(payload)
            metrics.observe_request(name, kind, outcome, perf_counter() - began)
            return _result(payload, media, ran)
        except RequestRefused as refused:
            outcome = "error" if refused.status >= 500 else "user_error"
            metrics.observe_request(name, kind, outcome, perf_counter() - began)
            return _refusal(refused, media)
        except Exception:  # noqa: BLE001 - a bug still answers JSON, and is logged
            log.exception("unexpected error serving %s /graphql", request.method)
            metrics.observe_request(name, kind, "error", perf_counter() - began)
            refused = RequestRefused(500, "Internal error; it has been logged.", ErrorCode.INTERNAL)
            return _refusal(refused, media)

    def execute(self, params, prepared, operation, context, client) -> tuple[dict, bool]:
        """Charge the caller and run the operation; (response body, whether it ran)."""
        document = prepared.document
        try:
            # A connection is taken from the pool when a statement first needs one, and
            # given back at the end: a check-in's writes go through the writer's own
            # connection, and its request thread never needs one.
            try:
                cost = self.charge(context, prepared, params, client)
                operation_type = StrawberryOperationType(operation.operation.value)
                result = self.schema.execute_sync(
                    params.query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types={operation_type},
                    operation_extensions=params.extensions,
                )
            finally:
                if not database.is_closed():
                    database.close()
        except InputRefused as refused:
            return _payload(errors=[refused.error]), False
        except (OperationalError, InterfaceError, DatabaseUnavailable) as exc:
            if not is_unavailable(exc):
                raise
            connection_lost()
            log.warning("database unavailable: %s", exc)
            error = GraphQLError(
                "the database is unavailable; retry (with the same idempotency key)",
                extensions={"code": ErrorCode.UNAVAILABLE.value},
            )
            return _payload(errors=[error]), False
        errors = [_located(e, document) for e in result.errors or ()]
        ran = result.data is not None or any(e.path is not None for e in errors)
        extensions = dict(result.extensions or {})
        if cost is not None:
            extensions["cost"] = cost
        return _payload(result.data, errors, extensions or None, ran=ran), ran

    def charge(self, context: Context, prepared, params: Params, client: str) -> dict | None:
        """Price the operation and take it from the caller's budget: an API key's or a
        member's, and an anonymous client's by its address."""
        cost = prepared.measure.cost(params.operation_name, params.variables)
        if cost == 0:
            return None
        capacity = self.budgets.capacity
        if cost > capacity:
            raise InputRefused(
                ErrorCode.QUERY_TOO_COSTLY,
                f"this query costs {cost}, more than a whole budget of {capacity}: ask for "
                "fewer items per page or fewer nested lists",
                {"cost": {"requested": cost, "budget": capacity}},
            )
        principal = context.principal
        who = (
            f"{principal.role.value}:{principal.name}:{principal.member_id}"
            if principal is not None
            else f"address:{client}"
        )
        allowed, remaining, wait = self.budgets.charge(who, cost)
        if not allowed:
            raise InputRefused(
                ErrorCode.RATE_LIMITED,
                f"query budget spent: retry in {math.ceil(wait)} s",
                {
                    "retryAfter": math.ceil(wait),
                    "cost": {"requested": cost, "remaining": int(remaining)},
                },
            )
        return {"requested": cost, "remaining": int(remaining)}


def _located(error: GraphQLError, document: DocumentNode) -> GraphQLError:
    """A scalar's refusal of a literal names the argument it was given for, and where:
    graphql-core passes the scalar's error on without either."""
    if not isinstance(error, InputValueError) or error.locations:
        return error
    found: list[tuple[str, ValueNode]] = []

    class Find(Visitor):
        def enter(self, node, key, parent, path, ancestors):
            if found or not isinstance(node, ValueNode) or isinstance(node, VariableNode):
                return None
            if isinstance(node, ListValueNode | ObjectValueNode):
                return None
            if value_from_ast_untyped(node) != error.value:
                return None
            names = [
                a.name.value
                for a in [*ancestors, parent]
                if isinstance(a, ArgumentNode | ObjectFieldNode)
            ]
            found.append((".".join(names), node))
            return BREAK

    visit(document, Find())
    if not found:
        return error
    where, node = found[0]
    return GraphQLError(f"argument `{where}`: {error.message}", node, extensions=error.extensions)


def _wants_ide(request: Request) -> bool:
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


def _media_type(accept: str | None) -> str:
    """application/graphql-response+json when the client accepts it, else JSON."""
    if accept and GRAPHQL_RESPONSE in accept.lower():
        return GRAPHQL_RESPONSE
    return JSON


def _payload(data=None, errors=(), extensions=None, *, ran: bool = False) -> dict:
    body: dict[str, Any] = {}
    if ran or data is not None:
        body["data"] = data
    if errors:
        body["errors"] = [_formatted(e) for e in errors]
    if extensions:
        body["extensions"] = extensions
    return body


def _formatted(error: GraphQLError) -> dict:
    formatted = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    if not extensions.get("code"):
        # Every error a client sees has a code; one without is a bug of ours.
        extensions["code"] = "INTERNAL"
    # What to quote when asking about it: the server's log lines carry the same id.
    extensions["requestId"] = request_id.get()
    formatted["extensions"] = extensions
    return formatted


def _result(payload: dict, media: str, ran: bool) -> Response:
    status, headers = 200, {}
    codes = [e["extensions"]["code"] for e in payload.get("errors", ())]
    if "RATE_LIMITED" in codes:
        retry = payload["errors"][0]["extensions"].get("retryAfter")
        if retry is not None:
            headers["retry-after"] = str(retry)
    if media == JSON:
        # application/json keeps the data entry for clients written before the media type
        # existed, and answers 200: the errors are in the body.
        payload = {"data": None, **payload}
    elif not ran:
        status = 429 if "RATE_LIMITED" in codes else 503 if "UNAVAILABLE" in codes else 400
    return Response(_dumps(payload), status, headers, media_type=media)


def _refusal(refused: RequestRefused, media: str) -> Response:
    extensions = {"code": refused.code.value, "requestId": request_id.get()}
    body = {"errors": [{"message": refused.message, "extensions": extensions}]}
    headers = {k.replace("_", "-"): v for k, v in refused.headers.items()}
    return Response(_dumps(body), refused.status, headers, media_type=media)


def _dumps(body: dict) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError: text or numbers orjson cannot write
        return json.dumps(body, default=str).encode()
