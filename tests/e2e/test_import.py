"""Importing history: the same ledger as recording it live, once however often it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from server.core import imports
from server.store.models import LedgerTransaction, Member, Posting
from tests.e2e.servers import ROOT

RULES = """
program "History" {
  timezone "UTC"
  points expire 30 days after earned
}
campaign "welcome" "Welcome" {
  join award 50
}
campaign "invite" "Invite" {
  referral tier 1 award 10 each until invitee leaves
  referral tier >=2 award 15 each until invitee leaves
}
campaign "daily" "Daily" {
  checkin award 2
  checkin streak 3 award 5
}
campaign "speak" "Speak" {
  message where length >= 5 award 1
}
"""
PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s, filename: "h.rules"})
  { userErrors { code message } } }"""
UPSERT = """mutation($e: String!, $c: String, $by: String) { memberUpsert(input: {
  externalId: $e, community: $c, invitedByExternalId: $by}) { member { id }
  userErrors { code } } }"""
LEAVE = """mutation($m: ID!, $c: String!) { memberLeave(memberId: $m, community: $c) {
  userErrors { code } } }"""
EVENT = """mutation($m: ID!, $t: String!, $k: String!, $a: JSON) { eventRecord(input: {
  memberId: $m, type: $t, idempotencyKey: $k, attributes: $a}) { userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "opening balance", idempotencyKey: $k}) { userErrors { code } } }"""

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)


def history(prefix: str) -> list[dict]:
    """A small community's first ten days: joins with inviters, check-ins, talk, a leave."""
    a, b, c, d = (f"{prefix}{n}" for n in "abcd")
    day = timedelta(days=1)
    out = [
        {"kind": "join", "externalId": a, "community": "fans", "at": T0},
        {"kind": "balance", "externalId": a, "points": 100, "at": T0 + timedelta(hours=1)},
        {"kind": "join", "externalId": b, "community": "fans", "invitedBy": a, "at": T0 + day},
        {"kind": "join", "externalId": c, "community": "fans", "invitedBy": a, "at": T0 + 2 * day},
        {"kind": "join", "externalId": d, "community": "fans", "invitedBy": a, "at": T0 + 3 * day},
    ]
    for n in range(4):
        at = T0 + timedelta(days=n, hours=3)
        out.append({"kind": "event", "externalId": a, "type": "checkin", "at": at})
        out.append(
            {
                "kind": "event",
                "externalId": b if n else a,
                "type": "message",
                "attributes": {"length": 4 + n, "text": f"m{n}"},
                "at": at + timedelta(minutes=5),
            }
        )
    out.append({"kind": "leave", "externalId": c, "community": "fans", "at": T0 + 6 * day})
    out.append({"kind": "event", "externalId": c, "type": "checkin", "at": T0 + 7 * day})
    return out


def live(api, clock, records: list[dict]) -> None:
    """Each record through the API, with the clock at its time."""
    ids: dict[str, str] = {}
    for n, r in enumerate(records):
        clock.set(r["at"])
        who = r["externalId"]
        if r["kind"] == "join":
            ids[who] = api.mutate(
                UPSERT, {"e": who, "c": r["community"], "by": r.get("invitedBy")}
            )["member"]["id"]
        elif r["kind"] == "leave":
            api.mutate(LEAVE, {"m": ids[who], "c": r["community"]})
        elif r["kind"] == "balance":
            api.mutate(ADJUST, {"m": ids[who], "p": r["points"], "k": f"bal{n}{who}"})
        else:
            api.as_("service").mutate(
                EVENT, {"m": ids[who], "t": r["type"], "k": f"e{n}{who}", "a": r.get("attributes")}
            )


def jsonl(records: list[dict]) -> str:
    return "\n".join(json.dumps({**r, "at": r["at"].isoformat()}) for r in records)


def books(external_id: str) -> dict:
    """A member's ledger without ids or booking times."""
    member = Member.get(Member.external_id == external_id)
    rows = (
        Posting.select(Posting, LedgerTransaction)
        .join(LedgerTransaction)
        .where(Posting.member == member.id)
    )
    entries = sorted(
        (p.txn.kind, p.txn.campaign, p.txn.rule_line, p.amount, p.account.kind) for p in rows
    )
    return {"entries": entries, "joined": member.joined_at}


@pytest.fixture
def ruled(api, clock):
    clock.set(T0 - timedelta(days=1))
    api.mutate(PUBLISH, {"s": RULES})
    return api


def test_an_import_keeps_the_ledger_that_recording_live_keeps(ruled, clock):
    live(ruled, clock, history("live-"))
    now = T0 + timedelta(days=12)
    clock.set(now)
    records = imports.parse(jsonl(history("imp-")), "jsonl")
    report = imports.run(records, now=now)
    assert (report.imported, report.replayed, report.failed) == (len(records), 0, [])
    for who in "abcd":
        assert books(f"imp-{who}") == books(f"live-{who}"), who
    # The referral of the member who left is taken back in both; a re-run changes nothing.
    assert report.campaigns["invite"] == (10 + 15 + 15, 15)
    before = LedgerTransaction.select().count()
    again = imports.run(imports.parse(jsonl(history("imp-")), "jsonl"), now=now)
    assert (again.imported, again.replayed, again.failed) == (0, len(records), [])
    assert LedgerTransaction.select().count() == before


