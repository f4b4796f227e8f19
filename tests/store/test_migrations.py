"""Schema migrations: the models match the migrated schema, and old databases upgrade intact."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from playhouse.schema_diff import diff_models

from server.core import budgets, idempotency
from server.core.verify import verify
from server.store import migrate
from server.store.db import bind, open_database
from server.store.models import (
    ALL_MODELS,
    CampaignBudget,
    IdempotencyKey,
    Lot,
    Member,
    Posting,
)


def test_migrated_schema_matches_the_models(empty_db_url):
    db = open_database(empty_db_url)
    assert migrate.upgrade(db) == sorted(p.stem for p in migrate.MIGRATIONS.glob("0*.py"))
    diff = diff_models(db, ALL_MODELS)
    assert not diff, str(diff)
    assert migrate.upgrade(db) == []
    db.close_all()


def test_a_database_from_the_first_version_upgrades_without_losing_data(empty_db_url):
    db = bind(open_database(empty_db_url))
    first = sorted(p.stem for p in migrate.MIGRATIONS.glob("0*.py"))[0]
    assert migrate.upgrade(db, target=first) == [first]
    # Data written the way the first version wrote it: plain SQL against its tables.
    at = "2026-01-05 08:00:00.000000"
    for sql in [
        "INSERT INTO member (external_id, display_name, created_at, updated_at, joined_at) "
        f"VALUES ('old-1', 'Old Timer', '{at}', '{at}', '{at}')",
        "INSERT INTO account (key, kind, member_id, balance, slots) VALUES "
        "('available:1', 'available', 1, 70, 1), ('pending:1', 'pending', 1, 0, 1), "
        "('held:1', 'held', 1, 0, 1), ('adjustment', 'adjustment', NULL, -70, 1)",
        "INSERT INTO ledger_transaction (kind, member_id, created_at, actor, reason) VALUES "
        f"('adjustment', 1, '{at}', 'admin:x', 'welcome')",
        "INSERT INTO posting (txn_id, account_id, amount, member_id, created_at, balance_after)"
        f" VALUES (1, 1, 70, 1, '{at}', 70), (1, 4, -70, NULL, '{at}', NULL)",
        "INSERT INTO lot (member_id, posting_id, amount, remaining, earned_at) VALUES "
        f"(1, 1, 70, 70, '{at}')",
    ]:
        db.execute_sql(sql)
    applied = migrate.upgrade(db)
    assert applied and first not in applied
    member = Member.get(Member.external_id == "old-1")
    assert member.display_name == "Old Timer"
    assert member.joined_at == datetime(2026, 1, 5, 8, tzinfo=UTC)
    assert [p.amount for p in Posting.select().order_by(Posting.id)] == [70, -70]
    assert Lot.get().remaining == 70
    assert verify().ok
    assert not diff_models(db, ALL_MODELS)
    db.close_all()


def test_budgets_spent_before_shares_existed_stay_spent(empty_db_url):
    db = bind(open_database(empty_db_url))
    assert migrate.upgrade(db, target="0006_audit_and_abuse")
    db.execute_sql(
        "INSERT INTO campaign_budget (campaign, budget, spent, last_take) VALUES "
        "('golden', 200000, 123457, 0), ('open', NULL, 0, 0)"
    )
    assert migrate.upgrade(db)[0] == "0007_budget_shares"
    assert budgets.spent("golden") == 123457 and budgets.left("golden") == 200000 - 123457
    assert budgets.left("open") is None
    assert CampaignBudget.get_by_id("golden").spent == 0
    db.close_all()


def test_two_processes_upgrading_at_once_both_succeed(empty_db_url):
    env_cmd = [sys.executable, "-m", "server.cli", "db", "upgrade"]
    procs = [
        subprocess.Popen(
            env_cmd,
            env={"DATABASE_URL": empty_db_url, "PATH": "/usr/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    db = open_database(empty_db_url)
    assert migrate.pending(db) == []
    names = [r[0] for r in db.execute_sql(f"SELECT name FROM {migrate.HISTORY_TABLE}")]
    assert sorted(names) == sorted(set(names))
    db.close_all()


def test_keys_stored_before_scopes_still_replay_their_own_request_only(empty_db_url):
    db = bind(open_database(empty_db_url))
    assert migrate.upgrade(db, target="0008_read_path_indexes")
    args = {"memberId": 1, "points": 50, "reason": "welcome gift"}
    digest = idempotency.request_hash("pointsAdjust", args)
    db.execute_sql(
        "INSERT INTO idempotency_key (key, operation, request_hash, result_id, created_at) "
        f"VALUES ('welcome-wx-1', 'pointsAdjust', '{digest}', 7, '2026-01-05 08:00:00.000000')"
    )
    assert migrate.upgrade(db)[0] == "0009_idempotency_scope"
    assert [(k.scope, k.key) for k in IdempotencyKey.select()] == [("legacy", "welcome-wx-1")]
    now = datetime(2026, 2, 1, tzinfo=UTC)
    ran = []

    def work() -> int:
        ran.append(1)
        return 100 + len(ran)

    # The retry of the request made before the upgrade replays it, whoever sends it...
    same = idempotency.run_once("key:abc", "welcome-wx-1", "pointsAdjust", args, now, work)
    assert (same.result_id, same.replayed, ran) == (7, True, [])
    # ...any other request with that key is a new one, in its sender's own scope.
    other = {**args, "memberId": 2}
    fresh = idempotency.run_once("member:2", "welcome-wx-1", "pointsAdjust", other, now, work)
    assert (fresh.result_id, fresh.replayed) == (101, False)
    again = idempotency.run_once("member:2", "welcome-wx-1", "pointsAdjust", other, now, work)
    assert (again.result_id, again.replayed, len(ran)) == (101, True, 1)
    # Downgrading keeps one row per key: the oldest request's.
    migrate.runner(db).down("0009_idempotency_scope")
    rows = db.execute_sql("SELECT key, result_id FROM idempotency_key").fetchall()
    assert rows == [("welcome-wx-1", 7)]
    db.close_all()
