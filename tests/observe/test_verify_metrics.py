"""`jifen ledger verify --metrics-file`: the outcome for node_exporter's textfile collector."""

from __future__ import annotations

import subprocess
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

from server.core import adjustments, members
from server.core.program import ProgramSettings
from server.store.db import database, write_transaction


def verify(db_url, path):
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "ledger", "verify", "--metrics-file", str(path)],
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def read(path) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def test_verify_writes_its_outcome_as_metrics(db, db_url, clock, tmp_path):
    with write_transaction():
        m = members.upsert("alice", now=clock.now()).member
        adjustments.adjust(
            m.id, 100, "seed", actor="t", now=clock.now(), settings=ProgramSettings()
        )
    path = tmp_path / "textfile" / "jifen_verify.prom"
    began = time.time()
    assert verify(db_url, path).returncode == 0
    sound = read(path)
    assert sound["jifen_ledger_verify_problems"] == 0
    assert began <= sound["jifen_ledger_verify_last_run_timestamp_seconds"] <= time.time()
    with write_transaction():  # a balance that no longer equals its postings
        database.execute_sql(f"UPDATE account SET balance = balance + 5 WHERE member_id = {m.id:d}")
    assert verify(db_url, path).returncode == 1
    assert read(path)["jifen_ledger_verify_problems"] >= 1