def test_a_dry_run_reports_what_it_would_award_and_changes_nothing(ruled, clock):
    now = T0 + timedelta(days=12)
    clock.set(now)
    records = imports.parse(jsonl(history("dry-")), "jsonl")
    report = imports.run(records, now=now, dry_run=True)
    assert report.dry_run and report.imported == len(records)
    assert report.campaigns["welcome"] == (200, 0)
    assert report.campaigns["daily"] == (2 * 5 + 5, 0)
    assert Member.select().where(Member.external_id.startswith("dry-")).count() == 0
    assert LedgerTransaction.select().count() == 0


def test_events_judged_by_todays_rules_when_asked(ruled, clock):
    """A go-live backfill: history from before the rules existed, priced by today's."""
    before_rules = [
        {"kind": "join", "externalId": "old", "community": "fans", "at": T0 - timedelta(days=9)},
        {
            "kind": "event",
            "externalId": "old",
            "type": "checkin",
            "at": T0 - timedelta(days=8),
        },
    ]
    now = T0 + timedelta(days=1)
    clock.set(now)
    then = imports.run(imports.parse(jsonl(before_rules), "jsonl"), now=now)
    assert [w.code for w in then.warnings] == ["NO_RULES_IN_FORCE"]
    assert then.campaigns == {}
    today = [{**r, "externalId": "new", "key": f"n{i}"} for i, r in enumerate(before_rules)]
    backfilled = imports.run(imports.parse(jsonl(today), "jsonl"), now=now, rules_of_today=True)
    assert backfilled.campaigns["daily"] == (2, 0)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"kind": "joined", "externalId": "x", "at": "2026-01-01T00:00:00Z"}', "kind"),
        ('{"kind": "join", "externalId": "x", "at": "yesterday", "community": "f"}', "at"),
        ('{"kind": "join", "externalId": "x", "at": "2026-01-01T00:00:00"}', "at"),
        ('{"kind": "join", "externalId": "x", "at": "2026-01-01T00:00:00Z"}', "community"),
        (
            '{"kind": "balance", "externalId": "x", "at": "2026-01-01T00:00Z", "points": -5}',
            "points",
        ),
        ('{"kind": "event", "externalId": "x", "at": "2026-01-01T00:00Z"}', "type"),
        ("[1, 2]", None),
    ],
)
def test_a_malformed_file_is_refused_whole_naming_the_line(db, line, field):
    text = '{"kind": "member", "externalId": "fine"}\n' + line
    with pytest.raises(imports.ImportRefused) as refused:
        imports.parse(text, "jsonl")
    [problem] = refused.value.problems
    assert (problem.line, problem.field) == (2, field)


def test_the_command_shows_progress_and_what_it_did(ruled, clock, tmp_path, db_url):
    path = tmp_path / "history.csv"
    path.write_text(
        "kind,externalId,at,community,invitedBy,type,attributes,points\n"
        "join,cli-a,2026-01-05T08:00:00+00:00,fans,,,,\n"
        'event,cli-a,2026-01-05T09:00:00+00:00,,,message,"{""length"": 9}",\n'
        "balance,cli-a,2026-01-05T10:00:00+00:00,,,,,40\n"
    )
    command = [sys.executable, "-m", "server.cli", "import", str(path)]
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin"}
    dry = subprocess.run([*command, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "would import 3" in dry.stdout and "welcome" in dry.stdout
    assert "3/3 records" in dry.stderr
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "imported 3" in done.stdout
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert "imported 0, 3 already imported" in again.stdout


IMPORT = """mutation($s: String!, $dry: Boolean!) { historyImport(input: {source: $s,
  dryRun: $dry}) { records imported replayed dryRun campaigns { campaign awarded takenBack }
  refused { line code } userErrors { code field message } } }"""


def test_an_admin_imports_over_the_api(ruled, clock):
    clock.set(T0 + timedelta(days=12))
    text = jsonl(history("api-"))
    dry = ruled.call(IMPORT, {"s": text, "dry": True})["historyImport"]
    assert (dry["dryRun"], dry["imported"], dry["userErrors"]) == (True, 15, [])
    assert Member.select().where(Member.external_id.startswith("api-")).count() == 0
    done = ruled.call(IMPORT, {"s": text, "dry": False})["historyImport"]
    assert (done["imported"], done["replayed"], done["refused"]) == (15, 0, [])
    assert {"campaign": "invite", "awarded": 40, "takenBack": 15} in done["campaigns"]
    bad = ruled.call(IMPORT, {"s": text + '\n{"kind": "nope"}', "dry": False})["historyImport"]
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [
        ("INVALID_INPUT", "source.16.kind")
    ]
    refused = ruled.as_("operator").raw(IMPORT, {"s": text, "dry": True})["errors"][0]
    assert refused["extensions"]["code"] == "FORBIDDEN"
