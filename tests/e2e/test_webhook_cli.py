"""`jifen webhooks deliver` from cron: sends what is due once, and says what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from server.core import webhooks
from server.store.db import write_transaction
from tests.e2e.servers import ROOT
from tests.receiver import receiver

UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id }
  userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $k: String!) { pointsAdjust(input: {memberId: $m, points: 5,
  reason: "cron", idempotencyKey: $k}) { transaction { id } userErrors { code } } }"""


def deliver(db_url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "webhooks", "deliver"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_jifen_webhooks_deliver_sends_what_is_due_once(api, db_url, clock):
    # The command runs on the wall clock: changes made "now" are due now, not a day late.
    clock.set(datetime.now(UTC))
    with receiver() as hook:
        with write_transaction():
            webhooks.create_endpoint(
                webhooks.EndpointInput(url=hook.url, events=("points.changed",)),
                now=clock.now(),
                actor="test",
            )
        mid = api.mutate(UPSERT, {"e": "cron"})["member"]["id"]
        api.mutate(ADJUST, {"m": mid, "k": "a"})
        assert deliver(db_url) == "delivered 1, to retry 0, failed 0"
        assert deliver(db_url) == "delivered 0, to retry 0, failed 0"
        assert len(hook.received) == 1
        hook.status = 500
        api.mutate(ADJUST, {"m": mid, "k": "b"})
        assert deliver(db_url) == "delivered 0, to retry 1, failed 0"
        assert len(hook.received) == 2
