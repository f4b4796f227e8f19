"""Query-cost budgets: shared by every server process on PostgreSQL, taken atomically,
charged per address for anonymous callers, and forgotten once idle for a window."""

from __future__ import annotations

import threading

import httpx2 as httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from server.api.cost import Budgets
from server.app import create_app
from server.config import Config
from server.store.db import database
from tests.e2e.servers import Server
from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres

LIST = "{ members { edges { node { id } } } }"  # costs 61
INTROSPECT = "{ __schema { queryType { name } } }"  # costs 1,000: the whole schema


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", ())]


@pytest.fixture
def anonymous(db, clock):
    """A client factory: the same server, seen from a given address."""
    app = create_app(clock=clock, config=Config(cost_budget=2500, cost_window_seconds=3600))
    clients = []

    def from_address(address: str) -> TestClient:
        client = TestClient(app, client=(address, 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield from_address
    for client in clients:
        client.__exit__(None, None, None)


def test_anonymous_introspection_is_charged_per_client_address(anonymous, keys):
    first = anonymous("192.0.2.1")
    for _ in range(2):
        body = first.post("/graphql", json={"query": INTROSPECT}).json()
        assert body["data"]["__schema"]["queryType"]["name"] == "Query"
        assert body["extensions"]["cost"]["requested"] == 1000
    limited = first.post("/graphql", json={"query": INTROSPECT}).json()
    assert codes(limited) == ["RATE_LIMITED"]
    assert limited["errors"][0]["extensions"]["retryAfter"] > 0
    # Another address, and a token, each have their own budget.
    assert (
        "errors" not in anonymous("192.0.2.2").post("/graphql", json={"query": INTROSPECT}).json()
    )
    admin = {"authorization": f"Bearer {keys['admin']}"}
    assert "errors" not in first.post("/graphql", json={"query": INTROSPECT}, headers=admin).json()
    # A made-up token does not escape the address's budget.
    forged = {"authorization": "Bearer jf_000000000000_nope"}
    assert codes(first.post("/graphql", json={"query": INTROSPECT}, headers=forged).json()) == [
        "RATE_LIMITED"
    ]


def test_rate_limited_answers_429_to_clients_that_accept_graphql_responses(anonymous):
    client = anonymous("192.0.2.3")
    accept = {"accept": "application/graphql-response+json"}
    for _ in range(2):
        assert (
            client.post("/graphql", json={"query": INTROSPECT}, headers=accept).status_code == 200
        )
    limited = client.post("/graphql", json={"query": INTROSPECT}, headers=accept)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "data" not in limited.json()


def test_idle_budgets_are_forgotten_after_a_window(db):
    budgets = Budgets(100, 10, shared=None)
    with database.connection_context():
        assert budgets.charge("a", 30, now=1000)[0]
        assert budgets.charge("b", 30, now=1005)[0]
        assert budgets.callers() == 2
        assert budgets.charge("c", 30, now=1012)[0]  # "a" has been idle for 12 s > 10 s
        assert budgets.callers() == 2
        # A forgotten caller starts again with a full budget, as it would have refilled.
        assert budgets.charge("a", 100, now=1013) == (True, 0, 0.0)


def test_concurrent_charges_of_one_caller_never_overspend(db):
    budgets = Budgets(100, 3600, shared=None)
    results = []

    def charge():
        with database.connection_context():
            results.append(budgets.charge("busy", 10)[0])

    threads = [threading.Thread(target=charge) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 15 + [True] * 10


@pytest.fixture
def shared_postgres():
    from tests.conftest import IN_CI

    try:
        with temporary_postgres(postgres_admin_url()) as url:
            yield url
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.mark.slow
def test_two_server_processes_share_one_budget_on_postgresql(shared_postgres):
    env = {"JIFEN_COST_BUDGET": "130", "JIFEN_COST_WINDOW_SECONDS": "3600"}
    first = Server(shared_postgres, **env).start()
    try:
        key = first.admin_key()
        second = Server(shared_postgres, **env).start()
        try:
            headers = {"authorization": f"Bearer {key}"}

            def ask(server):
                return httpx.post(
                    f"{server.url}/graphql", json={"query": LIST}, headers=headers, timeout=10
                ).json()

            assert ask(first)["extensions"]["cost"] == {"requested": 61, "remaining": 69}
            assert ask(second)["extensions"]["cost"] == {"requested": 61, "remaining": 8}
            assert codes(ask(first)) == ["RATE_LIMITED"]
            assert codes(ask(second)) == ["RATE_LIMITED"]
        finally:
            assert "Traceback" not in second.stop()
    finally:
        assert "Traceback" not in first.stop()
    with psycopg.connect(shared_postgres) as connection:
        rows = connection.execute("SELECT who FROM rate_bucket").fetchall()
    assert rows == [("admin:bootstrap admin:None",)]
