"""Syntax errors in words an operator understands, learned from example mistakes."""

from __future__ import annotations

import difflib
import re

from lark import UnexpectedInput
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from dsl.grammar import LARK
from dsl.text import statement_text

# What each terminal is called in a message: never an internal token name.
_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "AMOUNT": "a number",
    "NUMBER": "a number",
    "DATE": "a date like 2026-10-01",
    "STRING": 'a quoted text like "daily-checkin"',
    "$END": "the end of the line",
}


def _describe(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    try:
        pattern = LARK.get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    return f"`{pattern.value}`"


# Example mistakes, grouped by what the operator should read. `{after}` is the line up to
# the mistake.
_LABELS: dict[str, list[str]] = {
    "expected a number after `award`": [
        "checkin award",
        "checkin award x",
        "checkin award each",
        "every day top 5 by messages award",
    ],
    "expected a tier after `tier`: a number (3), a range (3..4) or a bound (>5, >=5, <3)": [
        "referral tier award 10",
        "referral tier x award 10",
    ],
    "expected `award` or `multiply` after `{after}`": [
        "checkin",
        "referral tier 3..4",
        "checkin streak 7",
        "message where length > 5",
        "checkin total 30",
        "referral tier 3..4 10",
    ],
    "expected a number of days after `streak`": ["checkin streak award 1"],
    "expected a number after `total`": ["checkin total award 5"],
    "expected `within N days of joining` after `first`": [
        "checkin first award 1",
        "checkin first within award 1",
        "checkin first within 7 award 1",
        "checkin first within 7 days award 1",
    ],
    "expected a condition after `where`, such as `length >= 5`": [
        "message where award 1",
        "message where length award 1",
        "message where length >= award 1",
    ],
    "expected `per` and a period after `limit N`, such as `limit 20 per day`": [
        "message award 1 limit 20",
        "message award 1 limit per day",
        "message award 1 limit 20 day",
    ],
    "expected `points per PERIOD` after `max N`, such as `max 100 points per day`": [
        "message award 1 max 100",
        "message award 1 max 100 per day",
        "max 100 per day",
    ],
    "expected `invitee leaves` after `until`": [
        "referral award 1 until",
        "referral award 1 until leaves",
    ],
    "expected `review` after `after`": ['task "x" award 1 after'],
    'expected a quoted task key after `task`, such as `task "share-live"`': [
        "task award 1",
        "task share award 1",
    ],
    "expected `top N by METRIC award A` after `every PERIOD`": [
        "every day award 10",
        "every day top award 10",
        "every day top 5 award 10",
        "every day top 5 by award 10",
        "every day top 5 by messages 10",
    ],
    "expected another amount after `,`": ["every day top 5 by messages award 1,"],
    "expected a date like 2026-10-01, or `..`": [
        "active 2026-10-01",
        "active 2026-10 .. 2026-11",
        "active",
    ],
    "expected a number and `points` after `budget`, such as `budget 200000 points`": [
        "budget points",
        "budget 100",
        "budget",
    ],
    'expected a quoted time zone after `timezone`, such as `timezone "Asia/Shanghai"`': [
        "timezone Asia/Shanghai",
        "timezone",
    ],
    "expected `N days after earned` or `never` after `points expire`": [
        "points expire",
        "points expire 365",
        "points expire 365 days",
        "points expire 365 days after",
    ],
    "expected `N points = AMOUNT CURRENCY` after `redeem rate`, such as "
    "`redeem rate 100 points = 1.00 CNY`": [
        "redeem rate 100 = 1 CNY",
        "redeem rate 100 points 1.00 CNY",
        "redeem rate 100 points = CNY",
        "redeem rate 100 points = 1.00",
    ],
    "expected `P% of order` after `deduct at most`, such as `deduct at most 50% of order`": [
        "deduct at most 50",
        "deduct at most 50% order",
        "deduct at most",
    ],
    'expected a quoted key after `campaign`, such as `campaign "daily-checkin" "Daily '
    'check-in" {`': ["campaign daily {", "campaign {"],
    'expected a quoted name after `program`, such as `program "Jiaqi fan club" {`': [
        "program {",
        "program club {",
    ],
    "expected `{` at the end of the block's first line": ['campaign "a" "b"', 'program "x"'],
    "expected a period (day, week or month) after `per`": [
        "message award 1 limit 20 per",
        "message award 1 max 20 points per",
    ],
}


def _at_end(error: UnexpectedInput) -> bool:
    return isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    )


