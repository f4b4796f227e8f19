"""GraphQL over HTTP at /graphql: GET and POST, by the GraphQL-over-HTTP specification.

The endpoint reads the request's bytes itself and refuses, with a JSON error that has a
code, whatever is not one well-formed GraphQL request: a body that is not UTF-8 or not
JSON, a batch, parameters of the wrong type, text no database stores (NUL, lone
surrogates). It then parses the document once, picks the operation, prices it against
the caller's budget and runs it with strawberry's `Schema.execute_sync` in a worker
thread. Every answer is JSON and every error carries `extensions.code`.

Status codes: `application/json` answers 200 for every well-formed request, errors
included; `application/graphql-response+json` (when the client accepts it) answers 400
for a request that did not run (parse, validation, variables), 429 when rate limited.
Malformed requests get 400, unsupported media types 415, mutations over GET 405.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
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
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    ValueNode,
    VariableNode,
    parse,
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
from server.api.cost import Budgets, query_cost
from server.api.errors import is_unavailable, parse_failure_code, with_code
from server.api.scalars import InputValueError
from server.api.schema import MAX_TOKENS
from server.core.clock import Clock
from server.core.errors import ErrorCode
from server.store.db import DatabaseUnavailable, database

log = logging.getLogger("jifen.http")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MAX_VARIABLE_DEPTH = 32  # nesting of the variables' JSON; no input type needs more


class RequestRefused(Exception):
    """Not a well-formed GraphQL request: answered with `status` and nothing runs."""

    def __init__(
        self, status: int, message: str, code: ErrorCode = ErrorCode.INVALID_INPUT, **headers
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


class InputRefused(Exception):
    """A well-formed request whose operation cannot run; answered as a GraphQL error."""

    def __init__(self, code: ErrorCode, message: str, extensions: dict | None = None) -> None:
        super().__init__(message)
        self.error = GraphQLError(message, extensions={**(extensions or {}), "code": code.value})

    @classmethod
    def of(cls, error: GraphQLError, code: ErrorCode) -> InputRefused:
        refused = cls(code, error.message)
        refused.error = with_code(error, code)
        return refused


@dataclass
class Params:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


class GraphQLHTTP:
    """The ASGI app behind Route("/graphql"); a browser's GET goes to `ide` (GraphiQL)."""

    def __init__(self, schema, *, clock: Clock, budgets: Budgets, ide=None, rng=None) -> None:
        self.schema = schema
        self.clock = clock
        self.budgets = budgets
        self.ide = ide
        self.rng = rng  # lottery draws: None means the system's secure generator

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
        media = _media_type(request.headers.get("accept"))
        try:
            params = await read_params(request)
            context = Context(
                clock=self.clock, rng=self.rng, token=bearer_token(request.headers), request=request
            )
            try:
                document, operation = prepare(params, request.method)
            except InputRefused as refused:
                return _result(_payload(errors=[refused.error]), media, ran=False)
            client = request.client.host if request.client else "unknown"
            payload, ran = await run_in_threadpool(
                self.execute, params, document, operation, context, client
            )
            return _result(payload, media, ran)
        except RequestRefused as refused:
            return _refusal(refused, media)
        except Exception:  # noqa: BLE001 - a bug still answers JSON, and is logged
            log.exception("unexpected error serving %s /graphql", request.method)
            refused = RequestRefused(500, "Internal error; it has been logged.", ErrorCode.INTERNAL)
            return _refusal(refused, media)

    def execute(self, params, document, operation, context, client) -> tuple[dict, bool]:
        """Charge the caller and run the operation; (response body, whether it ran)."""
        try:
            with database.connection_context():
                cost = self.charge(context, document, params, client)
                operation_type = StrawberryOperationType(operation.operation.value)
                result = self.schema.execute_sync(
                    params.query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types={operation_type},
                    operation_extensions=params.extensions,
                )
        except InputRefused as refused:
            return _payload(errors=[refused.error]), False
        except (OperationalError, InterfaceError, DatabaseUnavailable) as exc:
            if not is_unavailable(exc):
                raise
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

    def charge(self, context: Context, document, params: Params, client: str) -> dict | None:
        """Price the operation and take it from the caller's budget: an API key's or a
        member's, and an anonymous client's by its address."""
        try:
            cost = query_cost(document, params.variables, params.operation_name)
        except RecursionError:
            raise InputRefused(
                ErrorCode.GRAPHQL_VALIDATION_FAILED, "the document nests too deeply"
            ) from None
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


async def read_params(request: Request) -> Params:
    """The request's parameters, from the query string (GET) or a JSON body (POST)."""
    if request.method in ("GET", "HEAD"):
        raw: Any = dict(request.query_params)
        for name in ("variables", "extensions"):
            if isinstance(raw.get(name), str) and raw[name]:
                raw[name] = _loads(raw[name].encode(), f"the `{name}` parameter")
            elif raw.get(name) == "":
                raw[name] = None
    elif request.method == "POST":
        media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if media != JSON:
            raise RequestRefused(
                415,
                "send the request as JSON with `Content-Type: application/json`"
                + (f" (not {media[:60]!r})" if media else ""),
            )
        charset = _charset(request.headers.get("content-type", ""))
        if charset not in (None, "utf-8", "utf8"):
            raise RequestRefused(415, f"the body must be UTF-8, not {charset[:40]!r}")
        raw = _loads(await request.body(), "the body")
    else:
        raise RequestRefused(
            405, f"{request.method[:20]} is not supported: use GET or POST", allow="GET, POST"
        )
    if isinstance(raw, list):
        raise RequestRefused(400, "batches are not accepted: send one operation per request")
    if not isinstance(raw, dict):
        raise RequestRefused(400, "the body must be a JSON object with a `query`")
    query = raw.get("query")
    if query is None:
        raise RequestRefused(400, 'no GraphQL query: send {"query": "..."}')
    if not isinstance(query, str):
        raise RequestRefused(400, "`query` must be a string")
    for name, kinds in (("variables", dict), ("extensions", dict), ("operationName", str)):
        if raw.get(name) is not None and not isinstance(raw[name], kinds):
            wanted = "an object" if kinds is dict else "a string"
            raise RequestRefused(400, f"`{name}` must be {wanted} or null")
    variables = raw.get("variables")
    if _depth(variables) > MAX_VARIABLE_DEPTH:
        raise RequestRefused(400, f"`variables` nest deeper than {MAX_VARIABLE_DEPTH} levels")
    params = Params(query, variables, raw.get("operationName"), raw.get("extensions"))
    return params


