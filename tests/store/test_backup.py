"""`jifen backup` writes a copy that restores to the same ledger."""

from __future__ import annotations

import subprocess
import sys

from server.core import adjustments, members
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store import migrate
from server.store.db import bind, open_database, write_transaction
from server.store.models import Account, Posting
from tests.support import postgres_admin_url, temporary_postgres


def fill(clock, n=3):
    with write_transaction():
        for i in range(n):
            m = members.upsert(f"m{i}", now=clock.now()).member
            adjustments.adjust(
                m.id, 10 * (i + 1), "seed", actor="t", now=clock.now(), settings=ProgramSettings()
            )


def snapshot():
    return sorted((a.key, a.balance) for a in Account.select()), Posting.select().count()


def test_backup_and_restore(db, db_url, clock, tmp_path):
    fill(clock)
    before = snapshot()
    target = tmp_path / "copy.backup"
    db.close()
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "backup", str(target)],
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert target.stat().st_size > 0
    fill(clock, 5)  # changes after the backup are not in it
    again = subprocess.run(
        [sys.executable, "-m", "server.cli", "backup", str(target)],
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "exists" in again.stderr
    if db_url.startswith("sqlite"):  # the backup is a database file of its own
        check_restored(f"sqlite:///{target}", before)
        return
    with temporary_postgres(postgres_admin_url()) as empty:
        done = subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--host=127.0.0.1",
                "--username=postgres",
                f"--dbname={empty.rsplit('/', 1)[1]}",
                str(target),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        check_restored(empty, before)


def check_restored(url, before):
    restored = bind(open_database(url))
    try:
        assert migrate.pending(restored) == []
        assert snapshot() == before
        assert verify().ok
    finally:
        restored.close_all()
