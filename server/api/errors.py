"""Errors as the API shows them: user errors in payloads, top-level errors for the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import strawberry
from graphql import GraphQLError
from peewee import InterfaceError, OperationalError
from strawberry.extensions import MaskErrors

from server.api.error_codes import MEANINGS
from server.core.errors import DomainError, ErrorCode
from server.observe.requests import current as request_id
from server.store.db import (
    DatabaseUnavailable,
    connection_lost,
    connection_problem,
    retryable,
)
from server.store.writer import write

log = logging.getLogger("jifen.api")

ErrorCodeType = strawberry.enum(
    ErrorCode, name="ErrorCode", description="A stable code for every failure a client can see."
)
for _value in ErrorCodeType.__strawberry_definition__.values:
    _value.description = MEANINGS[ErrorCode(_value.value)]  # the core enum knows no GraphQL


@strawberry.type(description="An expected failure of a mutation; nothing was changed.")
class UserError:
    code: ErrorCodeType = strawberry.field(description="Stable code to branch on.")
    message: str = strawberry.field(description="What went wrong, in words for a person.")
    field: str | None = strawberry.field(
        default=None, description="The input field the error is about, if any."
    )
    line: int | None = strawberry.field(
        default=None, description="Line in rule source, for rule errors."
    )
    column: int | None = strawberry.field(
        default=None, description="Column in rule source, for rule errors."
    )

    @classmethod
    def of(cls, exc: DomainError) -> UserError:
        return cls(code=exc.code, message=exc.message, field=exc.field)


@strawberry.type(description="Something the caller should know about a change that was made.")
class Warning:
    code: ErrorCodeType = strawberry.field(description="Stable code to branch on.")
    message: str = strawberry.field(description="What to know, in words for a person.")
    field: str | None = strawberry.field(
        default=None, description="The input field it is about, if any."
    )

    @classmethod
    def of(cls, exc: DomainError) -> Warning:
        return cls(code=exc.code, message=exc.message, field=exc.field)


class ApiError(GraphQLError):
    """A top-level error the client may read: bad request, authentication, unavailability."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, extensions={"code": code.value})


P = TypeVar("P")
RETRIES = 5  # attempts of a mutation that keeps meeting deadlocks


def mutation(payload: Callable[..., P], work: Callable[[], P], *, writes: bool = False) -> P:
    """Run a mutation's work in a write transaction; expected failures become the
    payload's userErrors, and then nothing the work did is kept.

    The transaction is shared with the mutations that arrive meanwhile (group commit,
    server/store/writer.py): the work runs in a savepoint of its own and the request is
    answered once the shared commit is durable. A deadlock or serialization failure undid
    the work, idempotency keys included, so it simply runs again (a few times) before it
    is an error. `writes=True`: the work hands its write to the writer itself
    (`writer.together`) and runs the rest — cleaning the input, building the payload —
    in the request's own thread.
    """
    for attempt in range(RETRIES):
        try:
            return work() if writes else write(work)
        except (OperationalError, InterfaceError) as exc:
            if not retryable(exc) or attempt == RETRIES - 1:
                raise
            log.info("retrying after %s", type(exc.__cause__ or exc).__name__)
        except DomainError as exc:
            return payload(user_errors=[UserError.of(exc)])
        except DatabaseUnavailable as exc:
            log.warning("database unavailable: %s", exc)
            raise ApiError(
                ErrorCode.UNAVAILABLE,
                "the database is unavailable; retry with the same idempotency key",
            ) from exc
    raise AssertionError("unreachable")


def query(work: Callable[[], P]) -> P:
    """Run a query's work; expected failures become top-level errors with a code."""
    try:
        return work()
    except DomainError as exc:
        raise ApiError(exc.code, exc.message) from exc
    except DatabaseUnavailable as exc:
        raise ApiError(ErrorCode.UNAVAILABLE, "the database is unavailable; retry") from exc


def should_mask(error: GraphQLError) -> bool:
    """Hide everything that was not raised on purpose; the server log keeps the details."""
    original = error.original_error
    if original is None or isinstance(original, (ApiError, GraphQLError)):
        return False
    return True


class MaskUnexpected(MaskErrors):
    """Replace unexpected errors by a fixed message with the code INTERNAL."""

    def __init__(self) -> None:
        super().__init__(
            should_mask_error=should_mask, error_message="Internal error; it has been logged."
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        if is_unavailable(error.original_error):
            connection_lost()
            masked.message = "the database is unavailable; retry (with the same idempotency key)"
            masked.extensions = {"code": ErrorCode.UNAVAILABLE.value}
        else:
            masked.extensions = {"code": ErrorCode.INTERNAL.value}
        # The log line with the details carries the same id: quote it to find them.
        masked.extensions["requestId"] = request_id.get()
        return masked


def is_unavailable(exc: BaseException | None) -> bool:
    """A lost or refused database connection: the client should retry."""
    while exc is not None:
        if isinstance(exc, DatabaseUnavailable) or (
            isinstance(exc, (OperationalError, InterfaceError)) and connection_problem(exc)
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def with_code(error: GraphQLError, code: ErrorCode) -> GraphQLError:
    """Give an error a code unless it has one; idempotent, as cached errors come back."""
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code.value}
    return error


def parse_failure_code(error: GraphQLError) -> ErrorCode:
    """The code of an error from parsing. graphql-core enforces the token limit while it
    parses; that is a limit on the document, like depth and aliases, not bad syntax."""
    if "tokens. Parsing aborted" in error.message:
        return ErrorCode.GRAPHQL_VALIDATION_FAILED
    return ErrorCode.GRAPHQL_PARSE_FAILED
