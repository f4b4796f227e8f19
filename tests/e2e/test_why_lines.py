"""Every point names the file and line `jifen rules check` prints for its rule.

The demo program is published as the server publishes it, then a month of a community's
life fires every one of its rules; each award's `why` must name the rule's own line.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dsl
from dsl.parser import parse_files
from server.api.ledger import explain
from server.core import awards, events, members, program, rules, tasks
from server.core.tick import tick
from server.store.db import write_transaction
from server.store.models import CampaignVersion, LedgerTransaction, Review

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
LEDGER = """query($m: ID!) { ledger(filter: {memberId: $m}, first: 100) { edges { node {
  transaction { kind reason ruleLine why } } } } }"""


def demo_files() -> list[tuple[str, str]]:
    return dsl.read_directory(ROOT / "rules")


def rule_lines() -> dict[tuple[str, int], str]:
    """(file name, line) -> the rule's text, for every rule of the demo files."""
    parsed, problems = parse_files(demo_files())
    assert problems == []
    return {
        (Path(r.pos.file).name, r.pos.line): r.text
        for f in parsed
        for c in f.campaigns
        for r in c.rules
    }


def awarding_lines() -> set[tuple[str, int]]:
    """The demo rules that move points: all but those giving only a badge."""
    parsed, _ = parse_files(demo_files())
    return {
        (Path(r.pos.file).name, r.pos.line)
        for f in parsed
        for c in f.campaigns
        for r in c.rules
        if getattr(r, "effect", True) is not None
    }


def publish_demo(now: datetime) -> None:
    with write_transaction():
        rules.publish(demo_files(), now=now, actor="rules directory")


def check_line_of(file: str, line: int) -> tuple[str, int]:
    """Break one line of the demo files; the (file name, line) `rules check` reports."""
    files = []
    for name, text in demo_files():
        if Path(name).name == file:
            lines = text.splitlines()
            lines[line - 1] = "@" + lines[line - 1]
            text = "\n".join(lines)
        files.append((name, text))
    _, diagnostics = dsl.load(files, today=date(2026, 11, 22))
    (error,) = [d for d in diagnostics if d.is_error]
    return Path(error.file).name, error.line


def test_every_stored_rule_has_the_line_rules_check_reports(db, clock):
    publish_demo(clock.now())
    seen = {}
    for row in CampaignVersion.select():
        compiled = rules.compile_version(row)
        for rule in (*compiled.rules, *compiled.multipliers, *compiled.every):
            assert check_line_of(row.file, rule.line) == (row.file, rule.line), rule.text
            seen[(row.file, rule.line)] = rule.text
    assert seen == rule_lines()


def test_a_version_keeps_its_meaning_when_lines_move_and_names_the_new_lines(db, clock):
    publish_demo(clock.now())
    moved = [
        (name, "# a comment that moves every rule down\n\n" + text) for name, text in demo_files()
    ]
    with write_transaction():
        published, _ = rules.publish(moved, now=clock.now(), actor="t")
    assert not any(p.changed for p in published)
    row = CampaignVersion.get(CampaignVersion.campaign == "speak")
    assert [r.line for r in rules.compile_version(row).rules] == [5]
    assert [e.line for e in rules.compile_version(row).every] == [6, 7, 8]


