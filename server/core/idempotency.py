"""Exactly one effect per idempotency key, however often and however concurrently it is sent.

Keys belong to whoever sends them, as Stripe's belong to an account: each API key and each
member has a namespace of its own (a scope), so one caller can never use up, collide with
or replay another's key, however predictable the key is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.core.errors import DomainError, ErrorCode
from server.store import sql
from server.store.db import write_transaction
from server.store.models import IdempotencyKey
from server.store.sql import Sql

MAX_KEY_LENGTH = 200
PROGRAM = "program"  # the program's own jobs (the scheduler): no caller can send into it
# Keys stored before keys had owners (migration 0009). Their owner is unknown, so only the
# very same request (key, operation and arguments) finds them: it replays, as it did before
# the upgrade. Any other request ignores them.
LEGACY = "legacy"
_CLAIM = Sql(
    "INSERT INTO idempotency_key (scope, key, operation, request_hash, created_at) "
    "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM idempotency_key "
    "WHERE scope = 'legacy' AND key = ? AND operation = ? AND request_hash = ?) "
    "ON CONFLICT (scope, key) DO NOTHING"
)
_RESULT = Sql("UPDATE idempotency_key SET result_id = ? WHERE scope = ? AND key = ?")


def api_key_scope(prefix: str) -> str:
    """The scope of the keys sent with one API key (by its public prefix)."""
    return f"key:{prefix}"


def member_scope(member_id: int) -> str:
    """The scope of the keys a member sends with their own tokens."""
    return f"member:{member_id}"


@dataclass(frozen=True)
class Outcome:
    """The id of what the first request produced, and whether this call only replayed it."""

    result_id: int
    replayed: bool


class _KeyTaken(Exception):
    """Another request inserted the key between our read and our insert."""


def request_hash(operation: str, arguments: dict[str, Any]) -> str:
    """A stable hash of what was asked, to tell a retry from a reuse of the key."""
    text = json.dumps(
        {"operation": operation, "arguments": arguments},
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def check_key(key: str) -> str:
    key = key.strip() if isinstance(key, str) else key
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters",
            "idempotencyKey",
        )
    return key


def run_once(
    scope: str,
    key: str,
    operation: str,
    arguments: dict[str, Any],
    now: datetime,
    work: Callable[[], int],
) -> Outcome:
    """Run `work` in a write transaction unless `scope` already used this key.

    The key is inserted before the work, under a unique constraint: a concurrent
    request with the same key waits on it (PostgreSQL) or on the write lock (SQLite)
    and then finds the first one's result.
    """
    key = check_key(key)
    digest = request_hash(operation, arguments)
    for _ in range(5):
        try:
            with write_transaction():
                claimed = _CLAIM.count(
                    scope, key, operation, digest, sql.instant(now), key, operation, digest
                )
                if not claimed:
                    return _replay(_find(scope, key, operation, digest), operation, digest)
                result_id = work()
                _RESULT.run(result_id, scope, key)
                return Outcome(result_id, replayed=False)
        except _KeyTaken:
            continue
    raise RuntimeError(f"idempotency key {key!r} of {scope} kept changing hands")


def _find(scope: str, key: str, operation: str, digest: str) -> IdempotencyKey:
    row = IdempotencyKey.get_or_none(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    if row is None:
        row = IdempotencyKey.get_or_none(
            IdempotencyKey.scope == LEGACY,
            IdempotencyKey.key == key,
            IdempotencyKey.operation == operation,
            IdempotencyKey.request_hash == digest,
        )
    if row is None:
        raise _KeyTaken  # its first request rolled back meanwhile
    return row


def run_once_if_keyed(
    scope: str,
    key: str | None,
    operation: str,
    arguments: dict[str, Any],
    now: datetime,
    work: Callable[[], int],
) -> Outcome:
    """`run_once` where the caller gave a key; without one, `work` in a write transaction
    (an operation whose key is optional: every call without one does it again)."""
    if key is None:
        with write_transaction():
            return Outcome(work(), replayed=False)
    return run_once(scope, key, operation, arguments, now, work)


def _replay(row: IdempotencyKey, operation: str, digest: str) -> Outcome:
    if row.operation != operation or row.request_hash != digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotencyKey was already used for a different request",
            "idempotencyKey",
        )
    return Outcome(row.result_id, replayed=True)
