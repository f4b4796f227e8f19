"""Two server processes on one database, and requests fired at them all at once.

The race harness (tests/e2e/race_harness.py, its rows in tests/e2e/test_races_*.py)
drives every mutation that changes value or state through this: each request goes to one
of the two servers in turn, every request waits at a barrier until all are ready, and the
answers come back in request order.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pytest

from server.core.verify import verify
from server.store.db import bind, open_database
from tests.e2e.servers import ROOT, Server
from tests.receiver import Receiver
from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres


@dataclass(frozen=True)
class Call:
    """One GraphQL request: who sends it (a role's key or a member token), what, with what."""

    who: str
    query: str
    variables: dict[str, Any] = field(default_factory=dict)


class World:
    """Two `jifen serve` processes sharing one database, with a key per role."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        # The harness reads a lot back to check each race: no query budget in its way.
        # Nor the message flood filter: the races send many messages of one member at once.
        budget = {"JIFEN_COST_BUDGET": "100000000", "JIFEN_MESSAGE_RATE": "1000"}
        self.servers = [Server(database_url, **budget), Server(database_url, **budget)]
        self.keys: dict[str, str] = {}
        self._names = itertools.count(1)
        self.receiver: Receiver | None = None  # webhook races start one (tests/receiver.py)

    def start(self) -> World:
        first = self.servers[0].start()
        self.keys["admin"] = first.admin_key()
        self.servers[1].start()
        for role in ("operator", "reviewer", "analyst", "service"):
            self.keys[role] = self._create_key(role, role)
        self.keys["operator2"] = self._create_key("operator", "second operator")
        return self

    def stop(self) -> list[str]:
        """Stop both servers (and the webhook receiver); what each printed."""
        if self.receiver is not None:
            self.receiver.stop()
        return [s.stop() for s in self.servers]

    def _create_key(self, role: str, name: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "keys", "create", "--role", role, "--name", name],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": self.database_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return re.findall(r"jf_[0-9a-f]{12}_[\w-]+", done.stdout)[0]

    def name(self, prefix: str) -> str:
        """A name no other row uses."""
        return f"{prefix}-{next(self._names)}"

    def token(self, who: str) -> str:
        return self.keys.get(who, who)

    def call(self, who: str, query: str, variables: dict | None = None, server: int = 0) -> dict:
        """One request; the whole response body."""
        response = httpx.post(
            f"{self.servers[server].url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.token(who)}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, who: str, query: str, variables: dict | None = None) -> dict:
        """The data of one request that must not fail at the top level."""
        body = self.call(who, query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def mutate(self, who: str, query: str, variables: dict | None = None) -> dict:
        """The payload of a one-field mutation that must succeed."""
        (payload,) = self.data(who, query, variables).values()
        assert payload["userErrors"] == [], payload["userErrors"]
        return payload

    def fire(self, calls: list[Call]) -> list[dict]:
        """Every call at once, alternating between the servers; payloads in call order.

        A top-level error (INTERNAL, a deadlock that escaped) fails the test: under
        concurrency every answer must still be a payload.
        """
        barrier = threading.Barrier(len(calls))
        clients = [httpx.Client(timeout=120) for _ in calls]

        def send(index: int) -> dict:
            call, client = calls[index], clients[index]
            url = f"{self.servers[index % 2].url}/graphql"
            headers = {"authorization": f"Bearer {self.token(call.who)}"}
            client.get(f"{self.servers[index % 2].url}/healthz")  # connect before the barrier
            barrier.wait(timeout=60)
            return client.post(
                url, json={"query": call.query, "variables": call.variables}, headers=headers
            ).json()

        try:
            with ThreadPoolExecutor(max_workers=len(calls)) as pool:
                bodies = list(pool.map(send, range(len(calls))))
        finally:
            for client in clients:
                client.close()
        payloads = []
        for body in bodies:
            assert not body.get("errors"), body["errors"]
            (payload,) = body["data"].values()
            payloads.append(payload)
        return payloads

    def verify(self) -> list[str]:
        """`jifen ledger verify`'s problems, read in this process."""
        db = bind(open_database(self.database_url))
        try:
            with db.connection_context():
                return [str(p) for p in verify().problems]
        finally:
            db.close_all()


def codes(payloads: list[dict]) -> list[str]:
    """Each payload's first user error code, or "ok"; sorted, for comparing with a model."""
    return sorted(p["userErrors"][0]["code"] if p["userErrors"] else "ok" for p in payloads)


@contextmanager
def world_on(backend: str, tmp_path_factory, name: str) -> Iterator[World]:
    """A started World on a new SQLite file or a temporary PostgreSQL database, stopped
    after; without PostgreSQL the test is skipped, and fails in CI."""
    from tests.conftest import IN_CI

    if backend == "sqlite":
        w = World(f"sqlite:///{tmp_path_factory.mktemp(name) / 'races.db'}").start()
        try:
            yield w
        finally:
            w.stop()
        return
    try:
        with temporary_postgres(postgres_admin_url()) as url:
            w = World(url).start()
            try:
                yield w
            finally:
                w.stop()
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")