def test_a_campaign_moved_to_another_file_keeps_its_version_and_its_awards_their_file(db, clock):
    publish_demo(clock.now())
    award = LedgerTransaction.create(
        kind="award",
        created_at=clock.now(),
        campaign="speak",
        campaign_version=1,
        rule_line=2,
        rule_file="speak.rules",
        rule_text="message where length >= 5 award 1 limit 20 per day",
    )
    renamed = [(name.replace("speak.rules", "talk.rules"), text) for name, text in demo_files()]
    with write_transaction():
        published, _ = rules.publish(renamed, now=clock.now(), actor="t")
    assert not any(p.changed for p in published)  # the same meaning: the same version
    latest = CampaignVersion.get(CampaignVersion.campaign == "speak")
    assert (latest.version, latest.file) == (1, "talk.rules")  # awards from now name it
    assert explain(award).endswith("speak v1, speak.rules:2")  # earlier ones, theirs


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_a_month_of_events_fires_every_demo_rule_and_each_names_its_line(api, db, clock):
    start = local(2027, 9, 20, 9)  # a Monday; golden week is 1 to 7 October
    clock.set(start)
    publish_demo(start)
    settings = program.load()
    with write_transaction():
        ada = members.upsert("ada", now=start, community="fans", birthday=date(1990, 9, 21)).member
        for i in range(5):  # referral tiers 1..2, 3..4 and >=5
            members.upsert(f"friend{i}", now=start, community="fans", invited_by="ada")
        for key in ("share-live", "order-showcase", "report-violation"):
            task = tasks.create(key, key, now=start)
            submission = tasks.submit(task.id, ada.id, "done", [], now=start)
            tasks.review(submission.id, True, reviewer="t", note=None, now=start, settings=settings)
    for day in range(30):  # 30 check-ins in a row: every check-in rule fires
        clock.set(start + timedelta(days=day))
        with write_transaction():
            events.record(ada.id, "checkin", now=clock.now(), settings=settings)
            if day == 0:
                events.record(
                    ada.id,
                    "message",
                    now=clock.now(),
                    settings=settings,
                    attributes={"length": 9},
                )
            if day == 12:  # 2 October
                events.record(
                    ada.id,
                    "order",
                    now=clock.now(),
                    settings=settings,
                    attributes={"amount": 95, "currency": "CNY"},
                )
        tick(clock.now())  # birthdays, and the boards of the periods that closed
    with write_transaction():
        for review in Review.select().where(Review.status == "pending"):
            awards.decide(
                review.txn_id, True, reviewer="t", note=None, now=clock.now(), settings=settings
            )

    lines = rule_lines()
    fired = set()
    for txn in LedgerTransaction.select().where(LedgerTransaction.campaign.is_null(False)):
        version = CampaignVersion.get(
            CampaignVersion.campaign == txn.campaign,
            CampaignVersion.version == txn.campaign_version,
        )
        where = (version.file, txn.rule_line)
        assert lines[where] == txn.rule_text
        why = explain(txn)
        assert f"{txn.rule_text} — {txn.campaign} v1, {where[0]}:{where[1]}" in why, why
        fired.add(where)
    assert fired == awarding_lines()

    # Through the API: award entries carry a reason; boards say the metric as written.
    from server.api import ids

    edges = api.call(LEDGER, {"m": ids.encode("member", ada.id)})["ledger"]["edges"]
    found = [e["node"]["transaction"] for e in edges]
    streak = next(t for t in found if t["why"].startswith("award: checkin streak 7 award 10 —"))
    assert streak["why"].startswith(
        "award: checkin streak 7 award 10 — daily-checkin v1, checkin.rules:4; checkin evt_"
    )
    assert streak["reason"] == "checkin streak 7 award 10"
    board = next(t for t in found if t["kind"] == "leaderboard" and t["ruleLine"] == 5)
    assert board["reason"] == "week 2027-38 rank 1 by messages"


def test_versions_published_before_files_were_remembered_say_only_their_line(db, clock):
    publish_demo(clock.now())
    # As migration 0012 leaves a version published before it: no file, no line map.
    CampaignVersion.update(file=None, lines=None).execute()
    row = CampaignVersion.get(CampaignVersion.campaign == "speak")
    assert [r.line for r in rules.compile_version(row).rules] == [2]  # its canonical text
    txn = LedgerTransaction.create(
        kind="award",
        created_at=clock.now(),
        campaign="speak",
        campaign_version=1,
        rule_line=2,
        rule_text="message where length >= 5 award 1 limit 20 per day",
    )
    assert explain(txn) == (
        "award: message where length >= 5 award 1 limit 20 per day — speak v1, line 2"
    )
    # The next publish tells the versions their file, without making new ones.
    with write_transaction():
        published, _ = rules.publish(demo_files(), now=clock.now(), actor="t")
    assert {p.version for p in published} == {1}
    assert CampaignVersion.get(CampaignVersion.campaign == "speak").file == "speak.rules"
