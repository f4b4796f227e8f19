"""Exactly one effect per idempotency key, however often and however concurrently it is sent."""

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
_CLAIM = Sql(
    "INSERT INTO idempotency_key (key, operation, request_hash, created_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
_RESULT = Sql("UPDATE idempotency_key SET result_id = ? WHERE key = ?")


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
    key: str, operation: str, arguments: dict[str, Any], now: datetime, work: Callable[[], int]
) -> Outcome:
    """Run `work` in a write transaction unless this key already has a result.

    The key is inserted before the work, under a unique constraint: a concurrent
    request with the same key waits on it (PostgreSQL) or on the write lock (SQLite)
    and then finds the first one's result.
    """
    key = check_key(key)
    digest = request_hash(operation, arguments)
    for _ in range(5):
        try:
            with write_transaction():
                if not _CLAIM.count(key, operation, digest, sql.instant(now)):
                    row = IdempotencyKey.get_or_none(IdempotencyKey.key == key)
                    if row is None:
                        raise _KeyTaken  # its first request rolled back meanwhile
                    return _replay(row, operation, digest)
                result_id = work()
                _RESULT.run(result_id, key)
                return Outcome(result_id, replayed=False)
        except _KeyTaken:
            continue
    raise RuntimeError(f"idempotency key {key!r} kept changing hands")


def _replay(row: IdempotencyKey, operation: str, digest: str) -> Outcome:
    if row.operation != operation or row.request_hash != digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotencyKey was already used for a different request",
            "idempotencyKey",
        )
    return Outcome(row.result_id, replayed=True)
