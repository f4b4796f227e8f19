"""The benchmarks run (on a tiny dataset): they are not part of the test run otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rule_cost_benchmark_runs_and_prints_its_table():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.rule_cost",
            "--campaigns",
            "20",
            "--events",
            "30",
            "--runs",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: target missed on a tiny sample
    assert "per-event cost, 20 other campaigns" in result.stdout
    assert "ratio" in result.stdout and "target" in result.stdout


def test_the_bench_command_runs_every_benchmark_on_a_tiny_dataset():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in ("checkinRecord over HTTP, jifen", "per-event cost, 20 other campaigns"):
        assert name in result.stdout
