"""`jifen rules ...` and `jifen backup` as an operator runs them from a shell."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.core import events, members, program, rules
from server.store.db import write_transaction

ROOT = Path(__file__).resolve().parents[2]


def jifen(*args: str, db_url: str | None = None, cwd: Path = ROOT):
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if db_url is not None:
        environ["DATABASE_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=cwd,
        env={**environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rules_check_takes_one_file(tmp_path):
    done = jifen("rules", "check", "rules/checkin.rules")
    assert (done.returncode, done.stderr) == (0, "1 file(s): 0 error(s), 0 warning(s)\n")
    broken = tmp_path / "broken.rules"
    broken.write_text('campaign "c" {\n  checkin awrd 2\n}\n')
    done = jifen("rules", "check", str(broken))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{broken}:2:11: error: ")


def test_rules_check_takes_directories_and_files_together(tmp_path):
    extra = tmp_path / "extra.rules"
    extra.write_text('campaign "extra" {\n  checkin award 1\n}\n')
    done = jifen("rules", "check", "rules", str(extra))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "9 file(s): 0 error(s), 0 warning(s)\n"
    # Taken together they are one program: a campaign key used twice is caught.
    twice = tmp_path / "twice.rules"
    twice.write_text('campaign "speak" {\n  checkin award 1\n}\n')
    done = jifen("rules", "check", "rules", str(twice))
    assert done.returncode == 1
    assert "campaign `speak` is already defined at rules/speak.rules:2" in done.stderr


def test_rules_check_names_a_path_that_does_not_exist():
    done = jifen("rules", "check", "nowhere.rules")
    assert (done.returncode, done.stderr) == (2, "jifen: nowhere.rules does not exist\n")


def test_backup_help_points_at_a_document_that_exists():
    done = jifen("backup", "--help")
    assert done.returncode == 0
    docs = re.findall(r"docs/[\w.-]+\.md", " ".join(done.stdout.split()))
    assert docs, done.stdout
    for doc in docs:
        assert (ROOT / doc).exists(), doc


def test_every_doc_named_in_any_help_exists():
    from server.cli import _parser

    parser = _parser()
    texts = [parser.format_help()]
    pending = [parser]
    while pending:
        for action in pending.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    texts.append(sub.format_help())
                    pending.append(sub)
    named = set(re.findall(r"docs/[\w.-]+\.md", " ".join(" ".join(texts).split())))
    assert named
    assert {doc for doc in named if not (ROOT / doc).exists()} == set()


LONG = (
    'message where length >= 5 and channel in ["general", "announcements", "off-topic"] '
    "award 1 limit 20 per day"
)
DRAFT = f"""campaign "draft" {{
  {LONG}
  every week top 2 by messages award 50, 30
}}
"""


@pytest.fixture
def spoken(db, clock):
    """Three members speak in the week of 2 March 2026: m2 three times, m1 twice, m0 once."""
    with write_transaction():
        rules.publish(
            [("speak.rules", 'campaign "s" {\n  message award 1\n}\n')], now=clock.now(), actor="t"
        )
    settings = program.load()
    with write_transaction():
        for i in range(3):
            member = members.upsert(f"m{i}", now=clock.now()).member
            for n in range(i + 1):
                events.record(
                    member.id,
                    "message",
                    now=clock.now() + timedelta(minutes=n),
                    settings=settings,
                    attributes={"length": 9, "channel": "general"},
                )
    return clock.now()


def test_simulate_prints_whole_rules_net_of_clawbacks_and_prices_days_to_come(
    spoken, db_url, tmp_path
):
    draft = tmp_path / "draft.rules"
    draft.write_text(DRAFT)
    until = datetime.now(UTC) + timedelta(days=21)
    done = jifen(
        "rules",
        "simulate",
        str(draft),
        "--from",
        "2026-03-02",
        "--to",
        until.isoformat(),
        db_url=db_url,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Points are net of clawbacks" in out
    assert re.search(rf"^draft\.rules:2 +6 +6  {re.escape(LONG)}$", out, re.M), out
    # Week 10 is over and paid 80 on its board; three weeks are still to come.
    assert re.search(
        r"^draft\.rules:3 +at most 320 +\d+ \(3 to come\)  "
        r"every week top 2 by messages award 50, 30$",
        out,
        re.M,
    ), out
