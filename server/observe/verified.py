"""`jifen ledger verify --metrics-file FILE`: the outcome of the ledger's check as metrics,
for node_exporter's textfile collector (a cron job has no /metrics of its own)."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile


def write_outcome(path: Path, problems: int) -> None:
    """Write the number of problems found and when, replacing the file whole."""
    registry = CollectorRegistry()
    Gauge(
        "jifen_ledger_verify_problems",
        "Problems the last `jifen ledger verify` found (0: the ledger is consistent)",
        registry=registry,
    ).set(problems)
    Gauge(
        "jifen_ledger_verify_last_run_timestamp_seconds",
        "When `jifen ledger verify` last ran to the end (Unix time)",
        registry=registry,
    ).set(time.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)  # through a temporary file: never half written
