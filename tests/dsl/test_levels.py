"""The `levels` block: the contract's examples parse and mean what they say; mistakes are
named with their line and column; the formatter writes it back."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

import dsl
from dsl.formatter import format_source
from dsl.levels import LevelStep
from tests.dsl.test_language import CONTRACT, IN_CI

TODAY = date(2026, 9, 1)


def contract_levels() -> str:
    if not CONTRACT.exists():
        if IN_CI:
            pytest.fail(f"the language contract is missing: {CONTRACT}", pytrace=False)
        pytest.skip(f"the language contract is not beside this checkout: {CONTRACT}")
    found = re.search(r'^levels ".*?^}\n', CONTRACT.read_text(), re.S | re.M)
    assert found, "the contract has no levels block"
    return found.group(0)


def ladder_of(source: str):
    program, diagnostics = dsl.load([("levels.rules", source)], today=TODAY)
    assert [d for d in diagnostics if d.is_error] == [], [d.format() for d in diagnostics]
    return program.levels


def test_the_contracts_levels_block_means_what_it_says():
    ladder = ladder_of(contract_levels())
    assert (ladder.name, ladder.kind, ladder.days) == ("Member levels", "points", 365)
    assert ladder.steps == (
        LevelStep("silver", 1000, None, 1),
        LevelStep("gold", 5000, Decimal("1.2"), 2),
        LevelStep("black", 20000, Decimal("1.5"), 3),
    )
    assert (ladder.keep_days, ladder.one_at_a_time) == (30, True)
    assert ladder.earned(4999).key == "silver" and ladder.earned(5000).key == "gold"
    assert ladder.earned(999) is None


@pytest.mark.parametrize(
    ("qualify", "kind", "event", "attribute", "days"),
    [
        ("by checkins in last 90 days", "count", "checkin", None, 90),
        ("by amount of order in calendar year", "sum", "order", "amount", None),
        ("by points earned in calendar year", "points", None, None, None),
        ("by messages in last 7 days", "count", "message", None, 7),
    ],
)
def test_the_other_figures_in_the_contracts_comment(qualify, kind, event, attribute, days):
    source = contract_levels().replace("by points earned in last 365 days", qualify)
    ladder = ladder_of(source)
    assert (ladder.kind, ladder.event, ladder.attribute, ladder.days) == (
        kind,
        event,
        attribute,
        days,
    )


def block(*lines: str) -> str:
    return 'levels "L" {\n' + "".join(f"  {line}\n" for line in lines) + "}\n"


QUALIFY = "qualify by points earned in last 30 days"
BAD = [
    (block(QUALIFY, 'level "a" at 10', 'level "b" at 5'), "UNORDERED_LEVELS", 4, 3),
    (block(QUALIFY, 'level "a" at 10', 'level "b" at 10'), "DUPLICATE_THRESHOLD", 4, 3),
    (block(QUALIFY, 'level "a" at 10', 'level "a" at 20'), "DUPLICATE_LEVEL", 4, 3),
    (block(QUALIFY, 'level "a" at 10 multiply 0.9'), "INVALID_VALUE", 3, 3),
    (block("qualify by checkins in last 0 days", 'level "a" at 1'), "DEAD_RULE", 2, 3),
    (block(QUALIFY, 'level "a" at 1', "keep for 0 days after falling short"), "DEAD_RULE", 4, 3),
    (block(QUALIFY, 'level "a" at 1') + block(QUALIFY, 'level "b" at 1'), "DUPLICATE_LEVELS", 5, 1),
    (block('level "a" at 1'), "MISSING_QUALIFY", 1, 1),
    (block(QUALIFY), "DEAD_RULE", 1, 1),
    (block("qualify by chekins in last 5 days", 'level "a" at 1'), "UNKNOWN_METRIC", 2, 3),
    (block("qualify by size of order in last 5 days", 'level "a" at 1'), "UNKNOWN_ATTRIBUTE", 2, 3),
    (block(QUALIFY, QUALIFY, 'level "a" at 1'), "DUPLICATE_SETTING", 3, 3),
    (block(QUALIFY, 'level "a b" at 1'), "INVALID_VALUE", 3, 3),
    ('level "a" at 1\n', "MISPLACED", 1, 1),
    (block(QUALIFY, 'level "a" at 1', "checkin award 1"), "MISPLACED", 4, 3),
    ('campaign "c" {\n  levels "x" {\n}\n', "NESTED_BLOCK", 2, 3),
    ('levels "L" {\n  ' + QUALIFY + '\n  level "a" at 1\n', "UNCLOSED_BLOCK", 1, 1),
]


@pytest.mark.parametrize(("text", "code", "line", "column"), BAD)
def test_mistakes_are_named_with_code_line_and_column(text, code, line, column):
    _, diagnostics = dsl.load([("bad.rules", text)], today=TODAY)
    found = [(d.code, d.line, d.column) for d in diagnostics if d.is_error]
    assert (code, line, column) in found, [d.format() for d in diagnostics]


def test_falling_one_level_at_a_time_without_grace_is_a_warning():
    source = block(QUALIFY, 'level "a" at 1', 'level "b" at 2', "fall one level at a time")
    _, diagnostics = dsl.load([("l.rules", source)], today=TODAY)
    assert [(d.code, d.line, d.is_error) for d in diagnostics] == [("NO_EFFECT", 5, False)]


def test_the_formatter_writes_the_block_back():
    messy = (
        'LEVELS   "L"  {\n'
        "    Qualify BY Amount Of Order in Calendar Year   # spend\n"
        '  level "a"   at 1_000 Multiply 1.50\n'
        "keep for 3 days after falling short\n"
        "  Fall One Level At A Time\n"
        "}\n"
    )
    assert format_source(messy) == (
        'levels "L" {\n'
        "  qualify by amount of order in calendar year  # spend\n"
        '  level "a" at 1_000 multiply 1.50\n'
        "  keep for 3 days after falling short\n"
        "  fall one level at a time\n"
        "}\n"
    )
    assert ladder_of(format_source(messy)) == ladder_of(messy)
