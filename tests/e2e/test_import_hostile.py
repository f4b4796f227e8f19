"""Hostile import files: every malformed field is refused naming its line and field (never
a crash, a traceback or a 500), and what an import reports and does is its own."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.core import imports, members, program
from server.store.db import write_transaction
from server.store.models import Member
from tests.e2e.servers import ROOT

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
AT = '"at": "2026-01-01T00:00:00Z"'
JOIN = '"kind": "join", "externalId": "x", ' + AT
EVENT = '"kind": "event", "externalId": "x", "type": "checkin", ' + AT
BALANCE = '"kind": "balance", "externalId": "x", ' + AT
PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s, filename: "h.rules"})
  { userErrors { code message } } }"""
WELCOME = 'campaign "welcome" "Welcome" {\n  join award 50\n}\n'
INVITE = (ROOT / "rules" / "invite.rules").read_text()


def deep(n: int) -> str:
    return '{"a":' + "[" * n + "]" * n + "}"


# (a line of JSON, the field its refusal names)
HOSTILE_LINES = [
    ("{" + EVENT + ', "attributes": ' + deep(100_000) + "}", None),
    ("{" + JOIN + ', "community": ["x"]}', "community"),
    ("{" + EVENT + ', "community": 5}', "community"),
    ("{" + JOIN + ', "community": "fans", "displayName": 12}', "displayName"),
    ("{" + BALANCE + ', "points": 5, "reason": ["x"]}', "reason"),
    ("{" + BALANCE + ', "points": true}', "points"),
    ("{" + BALANCE + ', "points": 5.5}', "points"),
    ("{" + BALANCE + ', "points": 10000000000}', "points"),
    ('{"kind": "member", "externalId": "s\\ud800"}', "externalId"),
    ('{"kind": "member", "externalId": "x", "displayName": "\\ud800x"}', "displayName"),
    ('{"kind": "member", "externalId": "n\\u0000ul"}', "externalId"),
    ('{"kind": "member", "externalId": 7}', "externalId"),
    (
        '{"kind": "join", "externalId": "x", "community": "f", "at": "0001-01-01T00:00:00+14:00"}',
        "at",
    ),
    ('{"kind": "event", "externalId": "x", "type": "t", "at": "0001-01-01T05:00:00-12:00"}', "at"),
    ('{"kind": "event", "externalId": "x", "type": "t", "at": "1969-12-31T23:00:00Z"}', "at"),
    ('{"kind": "event", "externalId": "x", "type": "t", "at": 20260101}', "at"),
    ("{" + JOIN + ', "community": "fans", "invitedBy": {"a": 1}}', "invitedBy"),
    ("{" + BALANCE + ', "points": 5, "points": 500}', "points"),
    ("{" + EVENT + ', "attributes": {"amount": NaN}}', None),
    ("{" + EVENT + ', "attributes": {"amount": 1e15}}', "attributes.amount"),
    ("{" + EVENT + ', "attributes": {"amount": Infinity}}', None),
    ("{" + EVENT + ', "attributes": {"n": "a\\u0000b"}}', "attributes.n"),
    ("{" + EVENT + ', "type": "checkin"}', "type"),
    ("{" + EVENT + ', "key": 5}', "key"),
]


@pytest.mark.parametrize(("line", "field"), HOSTILE_LINES, ids=range(len(HOSTILE_LINES)))
def test_a_hostile_field_is_refused_naming_its_line_and_field(db, line, field):
    text = '{"kind": "member", "externalId": "fine"}\n' + line
    with pytest.raises(imports.ImportRefused) as refused:
        imports.parse(text, "jsonl")
    [problem] = refused.value.problems
    assert (problem.line, problem.code, problem.field) == (2, "INVALID_INPUT", field)


HEADER = "kind,externalId,at,community,points\n"


@pytest.mark.parametrize("points", ["abc", "1e3", " 9 ", "1_000", "0", "-5", "99999999999"])
def test_csv_points_are_digits_only(db, points):
    text = (
        HEADER
        + "join,x,2026-01-01T00:00:00Z,fans,\n"
        + f'balance,x,2026-01-01T01:00:00Z,,"{points}"\n'
    )
    with pytest.raises(imports.ImportRefused) as refused:
        imports.parse(text, "csv")
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, "points")]


def test_csv_with_a_byte_order_mark_and_twice_a_column(db):
    [record] = imports.parse("\ufeff" + HEADER + "join,x,2026-01-01T00:00:00Z,fans,\n", "csv")
    assert (record.kind, record.external_id) == ("join", "x")
    with pytest.raises(imports.ImportRefused) as refused:
        imports.parse(
            "kind,externalId,at,points,points\nbalance,x,2026-01-01T00:00:00Z,5,500\n", "csv"
        )
    assert [(p.line, p.field) for p in refused.value.problems] == [(1, "points")]


