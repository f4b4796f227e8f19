"""The one clock the program reads; tests set it instead of sleeping, and a staging copy
sets it to rehearse what the program will do."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from server.config import settings


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self._lock = threading.Lock()
        self.set(at)

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        """Jump to `at` (aware)."""
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        with self._lock:
            self._at = at.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta's keyword arguments; returns the new time."""
        with self._lock:
            self._at += timedelta(**delta)
            return self._at


# Where the program's clock may be moved by hand. Unset counts as production: a
# deployment that forgot to say what it is must not have its periods closed early.
ENVIRONMENT = "JIFEN_ENV"
REHEARSAL_SETTINGS = ("staging", "development")


class RehearsalRefused(Exception):
    """Moving the program's clock outside a rehearsal setting."""


def environment() -> str:
    """The deployment's setting, `JIFEN_ENV` ("" when unset)."""
    return settings().env or ""


def rehearsal_clock(at: datetime) -> FixedClock:
    """A clock stopped at `at`, to rehearse what the program does then (expiry, board
    closes, birthdays); only where JIFEN_ENV names a rehearsal setting."""
    setting = environment()
    if setting not in REHEARSAL_SETTINGS:
        here = f"JIFEN_ENV is {setting} here" if setting else "JIFEN_ENV is not set here"
        raise RehearsalRefused(
            "--at moves the program's clock, which only a rehearsal copy may do: set "
            f"JIFEN_ENV=staging (or development) on a copy of the data; {here}"
        )
    return FixedClock(at)
