"""The rule language as operators use it: examples parse and check clean, mistakes are named."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from dsl import ast
from dsl.compiler import Facts
from dsl.formatter import format_source
from dsl.grammar import build_parser
from dsl.parser import parse
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "RULES-LANGUAGE.md"
BEFORE_GOLDEN_WEEK = date(2026, 9, 1)


def contract_example() -> str:
    """The example rules file of the language contract; a visible skip where the contract
    is not beside the checkout, and a failure in CI, which always has it."""
    if not CONTRACT.exists():
        if IN_CI:
            pytest.fail(f"the language contract is missing: {CONTRACT}", pytrace=False)
        pytest.skip(f"the language contract is not beside this checkout: {CONTRACT}")
    found = re.search(r"```\n(# rules/community.rules.*?)```", CONTRACT.read_text(), re.S)
    assert found, f"{CONTRACT} has no `# rules/community.rules` example"
    return found.group(1)


def test_the_grammar_builds_strict():
    build_parser(strict=True)


def test_the_contract_example_parses_and_checks_clean():
    source = contract_example()
    program, diagnostics = dsl.load([("community.rules", source)], today=BEFORE_GOLDEN_WEEK)
    assert diagnostics == []
    # Campaigns keep the order they are written in.
    written = re.findall(r'^campaign "([\w-]+)"', source, re.M)
    assert list(program.campaigns) == written
    assert sorted(written) == [
        "daily-checkin",
        "golden-week",
        "invite",
        "moments",
        "speak",
        "tasks",
    ]
    assert program.program.timezone == "Asia/Shanghai"


def test_the_cards_one_line_example_is_a_whole_file():
    program, diagnostics = dsl.load(
        [("invite.rules", "referral tier >5 award 20 each")], today=BEFORE_GOLDEN_WEEK
    )
    assert [d.format() for d in diagnostics] == [
        "invite.rules:1:1: warning: the 1st to 5th referral earns nothing in campaign invite"
        "\n    referral tier >5 award 20 each\n    ^"
    ]
    (rule,) = program.campaigns["invite"].rules
    assert rule.source.qualifiers == (ast.Tier(6, None),)


def test_the_demo_rules_check_clean():
    program, diagnostics = dsl.load(dsl.read_directory(ROOT / "rules"), today=date(2026, 11, 22))
    assert diagnostics == []
    assert set(program.campaigns) == {
        "daily-checkin",
        "invite",
        "speak",
        "tasks",
        "moments",
        "milestones",
        "golden-week",
    }


GOOD = [
    ("checkin award 2", ast.Rule("checkin", None, (), None, ast.Award(2))),
    ("CHECKIN Award 2", ast.Rule("checkin", None, (), None, ast.Award(2))),
    (
        "checkin streak 7 award 10 repeating",
        ast.Rule("checkin", None, (ast.Streak(7),), None, ast.Award(10), repeating=True),
    ),
    (
        "referral tier 3..4 award 15 each until invitee leaves",
        ast.Rule(
            "referral",
            None,
            (ast.Tier(3, 4),),
            None,
            ast.Award(15, each=True),
            until_invitee_leaves=True,
        ),
    ),
    ("referral tier <3 award 1", ast.Rule("referral", None, (ast.Tier(1, 2),), None, ast.Award(1))),
    ("referral tier 2 award 1", ast.Rule("referral", None, (ast.Tier(2, 2),), None, ast.Award(1))),
    (
        "order award 1 per 10 amount",
        ast.Rule("order", None, (), None, ast.Award(1, per=10, per_attribute="amount")),
    ),
    (
        'task "share-live" award 30 after review',
        ast.Rule("task", "share-live", (), None, ast.Award(30), after_review=True),
    ),
    ("budget 200_000 points", 200000),
]


@pytest.mark.parametrize(("source", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_statements_parse_to_their_meaning(source, expected):
    text = source if source.startswith("budget") else source
    parsed, diagnostics = parse(f'campaign "c" {{\n{text}\n}}', "t.rules")
    assert diagnostics == []
    (campaign,) = parsed.campaigns
    if isinstance(expected, int):
        assert campaign.budget == expected
    else:
        assert campaign.rules[0] == expected


def facts(count=1, total=1, streak=1, new_day=True, days=None, **attributes):
    return Facts(attributes, count, total, streak, new_day, days)


EVALUATIONS = [
    ("message where length >= 5 award 1", facts(length=5), 1),
    ("message where length >= 5 award 1", facts(length=4), 0),
    ("message where length >= 5 award 1", facts(), 0),
    ('message where channel in ["group", "dm"] award 1', facts(channel="dm"), 1),
    ('message where channel in ["group", "dm"] award 1', facts(channel="x"), 0),
    (
        'message where (channel = "a" or channel = "b") and length > 2 award 1',
        facts(channel="b", length=3),
        1,
    ),
    (
        'message where channel = "a" or channel = "b" and length > 2 award 1',
        facts(channel="a", length=0),
        1,
    ),
    ("order award 1 per 10 amount", facts(amount=95), 9),
    ("order award 1 per 10 amount", facts(amount="120.5"), 12),
    ("order award 1 per 10 amount", facts(amount=-5), 0),
    ("checkin streak 7 award 10", facts(streak=7), 10),
    ("checkin streak 7 award 10", facts(streak=14), 0),
    ("checkin streak 7 award 10 repeating", facts(streak=14), 10),
    ("checkin streak 7 award 10", facts(streak=7, new_day=False), 0),
    ("checkin total 30 award 50", facts(total=30), 50),
    ("checkin total 30 award 50", facts(total=31), 0),
    ("checkin first within 7 days of joining award 20", facts(total=1, days=6.9), 20),
    ("checkin first within 7 days of joining award 20", facts(total=1, days=7.5), 0),
    ("checkin first within 7 days of joining award 20", facts(total=2, days=1), 0),
    ("checkin first within 7 days of joining award 20", facts(total=1), 0),
    ("referral tier >=5 award 20", facts(count=5), 20),
    ("referral tier >=5 award 20", facts(count=4), 0),
    ('task "share-live" award 30', facts(task="share-live"), 30),
    ('task "share-live" award 30', facts(task="other"), 0),
]


@pytest.mark.parametrize(
    ("source", "given_facts", "points"),
    EVALUATIONS,
    ids=[f"{e[0]}-{i}" for i, e in enumerate(EVALUATIONS)],
)
def test_compiled_rules_evaluate_as_the_contract_says(source, given_facts, points):
    program, diagnostics = dsl.load(
        [("t.rules", f'campaign "c" {{\n{source}\n}}')], today=BEFORE_GOLDEN_WEEK
    )
    assert not [d for d in diagnostics if d.is_error]
    (rule,) = program.campaigns["c"].rules
    assert rule.award(given_facts) == points


def in_campaign(line: str) -> str:
    return f'campaign "c" {{\n{line}\n}}'


# (source, code, line, column) — the source is one campaign line unless it has a newline.
BAD = [
    ("checkin award", "SYNTAX", 2, 14),
    ("checkin award x", "SYNTAX", 2, 15),
    ("checkin awrd 2", "SYNTAX", 2, 9),
    ("checkin", "SYNTAX", 2, 8),
    ("referral tier 3..4", "SYNTAX", 2, 19),
    ("referral tier award 10", "SYNTAX", 2, 15),
    ("checkin streak award 1", "SYNTAX", 2, 16),
    ("checkin total award 5", "SYNTAX", 2, 15),
    ("checkin first within 7 award 1", "SYNTAX", 2, 24),
    ("message where award 1", "SYNTAX", 2, 21),
    ("message where length award 1", "SYNTAX", 2, 22),
    ("message award 1 limit 20", "SYNTAX", 2, 25),
    ("message award 1 max 100 per day", "SYNTAX", 2, 25),
    ("referral award 1 until leaves", "SYNTAX", 2, 24),
    ('task "x" award 1 after', "SYNTAX", 2, 23),
    ("task award 1", "SYNTAX", 2, 6),
    ("every day top 5 award 10", "SYNTAX", 2, 17),
    ("every day top 5 by messages award 1,", "SYNTAX", 2, 37),
    ("active 2026-10", "SYNTAX", 2, 8),
    ("budget 100", "SYNTAX", 2, 11),
    ("checkin award 2 foo", "SYNTAX", 2, 17),
    ("checkin award 2 where length > 1", "SYNTAX", 2, 17),
    ("campaign daily {", "SYNTAX", 1, 10),
    ('campaign "a" "b"', "SYNTAX", 1, 17),
    ('program "x" {\ntimezone Asia/Shanghai\n}', "SYNTAX", 2, 10),
    ('program "x" {\npoints expire 365\n}', "SYNTAX", 2, 18),
    ('program "x" {\nredeem rate 100 = 1 CNY\n}', "SYNTAX", 2, 17),
    ('program "x" {\ndeduct at most 50\n}', "SYNTAX", 2, 18),
    ('timezone "UTC"', "MISPLACED", 2, 1),
    ('program "x" {\ncheckin award 1\n}', "MISPLACED", 2, 1),
    ('campaign "c" {\n}\n}', "UNMATCHED_BRACE", 3, 1),
    ('campaign "c" {\ncheckin award 1', "UNCLOSED_BLOCK", 1, 1),
    ('campaign "c" {\ncampaign "d" {\n}', "NESTED_BLOCK", 2, 1),
    ("mesage award 1", "UNKNOWN_EVENT", 2, 1),
    ("message where lenght > 3 award 1", "UNKNOWN_ATTRIBUTE", 2, 15),
    ("order award 1 per 10 amout", "UNKNOWN_ATTRIBUTE", 2, 1),
    ("message award 1 limit 2 per year", "UNKNOWN_PERIOD", 2, 17),
    ("message award 1 max 2 points per fortnight", "UNKNOWN_PERIOD", 2, 17),
    ("every week top 5 by msgs award 10", "UNKNOWN_METRIC", 2, 1),
    ("every week top 0 by messages award 10", "DEAD_RULE", 2, 1),
    ("every week top 3 by messages award 10, 5", "INVALID_VALUE", 2, 1),
    ("checkin streak 0 award 1", "DEAD_RULE", 2, 1),
    ("checkin total 0 award 1", "DEAD_RULE", 2, 1),
    ("message award 1 limit 0 per day", "DEAD_RULE", 2, 17),
    ("checkin award 0", "DEAD_RULE", 2, 1),
    ("budget 0 points", "DEAD_RULE", 2, 1),
    ("active 2026-10-07 .. 2026-10-01", "DEAD_RULE", 2, 1),
    ("leave first within 3 days of joining award 1", "DEAD_RULE", 2, 1),
    ("referral tier 4..2 award 1", "DEAD_RULE", 2, 1),
    ("referral tier 1..3 award 1\nreferral tier 3..4 award 2", "TIER_OVERLAP", 3, 1),
    ("checkin award 1 until invitee leaves", "INVALID_MODIFIER", 2, 1),
    ("checkin award 1 repeating", "INVALID_MODIFIER", 2, 1),
    ("checkin multiply 3 limit 1 per day", "INVALID_MODIFIER", 2, 1),
    ("checkin multiply 1", "DEAD_RULE", 2, 1),
    ("order award 1 per 0 amount", "INVALID_VALUE", 2, 1),
    ("checkin streak 2 streak 3 award 1", "DUPLICATE_QUALIFIER", 2, 1),
    ('program "x" {\ntimezone "Asia/Shangai"\n}', "UNKNOWN_TIMEZONE", 2, 1),
    ('program "x" {\nredeem rate 100 points = 1.00 CNX\n}', "UNKNOWN_CURRENCY", 2, 1),
    ('program "x" {\ndeduct at most 150% of order\n}', "INVALID_VALUE", 2, 1),
    ('program "x" {\npoints expire 0 days after earned\n}', "DEAD_RULE", 2, 1),
    ('program "x" {\n}\nprogram "y" {\ntimezone "UTC"\n}', "DUPLICATE_PROGRAM", 3, 1),
    ('campaign "c" {\n}\ncampaign "c" {\n}', "DUPLICATE_CAMPAIGN", 3, 1),
    ("active 2026-13-45 .. 2026-10-07", "INVALID_VALUE", 2, 1),
    ('checkin where channel = "\\x" award 1', "INVALID_VALUE", 2, 1),
    ("checkin award 99999999999999999999", "INVALID_VALUE", 2, 1),
    ("budget 9999999999999999999 points", "INVALID_VALUE", 2, 1),
]


def _source(text: str) -> str:
    first = text.split("\n", 1)[0]
    if first.startswith(("campaign", "program", "}", "timezone")) and not first.startswith(
        "timezone"
    ):
        return text
    return in_campaign(text)


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    BAD,
    ids=[f"{i}:{b[0].splitlines()[0]}" for i, b in enumerate(BAD)],
)
def test_mistakes_are_named_with_code_line_and_column(text, code, line, column):
    _, diagnostics = dsl.load([("t.rules", _source(text))], today=BEFORE_GOLDEN_WEEK)
    errors = [(d.code, d.line, d.column) for d in diagnostics if d.is_error]
    # The one mistake, and no error that follows from it.
    assert errors == [(code, line, column)], [d.format() for d in diagnostics]


def test_each_stray_closing_brace_is_named():
    _, diagnostics = dsl.load([("t.rules", "}\n}")], today=BEFORE_GOLDEN_WEEK)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [
        ("UNMATCHED_BRACE", 1, 1),
        ("UNMATCHED_BRACE", 2, 1),
    ]


def test_there_are_at_least_forty_bad_sources():
    assert len(BAD) >= 40


def test_syntax_errors_read_like_a_colleague_wrote_them():
    _, diagnostics = dsl.load(
        [("t.rules", in_campaign("referral tier 3..4"))], today=BEFORE_GOLDEN_WEEK
    )
    assert diagnostics[0].format() == (
        "t.rules:2:19: error: expected `award` or `multiply` after `referral tier 3..4`\n"
        "    referral tier 3..4\n"
        "                      ^"
    )
    _, diagnostics = dsl.load(
        [("t.rules", in_campaign("checkin awrd 2"))], today=BEFORE_GOLDEN_WEEK
    )
    assert "did you mean `award`?" in diagnostics[0].message


def test_one_run_reports_every_broken_line():
    text = in_campaign("checkin award\nmessage awrd 1\nmesage award 1\ncheckin award 2")
    _, diagnostics = dsl.load([("t.rules", text)], today=BEFORE_GOLDEN_WEEK)
    assert [d.line for d in diagnostics] == [2, 3, 4]


def test_tier_gaps_are_warnings_that_name_the_missing_count():
    text = in_campaign("referral tier 1..2 award 10\nreferral tier 4..5 award 15")
    _, diagnostics = dsl.load([("t.rules", text)], today=BEFORE_GOLDEN_WEEK)
    assert [(d.severity, d.message) for d in diagnostics] == [
        ("warning", "the 3rd referral earns nothing in campaign c")
    ]


def test_an_ended_window_is_a_warning():
    text = in_campaign("active 2026-10-01 .. 2026-10-07\ncheckin multiply 3")
    _, diagnostics = dsl.load([("t.rules", text)], today=date(2026, 11, 22))
    assert [(d.severity, d.code) for d in diagnostics] == [("warning", "ENDED")]


def test_custom_events_are_declared_and_take_any_attribute():
    text = 'event share_live\ncampaign "c" {\nshare_live where viewers > 100 award 5\n}'
    program, diagnostics = dsl.load([("t.rules", text)], today=BEFORE_GOLDEN_WEEK)
    assert diagnostics == []
    assert "share_live" in program.by_event


def test_no_internal_token_names_in_messages():
    samples = [
        "checkin award",
        "checkin @",
        "every",
        "referral tier >",
        "message where (",
        'task "',
        "order award 1 per",
        "checkin award 2 limit 2 per day day",
    ]
    for sample in samples:
        _, diagnostics = dsl.load([("t.rules", in_campaign(sample))], today=BEFORE_GOLDEN_WEEK)
        for d in diagnostics:
            assert (
                not re.search(r"\b(__ANON|[A-Z]{3,}_?[A-Z]*\b(?<!CNY))", d.message)
                or "`" in d.message
            ), d.message
            assert "__ANON" not in d.message and "LPAR" not in d.message, d.message


DEMO_FILES = sorted(path.name for path in (ROOT / "rules").glob("*.rules"))


@pytest.mark.parametrize("name", ["contract", *DEMO_FILES])
def test_formatter_output_reparses_to_the_same_program(name):
    text = contract_example() if name == "contract" else (ROOT / "rules" / name).read_text()
    formatted = format_source(text, name)
    assert format_source(formatted, name) == formatted
    before, _ = parse(text, name)
    after, _ = parse(formatted, name)
    assert before == after


def test_formatter_canonicalizes_case_spacing_and_indent():
    text = 'CAMPAIGN "c"   {\n      Checkin   AWARD 2   # two\nreferral tier >5 award 1\n}\n'
    assert format_source(text) == (
        'campaign "c" {\n  checkin award 2  # two\n  referral tier >5 award 1\n}\n'
    )


# Random lines built from the language's own words: they parse, or fail with a position.
WORDS = [
    "checkin",
    "message",
    "referral",
    "award",
    "tier",
    "streak",
    "total",
    "first",
    "within",
    "days",
    "of",
    "joining",
    "where",
    "length",
    ">=",
    "=",
    "and",
    "or",
    "(",
    ")",
    "limit",
    "per",
    "day",
    "max",
    "points",
    "until",
    "invitee",
    "leaves",
    "after",
    "review",
    "repeating",
    "every",
    "top",
    "by",
    "messages",
    "each",
    "multiply",
    "5",
    "1..2",
    ">5",
    "2026-10-01",
    "..",
    '"x"',
    "task",
    "campaign",
    "{",
    "}",
    "program",
    "timezone",
    "active",
    "budget",
    "community",
    "#",
    "in",
    "[",
    "]",
    ",",
    "1.5",
    "%",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(WORDS), max_size=10).map(" ".join), max_size=6),
    st.text(max_size=40),
)
def test_random_sources_parse_or_fail_with_a_position(lines, noise):
    text = "\n".join([*lines, noise])
    _, diagnostics = dsl.load([("r.rules", text)], today=BEFORE_GOLDEN_WEEK)
    for d in diagnostics:
        assert d.line >= 1 and d.column >= 1 and d.message


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from([g[0] for g in GOOD[:-1]] + [e[0] for e in EVALUATIONS]),
        min_size=1,
        max_size=8,
    )
)
def test_formatted_random_rule_files_reparse_to_the_same_ast(rules):
    text = in_campaign("\n".join(rules))
    parsed, diagnostics = parse(text, "r.rules")
    assert diagnostics == []
    again, _ = parse(format_source(text, "r.rules"), "r.rules")
    assert again == parsed


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([g[0] for g in GOOD[:-1]] + [e[0] for e in EVALUATIONS]),
    st.lists(
        st.tuples(
            st.integers(0, 80),
            st.sampled_from(["insert", "delete", "swap"]),
            st.characters(codec="utf-8"),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_rules_parse_or_fail_with_a_position(rule, edits):
    text = list(rule)
    for position, edit, char in edits:
        at = position % (len(text) + 1)
        if edit == "insert":
            text.insert(at, char)
        elif text and edit == "delete":
            del text[min(at, len(text) - 1)]
        elif text:
            text[min(at, len(text) - 1)] = char
    source = in_campaign("".join(text))
    _, diagnostics = dsl.load([("m.rules", source)], today=BEFORE_GOLDEN_WEEK)
    for d in diagnostics:
        assert d.line >= 1 and d.column >= 1 and d.message
