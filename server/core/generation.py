"""What every process caches — API keys, program settings, the rule book — and the one
number that tells it when to drop them.

Whatever changes a key, a setting or the rules bumps the generation in the same
transaction: the `setting` row `generation` gets a fresh random value (random, not
counted, so that a database restored from an older backup never matches what a process
remembers). A process reads the generation again:

- at most `REFRESH` (one second) after it last read it, so a change made by another
  process (a second server, `jifen keys revoke`) is seen within that second;
- at once after it committed a change itself;
- on PostgreSQL also as soon as another process's change is announced (`pg_notify` on
  `CHANNEL` in the changing transaction; the server's listener calls `heard`). A
  process hears its own announcements too, after it has already read the new value:
  those change nothing, so a request after a local change never reads the generation
  a second time because its echo arrived late.

In steady state a request reads none of these from the database: one statement a second
per process checks the generation. docs/security.md states the promise for revoked keys.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from server.core.clock import Clock, SystemClock
from server.store.db import after_commit, is_postgres, on_rebind, transaction_memo
from server.store.sql import Sql

KEY = "generation"
CHANNEL = "jifen_generation"
REFRESH = timedelta(seconds=1)

_READ = Sql("SELECT value FROM setting WHERE key = ?")
_BUMP = Sql(
    "INSERT INTO setting (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_NOTIFY = Sql("SELECT pg_notify(?, ?)")
_MEMO = "generation"  # this transaction's own bump, which only it sees until it commits


class Generation:
    """This process's view of the generation, re-read at most once per `REFRESH`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()  # tests set a FixedClock
        self._seen: tuple[str, datetime] | None = None  # (value, when it was read)
        # This process's latest bumps: announcements of these are its own echoes (a
        # rolled-back bump is never announced and just ages out).
        self._own: deque[str] = deque(maxlen=64)
        self._own_lock = threading.Lock()  # bumps come from request threads

    def current(self) -> str:
        """The generation in force for the caller (its own transaction's bump included)."""
        own = transaction_memo().get(_MEMO)
        if own is not None:
            return own
        now = self.clock.now()
        seen = self._seen
        # Either way: a clock set back by a rehearsal must not freeze the caches.
        if seen is not None and abs(now - seen[1]) < REFRESH:
            return seen[0]
        row = _READ.one(KEY)
        value = row[0] if row is not None else ""
        self._seen = (value, now)
        return value

    def expire(self) -> None:
        """Read the generation again on next use (a change was committed or announced)."""
        self._seen = None

    def heard(self, value: str) -> None:
        """A change was announced with this value: read again, unless this process made
        it (its own commit expired the generation already)."""
        with self._own_lock:
            own = value in self._own
        if not own:
            self.expire()

    def bump(self) -> None:
        """Mark keys, settings or rules as changed (inside the caller's transaction)."""
        value = uuid.uuid4().hex
        with self._own_lock:
            self._own.append(value)
        _BUMP.run(KEY, value)
        if is_postgres():
            _NOTIFY.run(CHANNEL, value)  # delivered at commit, to every listening process
        transaction_memo()[_MEMO] = value
        after_commit(self.expire)


generation = Generation()
on_rebind(generation.expire)

T = TypeVar("T")


class Cached(Generic[T]):
    """A value built from the database, kept for as long as the generation stays."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._entry: tuple[str, T] | None = None
        self._lock = threading.Lock()
        on_rebind(self.forget)

    def get(self) -> T:
        at = generation.current()
        entry = self._entry
        if entry is not None and entry[0] == at:
            return entry[1]
        # Built after the generation was read: what it holds is at least that new, so a
        # later change still shows up as a different generation.
        with self._lock:
            entry = self._entry
            if entry is not None and entry[0] == at:
                return entry[1]
            value = self._build()
            self._entry = (at, value)
            return value

    def forget(self) -> None:
        self._entry = None
