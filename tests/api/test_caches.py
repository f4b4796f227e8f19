"""What each process keeps of keys, settings and rules, and how soon a change reaches it.

The promise (docs/security.md): a revoked key stops working at once in the process that
revoked it, within one second in every other process, and on PostgreSQL as soon as the
revocation is announced. The seconds are counted on the generation's own clock, which
these tests hold still and move by hand.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from server.core import auth
from server.core import generation as generation_module
from server.core.auth import KEY_PREFIX
from server.core.clock import FixedClock
from server.core.generation import generation
from server.store.db import is_postgres, write_transaction
from server.store.sql import Sql, instant
from tests.conftest import START
from tests.statements import recorded

MEMBERS = "{ members { edges { cursor } } }"
UPSERT = 'mutation { memberUpsert(input: {externalId: "ada"}) { member { id } } }'
PUBLISH = """
mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code message } } }
"""
CHECKIN = """
mutation($id: ID!, $key: String!) {
  checkinRecord(input: {memberId: $id, idempotencyKey: $key}) {
    event { id } userErrors { code }
  }
}"""
REVOKE = Sql("UPDATE api_key SET revoked_at = ? WHERE prefix = ?")
ANNOUNCE = Sql(
    "INSERT INTO setting (key, value) VALUES ('generation', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# A statement that reads or writes one of the cached tables.
CACHED_TABLES = re.compile(
    r'\b(FROM|JOIN|INTO|UPDATE)\s+"?(api_key|setting|campaign_version)\b', re.I
)


@pytest.fixture
def still():
    """The generation's clock, held still for the test."""
    clock = FixedClock(START)
    generation.clock, before = clock, generation.clock
    generation.expire()
    yield clock
    generation.clock = before


def revoke_elsewhere(db, token: str, *, notify: bool = False) -> None:
    """What another process's `jifen keys revoke` writes; this process hears nothing."""
    prefix = token[len(KEY_PREFIX) :].partition("_")[0]
    value = uuid.uuid4().hex
    with db.atomic():
        REVOKE.run(instant(START), prefix)
        ANNOUNCE.run(value)
        if notify:
            Sql("SELECT pg_notify(?, ?)").run(generation_module.CHANNEL, value)


def code(body: dict) -> str | None:
    errors = body.get("errors") or ()
    return errors[0]["extensions"]["code"] if errors else None


def test_a_key_revoked_by_another_process_stops_working_within_a_second(api, db, still):
    operator = api.as_("operator")
    assert code(operator.raw(MEMBERS)) is None
    revoke_elsewhere(db, api.keys["operator"])
    # Within the second this process may still take the key: that is the promise's window.
    still.advance(milliseconds=999)
    assert code(operator.raw(MEMBERS)) is None
    still.advance(milliseconds=1)
    body = operator.raw(MEMBERS)
    assert code(body) == "UNAUTHENTICATED"
    assert "revoked" in body["errors"][0]["message"]


def test_a_key_revoked_here_stops_working_at_once(api, still):
    operator = api.as_("operator")
    assert code(operator.raw(MEMBERS)) is None
    prefix = api.keys["operator"][len(KEY_PREFIX) :].partition("_")[0]
    with write_transaction():
        assert auth.revoke_key(prefix, now=START)
    assert code(operator.raw(MEMBERS)) == "UNAUTHENTICATED"


def test_rules_published_here_apply_to_the_next_event_at_once(api, still):
    ada = api.call(UPSERT)["memberUpsert"]["member"]["id"]
    assert api.call(PUBLISH, {"s": 'campaign "a" {\n  checkin award 2\n}\n'})
    api.mutate(CHECKIN, {"id": ada, "key": "1"})
    balance = "query($id: ID!) { member(id: $id) { availablePoints } }"
    assert api.call(balance, {"id": ada})["member"]["availablePoints"] == 2
    assert api.call(PUBLISH, {"s": 'campaign "a" {\n  checkin award 7\n}\n'})
    still.advance(days=1)  # a new day for the check-in; the generation clock is separate
    api.client.app.state.clock.advance(days=1)
    api.mutate(CHECKIN, {"id": ada, "key": "2"})
    assert api.call(balance, {"id": ada})["member"]["availablePoints"] == 9


def test_requests_read_no_keys_settings_or_rules_once_cached(api, db, still):
    ada = api.call(UPSERT)["memberUpsert"]["member"]["id"]
    api.call(PUBLISH, {"s": 'campaign "a" {\n  checkin award 2\n}\n'})
    api.mutate(CHECKIN, {"id": ada, "key": "warm"})  # fills the caches
    api.client.app.state.clock.advance(days=1)
    with recorded(db) as statements:
        assert code(api.raw(MEMBERS)) is None
        api.mutate(CHECKIN, {"id": ada, "key": "next"})
        assert code(api.as_("operator").raw(MEMBERS)) is None
    touching = [s for s in statements if CACHED_TABLES.search(s)]
    assert statements and touching == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_an_announced_revocation_is_heard_at_once_on_postgresql(api, db, still):
    assert is_postgres(db)
    operator = api.as_("operator")
    assert code(operator.raw(MEMBERS)) is None
    # The generation's clock stays still: only the announcement can explain the refusal.
    deadline = time.monotonic() + 10
    while code(operator.raw(MEMBERS)) != "UNAUTHENTICATED":
        assert time.monotonic() < deadline, "the announcement never arrived"
        # Announced again each round: the listener may not have been listening yet.
        revoke_elsewhere(db, api.keys["operator"], notify=True)
        time.sleep(0.05)


def test_only_another_processes_announcement_makes_a_process_read_again(db, still):
    """On PostgreSQL a process hears its own announcements, after its own commit already
    made it read the new generation: the echo reads nothing; another's change does."""
    with write_transaction():
        generation.bump()
    own = generation.current()  # read once, right after its own commit
    with recorded(db) as echoed:
        generation.heard(own)
        assert generation.current() == own
    assert echoed == []
    other = uuid.uuid4().hex
    with write_transaction():
        ANNOUNCE.run(other)  # what another process's change writes and announces
    with recorded(db) as heard:
        generation.heard(other)
        assert generation.current() == other
    assert len(heard) == 1, heard
