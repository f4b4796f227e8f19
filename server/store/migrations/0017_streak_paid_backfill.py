"""What streak rules paid before `streak_paid` existed (0015), read back from the ledger.

A make-up check-in joins two runs and pays what the joined run reaches less what
`streak_paid` says its days were paid; a streak award made by an earlier release has no
such row, so a make-up joining its run would pay that milestone again. Each stored
campaign version is compiled as the engine compiles it (server/core/rules.py
`compile_version`), and every award its streak rules made for a check-in is noted under
that rule's id on the check-in's day, as the engine notes it today. Awards reversed since
count as paid, as they do for the engine (a reversal leaves `streak_paid` alone): the
milestone was reached and paid once, and a make-up must not pay it again. Rows already
there are kept (ON CONFLICT DO NOTHING), so running it again changes nothing.
"""

import json
from types import SimpleNamespace

from dsl.ast import Streak
from dsl.compiler import compile_campaign
from dsl.parser import parse

_FILL = (
    "INSERT INTO streak_paid (member_id, day, rule_id, times) "
    "SELECT t.member_id, c.day, {p}, COUNT(*) FROM ledger_transaction t "
    "JOIN checkin c ON c.member_id = t.member_id AND c.event_id = t.event_id "
    "WHERE t.kind = 'award' AND t.campaign = {p} AND t.rule_text = {p} "
    "AND t.campaign_version IN ({versions}) "
    "GROUP BY t.member_id, c.day "
    "ON CONFLICT (member_id, day, rule_id) DO NOTHING"
)


def _compiled(row):
    """A stored campaign version compiled as server/core/rules.py `compile_version` does
    (a migration reads the language, never the domain's modules)."""
    parsed, _ = parse(row.source, f"<{row.campaign} v{row.version}>")
    return compile_campaign(parsed.campaigns[0], file=row.file, lines=row.lines)


def _streak_rules(db) -> dict[tuple[str, str, str], list[int]]:
    """(rule id, campaign, rule text) of every streak rule of a check-in in any stored
    campaign version -> the versions that have it (a rule's id is its campaign and text,
    so an unchanged rule keeps its id across versions)."""
    rows = db.execute_sql(
        "SELECT campaign, version, source, file, lines FROM campaign_version "
        "WHERE NOT retired AND source <> '' ORDER BY campaign, version"
    ).fetchall()
    found: dict[tuple[str, str, str], list[int]] = {}
    for campaign, version, source, file, lines in rows:
        if isinstance(lines, str):
            lines = json.loads(lines)
        row = SimpleNamespace(
            campaign=campaign, version=version, source=source, file=file, lines=lines
        )
        for rule in _compiled(row).rules:
            if rule.event == "checkin" and rule.source.qualifier(Streak) is not None:
                found.setdefault((rule.rule_id, campaign, rule.text), []).append(version)
    return found


def up(migrator, db):
    with db.atomic():
        for (rule_id, campaign, text), versions in _streak_rules(db).items():
            fill = _FILL.format(p=db.param, versions=", ".join(db.param for _ in versions))
            db.execute_sql(fill, (rule_id, campaign, text, *versions))


def down(migrator, db):
    pass  # the rows are what the engine would have written; they stay
