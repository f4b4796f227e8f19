"""Helpers shared by the tests: databases to test on, and a GraphQL client that fails loudly."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import psycopg

from server.store.db import forget_caches, is_postgres
from server.store.models import ALL_MODELS

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


class PostgresUnavailable(Exception):
    pass


def postgres_admin_url() -> str:
    return os.environ.get("JIFEN_TEST_PG_URL", DEFAULT_PG)


@contextmanager
def temporary_postgres(admin_url: str):
    """A new, empty database on the server of `admin_url`, dropped afterwards."""
    name = f"jifen_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(str(exc).strip()) from exc
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    finally:
        admin.close()
        # A fresh connection: the server may have restarted during the test.
        with _reconnect(admin_url) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _reconnect(admin_url: str, seconds: float = 30):
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            return psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def reset_tables(db) -> None:
    """Empty every table the models know, keeping the schema."""
    forget_caches()
    tables = [m._meta.table_name for m in ALL_MODELS]
    if is_postgres(db):
        db.execute_sql(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    else:
        with db.atomic():
            db.execute_sql("PRAGMA defer_foreign_keys = ON")
            for table in tables:
                db.execute_sql(f'DELETE FROM "{table}"')


class GraphQLErrors(AssertionError):
    pass


class Api:
    """Posts GraphQL to the test client; `call` fails on any top-level error."""

    def __init__(self, client, token: str | None, keys: dict[str, str]) -> None:
        self.client = client
        self.token = token
        self.keys = keys

    def as_(self, who: str | None) -> Api:
        """The same client with another role's key (by role name), a raw token, or none."""
        token = self.keys.get(who, who) if who else None
        return Api(self.client, token, self.keys)

    def raw(self, query: str, variables: dict | None = None) -> dict:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, query: str, variables: dict | None = None) -> dict:
        body = self.raw(query, variables)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        return body["data"]

    def mutate(self, query: str, variables: dict | None = None) -> dict:
        """Call a one-field mutation and return its payload, failing on userErrors."""
        data = self.call(query, variables)
        (payload,) = data.values()
        assert payload["userErrors"] == [], payload["userErrors"]
        return payload
