"""GraphiQL works offline: the page loads only files jifen serves itself, and production
turns it (and introspection) off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.config import Config
from server.graphiql import ASSETS

STATIC = Path(__file__).resolve().parents[2] / "server" / "graphiql" / "static"
BROWSER = {"accept": "text/html,application/xhtml+xml"}
INTROSPECTION = "{ __schema { queryType { name } } }"


def _references(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


def test_the_page_loads_only_files_served_here_and_each_is_served(client):
    page = client.get("/graphql", headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = _references(page.text)
    assert len(references) == 5  # react, react-dom, graphiql's script and style, ours
    for ref in references:
        assert "//" not in ref and not ref.startswith(("http", "/")), ref
        asset = client.get(f"/{ref}")  # relative to /graphql: /graphiql/...
        assert asset.status_code == 200, ref
        assert len(asset.content) > 1000 or ref.startswith("graphiql/jifen-graphiql.js")
        expected = "text/css" if ".css" in ref else "text/javascript"
        assert asset.headers["content-type"].startswith(expected)
    # The browser may load scripts from this server only, whatever the page says.
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy


def test_headers_are_kept_in_memory_unless_the_user_asks(client):
    script = client.get("/graphiql/jifen-graphiql.js").text
    assert "shouldPersistHeaders: false" in script


def test_only_the_listed_files_are_served(client):
    assert client.get("/graphiql/../config.py").status_code == 404
    assert client.get("/graphiql/__init__.py").status_code == 404
    assert client.get("/graphiql/VERSIONS").status_code == 404


def test_every_served_library_carries_its_license():
    versions = (STATIC / "VERSIONS").read_text()
    for name in ASSETS:
        assert (STATIC / name).is_file(), name
    for package in ("graphiql", "react", "react-dom"):
        assert "MIT License" in (STATIC / f"LICENSE.{package}").read_text()
        assert f"{package}@" in versions


def _closed(client) -> None:
    page = client.get("/graphql", headers=BROWSER)
    assert page.status_code == 404
    assert page.json()["errors"][0]["message"].startswith("GraphiQL is turned off")
    assert client.get("/graphiql/graphiql.min.js").status_code == 404
    body = client.post("/graphql", json={"query": INTROSPECTION}).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_production_turns_graphiql_and_introspection_off(db, clock):
    with TestClient(create_app(clock=clock, config=Config(env="production"))) as client:
        _closed(client)


def test_production_from_the_environment(db, clock, monkeypatch):
    monkeypatch.setenv("JIFEN_ENV", "production")
    with TestClient(create_app(clock=clock)) as client:
        _closed(client)


@pytest.mark.parametrize("env", ["development", "production"])
def test_set_explicitly_they_win_over_the_environment_kind(db, clock, env):
    config = Config(env=env, graphiql=True, introspection=True)
    with TestClient(create_app(clock=clock, config=config)) as client:
        assert client.get("/graphql", headers=BROWSER).status_code == 200
        body = client.post("/graphql", json={"query": INTROSPECTION}).json()
        assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
