"""The task runner: `make serve` installs what serving needs and nothing for the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _planned(target: str) -> str:
    """The commands `make` would run for a target from scratch (printed, not run)."""
    done = subprocess.run(
        ["make", "--dry-run", "--always-make", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_serve_installs_only_what_serving_needs():
    plan = _planned("serve")
    assert "pip install --quiet -e ." in plan
    assert "[test]" not in plan
    assert "jifen serve" in plan


def test_make_test_installs_the_test_tools_too():
    plan = _planned("test")
    assert 'pip install --quiet -e ".[test]"' in plan
    assert "pytest" in plan
