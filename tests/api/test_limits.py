"""Bounds on what one request may ask: body size, batches, cost budgets, introspection."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from server.api.cost import Budgets, query_cost
from server.app import create_app
from server.config import Config
from tests.support import Api


@pytest.fixture
def make_api(db, clock, keys):
    clients = []

    def make(**config):
        client = TestClient(create_app(clock=clock, config=Config(**config)))
        client.__enter__()
        clients.append(client)
        return Api(client, keys["admin"], keys)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("text", "variables", "cost"),
    [
        ("{ __typename }", {}, 0),
        ("{ members { edges { node { id } } } }", {}, 1 + 20 * 3),
        ("{ members(first: 5) { edges { node { id externalId } } } }", {}, 1 + 5 * 4),
        ("query($n: Int) { members(first: $n) { edges { node { id } } } }", {"n": 2}, 1 + 2 * 3),
        (
            "{ members(first: 10) { edges { node { ledger(first: 10) { edges { node { amount } } }"
            " } } } }",
            {},
            1 + 10 * (1 + 1 + 1 + 10 * 3),
        ),
        ("fragment f on Member { id } { me { ...f } }", {}, 2),
    ],
)
def test_cost_is_priced_before_running(text, variables, cost):
    assert query_cost(text, variables) == cost


def test_budgets_refill_evenly():
    budgets = Budgets(100, 10)  # 10 a second
    assert budgets.charge("k", 80, now=0)[0]
    allowed, remaining, wait = budgets.charge("k", 50, now=1)
    assert (allowed, remaining, wait) == (False, 30, 2)
    assert budgets.charge("k", 50, now=3)[0]


def test_cost_is_reported_and_a_spent_budget_is_rate_limited(make_api):
    api = make_api(cost_budget=130, cost_window_seconds=3600)
    body = api.raw("{ members { edges { node { id } } } }")
    assert body["extensions"]["cost"] == {"requested": 61, "remaining": 69}
    api.raw("{ members { edges { node { id } } } }")
    limited = api.raw("{ members { edges { node { id } } } }")
    error = limited["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] > 0
    # Another token has its own budget.
    assert "errors" not in api.as_("analyst").raw("{ members { edges { node { id } } } }")
    huge = api.as_("operator").raw(
        "{ members(first: 100) { edges { node { ledger(first: 100) { edges { node { id } } } } }"
        " } }"
    )
    assert huge["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


def test_bodies_over_the_limit_are_refused(make_api):
    api = make_api(max_body_bytes=2000)
    big = "{ " + " ".join(f"a{i}: __typename" for i in range(300)) + " }"
    response = api.client.post("/graphql", json={"query": big})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_batches_are_not_accepted(make_api):
    api = make_api()
    response = api.client.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
    assert response.status_code == 400


def test_introspection_and_graphiql_can_be_turned_off(make_api):
    closed = make_api(introspection=False, graphiql=False)
    body = closed.raw("{ __schema { queryType { name } } }")
    assert "introspection" in body["errors"][0]["message"].lower()
    assert closed.client.get("/graphql", headers={"accept": "text/html"}).status_code == 404
    # The API itself still works.
    assert closed.call("{ members { edges { cursor } } }") == {"members": {"edges": []}}


def test_cors_allows_only_configured_origins(make_api):
    api = make_api(cors_origins=("https://shop.example",))
    ok = api.client.options(
        "/graphql",
        headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
    )
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    other = api.client.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_nul_characters_are_refused_on_both_databases(api):
    body = api.raw(
        "mutation($e: String!) { memberUpsert(input: {externalId: $e}) { userErrors { code } } }",
        {"e": "a\x00b"},
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    literal = api.raw(
        'mutation { memberUpsert(input: {externalId: "a\\u0000b"}) { userErrors { code } } }'
    )
    assert literal["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
