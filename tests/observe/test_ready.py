"""/healthz (the process is alive) and /readyz (it may take traffic)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.store import migrate
from server.store.db import bind, open_database


def test_ready_when_the_database_answers_and_is_migrated(client):
    assert client.get("/healthz").text == "ok\n"
    response = client.get("/readyz")
    assert (response.status_code, response.text) == (200, "ready\n")


def test_not_ready_while_migrations_are_pending(empty_db_url, clock):
    db = bind(open_database(empty_db_url))
    try:
        before_last = sorted(p.stem for p in migrate.MIGRATIONS.glob("[0-9]*.py"))[-2]
        migrate.upgrade(db, target=before_last)
        client = TestClient(create_app(clock=clock))
        assert client.get("/healthz").status_code == 200  # alive all the same
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.text == (
            f"not ready: database migrations not applied: {migrate.head()}; "
            "run `jifen db upgrade` (or restart `jifen serve`, which applies them)\n"
        )
        migrate.upgrade(db)
        assert client.get("/readyz").status_code == 200
    finally:
        db.close_all()


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/jifen", "sqlite:////nonexistent-folder/jifen.db"],
    ids=["postgres-refused", "sqlite-missing-folder"],
)
def test_not_ready_while_the_database_is_unreachable(url, clock):
    db = bind(open_database(url))
    try:
        response = TestClient(create_app(clock=clock)).get("/readyz")
        assert response.status_code == 503
        assert response.text.startswith("not ready: database unavailable: ")
        assert len(response.text.splitlines()) == 1
    finally:
        db.close_all()
