"""Simulation prices a draft with the live engine's own logic, writing nothing."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dsl
from server.core import events, members, program, rules
from server.core.simulate import simulate
from server.store.db import write_transaction
from server.store.models import CampaignVersion, Event, LedgerTransaction, MemberCounter

ROOT = Path(__file__).resolve().parents[2]
SOURCE = dsl.read_directory(ROOT / "rules")


def live_history(clock):
    """Two weeks of a small community under the demo rules, recorded live."""
    start = clock.now()
    with write_transaction():
        rules.publish(SOURCE, now=clock.now(), actor="t")
        members.upsert("host", now=clock.now(), community="fans")
        for i in range(7):
            members.upsert(f"g{i}", now=clock.now(), community="fans", invited_by="host")
    with write_transaction():
        members.leave(3, "fans", now=clock.now())  # g1 leaves: host's award taken back
    settings = program.load()
    for day in range(14):
        clock.set(start + timedelta(days=day, hours=1))
        with write_transaction():
            for member in range(1, 9):
                if (member + day) % 5:  # some days are missed
                    events.record(member, "checkin", now=clock.now(), settings=settings)
                for n in range(member):
                    clock.advance(seconds=1)
                    events.record(
                        member,
                        "message",
                        now=clock.now(),
                        settings=settings,
                        attributes={"length": 3 + n},
                    )
    return start, clock.now() + timedelta(seconds=1)


def issued_by_campaign():
    out = {}
    for t in LedgerTransaction.select().where(LedgerTransaction.campaign.is_null(False)):
        points = sum(p.amount for p in t.postings if p.member_id is not None)
        out[t.campaign] = out.get(t.campaign, 0) + points
    return out


def test_replaying_the_live_rules_matches_what_the_engine_issued(db, clock):
    since, until = live_history(clock)
    live = issued_by_campaign()
    before = (
        Event.select().count(),
        LedgerTransaction.select().count(),
        MemberCounter.select().count(),
        CampaignVersion.select().count(),
    )
    report = simulate(SOURCE, since, until, now=clock.now())
    assert {k: c.points for k, c in report.campaigns.items() if c.points} == live
    assert report.campaigns["invite"].points == 10 + 10 + 15 + 15 + 20 + 20 + 20 - 10
    assert report.events_in_range == Event.select().count()
    assert (
        Event.select().count(),
        LedgerTransaction.select().count(),
        MemberCounter.select().count(),
        CampaignVersion.select().count(),
    ) == before


WELCOME = ("welcome.rules", 'campaign "welcome" "Welcome" {\n  join award 50\n}\n')


def abusive_history(clock):
    """What the abuse filter sets aside, recorded live: a leave and a re-join, repeated
    messages, a flood of them."""
    start = clock.now()
    with write_transaction():
        rules.publish([*SOURCE, WELCOME], now=clock.now(), actor="t")
        members.upsert("host", now=clock.now(), community="fans")
        for i in range(3):
            members.upsert(f"g{i}", now=clock.now(), community="fans", invited_by="host")
    for _ in range(2):  # g0 leaves and comes back, twice
        clock.advance(minutes=1)
        with write_transaction():
            members.leave(2, "fans", now=clock.now())
        clock.advance(minutes=1)
        with write_transaction():
            members.upsert("g0", now=clock.now(), community="fans")
    settings = program.load()
    for day in range(4):
        clock.set(start + timedelta(days=day, hours=1))
        with write_transaction():
            for n in range(25):  # a flood: twenty-five messages within a minute
                clock.advance(seconds=2)
                text = f"day {day - day % 2} words {n % 6}"  # and repeated words
                events.record(
                    1 + n % 4,
                    "message",
                    now=clock.now(),
                    settings=settings,
                    attributes={"length": 9, "text": text},
                )
    return start, clock.now() + timedelta(seconds=1)


def test_the_simulation_sets_aside_what_the_engine_sets_aside(db, clock):
    since, until = abusive_history(clock)
    set_aside = [e for e in Event.select() if (e.attributes or {}).get("ignored")]
    rejoins = [e for e in Event.select() if (e.attributes or {}).get("rejoin")]
    assert len(set_aside) > 10 and len(rejoins) == 2  # the filter had work to do
    report = simulate([*SOURCE, WELCOME], since, until, now=clock.now())
    assert {k: c.points for k, c in report.campaigns.items() if c.points} == (issued_by_campaign())
    assert report.campaigns["welcome"].points == 4 * 50


def test_a_draft_shows_its_cost_and_when_its_budget_runs_out(db, clock):
    since, until = live_history(clock)
    draft = [
        (
            "draft.rules",
            'campaign "more" {\n  budget 100 points\n  message where length >= 5 award 2\n}\n',
        )
    ]
    report = simulate(draft, since, until, now=clock.now())
    more = report.campaigns["more"]
    assert more.points == 100
    # 2 points a message: the 50th message of 5 characters or more spends the budget.
    messages = Event.select().where(Event.type == "message").order_by(Event.occurred_at, Event.id)
    long_enough = [e.occurred_at for e in messages if e.attributes["length"] >= 5]
    assert more.budget_hit_at == long_enough[49]
    (rule,) = report.rules.values()
    assert (rule.line, rule.text, rule.points) == (3, "message where length >= 5 award 2", 100)
    late = simulate(draft, more.budget_hit_at + timedelta(seconds=1), until, now=clock.now())
    assert late.campaigns["more"].points == 0  # the budget was spent before the range


def test_the_cli_prints_the_cost_with_progress(db, db_url, clock, tmp_path):
    since, until = live_history(clock)
    draft = tmp_path / "draft.rules"
    draft.write_text('campaign "more" {\n  message award 1\n}\n')
    db.close()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "rules",
            "simulate",
            str(draft),
            "--from",
            since.isoformat(),
            "--to",
            until.isoformat(),
        ],
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    messages = Event.select().where(Event.type == "message").count()
    assert "replayed" in result.stderr and "events (100%)" in result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("more "))
    assert line.split()[1] == f"{messages:,}"
