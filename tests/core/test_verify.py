"""`jifen ledger verify`: passes on a sound ledger, names what is wrong on a broken one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from server.core import adjustments, members
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store.db import write_transaction


@pytest.fixture
def filled(db, clock):
    with write_transaction():
        for name in ("alice", "bob"):
            m = members.upsert(name, now=clock.now(), community="fans").member
            adjustments.adjust(
                m.id, 100, "seed", actor="t", now=clock.now(), settings=ProgramSettings()
            )
            adjustments.adjust(
                m.id, -30, "spend", actor="t", now=clock.now(), settings=ProgramSettings()
            )
    return db


def run_verify(db_url):
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "ledger", "verify"],
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_verify_passes_on_a_ledger_the_tests_filled(filled, db_url):
    result = run_verify(db_url)
    assert result.returncode == 0, result.stderr
    assert "ledger ok: 4 transactions" in result.stdout


@pytest.mark.parametrize(
    ("corruption", "check", "subject"),
    [
        (
            "UPDATE account SET balance = balance + 1 WHERE key = 'available:2'",
            "balance equals its postings",
            "account available:2",
        ),
        (
            "UPDATE account_slot SET balance = balance - 5 WHERE slot = 1",
            "balance equals its postings",
            "account adjustment",
        ),
        (
            "UPDATE posting SET amount = amount + 1 WHERE id = 1",
            "postings sum to zero",
            "transaction 1",
        ),
        (
            "UPDATE lot SET remaining = amount + 1 WHERE id = 1",
            "lot remainder within 0..amount",
            "lot 1",
        ),
        (
            "UPDATE lot SET remaining = remaining - 1 WHERE id = 2",
            "lots hold the available balance",
            "account available:2",
        ),
    ],
)
def test_verify_fails_naming_what_is_wrong(filled, db_url, corruption, check, subject):
    filled.execute_sql(corruption)
    report = verify()
    assert any(p.check == check and p.subject.startswith(subject) for p in report.problems), [
        str(p) for p in report.problems
    ]
    result = run_verify(db_url)
    assert result.returncode == 1
    assert "ledger verify FAILED" in result.stderr
    assert subject in result.stderr
