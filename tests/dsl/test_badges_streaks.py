"""Badges, streak freezes and make-up check-ins in the rule language: the contract's
examples parse and mean what they say, mistakes are named with line and column, and the
formatter prints them back."""

from __future__ import annotations

import re
from datetime import date

import pytest

import dsl
from dsl import ast
from dsl.compiler import Facts
from dsl.formatter import format_source
from dsl.parser import parse
from tests.dsl.test_language import CONTRACT

TODAY = date(2026, 11, 22)
PROGRAM = """program "club" {
  streak freeze costs 50 points, at most 2 per month
  make-up checkin costs 30 points within 3 days, at most 3 per month
}
"""


def _rules(text: str) -> tuple:
    parsed, problems = parse(f'campaign "c" {{\n  {text}\n}}\n', "t.rules")
    assert problems == []
    return parsed.campaigns[0].rules


@pytest.mark.parametrize(
    ("source", "badge", "effect", "qualifiers"),
    [
        ('checkin total 100 badge "centurion"', "centurion", None, (ast.Total(100),)),
        (
            'checkin streak 30 badge "iron-will" award 100',
            "iron-will",
            ast.Award(100),
            (ast.Streak(30),),
        ),
        ('referral tier 10 badge "connector"', "connector", None, (ast.Tier(10, 10),)),
        ('checkin award 2 BADGE "first-steps"', "first-steps", ast.Award(2), ()),
        ("checkin award 2", None, ast.Award(2), ()),
    ],
)
def test_badges_are_an_effect_beside_or_instead_of_an_award(source, badge, effect, qualifiers):
    (rule,) = _rules(source)
    assert (rule.badge, rule.effect, rule.qualifiers) == (badge, effect, qualifiers)


def test_program_block_prices_freezes_and_make_ups():
    parsed, problems = parse(PROGRAM, "p.rules")
    assert problems == []
    assert parsed.program.streak_freeze == ast.StreakFreeze(50, 2, "month")
    assert parsed.program.make_up == ast.MakeUp(30, 3, 3, "month")
    parsed, _ = parse('program "p" {\n  make-up checkin costs 30 points within 3 days\n}\n')
    assert parsed.program.make_up == ast.MakeUp(30, 3)


def test_badges_are_described_at_the_top_of_a_file():
    text = (
        'badge "centurion" "Centurion" description "100 check-ins" '
        'image "https://example.com/c.png"\nbadge "plain"\n'
        'campaign "c" {\n  checkin total 100 badge "centurion"\n'
        '  checkin total 5 badge "plain"\n}\n'
    )
    compiled, diagnostics = dsl.load([("b.rules", text)], today=TODAY)
    assert diagnostics == []
    assert compiled.badges["centurion"].name == "Centurion"
    assert compiled.badges["centurion"].description == "100 check-ins"
    assert compiled.badges["centurion"].image == "https://example.com/c.png"
    assert compiled.badges["plain"] == ast.BadgeDecl("plain")


