"""OpenTelemetry traces (JIFEN_TRACING=on; the packages come with `pip install 'jifen[otel]'`).

Each GraphQL operation is a span (strawberry's OpenTelemetryExtensionSync: parsing,
validation and each resolver under it) and each SQL statement a span under whatever is
current when it runs. Resolver argument values are not recorded: they may be personal
data. The statements are recorded without their parameters.

Where the spans go is OpenTelemetry's business: a tracer provider already installed
(`opentelemetry-instrument`, or a test's) is used as it is; otherwise one is made with the
OTLP exporter over HTTP (in jifen[otel]), which reads the standard OTEL_EXPORTER_OTLP_*
and OTEL_SERVICE_NAME variables.
"""

from __future__ import annotations

import logging
import time

from server.preflight import SetupError

log = logging.getLogger("jifen")

_installed = False
_hooked = False  # instrument each database bound from now on


def setup() -> None:
    """Make sure spans go somewhere and SQL statements are traced; idempotent."""
    global _installed, _hooked
    if _installed:
        return
    try:
        from opentelemetry import trace
    except ImportError:
        raise SetupError(
            "JIFEN_TRACING=on needs OpenTelemetry: pip install 'jifen[otel]' (or set "
            "JIFEN_TRACING=off)"
        ) from None
    if not _has_provider(trace.get_tracer_provider()):
        trace.set_tracer_provider(_otlp_provider())
    from server.store.db import database, on_rebind

    if not _hooked:
        on_rebind(lambda: instrument(database.obj) if _installed else None)
        _hooked = True
    _installed = True
    instrument(database.obj)


def disable() -> None:
    """Stop tracing SQL statements (tests; a server traces until it stops)."""
    global _installed
    from server.store.db import database

    _installed = False
    hooks = getattr(database.obj, "query_hooks", [])
    if _sql_span in hooks:
        hooks.remove(_sql_span)


def _has_provider(provider) -> bool:
    # The API's default is a proxy that records nothing until a real provider is set.
    return type(provider).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider")


def _otlp_provider():
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise SetupError(
            "JIFEN_TRACING=on needs an exporter: pip install 'jifen[otel]' (OTLP over HTTP; "
            "set OTEL_EXPORTER_OTLP_ENDPOINT), or run jifen under opentelemetry-instrument"
        ) from None
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK, win over "jifen".
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "jifen"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.info("tracing: spans are exported over OTLP")
    return provider


def graphql_extension():
    """The schema extension that makes a span of each operation (a class: one per request)."""
    from strawberry.extensions.tracing import OpenTelemetryExtensionSync

    class GraphQLSpans(OpenTelemetryExtensionSync):
        def __init__(self, *, execution_context=None) -> None:
            super().__init__(execution_context=execution_context, arg_filter=_no_values)

    return GraphQLSpans


def _no_values(args: dict, info) -> dict:
    return {}


def instrument(db) -> None:
    """Trace every statement `db` runs (peewee's query hooks: after the fact, with the
    statement's own start and end)."""
    if db is None or _sql_span in getattr(db, "query_hooks", (_sql_span,)):
        return
    db.query_hooks.append(_sql_span)


def _sql_span(event) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from server.store.db import database, is_postgres

    end = time.time_ns()
    sql = event.sql if isinstance(event.sql, str) else str(event.sql)
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
    span = trace.get_tracer("jifen.sql").start_span(
        verb,
        kind=SpanKind.CLIENT,
        start_time=end - int(event.duration * 1e9),
        attributes={
            "db.system": "postgresql" if is_postgres(database.obj) else "sqlite",
            "db.statement": sql[:2000],
        },
    )
    if event.exception is not None:
        span.set_status(Status(StatusCode.ERROR, type(event.exception).__name__))
    span.end(end_time=end)
