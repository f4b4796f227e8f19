"""One suite, two databases: every test that takes `db` runs on SQLite and on PostgreSQL.

PostgreSQL comes from JIFEN_TEST_PG_URL (default: the local server's `test` database);
each test session works in a database of its own, created here and dropped at the end.
Where PostgreSQL cannot be reached its tests are skipped, except under CI=true, where that
is an error, and so is any skipped test. Under CI=true the Hypothesis tests also run the
same examples every time (derandomized, no time limit per example): a run fails on what
changed, not on which examples it happened to draw; elsewhere they explore new ones.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import settings
from peewee import OperationalError
from starlette.testclient import TestClient

from server.app import create_app
from server.core import auth
from server.core.clock import FixedClock
from server.store import migrate
from server.store.db import bind, open_database
from tests.support import (
    Api,
    PostgresUnavailable,
    postgres_admin_url,
    reset_tables,
    temporary_postgres,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if IN_CI:
    settings.load_profile("ci")
BACKENDS = [
    b.strip()
    for b in os.environ.get("JIFEN_TEST_DATABASES", "sqlite,postgres").split(",")
    if b.strip()
]
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="session")
def postgres_url():
    """A migrated PostgreSQL database for this session, or a skip (an error in CI)."""
    try:
        with temporary_postgres(postgres_admin_url()) as url:
            db = open_database(url)
            migrate.upgrade(db)
            db.close_all()
            yield url
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture(params=BACKENDS)
def empty_db_url(request, tmp_path):
    """The URL of a database with no tables at all, of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    try:
        with temporary_postgres(postgres_admin_url()) as url:
            yield url
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture(scope="session")
def _postgres_db(postgres_url):
    db = open_database(postgres_url)
    yield db
    db.close_all()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """The URL of a fresh, migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jifen.db'}"
        db = open_database(url)
        migrate.upgrade(db)
        db.close_all()
        return url
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def db(request, db_url):
    """The bound database (peewee), empty at the start of the test."""
    if db_url.startswith("postgres"):
        database = request.getfixturevalue("_postgres_db")
        bind(database)
        try:
            reset_tables(database)
        except OperationalError:
            # The server restarted since the last test (the crash tests restart it): this
            # thread's connection is dead. Let it go and start on a fresh one.
            database.manual_close()
            database.close_idle()
            reset_tables(database)
    else:
        database = bind(open_database(db_url))
    yield database
    if not database.is_closed():
        database.close()
    if db_url.startswith("sqlite"):
        database.close_all()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def app(db, clock):
    return create_app(clock=clock)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keys(db, clock) -> dict[str, str]:
    """One API key per staff role, by role name."""
    out = {}
    for role in auth.Role:
        if role is not auth.Role.MEMBER:
            _, out[role.value] = auth.create_key(role, f"test {role.value}", now=clock.now())
    return out


@pytest.fixture
def api(client, keys) -> Api:
    """GraphQL calls as admin by default; `api.as_(role_or_token)` for others."""
    return Api(client, keys["admin"], keys)


def pytest_sessionfinish(session, exitstatus):
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; a skip is a failure here", red=True
        )
        session.exitstatus = 1
