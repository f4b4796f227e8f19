"""One GraphQL request as it arrives over HTTP: read, checked and parsed, or refused.

Whatever is not one well-formed GraphQL request is refused here with a reason, before
anything runs: a body that is not UTF-8 or not JSON, a batch, parameters of the wrong
type, variables nested too deep, text no database stores (NUL, lone surrogates), a
document that does not parse or does not say which operation to run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
from starlette.requests import Request

from server.api.documents import Documents, Prepared, has_surrogate
from server.api.errors import parse_failure_code, with_code
from server.core.errors import ErrorCode

JSON = "application/json"
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
    query: str | None  # None only for a persisted query sent by its hash
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


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
    by_hash = isinstance(raw.get("extensions"), dict) and "persistedQuery" in raw["extensions"]
    if query is None and not by_hash:  # by hash: server/api/persisted.py fills it in
        raise RequestRefused(400, 'no GraphQL query: send {"query": "..."}')
    if query is not None and not isinstance(query, str):
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


def prepare(params: Params, method: str, documents: Documents) -> tuple[Prepared, Any]:
    """Check the text, parse it (once per text: server/api/documents.py), pick the
    operation to run and hold it to the limits, or refuse (InputRefused)."""
    for where, text in _texts(params):
        _check_text(text, where)
    prepared = documents.get(params.query)
    if prepared.error is not None:
        raise InputRefused.of(prepared.error, parse_failure_code(prepared.error))
    for where, text in prepared.bad_strings:
        _check_text(text, where)
    operations = prepared.operations
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
    if prepared.limit_errors:
        raise InputRefused.of(prepared.limit_errors[0], ErrorCode.GRAPHQL_VALIDATION_FAILED)
    return prepared, operation


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
            if has_surrogate(value):
                return path or "the top level"
        elif isinstance(value, dict):
            for key, item in value.items():
                if has_surrogate(key):
                    return f"{path}.{key!r}" if path else repr(key)
                stack.append((item, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{i}") for i, item in enumerate(value))
    return None


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


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise InputRefused(
            ErrorCode.INVALID_INPUT,
            f"{where} contains a NUL character, which text may not contain",
        )
    if has_surrogate(text):
        raise InputRefused(
            ErrorCode.INVALID_INPUT,
            f"{where} contains a lone surrogate: text must be valid Unicode",
        )


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None