def prepare(params: Params, method: str) -> tuple[DocumentNode, OperationDefinitionNode]:
    """Check the text, parse it and pick the operation to run, or refuse (InputRefused)."""
    for where, text in _texts(params):
        _check_text(text, where)
    try:
        document = parse_document(params.query)
    except GraphQLError as error:
        raise InputRefused.of(error, parse_failure_code(error)) from None
    for where, text in _literals(document):
        _check_text(text, where)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if params.operation_name is not None:
        chosen = [o for o in operations if o.name and o.name.value == params.operation_name]
        if not chosen:
            raise InputRefused(
                ErrorCode.GRAPHQL_VALIDATION_FAILED,
                f"no operation named {params.operation_name[:60]!r} in the document",
            )
        operation = chosen[0]
    elif len(operations) == 1:
        operation = operations[0]
    else:
        raise InputRefused(
            ErrorCode.GRAPHQL_VALIDATION_FAILED,
            "the document has no operation"
            if not operations
            else "the document has several operations: name the one to run in `operationName`",
        )
    if operation.operation is OperationType.SUBSCRIPTION:
        raise InputRefused(
            ErrorCode.GRAPHQL_VALIDATION_FAILED,
            "subscriptions run over the WebSocket at /graphql (graphql-transport-ws)",
        )
    if operation.operation is OperationType.MUTATION and method != "POST":
        raise RequestRefused(405, "mutations are accepted over POST only", allow="POST")
    return document, operation


@lru_cache(maxsize=512)
def parse_document(text: str) -> DocumentNode:
    """The parsed document, within the token limit the schema enforces too."""
    return parse(text, max_tokens=MAX_TOKENS)


def _loads(data: bytes, what: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRefused(400, f"{what} is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise RequestRefused(400, f"{what} is empty: send a JSON object with a `query`")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        problem = str(exc)
    # orjson refuses escaped lone surrogates ("\ud800"), which JSON's grammar allows: find
    # where one is, to name it, as no database can store it.
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise RequestRefused(400, f"{what} is not JSON: {problem}") from None
    where = _surrogate_path(value, "")
    if where is None:  # something else orjson refuses, e.g. a number beyond a double
        raise RequestRefused(400, f"{what} is not JSON as this server reads it: {problem}")
    raise RequestRefused(
        400,
        f"{what} holds a lone surrogate at {where} (an unpaired \\ud800-\\udfff escape):"
        " text must be valid Unicode",
    )


def _surrogate_path(value: Any, path: str) -> str | None:
    stack = [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                return path or "the top level"
        elif isinstance(value, dict):
            for key, item in value.items():
                if _has_surrogate(key):
                    return f"{path}.{key!r}" if path else repr(key)
                stack.append((item, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{i}") for i, item in enumerate(value))
    return None


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_VARIABLE_DEPTH:
                items = value.values() if isinstance(value, dict) else value
                stack.extend((item, level + 1) for item in items)
    return deepest


def _texts(params: Params):
    yield "query", params.query
    if params.operation_name is not None:
        yield "operationName", params.operation_name
    stack: list[tuple[Any, str]] = [(params.variables or {}, "variables")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield f"{path} (a key)", key
                stack.append((item, f"{path}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{i}") for i, item in enumerate(value))


def _literals(document: DocumentNode):
    found: list[tuple[str, str]] = []

    class Strings(Visitor):
        def enter_argument(self, node, *_):
            self.argument = node.name.value

        def enter_string_value(self, node: StringValueNode, *_):
            if "\x00" in node.value or _has_surrogate(node.value):
                where = getattr(self, "argument", None)
                found.append((f"argument `{where}`" if where else "a string", node.value))

    visit(document, Strings())
    return found


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise InputRefused(
            ErrorCode.INVALID_INPUT,
            f"{where} contains a NUL character, which text may not contain",
        )
    if _has_surrogate(text):
        raise InputRefused(
            ErrorCode.INVALID_INPUT,
            f"{where} contains a lone surrogate: text must be valid Unicode",
        )


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


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


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
    if not (formatted.get("extensions") or {}).get("code"):
        # Every error a client sees has a code; one without is a bug of ours.
        formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": "INTERNAL"}
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
    body = {"errors": [{"message": refused.message, "extensions": {"code": refused.code.value}}]}
    headers = {k.replace("_", "-"): v for k, v in refused.headers.items()}
    return Response(_dumps(body), refused.status, headers, media_type=media)


def _dumps(body: dict) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError: text or numbers orjson cannot write
        return json.dumps(body, default=str).encode()
