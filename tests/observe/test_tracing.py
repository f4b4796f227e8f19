"""OpenTelemetry spans of GraphQL operations and SQL statements (JIFEN_TRACING=on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from server.app import create_app
from server.config import override
from server.observe import tracing

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans():
    """Spans finished during the test, kept in memory (the provider is the process's)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
    _exporter.clear()
    yield _exporter
    tracing.disable()
    _exporter.clear()


def test_operations_and_their_sql_are_spans(db, clock, keys, spans):
    with override(tracing=True):
        client = TestClient(create_app(clock=clock))
        response = client.post(
            "/graphql",
            json={
                "query": "query Who($n: Int) { members(first: $n) { edges { cursor } } }",
                "variables": {"n": 5},
            },
            headers={"authorization": f"Bearer {keys['admin']}"},
        )
    assert "errors" not in response.json()
    finished = spans.get_finished_spans()
    by_name = {s.name: s for s in finished}
    operation = by_name["GraphQL Query: Who"]
    resolver = by_name["GraphQL Resolving: members"]
    assert resolver.parent.span_id == operation.context.span_id
    assert resolver.context.trace_id == operation.context.trace_id
    # Argument values are not recorded: they may be personal data.
    assert not [k for k in resolver.attributes if k.startswith("graphql.param.")]
    sql = [s for s in finished if s.attributes.get("db.statement")]
    under = [
        s for s in sql if s.parent is not None and s.parent.span_id == resolver.context.span_id
    ]
    assert under, [(s.name, s.attributes["db.statement"]) for s in sql]
    statement = under[0]
    assert statement.name == "SELECT" and statement.kind == trace.SpanKind.CLIENT
    assert statement.attributes["db.system"] == (
        "postgresql" if "Postgres" in type(db).__name__ else "sqlite"
    )
    assert statement.end_time >= statement.start_time


def test_off_by_default_no_spans(db, clock, keys, spans):
    client = TestClient(create_app(clock=clock))
    client.post(
        "/graphql",
        json={"query": "query Who { members(first: 1) { edges { cursor } } }"},
        headers={"authorization": f"Bearer {keys['admin']}"},
    )
    assert spans.get_finished_spans() == ()


def test_tracing_without_an_exporter_stops_serve_in_one_line(tmp_path):
    """No tracer provider and no OTLP exporter installed: one line, nothing created."""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "1", "--rules", "rules"],
        cwd=root,
        env={
            "PATH": "/usr/bin",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}",
            "JIFEN_TRACING": "on",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("jifen: JIFEN_TRACING=on needs an exporter")
    assert not (tmp_path / "j.db").exists()
