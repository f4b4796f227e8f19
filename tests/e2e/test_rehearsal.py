"""Rehearsing time: `jifen tick --at TIME` runs the periodic jobs as if it were TIME, on
a staging copy only, and the audit log says who moved the clock and where to."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.core import adjustments, events, members, program, rules
from server.store.db import write_transaction
from server.store.models import AuditEntry, Event, LedgerTransaction

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = """program "club" {
  timezone "Asia/Shanghai"
  points expire 30 days after earned
}
campaign "speak" "Speak up" {
  every week top 1 by messages award 50
}
campaign "moments" "Moments" {
  birthday award 88
}
"""


def jifen(db_url: str, *args: str, env: str | None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "JIFEN_ENV"}
    environ["DATABASE_URL"] = db_url
    if env is not None:
        environ["JIFEN_ENV"] = env
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def community(db, clock):
    """Ada speaks on Monday 2 March 2026, has 100 points expiring 30 days later, and
    her birthday is on 20 March."""
    clock.set(datetime(2026, 3, 2, 12, tzinfo=SHANGHAI))
    with write_transaction():
        rules.publish([("club.rules", RULES)], now=clock.now(), actor="t")
        settings = program.load()
        ada = members.upsert("ada", now=clock.now(), birthday=date(1990, 3, 20)).member
        events.record(ada.id, "message", now=clock.now(), settings=settings)
        adjustments.adjust(ada.id, 100, "welcome", actor="t", now=clock.now(), settings=settings)
    return ada


AT = "2026-04-02T12:00:00+08:00"


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (None, "JIFEN_ENV is not set here"),
        ("production", "JIFEN_ENV is production here"),
        ("", "JIFEN_ENV is not set here"),
    ],
)
def test_tick_at_is_refused_outside_a_rehearsal_setting(community, db_url, env, said):
    before = LedgerTransaction.select().count()
    done = jifen(db_url, "tick", "--at", AT, env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("jifen: --at moves the program's clock")
    assert "JIFEN_ENV=staging" in line and said in line
    assert LedgerTransaction.select().count() == before
    assert not AuditEntry.select().where(AuditEntry.action == "tick.rehearse").exists()


def test_tick_at_on_staging_rehearses_expiry_boards_and_birthdays(community, db_url):
    done = jifen(db_url, "tick", "--at", AT, env="staging")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "expired 100 points and 0 checkout holds; paid 1 leaderboard periods; 0 birthdays"
    )
    assert "paid speak week 2026-10 (club.rules:6): 50 points to 1 member" in done.stdout
    kinds = [t.kind for t in LedgerTransaction.select().order_by(LedgerTransaction.id)]
    assert kinds == ["adjustment", "leaderboard", "expiry"]
    (entry,) = AuditEntry.select().where(AuditEntry.action == "tick.rehearse")
    assert entry.details["at"] == "2026-04-02T04:00:00+00:00"
    assert entry.details["environment"] == "staging"
    assert entry.actor.startswith("cli:")
    # Birthdays are rehearsed on the day they fall on.
    done = jifen(db_url, "tick", "--at", "2026-03-20T09:00:00+08:00", env="development")
    assert done.returncode == 0, done.stderr
    assert Event.select().where(Event.type == "birthday").count() == 1


def test_tick_without_at_needs_no_setting(community, db_url):
    done = jifen(db_url, "tick", env=None)
    assert done.returncode == 0, done.stderr
    assert not AuditEntry.select().where(AuditEntry.action == "tick.rehearse").exists()
