"""Versioned schema migrations, applied in order and recorded in `schema_migration`."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from peewee import Database
from playhouse.migrations import Runner

from server.store.db import is_postgres

MIGRATIONS = Path(__file__).parent / "migrations"
HISTORY_TABLE = "schema_migration"
_PG_LOCK_ID = 0x6A6966656E  # "jifen": one advisory lock for schema changes


def runner(db: Database) -> Runner:
    return Runner(db, str(MIGRATIONS), table_name=HISTORY_TABLE)


def upgrade(db: Database, target: str | None = None) -> list[str]:
    """Apply every pending migration (or up to `target`); safe with several processes."""
    with _exclusive(db):
        return runner(db).up(target)


def pending(db: Database) -> list[str]:
    """Names of the migrations not yet applied."""
    return [m.name for m in runner(db).status() if not m.applied and m.path]


def head() -> str:
    """The newest migration's name."""
    return sorted(p.stem for p in MIGRATIONS.glob("[0-9]*.py"))[-1]


@contextmanager
def _exclusive(db: Database):
    """Only one process migrates at a time; the others wait, then find nothing to do."""
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_lock(%s)", (_PG_LOCK_ID,))
        try:
            yield
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_ID,))
        return
    path = db.database
    if path in (":memory:", "") or str(path).startswith("file::memory:"):
        yield
        return
    with open(f"{os.fspath(path)}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
