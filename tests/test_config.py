"""Settings: one typed place, listed by `jifen config` and docs/operations.md, and the only
code that reads the environment."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server import config
from server.config import NAMES, SettingsError, override, parse, settings
from server.core import adjustments, checkout, engine
from server.store import db

ROOT = Path(__file__).resolve().parents[1]


def test_no_code_but_the_settings_module_reads_the_environment():
    readers = []
    for package in ("server", "dsl"):
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "server" / "config.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []


def test_jifen_config_lists_every_setting_with_its_value_source_default_and_meaning(tmp_path):
    env = {
        "PATH": "/usr/bin",
        "DATABASE_URL": "postgresql://jifen:hunter2@db.internal:5432/points",
        "JIFEN_COST_BUDGET": "500",
        "JIFEN_ENV": "production",
    }
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == set(NAMES.values())
    assert re.match(
        r"DATABASE_URL\s+postgresql://jifen:\*\*\*@db\.internal:5432/points\s+environment\s+"
        r"sqlite:///jifen\.db\s+the database",
        rows["DATABASE_URL"],
    )
    assert re.match(
        r"JIFEN_COST_BUDGET\s+500\s+environment\s+20000\s+query cost", rows["JIFEN_COST_BUDGET"]
    )
    # Production turns the IDE and introspection off when they are not set.
    assert re.match(
        r"JIFEN_GRAPHIQL\s+off\s+default \(JIFEN_ENV=production\)", rows["JIFEN_GRAPHIQL"]
    )
    assert re.match(
        r"JIFEN_MESSAGE_RATE\s+10\s+default\s+10\s+messages", rows["JIFEN_MESSAGE_RATE"]
    )


def test_every_setting_is_documented_in_operations_md():
    doc = (ROOT / "docs" / "operations.md").read_text()
    section = doc.split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE))
    assert documented == set(NAMES.values())


def test_the_domain_reads_its_settings_from_the_environment_and_from_overrides(monkeypatch):
    assert (engine.message_rate(), adjustments.approval_threshold()) == (10, 10_000)
    monkeypatch.setenv("JIFEN_MESSAGE_RATE", "3")
    monkeypatch.setenv("JIFEN_CHECKOUT_HOLD_MINUTES", "5")
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@b/c")
    assert engine.message_rate() == 3
    assert checkout.hold_ttl().total_seconds() == 300
    assert db.database_url() == "postgresql://a@b/c"
    with override(adjustment_approval_over=50, message_rate=7):
        assert (engine.message_rate(), adjustments.approval_threshold()) == (7, 50)
    assert (engine.message_rate(), adjustments.approval_threshold()) == (3, 10_000)


def test_an_override_names_only_real_settings():
    with pytest.raises(TypeError, match="no such setting: messages"):
        with override(messages=3):
            pass


@pytest.mark.parametrize(
    ("env", "graphiql", "introspection"),
    [
        ({}, True, True),
        ({"JIFEN_ENV": "production"}, False, False),
        ({"JIFEN_ENV": "production", "JIFEN_GRAPHIQL": "on"}, True, False),
        ({"JIFEN_INTROSPECTION": "0"}, True, False),
    ],
)
def test_production_turns_the_ide_and_introspection_off_unless_set(
    monkeypatch, env, graphiql, introspection
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    current = settings()
    assert (current.graphiql, current.introspection) == (graphiql, introspection)


def test_cors_origins_are_comma_separated(monkeypatch):
    monkeypatch.setenv("JIFEN_CORS_ORIGINS", "https://a.example, https://b.example,")
    assert settings().cors_origins == ("https://a.example", "https://b.example")


def test_an_empty_variable_means_unset(monkeypatch):
    monkeypatch.setenv("JIFEN_COST_BUDGET", "")
    assert settings().cost_budget == 20_000


def test_every_malformed_setting_is_named_at_once(monkeypatch):
    monkeypatch.setenv("JIFEN_COST_BUDGET", "lots")
    monkeypatch.setenv("JIFEN_MAX_BODY_BYTES", "-5")
    with pytest.raises(SettingsError) as caught:
        parse()
    message = str(caught.value)
    assert "JIFEN_COST_BUDGET='lots' is not valid: expected a whole number" in message
    assert "JIFEN_MAX_BODY_BYTES='-5' is not valid: expected a whole number" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p4ss@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("sqlite:///jifen.db", "sqlite:///jifen.db"),
    ],
)
def test_database_passwords_are_masked(url, shown):
    assert config.mask(url) == shown
