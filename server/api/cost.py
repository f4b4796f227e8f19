"""What a query costs before it runs, and a refilling budget per caller.

The price of an operation comes from server/api/documents.py (one walk over the document
gives its depth, aliases and price). A caller (an
API key, a member, or the address of an anonymous client) has a budget that refills
evenly over a window; a request costing more than what is left is refused with
RATE_LIMITED and the seconds to wait. On PostgreSQL the budgets are rows of
`rate_bucket`, shared by every server process; on SQLite they are kept in the process.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode

from server.api.documents import Documents, measure
from server.store.db import database, is_postgres

_texts = Documents()  # for callers that price a text without a schema (tests, tools)


def query_cost(
    text: str | DocumentNode, variables: dict[str, Any] | None, operation_name: str | None = None
) -> int:
    """The cost of the operation that would run; 0 if the text does not parse."""
    if isinstance(text, str):
        prepared = _texts.get(text)
        if prepared.document is None:
            return 0
        found = prepared.measure
    else:
        found = measure(text)
    return found.cost(operation_name, variables)


@dataclass
class _Bucket:
    level: float
    at: float


class Budgets:
    """Budgets per caller, refilled evenly: in the database on PostgreSQL, so that every
    server process draws on the same one, else in this process."""

    def __init__(self, capacity: int, window_seconds: int, *, shared: bool | None = False) -> None:
        """`shared`: keep the budgets in the database; None: if it is PostgreSQL."""
        self.shared = shared
        self.capacity = capacity
        self.window = max(window_seconds, 1)
        self.rate = capacity / self.window
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._evicted_at: float | None = None

    def charge(self, who: str, cost: int, now: float | None = None) -> tuple[bool, float, float]:
        """Take `cost` if there is enough: (allowed, remaining, seconds until affordable)."""
        if self._is_shared():
            allowed, level, now = self._charge_shared(_key(who), cost, now)
        else:
            now = time.monotonic() if now is None else now
            allowed, level = self._charge_here(who, cost, now)
        self._evict(now)
        if allowed:
            return True, level, 0.0
        return False, level, (min(cost, self.capacity) - level) / self.rate

    def callers(self) -> int:
        """How many callers have a budget on record (idle ones are forgotten)."""
        if self._is_shared():
            return database.execute_sql("SELECT COUNT(*) FROM rate_bucket").fetchone()[0]
        with self._lock:
            return len(self._buckets)

    def _is_shared(self) -> bool:
        if self.shared is None:
            return database.obj is not None and is_postgres()
        return self.shared

    def _charge_here(self, who: str, cost: int, now: float) -> tuple[bool, float]:
        with self._lock:
            bucket = self._buckets.get(who)
            if bucket is None:
                bucket = self._buckets[who] = _Bucket(self.capacity, now)
            bucket.level = min(self.capacity, bucket.level + max(now - bucket.at, 0) * self.rate)
            bucket.at = max(bucket.at, now)
            if cost <= bucket.level:
                bucket.level -= cost
                return True, bucket.level
            return False, bucket.level

    def _charge_shared(self, who: str, cost: int, now: float | None) -> tuple[bool, float, float]:
        # One statement: a new caller starts with a full budget less this cost; a known
        # one is refilled and charged only where the refilled level covers the cost (the
        # row lock makes concurrent charges of one caller take turns).
        cap, rate = self.capacity, self.rate
        for _ in range(3):
            row = _one(_TAKE, (who, now, cap - cost, cap, rate, cost, cap, rate, cost))
            if row is not None:
                return True, row[0], row[1]
            row = _one(_LEVEL, (cap, rate, now, who))
            if row is not None:  # else evicted meanwhile: a full budget again
                return False, row[0], row[1]
        raise AssertionError("a budget row that keeps vanishing")

    def _evict(self, now: float) -> None:
        """Forget buckets idle for a whole window: they are full again, as a new one is."""
        if self._evicted_at is not None and now - self._evicted_at < self.window:
            return
        self._evicted_at = now
        if self._is_shared():
            database.execute_sql(_EVICT, (now - self.window,))
            return
        with self._lock:
            for who in [w for w, b in self._buckets.items() if now - b.at >= self.window]:
                del self._buckets[who]


def _key(who: str) -> str:
    return who if len(who) <= 200 else "sha256:" + hashlib.sha256(who.encode()).hexdigest()


def _one(sql: str, params: tuple) -> tuple | None:
    rows = database.execute_sql(sql, params).fetchall()
    return rows[0] if rows else None


# PostgreSQL only. Time is the database's clock unless the caller gives one (tests).
_NOW = "COALESCE(CAST(%s AS DOUBLE PRECISION), EXTRACT(EPOCH FROM clock_timestamp()))"
_TAKE = f"""INSERT INTO rate_bucket AS b (who, at, level) VALUES (%s, {_NOW}, %s)
    ON CONFLICT (who) DO UPDATE SET
      level = LEAST(%s, b.level + GREATEST(EXCLUDED.at - b.at, 0) * %s) - %s,
      at = GREATEST(b.at, EXCLUDED.at)
    WHERE LEAST(%s, b.level + GREATEST(EXCLUDED.at - b.at, 0) * %s) >= %s
    RETURNING level, at"""
_LEVEL = f"""SELECT LEAST(%s, level + GREATEST(n.now - at, 0) * %s), n.now
    FROM rate_bucket, (SELECT {_NOW} AS now) AS n WHERE who = %s"""
_EVICT = "DELETE FROM rate_bucket WHERE at < %s"
