"""The database: built from a URL, bound to the models through one proxy."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, InterfaceError, OperationalError, PostgresqlDatabase
from playhouse.db_url import parseresult_to_dict
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

DEFAULT_URL = "sqlite:///jifen.db"

# One proxy for every model: the process binds it once, at start, to the database
# DATABASE_URL names. Tests bind it to a fresh database per test.
database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    # WAL with synchronous=NORMAL is durable across application crashes; only an OS
    # crash or power cut can lose the last commits (never corrupt the file).
    "synchronous": "normal",
    "foreign_keys": 1,
    # Readers never wait in WAL; writers queue here for up to 30 s behind
    # BEGIN IMMEDIATE instead of failing with "database is locked".
    "busy_timeout": 30_000,
    "cache_size": -64_000,
}


class DatabaseUnavailable(Exception):
    """The database could not be reached; the caller may retry."""


def database_url() -> str:
    """The URL from DATABASE_URL, or the embedded default."""
    from server.config import settings

    return settings().database_url


# Each request runs in a worker thread and takes a connection from the pool for its
# duration; the pool is as large as the worker-thread limit.
POOL_SIZE = 40


def open_database(url: str | None = None) -> Database:
    """Build (without connecting) the pooled database a URL names."""
    url = url or database_url()
    scheme = urlparse(url).scheme
    if scheme in ("sqlite", ""):
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
        if url.startswith("sqlite://") and not url.startswith("sqlite:///"):
            raise ValueError(
                f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute/path.db"
            )
        return PooledSqliteDatabase(
            path or ":memory:",
            pragmas=SQLITE_PRAGMAS,
            lock_type="IMMEDIATE",
            timeout=30,
            check_same_thread=False,
            max_connections=POOL_SIZE,
            stale_timeout=300,
        )
    if scheme in ("postgres", "postgresql"):
        params = parseresult_to_dict(urlparse(url))
        return PooledPostgresqlDatabase(
            prefer_psycopg3=True,
            max_connections=POOL_SIZE,
            stale_timeout=300,
            timeout=30,
            **params,
        )
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r}: use sqlite:/// or postgresql://")


def bind(db: Database) -> Database:
    """Point every model at this database."""
    database.initialize(db)
    forget_caches()
    return db


_caches: list[Callable[[], None]] = []


def on_rebind(forget: Callable[[], None]) -> None:
    """Call `forget` whenever the process's caches of database rows must be dropped."""
    _caches.append(forget)


def forget_caches() -> None:
    """Drop every process-wide cache of rows: another database was bound, or emptied."""
    for forget in _caches:
        forget()


def is_postgres(db: Database | None = None) -> bool:
    db = db or database.obj
    return isinstance(db, PostgresqlDatabase)


_hooks = threading.local()
_sqlite_writer = threading.Lock()


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the outermost write transaction commits (never if it rolls back)."""
    pending = getattr(_hooks, "pending", None)
    if pending is None:
        callback()  # not inside write_transaction: nothing to wait for
    else:
        pending.append(callback)


def before_commit(callback: Callable[[], None]) -> None:
    """Run `callback` inside the outermost write transaction, just before it commits
    (dropped with the savepoint that added it, if that rolls back)."""
    if getattr(_hooks, "pending", None) is None:
        callback()
    else:
        _hooks.pre.append(callback)


def in_write_transaction() -> bool:
    """Whether this thread is inside a write transaction."""
    return getattr(_hooks, "pending", None) is not None


def transaction_memo() -> dict:
    """A dict that lives as long as the outermost write transaction (empty outside one).

    For what may be read once per transaction instead of once per statement: what the
    transaction itself wrote it sees anyway, and on SQLite nobody else writes meanwhile.
    """
    memo = getattr(_hooks, "memo", None)
    return memo if memo is not None else {}


def locked(query):
    """`query` with `FOR UPDATE` on PostgreSQL: the rows it reads stay as read until the
    transaction ends. SQLite needs nothing: a write transaction holds the only write lock.

    The order locks are taken in, everywhere (docs/ledger.md, "Locks"): the row a
    decision is about (a checkout, a review, a membership, an idempotency key), then the
    member, then the member's wallets in account order, then that member's lots, and
    shared rows (stock, budgets, program account slots) last.
    """
    return query.for_update() if is_postgres() else query


def retryable(exc: Exception) -> bool:
    """A deadlock or serialization failure: the transaction was rolled back, run it again."""
    for cause in (exc, exc.__cause__, exc.__context__, *exc.args[:1]):
        if getattr(cause, "sqlstate", None) in ("40P01", "40001"):
            return True
    return False


@contextmanager
def write_transaction():
    """One write transaction: the write lock up front on SQLite, driver errors translated."""
    outermost = getattr(_hooks, "pending", None) is None
    if outermost:
        _hooks.pending = []
        _hooks.pre = []
        _hooks.memo = {}
    # A nested transaction is a savepoint: if it rolls back, so do the hooks it added and
    # what it memoized (rows it read or made may be gone, their ids given out again).
    mark, pre_mark = len(_hooks.pending), len(_hooks.pre)
    memo = None if outermost else dict(_hooks.memo)
    # SQLite takes one writer at a time. Threads of this process queue on a lock instead
    # of on SQLite's busy handler, which sleeps in growing steps and starves late comers;
    # other processes still wait on busy_timeout.
    writer = _sqlite_writer if outermost and not is_postgres() else nullcontext()
    try:
        with writer, database.atomic():
            try:
                yield
                if outermost:
                    for callback in _hooks.pre:
                        callback()
            except BaseException:
                del _hooks.pending[mark:]
                del _hooks.pre[pre_mark:]
                if memo is not None:
                    _hooks.memo.clear()
                    _hooks.memo.update(memo)
                raise
    except (OperationalError, InterfaceError) as exc:
        if connection_problem(exc):
            # The pool drops this broken connection when it is returned.
            connection_lost()
            raise DatabaseUnavailable(str(exc).strip() or type(exc).__name__) from exc
        raise
    else:
        if outermost:
            callbacks, _hooks.pending = _hooks.pending, None
            for callback in callbacks:
                callback()
    finally:
        if outermost:
            _hooks.pending = None
            _hooks.pre = None
            _hooks.memo = None


def connection_lost() -> None:
    """A connection failed: the server likely went away, and the pool's idle connections
    with it. Drop them now, rather than hand each out to fail one request more."""
    close_idle = getattr(database.obj, "close_idle", None)
    if close_idle is not None:
        close_idle()


def connection_problem(exc: Exception) -> bool:
    """True when a driver error means the connection, not the statement, failed."""
    text = str(exc).lower()
    return any(
        word in text
        for word in (
            "connection",
            "server closed",
            "terminating",
            "could not connect",
            "database is locked",
            "the database system is",
        )
    )
