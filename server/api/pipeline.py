"""The schema's one extension: every operation, over HTTP or a WebSocket, runs on a
prepared document (server/api/documents.py) and answers with coded errors.

One extension rather than one per concern: strawberry calls each extension's hooks on
every request, so the parser cache, validation cache, limits, error codes and masking
live together here. Parsing and validation happen once per document text; the depth and
alias limits come from the same walk that prices the document.
"""

from __future__ import annotations

from collections.abc import Iterator

from server.api.documents import MAX_TOKENS, Documents, Prepared
from server.api.errors import MaskUnexpected, parse_failure_code, with_code
from server.core.errors import ErrorCode


class Pipeline(MaskUnexpected):
    """Prepared documents in, coded (and, where unexpected, masked) errors out."""

    def __init__(self, documents: Documents) -> None:
        super().__init__()
        self.documents = documents
        self.prepared: Prepared | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query is not None:
            prepared = self.documents.get(context.query)
            if prepared.document is not None:
                context.graphql_document = prepared.document
                self.prepared = prepared
            else:  # strawberry parses it again, to report the error its own way
                context.parse_options["max_tokens"] = MAX_TOKENS
        yield
        for error in context.pre_execution_errors or ():
            with_code(error, parse_failure_code(error))

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.prepared is not None:
            # Not None (even when empty) tells strawberry validation is done.
            context.pre_execution_errors = self.documents.errors(self.prepared)
        yield
        for error in context.pre_execution_errors or ():
            with_code(error, ErrorCode.GRAPHQL_VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        # Errors without a path come from setting up the operation (its variables), not
        # from a field: the request itself was wrong.
        for error in (result.errors if result is not None else None) or ():
            if error.path is None:
                with_code(error, ErrorCode.BAD_USER_INPUT)
