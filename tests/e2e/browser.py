"""A real server with a small seeded program, and headless Chromium to drive its console.

Debian's `chromium` drives through Playwright's Python API with that executable
(`.ci/run` installs both); nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import ROOT, Server, graphql

CHROMIUM = os.environ.get("JIFEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Keys for every staff role, a second operator, and one run of the scheduler's jobs, made
# in one process against the server's database.
_SETUP = """
import json, sys
from server.core import auth
from server.core.auth import Role
from server.core.clock import SystemClock
from server.core.tick import tick
from server.store.db import bind, open_database, write_transaction
db = bind(open_database(sys.argv[1]))
now = SystemClock().now()
keys = {}
with write_transaction():
    for role in ("operator", "reviewer", "analyst", "service"):
        keys[role] = auth.create_key(Role(role), f"{role} on duty", now=now)[1]
    keys["operator2"] = auth.create_key(Role.OPERATOR, "second operator", now=now)[1]
tick(now)
db.close_all()
print(json.dumps(keys))
"""


def launch(playwright):
    """Chromium from the system, or a skip where it is missing (a failure in CI)."""
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class World:
    """One server with keys for every role and a little of everything to look at."""

    def __init__(self, database_url: str) -> None:
        # The console reads much more per minute than a client: a page of 25 ledger
        # entries alone costs about 500. Keep the tests clear of the shared budget.
        self.server = Server(database_url, JIFEN_COST_BUDGET="1000000")
        self.keys: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"{self.server.url}/console/"

    def start(self) -> World:
        self.server.start()
        self.keys["admin"] = self.server.admin_key()
        self.seed()
        done = subprocess.run(
            [sys.executable, "-c", _SETUP, self.server.database_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        self.keys.update(json.loads(done.stdout.strip().splitlines()[-1]))
        return self

    def stop(self) -> str:
        return self.server.stop()

    def data(self, who: str, query: str, variables: dict | None = None) -> dict:
        body = graphql(self.server.url, self.keys.get(who, who), query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def mutate(self, who: str, query: str, variables: dict | None = None) -> dict:
        (payload,) = self.data(who, query, variables).values()
        assert payload["userErrors"] == [], payload["userErrors"]
        return payload

    def member(self, external_id: str) -> dict:
        return self.data(
            "admin",
            "query($x: String!) { member(externalId: $x) { id availablePoints pendingPoints } }",
            {"x": external_id},
        )["member"]

    def seed(self) -> None:
        upsert = (
            "mutation($i: MemberUpsertInput!) { memberUpsert(input: $i) "
            "{ member { id } userErrors { code message } } }"
        )
        people = [
            {"externalId": "wx-ada", "displayName": "Ada Lovelace", "community": "fans"},
            {"externalId": "wx-bob", "displayName": "Bob", "community": "fans",
             "invitedByExternalId": "wx-ada"},
            {"externalId": "wx-cai", "displayName": "蔡文姬", "community": "fans"},
        ]  # fmt: skip
        for person in people:
            self.ids[person["externalId"]] = self.mutate("admin", upsert, {"i": person})["member"][
                "id"
            ]
        # Ada's first check-in: 2 points now, 20 more after review.
        self.mutate(
            "admin",
            "mutation($m: ID!) { checkinRecord(input: {memberId: $m, idempotencyKey: "
            '"ada-1"}) { userErrors { code message } } }',
            {"m": self.ids["wx-ada"]},
        )
        self.mutate(
            "admin",
            "mutation($m: ID!) { pointsAdjust(input: {memberId: $m, points: 50, reason: "
            '"welcome gift", idempotencyKey: "bob-welcome"}) { userErrors { code message } } }',
            {"m": self.ids["wx-bob"]},
        )
        item = self.mutate(
            "admin",
            'mutation { catalogItemCreate(input: {title: "Fan scarf", pointsPrice: 30, '
            'stock: 10, limitPerMember: 1, limitPeriod: "month", tags: ["merch"]}) '
            "{ item { id } userErrors { code message } } }",
        )["item"]["id"]
        lottery = self.mutate(
            "admin",
            'mutation($item: ID!) { lotteryCreate(input: {title: "Lucky wheel", cost: 5, '
            'dailyLimit: 3, prizes: [{kind: "points", label: "20 points", points: 20, '
            'weight: 2}, {kind: "item", label: "Fan scarf", itemId: $item, weight: 1, '
            'stock: 3}, {kind: "consolation", label: "Thanks!", weight: 7}]}) '
            "{ lottery { id } userErrors { code message } } }",
            {"item": item},
        )["lottery"]["id"]
        self.mutate(
            "admin",
            "mutation($l: ID!, $m: ID!) { lotteryDraw(input: {lotteryId: $l, memberId: $m, "
            'idempotencyKey: "bob-draw"}) { userErrors { code message } } }',
            {"l": lottery, "m": self.ids["wx-bob"]},
        )
        task = self.mutate(
            "admin",
            'mutation { taskCreate(input: {key: "share-live", title: "Share the live stream", '
            'instructions: "Post a link"}) { task { id } userErrors { code message } } }',
        )["task"]["id"]
        self.mutate(
            "admin",
            "mutation($t: ID!, $m: ID!) { submissionCreate(input: {taskId: $t, memberId: $m, "
            'proof: "Shared it with my study group", links: ["https://example.com/post/1"], '
            'idempotencyKey: "cai-share"}) { userErrors { code message } } }',
            {"t": task, "m": self.ids["wx-cai"]},
        )
