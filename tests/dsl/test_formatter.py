"""`jifen rules fmt` changes layout and letter case, never what the author chose to write:
numbers, tier forms, dates, quoted texts and parentheses stay as written."""

from __future__ import annotations

import pytest

from dsl.formatter import format_source
from dsl.parser import parse

# (a statement as written, as fmt writes it): campaign statements unless marked.
LAYOUT = [
    # Kept as written: meaning-equal forms are the author's choice.
    ("referral tier >3 award 1", "referral tier >3 award 1"),
    ("referral tier >=4 award 1", "referral tier >=4 award 1"),
    ("referral tier <3 award 1", "referral tier <3 award 1"),
    ("referral tier 3 award 1", "referral tier 3 award 1"),
    ("budget 1_000_000 points", "budget 1_000_000 points"),
    ("checkin multiply 1.50", "checkin multiply 1.50"),
    ("order award 1 per 10 amount", "order award 1 per 10 amount"),
    ('task "share-live" award 30 after review', 'task "share-live" award 30 after review'),
    (
        'checkin where channel = "caf\\u00e9" award 1',
        'checkin where channel = "caf\\u00e9" award 1',
    ),
    (
        "message where (length >= 5 and length < 9) or length > 100 award 1",
        "message where (length >= 5 and length < 9) or length > 100 award 1",
    ),
    (
        "message where length >= 5 and (length < 9) award 1",
        "message where length >= 5 and (length < 9) award 1",
    ),
    # Letter case: keywords and names lower, currency codes upper.
    ("Checkin AWARD 2", "checkin award 2"),
    ("order award 1 per 10 Amount", "order award 1 per 10 amount"),
    ("message award 1 Limit 20 Per Day", "message award 1 limit 20 per day"),
    ("every Week top 5 by Messages award 10", "every week top 5 by messages award 10"),
    # Spacing: one space between words, none inside brackets or before `,` and `%`.
    ("checkin   award    2", "checkin award 2"),
    ("referral tier > 3 award 1", "referral tier >3 award 1"),
    ("referral tier >= 5 award 1", "referral tier >=5 award 1"),
    ("referral tier 3 .. 4 award 1", "referral tier 3..4 award 1"),
    ("message where length>=5 award 1", "message where length >= 5 award 1"),
    (
        'checkin where channel in ["a","b" ,"c"] award 1',
        'checkin where channel in ["a", "b", "c"] award 1',
    ),
    (
        "message where ( length >= 5 ) award 1",
        "message where (length >= 5) award 1",
    ),
    (
        "every week top 3 by messages award 50,30 ,20",
        "every week top 3 by messages award 50, 30, 20",
    ),
    ("active 2026-10-01..2026-10-07", "active 2026-10-01 .. 2026-10-07"),
    ("active ..2026-10-07", "active .. 2026-10-07"),
    ("checkin award 2# a comment", "checkin award 2  # a comment"),
    ('checkin where channel = "a # b" award 1', 'checkin where channel = "a # b" award 1'),
]

PROGRAM = [
    ("redeem rate 100 points=1.00 cny", "redeem rate 100 points = 1.00 CNY"),
    ("deduct at most 50 % of order", "deduct at most 50% of order"),
    ("deduct at most 50.0% of order", "deduct at most 50.0% of order"),
    ('TIMEZONE "Asia/Shanghai"', 'timezone "Asia/Shanghai"'),
    ("points expire 365 days after earned", "points expire 365 days after earned"),
]


def _check(source: str, expected: str) -> None:
    formatted = format_source(source, "t.rules")
    assert formatted == expected
    assert format_source(formatted, "t.rules") == formatted
    assert parse(formatted, "t.rules")[0] == parse(source, "t.rules")[0]


@pytest.mark.parametrize(("written", "formatted"), LAYOUT, ids=[w for w, _ in LAYOUT])
def test_campaign_statements_keep_their_spelling(written, formatted):
    _check(f'campaign "c" {{\n{written}\n}}\n', f'campaign "c" {{\n  {formatted}\n}}\n')


@pytest.mark.parametrize(("written", "formatted"), PROGRAM, ids=[w for w, _ in PROGRAM])
def test_program_statements_keep_their_spelling(written, formatted):
    _check(f'program "p" {{\n{written}\n}}\n', f'program "p" {{\n  {formatted}\n}}\n')


def test_blocks_are_indented_and_comment_lines_go_with_them():
    written = (
        "# the program\n"
        'PROGRAM "p"{\n'
        'timezone "UTC"\n'
        "      # a note inside\n"
        "}\n"
        "\n"
        "event Share_Live\n"
        'campaign "c"   "Title" {\n'
        "share_live award 1\n"
        "}\n\n\n"
    )
    assert format_source(written, "t.rules") == (
        "# the program\n"
        'program "p" {\n'
        '  timezone "UTC"\n'
        "  # a note inside\n"
        "}\n"
        "\n"
        "event share_live\n"
        'campaign "c" "Title" {\n'
        "  share_live award 1\n"
        "}\n"
    )