def error_column(error: UnexpectedInput, line: str) -> int:
    """Where to put the caret: past the last word when the line ended too soon."""
    if _at_end(error):
        return len(statement_text(line, collapse=False).rstrip()) + 1
    return max(getattr(error, "column", 1) or 1, 1)


def message(error: UnexpectedInput, line: str) -> str:
    column = error_column(error, line)
    after = line[: column - 1].strip() or line.strip()
    known = _known_fault(line, column, after)
    if known is not None:
        return known
    label = error.match_examples(LARK.parse, _LABELS, use_accepts=True)
    word = _offending_word(error, line)
    expected = _expected(error)
    hint = _did_you_mean(word, expected)
    if label:
        message = label.replace("{after}", after)
    else:
        shown = sorted({_describe(t) for t in expected})
        listed = (
            ", ".join(shown[:-1]) + f" or {shown[-1]}"
            if len(shown) > 1
            else (shown[0] if shown else "something else")
        )
        found = f"`{word}`" if word else "the end of the line"
        message = (
            f"unexpected {found} after `{after}`: expected {listed}"
            if after != line.strip() or word
            else f"expected {listed}"
        )
    return f"{message} (did you mean `{hint}`?)" if hint else message


_NEGATIVE = re.compile(r"-\s*[0-9][0-9_]*(\.[0-9]+)?")
_AWARD_AMOUNT = re.compile(r"(\baward|,)$", re.IGNORECASE)


def _known_fault(line: str, column: int, after: str) -> str | None:
    """The real fault behind a few mistakes whose parse error would only say what the
    parser expected: an unterminated text, a negative number."""
    rest = line[column - 1 :]
    if rest.startswith('"') and _unterminated(rest):
        return 'the text is never closed: add the closing `"` where it ends'
    negative = _NEGATIVE.match(rest)
    if negative:
        number = negative.group(0).replace(" ", "")
        if _AWARD_AMOUNT.search(after):
            return (
                f"awards must be positive, not `{number}`: an award gives points; to take "
                "points back, reverse the transaction or adjust the member's points"
            )
        return f"expected a number after `{after}`, not `{number}`: it cannot be negative"
    return None


def _unterminated(text: str) -> bool:
    """Whether the quoted text `text` starts with runs to the end of the line unclosed."""
    escaped = False
    for ch in text[1:]:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return False
    return True


def _expected(error: UnexpectedInput) -> set[str]:
    if isinstance(error, UnexpectedToken):
        return set(error.accepts or error.expected)
    if isinstance(error, UnexpectedCharacters):
        return set(error.allowed or ())
    if isinstance(error, UnexpectedEOF):
        return set(error.expected)
    return set()


def _offending_word(error: UnexpectedInput, line: str) -> str:
    if isinstance(error, UnexpectedToken):
        return "" if error.token.type == "$END" else str(error.token)
    column = getattr(error, "column", 0) or 0
    match = re.match(r"[^\s]+", line[column - 1 :]) if column else None
    return match.group(0) if match else ""


def _did_you_mean(word: str, expected: set[str]) -> str | None:
    keywords = []
    for terminal in expected:
        text = _describe(terminal)
        if text.startswith("`") and text[1:-1].isalpha():
            keywords.append(text[1:-1])
    close = difflib.get_close_matches(word.lower(), keywords, n=1, cutoff=0.6)
    return close[0] if close and close[0] != word.lower() else None