IMPORT = """mutation($s: String!, $f: ImportFormat!) { historyImport(input: {source: $s,
  format: $f}) { imported refused { line code } userErrors { code field message } } }"""


@pytest.mark.parametrize(
    ("source", "fmt", "field"),
    [
        (
            HEADER + "join,x,2026-01-01T00:00:00Z,fans,\nbalance,x,2026-01-01T01:00:00Z,,abc\n",
            "CSV",
            "source.3.points",
        ),
        ("{" + EVENT + ', "attributes": ' + deep(100_000) + "}", "JSONL", "source.1"),
        ('{"kind": "member", "externalId": "n\\u0000ul"}', "JSONL", "source.1.externalId"),
    ],
)
def test_the_api_refuses_a_hostile_source_with_user_errors(api, clock, source, fmt, field):
    clock.set(T0)
    result = api.call(IMPORT, {"s": source, "f": fmt})["historyImport"]
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("INVALID_INPUT", field)]
    assert Member.select().count() == 0


def test_the_command_reads_a_csv_with_a_byte_order_mark(db_url, tmp_path):
    path: Path = tmp_path / "history.csv"
    path.write_text(HEADER + "join,bom-a,2026-01-05T08:00:00+00:00,fans,\n", encoding="utf-8-sig")
    command = [sys.executable, "-m", "server.cli", "import", str(path)]
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "imported 1" in done.stdout


def test_the_command_names_the_line_of_bad_points_without_a_traceback(db_url, tmp_path):
    path: Path = tmp_path / "history.csv"
    path.write_text(
        HEADER
        + "join,c,2026-01-05T08:00:00+00:00,fans,\nbalance,c,2026-01-05T09:00:00+00:00,,1e3\n"
    )
    command = [sys.executable, "-m", "server.cli", "import", str(path)]
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{path}:line 3: INVALID_INPUT (points)" in done.stderr
    assert "Traceback" not in done.stderr


def jsonl(records: list[dict]) -> str:
    return "\n".join(json.dumps({**r, "at": r["at"].isoformat()}) for r in records)


def test_referrals_before_the_first_publish_are_paid_by_today_s_rules(api, clock):
    """A go-live backfill with --rules-of-today: joins with inviters, dated before any rules
    were published, pay the inviters by today's rules; a leave takes its award back."""
    clock.set(T0)
    api.mutate(PUBLISH, {"s": INVITE})
    before = T0 - timedelta(days=30)
    history = [
        {"kind": "join", "externalId": "host", "community": "fans", "at": before},
        {
            "kind": "join",
            "externalId": "g1",
            "community": "fans",
            "invitedBy": "host",
            "at": before + timedelta(hours=1),
        },
        {
            "kind": "join",
            "externalId": "g2",
            "community": "fans",
            "invitedBy": "host",
            "at": before + timedelta(hours=2),
        },
        {
            "kind": "leave",
            "externalId": "g2",
            "community": "fans",
            "at": before + timedelta(days=1),
        },
    ]
    records = imports.parse(jsonl(history), "jsonl")
    report = imports.run(records, now=T0 + timedelta(hours=1), rules_of_today=True)
    assert report.failed == []
    assert report.campaigns == {"invite": (20, 10)}


def test_the_report_counts_only_this_import_s_awards(api, clock):
    """Awards made meanwhile by live traffic (or another import) are not this import's."""
    clock.set(T0 - timedelta(days=1))
    api.mutate(PUBLISH, {"s": WELCOME})
    now = T0 + timedelta(days=1)

    def live_traffic(done: int, total: int) -> None:
        with write_transaction():
            members.upsert("live-1", now=now, community="fans", settings=program.load())

    history = [{"kind": "join", "externalId": "imp-1", "community": "fans", "at": T0}]
    report = imports.run(imports.parse(jsonl(history), "jsonl"), now=now, progress=live_traffic)
    assert report.campaigns == {"welcome": (50, 0)}
    assert Member.select().where(Member.external_id == "live-1").count() == 1


def test_a_member_s_join_comes_before_what_they_do_at_the_same_instant(api, clock):
    clock.set(T0 - timedelta(days=1))
    api.mutate(PUBLISH, {"s": WELCOME})
    history = [
        {"kind": "balance", "externalId": "same", "points": 70, "at": T0},
        {"kind": "event", "externalId": "same", "type": "checkin", "at": T0},
        {"kind": "join", "externalId": "same", "community": "fans", "at": T0},
    ]
    report = imports.run(imports.parse(jsonl(history), "jsonl"), now=T0 + timedelta(days=1))
    assert (report.imported, report.failed) == (3, [])