def test_the_contracts_badge_and_streak_protection_examples_check_clean():
    if not CONTRACT.exists():
        pytest.skip(f"the language contract is not beside this checkout: {CONTRACT}")
    section = CONTRACT.read_text().split("## Levels, badges and streak protection", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    # The `levels` block is a language of its own; the rest is badges and protection.
    kept = re.sub(r'levels "[^"]*" \{.*?\n\}\n', "", block, flags=re.S)
    compiled, diagnostics = dsl.load([("contract.rules", kept)], today=TODAY)
    assert [d.format() for d in diagnostics if d.is_error] == []
    assert [d.code for d in diagnostics] == []
    rules = compiled.campaigns["milestones"].rules
    assert [r.badge for r in rules] == ["centurion", "iron-will", "connector"]
    facts = Facts({}, 100, 100, 1, True, None)
    assert rules[0].reached(facts) and rules[0].award(facts) == 0  # a badge, no points
    thirty = Facts({}, 30, 30, 30, True, None)
    assert rules[1].reached(thirty) and rules[1].award(thirty) == 100
    program = compiled.program
    assert program.streak_freeze == ast.StreakFreeze(50, 2, "month")
    assert program.make_up == ast.MakeUp(30, 3, 3, "month")


BAD = [
    (
        'campaign "a" {\n  checkin total 100 badge "x"\n}\n'
        'campaign "b" {\n  checkin streak 7 badge "x"\n}\n',
        "BADGE_REUSED",
        5,
        3,
    ),
    (
        'campaign "a" {\n  checkin total 100 badge "x"\n  checkin total 200 badge "x"\n}\n',
        "BADGE_REUSED",
        3,
        3,
    ),
    ('program "p" {\n  make-up checkin costs 30 points within 0 days\n}\n', "DEAD_RULE", 2, 3),
    ('program "p" {\n  make-up checkin costs 30 points within 40 days\n}\n', "INVALID_VALUE", 2, 3),
    ('program "p" {\n  make-up checkin costs 0 points within 3 days\n}\n', "INVALID_VALUE", 2, 3),
    ('program "p" {\n  streak freeze costs 0 points\n}\n', "INVALID_VALUE", 2, 3),
    ('program "p" {\n  streak freeze costs 5 points, at most 0 per month\n}\n', "DEAD_RULE", 2, 3),
    (
        'program "p" {\n  streak freeze costs 5 points, at most 2 per year\n}\n',
        "UNKNOWN_PERIOD",
        2,
        3,
    ),
    ('program "p" {\n  streak freeze costs -5 points\n}\n', "SYNTAX", 2, 23),
    ('campaign "c" {\n  streak freeze costs 5 points\n}\n', "MISPLACED", 2, 3),
    ('campaign "c" {\n  checkin multiply 2 badge "x"\n}\n', "INVALID_MODIFIER", 2, 3),
    ('campaign "c" {\n  checkin award 1 badge "a" badge "b"\n}\n', "INVALID_VALUE", 2, 3),
    ('campaign "c" {\n  checkin award 1 award 2\n}\n', "INVALID_VALUE", 2, 3),
    ('campaign "c" {\n  checkin badge "no spaces"\n}\n', "INVALID_VALUE", 2, 3),
    (
        'badge "x" "X"\nbadge "x" "Again"\ncampaign "c" {\n  checkin badge "x"\n}\n',
        "DUPLICATE_BADGE",
        2,
        1,
    ),
    (
        'badge "x" image "ftp://x/y.png"\ncampaign "c" {\n  checkin badge "x"\n}\n',
        "INVALID_VALUE",
        1,
        1,
    ),
    (
        'badge "x" description "a" description "b"\ncampaign "c" {\n  checkin badge "x"\n}\n',
        "INVALID_VALUE",
        1,
        1,
    ),
    ('program "p" {\n  badge "x"\n}\n', "MISPLACED", 2, 3),
]


@pytest.mark.parametrize(("text", "code", "line", "column"), BAD)
def test_mistakes_are_named_with_code_line_and_column(text, code, line, column):
    _, diagnostics = dsl.load([("t.rules", text)], today=TODAY)
    errors = [(d.code, d.line, d.column) for d in diagnostics if d.is_error]
    assert errors == [(code, line, column)], [d.format() for d in diagnostics]


def test_a_described_badge_no_rule_gives_is_a_warning():
    _, diagnostics = dsl.load([("t.rules", 'badge "lonely"\n')], today=TODAY)
    assert [(d.code, d.severity, d.line) for d in diagnostics] == [("BADGE_UNUSED", "warning", 1)]
    assert 'add `badge "lonely"` to a rule' in diagnostics[0].message


def test_a_badge_alone_leaves_no_tier_gap():
    text = 'campaign "c" {\n  referral tier 10 badge "connector"\n}\n'
    _, diagnostics = dsl.load([("t.rules", text)], today=TODAY)
    assert diagnostics == []


def test_the_formatter_prints_them_back():
    messy = (
        'BADGE   "centurion"  "Centurion"   Description "100"  IMAGE "https://x/c.png"\n'
        'program "p" {\n'
        "STREAK  FREEZE costs 50 Points ,  at most 2 per MONTH\n"
        "    Make-Up  checkin costs 30 points within 3 days,at most 3 per month\n"
        "}\n"
        'campaign "c" {\n'
        '  checkin TOTAL 100   badge "centurion"\n'
        '  checkin streak 30 BADGE "iron-will"   award 100\n'
        "}\n"
    )
    assert format_source(messy) == (
        'badge "centurion" "Centurion" description "100" image "https://x/c.png"\n'
        'program "p" {\n'
        "  streak freeze costs 50 points, at most 2 per month\n"
        "  make-up checkin costs 30 points within 3 days, at most 3 per month\n"
        "}\n"
        'campaign "c" {\n'
        '  checkin total 100 badge "centurion"\n'
        '  checkin streak 30 badge "iron-will" award 100\n'
        "}\n"
    )
    assert format_source(format_source(messy)) == format_source(messy)


def test_a_campaign_with_another_badge_is_another_version():
    one = dsl.load([("a.rules", 'campaign "c" {\n  checkin total 5 badge "a"\n}\n')], today=TODAY)
    two = dsl.load([("a.rules", 'campaign "c" {\n  checkin total 5 badge "b"\n}\n')], today=TODAY)
    assert one[0].campaigns["c"].digest != two[0].campaigns["c"].digest
    assert 'badge "a"' in one[0].campaigns["c"].source
