"""Mistakes are named by their real fault, once: one error per mistake, at its column,
saying what is wrong in the operator's words."""

from __future__ import annotations

from datetime import date

import pytest

import dsl


def in_campaign(*lines: str) -> str:
    return 'campaign "c" {\n' + "".join(f"  {line}\n" for line in lines) + "}\n"


def in_program(*lines: str) -> str:
    return 'program "p" {\n' + "".join(f"  {line}\n" for line in lines) + "}\n"


# (source, code, line, column, a fragment of the message)
MISTAKES = [
    (in_campaign("checkin award -5"), "SYNTAX", 2, 17, "awards must be positive"),
    (in_campaign("checkin award -5"), "SYNTAX", 2, 17, "not `-5`"),
    (
        in_campaign("every day top 2 by messages award 5, -3"),
        "SYNTAX",
        2,
        40,
        "awards must be positive",
    ),
    (in_campaign("order award -1 per 10 amount"), "SYNTAX", 2, 15, "awards must be positive"),
    (in_campaign("message award 1 limit -2 per day"), "SYNTAX", 2, 25, "cannot be negative"),
    (in_campaign("checkin streak -7 award 1"), "SYNTAX", 2, 18, "cannot be negative"),
    (in_campaign("budget -100 points"), "SYNTAX", 2, 10, "cannot be negative"),
    (in_campaign('task "share-live award 30'), "SYNTAX", 2, 8, "the text is never closed"),
    (
        in_campaign('message where channel = "bot award 1'),
        "SYNTAX",
        2,
        27,
        'add the closing `"`',
    ),
    ('campaign "c {\n  checkin award 1\n}\n', "SYNTAX", 1, 10, "the text is never closed"),
    ('program "p {\n  timezone "UTC"\n}\n', "SYNTAX", 1, 9, "the text is never closed"),
    # A block's first line that does not read still opens the block: its `}` is no error.
    ("campaign daily {\n  checkin award 1\n}\n", "SYNTAX", 1, 10, "expected a quoted key"),
    ('campaign "a" "b"\n  checkin award 1\n}\n', "SYNTAX", 1, 17, "expected `{`"),
    (
        in_campaign("referral tier 1..3 award 1", "referral tier 3..4 award 2"),
        "TIER_OVERLAP",
        3,
        3,
        "tiers overlap: the 3rd referral is also covered by `referral tier 1..3 award 1` "
        "(line 2) in campaign c",
    ),
    (
        in_campaign("referral tier >=2 award 1", "referral tier 5..6 award 2"),
        "TIER_OVERLAP",
        3,
        3,
        "tiers overlap: the 5th to 6th referral is also covered by `referral tier >=2",
    ),
    (
        in_program("redeem rate 100 points = 1.00 EUX"),
        "UNKNOWN_CURRENCY",
        2,
        3,
        "(did you mean `EUR`?)",
    ),
    (
        in_program("redeem rate 100 points = 1.00 USX"),
        "UNKNOWN_CURRENCY",
        2,
        3,
        "(did you mean `USD`?)",
    ),
    (
        in_program('timezone "asia/shanghai"'),
        "UNKNOWN_TIMEZONE",
        2,
        3,
        "(did you mean `Asia/Shanghai`?)",
    ),
    (in_campaign("mesage award 1"), "UNKNOWN_EVENT", 2, 3, "(did you mean `message`?)"),
]


@pytest.mark.parametrize(
    ("source", "code", "line", "column", "fragment"),
    MISTAKES,
    ids=[f"{i}:{m[4][:30]}" for i, m in enumerate(MISTAKES)],
)
def test_each_mistake_is_one_error_that_names_its_fault(source, code, line, column, fragment):
    _, diagnostics = dsl.load([("t.rules", source)], today=date(2026, 9, 1))
    errors = [d for d in diagnostics if d.is_error]
    assert [(d.code, d.line, d.column) for d in errors] == [(code, line, column)], [
        d.format() for d in diagnostics
    ]
    assert fragment in errors[0].message, errors[0].message
