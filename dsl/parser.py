"""Parse rule files into the syntax tree, one line at a time.

Each line is one statement, so each is parsed on its own: a broken line cannot hide the
next, one run reports every broken line, and error labels learned from example mistakes
(`match_examples`) stay reliable. Block structure (`program {`, `campaign {`, `}`) is
tracked here. No Lark exception leaves this module.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from lark import Lark, Transformer, UnexpectedInput, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken, VisitError

from dsl import ast
from dsl.errors import ERROR, Diagnostic

GRAMMAR = Path(__file__).with_name("grammar.lark")
_BLANK = re.compile(r"^\s*(#.*)?$")


def build_parser(**options) -> Lark:
    return Lark.open(
        str(GRAMMAR), parser="lalr", propagate_positions=True, maybe_placeholders=True, **options
    )


_LARK = build_parser()

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
        pattern = _LARK.get_terminal(terminal).pattern
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


def _error_column(error: UnexpectedInput, line: str) -> int:
    """Where to put the caret: past the last word when the line ended too soon."""
    if _at_end(error):
        return len(_statement_text(line, collapse=False).rstrip()) + 1
    return max(getattr(error, "column", 1) or 1, 1)


def _message(error: UnexpectedInput, line: str) -> str:
    column = _error_column(error, line)
    after = line[: column - 1].strip() or line.strip()
    label = error.match_examples(_LARK.parse, _LABELS, use_accepts=True)
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


def _int(token) -> int:
    return int(str(token).replace("_", ""))


def _decimal(token) -> Decimal:
    return Decimal(str(token).replace("_", ""))


def _string(token) -> str:
    try:
        return json.loads(str(token))
    except ValueError as exc:
        raise ValueError(f"bad escape in the text {token}") from exc


class _ToAst(Transformer):
    """Turns one line's tree into ("kind", value) with positions (line 1 of that line)."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file, self.line = file, line

    def _pos(self, meta) -> ast.Pos:
        return ast.Pos(self.file, self.line, getattr(meta, "column", 1))

    def start(self, items):
        return items[0]

    @v_args(meta=True)
    def program_open(self, meta, items):
        return ("program", _string(items[0]), self._pos(meta))

    @v_args(meta=True)
    def campaign_open(self, meta, items):
        title = _string(items[1]) if items[1] is not None else None
        return ("campaign", (_string(items[0]), title), self._pos(meta))

    @v_args(meta=True)
    def block_close(self, meta, items):
        return ("close", None, self._pos(meta))

    @v_args(meta=True)
    def event_decl(self, meta, items):
        return ("event", str(items[0]).lower(), self._pos(meta))

    @v_args(meta=True)
    def timezone(self, meta, items):
        return ("setting", ("timezone", _string(items[0])), self._pos(meta))

    @v_args(meta=True)
    def expire_after(self, meta, items):
        return ("setting", ("expire_days", _int(items[0])), self._pos(meta))

    @v_args(meta=True)
    def expire_never(self, meta, items):
        return ("setting", ("expire_never", True), self._pos(meta))

    @v_args(meta=True)
    def redeem_rate(self, meta, items):
        rate = ast.RedeemRate(_int(items[0]), _decimal(items[1]), str(items[2]).upper())
        return ("setting", ("redeem_rate", rate), self._pos(meta))

    @v_args(meta=True)
    def deduct_at_most(self, meta, items):
        return ("setting", ("deduct_at_most_percent", _decimal(items[0])), self._pos(meta))

    @v_args(meta=True)
    def active(self, meta, items):
        dates = [date.fromisoformat(str(d)) if d is not None else None for d in items]
        return ("campaign_setting", ("active", tuple(dates)), self._pos(meta))

    @v_args(meta=True)
    def budget(self, meta, items):
        return ("campaign_setting", ("budget", _int(items[0])), self._pos(meta))

    @v_args(meta=True)
    def community(self, meta, items):
        return ("campaign_setting", ("community", _string(items[0])), self._pos(meta))

    @v_args(meta=True)
    def campaign_cap(self, meta, items):
        cap = ast.Cap(_int(items[0]), str(items[1]).lower(), self._pos(meta))
        return ("campaign_setting", ("cap", cap), self._pos(meta))

    # rules
    @v_args(meta=True)
    def rule(self, meta, items):
        (event, task_key), *rest = items
        qualifiers, condition, effect, fields = [], None, None, {}
        for item in rest:
            kind, value = item
            if kind == "qualifier":
                qualifiers.append(value)
            elif kind == "condition":
                condition = value
            elif kind == "effect":
                effect = value
            else:
                fields[kind] = value
        rule = ast.Rule(
            event=event,
            task_key=task_key,
            qualifiers=tuple(qualifiers),
            condition=condition,
            effect=effect,
            pos=self._pos(meta),
            **fields,
        )
        return ("rule", rule, self._pos(meta))

    def event_name(self, items):
        return (str(items[0]).lower(), None)

    def task_event(self, items):
        return ("task", _string(items[0]))

    def tier(self, items):
        return ("qualifier", items[0])

    def tier_between(self, items):
        return ast.Tier(_int(items[0]), _int(items[1]))

    def tier_above(self, items):
        return ast.Tier(_int(items[0]) + 1, None)

    def tier_at_least(self, items):
        return ast.Tier(_int(items[0]), None)

    def tier_below(self, items):
        return ast.Tier(1, _int(items[0]) - 1)

    def tier_at_most(self, items):
        return ast.Tier(1, _int(items[0]))

    def tier_exact(self, items):
        return ast.Tier(_int(items[0]), _int(items[0]))

    def streak(self, items):
        return ("qualifier", ast.Streak(_int(items[0])))

    def total(self, items):
        return ("qualifier", ast.Total(_int(items[0])))

    def first_within(self, items):
        return ("qualifier", ast.FirstWithin(_int(items[0])))

    def condition(self, items):
        return ("condition", items[0])

    def or_(self, items):
        return ast.Or(items[0], items[1])

    def and_(self, items):
        return ast.And(items[0], items[1])

    @v_args(meta=True)
    def comparison(self, meta, items):
        return ast.Compare(str(items[0]).lower(), str(items[1]), items[2], self._pos(meta))

    @v_args(meta=True)
    def membership(self, meta, items):
        return ast.Compare(str(items[0]).lower(), "in", items[1], self._pos(meta))

    def compare_op(self, items):
        return str(items[0])

    def number(self, items):
        value = _decimal(items[0])
        return int(value) if value == value.to_integral_value() and "." not in items[0] else value

    def string(self, items):
        return _string(items[0])

    def list(self, items):
        return tuple(i for i in items if i is not None)

    def award(self, items):
        return ("effect", ast.Award(_int(items[0])))

    def award_each(self, items):
        return ("effect", ast.Award(_int(items[0]), each=True))

    def award_per(self, items):
        return (
            "effect",
            ast.Award(_int(items[0]), per=_int(items[1]), per_attribute=str(items[2]).lower()),
        )

    def multiply(self, items):
        return ("effect", ast.Multiply(_decimal(items[0])))

    @v_args(meta=True)
    def limit(self, meta, items):
        return ("limit", ast.Limit(_int(items[0]), str(items[1]).lower(), self._pos(meta)))

    @v_args(meta=True)
    def cap(self, meta, items):
        return ("cap", ast.Cap(_int(items[0]), str(items[1]).lower(), self._pos(meta)))

    def until_leaves(self, items):
        return ("until_invitee_leaves", True)

    def after_review(self, items):
        return ("after_review", True)

    def repeating(self, items):
        return ("repeating", True)

    def modifier(self, items):
        return items[0]

    def qualifier(self, items):
        return items[0]

    def effect(self, items):
        return items[0]

    @v_args(meta=True)
    def every_rule(self, meta, items):
        period, top, metric, *awards = items
        every = ast.Every(
            str(period).lower(),
            _int(top),
            str(metric).lower(),
            tuple(_int(a) for a in awards),
            pos=self._pos(meta),
        )
        return ("every", every, self._pos(meta))


def parse(text: str, file: str = "<rules>") -> tuple[ast.RuleFile, list[Diagnostic]]:
    """Parse one rules file; returns what could be read and every syntax problem."""
    lines = text.splitlines()
    builder = _FileBuilder(file, lines)
    for number, line in enumerate(lines, start=1):
        if _BLANK.match(line):
            continue
        try:
            tree = _LARK.parse(line)
        except UnexpectedInput as error:
            builder.error("SYNTAX", _message(error, line), number, _error_column(error, line))
            continue
        try:
            kind, value, pos = _ToAst(file, number).transform(tree)
        except VisitError as error:  # a value the grammar admits but Python refuses
            reason = str(error.orig_exc).strip() or type(error.orig_exc).__name__
            column = len(line) - len(line.lstrip()) + 1
            builder.error(
                "INVALID_VALUE",
                f"invalid value in `{_statement_text(line)}`: {reason}",
                number,
                column,
            )
            continue
        builder.add(kind, value, pos, line)
    return builder.finish()


def parse_files(files: list[tuple[str, str]]) -> tuple[list[ast.RuleFile], list[Diagnostic]]:
    """Parse (name, text) pairs."""
    parsed, problems = [], []
    for name, text in files:
        rule_file, diagnostics = parse(text, name)
        parsed.append(rule_file)
        problems.extend(diagnostics)
    return parsed, problems


def _implicit_key(file: str) -> str:
    stem = Path(file).stem if file and not file.startswith("<") else "main"
    return re.sub(r"[^A-Za-z0-9_.:-]+", "-", stem) or "main"


class _FileBuilder:
    """Keeps track of which block a line is in and assembles the file."""

    def __init__(self, file: str, lines: list[str]) -> None:
        self.file, self.lines = file, lines
        self.diagnostics: list[Diagnostic] = []
        self.program: ast.Program | None = None
        self.campaigns: list[ast.Campaign] = []
        self.events: list[ast.EventDecl] = []
        self.block: str | None = None  # None, "program" or "campaign"
        self.current: dict | None = None
        self.implicit: dict | None = None

    def error(self, code: str, message: str, line: int, column: int) -> None:
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        self.diagnostics.append(Diagnostic(ERROR, code, message, self.file, line, column, source))

    def add(self, kind: str, value, pos: ast.Pos, line: str) -> None:
        if kind == "program":
            if self.block:
                return self._nested("program", pos)
            if self.program is not None:
                return self.error(
                    "DUPLICATE_PROGRAM",
                    "a second `program` block in this file: keep the settings in one block",
                    pos.line,
                    pos.column,
                )
            self.block = "program"
            self.current = {"name": value, "pos": pos, "settings": {}, "where": []}
        elif kind == "campaign":
            if self.block:
                return self._nested("campaign", pos)
            self.block = "campaign"
            key, title = value
            self.current = self._new_campaign(key, title, pos)
        elif kind == "close":
            if not self.block:
                return self.error(
                    "UNMATCHED_BRACE", "`}` without an open block", pos.line, pos.column
                )
            self._close()
        elif kind == "event":
            if self.block == "program":
                return self._misplaced("`event` declarations", "outside the program block", pos)
            self.events.append(ast.EventDecl(value, pos))
        elif kind == "setting":
            if self.block != "program":
                return self._misplaced(
                    f"`{_setting_word(value[0])}`", "inside the `program { ... }` block", pos
                )
            self.current["settings"][value[0]] = value[1]
            self.current["where"].append((value[0], pos))
        else:  # campaign_setting, rule, every
            if self.block == "program":
                what = "rules" if kind in ("rule", "every") else f"`{_campaign_word(value[0])}`"
                return self._misplaced(what, "inside a campaign, not the program block", pos)
            target = self.current if self.block == "campaign" else self._implicit(pos)
            if kind == "campaign_setting":
                name, setting = value
                if name == "cap":
                    target["caps"].append(setting)
                else:
                    target[name] = setting
                target["where"].append((name, pos))
            else:
                text = _statement_text(line)
                target["rules"].append(replace(value, text=text))

    def _new_campaign(self, key: str, title: str | None, pos: ast.Pos) -> dict:
        return {"key": key, "title": title, "pos": pos, "rules": [], "caps": [], "where": []}

    def _implicit(self, pos: ast.Pos) -> dict:
        if self.implicit is None:
            self.implicit = self._new_campaign(_implicit_key(self.file), None, pos)
            self.implicit["implicit"] = True
        return self.implicit

    def _nested(self, what: str, pos: ast.Pos) -> None:
        self.error(
            "NESTED_BLOCK",
            f"`{what}` inside another block: close the {self.block} block with `}}` first",
            pos.line,
            pos.column,
        )

    def _misplaced(self, what: str, where: str, pos: ast.Pos) -> None:
        self.error(
            "MISPLACED",
            f"{what} belong {where}" if what == "rules" else f"{what} belongs {where}",
            pos.line,
            pos.column,
        )

    def _close(self) -> None:
        data, self.current = self.current, None
        if self.block == "program":
            s = data["settings"]
            self.program = ast.Program(
                name=data["name"],
                timezone=s.get("timezone"),
                expire_days=s.get("expire_days"),
                expire_never=s.get("expire_never", False),
                redeem_rate=s.get("redeem_rate"),
                deduct_at_most_percent=s.get("deduct_at_most_percent"),
                pos=data["pos"],
                settings_pos=tuple(data["where"]),
            )
        else:
            self.campaigns.append(_campaign(data))
        self.block = None

    def finish(self) -> tuple[ast.RuleFile, list[Diagnostic]]:
        if self.block:
            pos = self.current["pos"]
            self.error(
                "UNCLOSED_BLOCK",
                f"this {self.block} block is never closed: add `}}` "
                "on a line of its own after its last statement",
                pos.line,
                pos.column,
            )
            self._close()
        if self.implicit is not None:
            self.campaigns.insert(0, _campaign(self.implicit))
        return ast.RuleFile(
            self.file, self.program, tuple(self.campaigns), tuple(self.events)
        ), self.diagnostics


def _campaign(data: dict) -> ast.Campaign:
    active = data.get("active")
    return ast.Campaign(
        key=data["key"],
        title=data["title"],
        rules=tuple(data["rules"]),
        active_from=active[0] if active else None,
        active_until=active[1] if active else None,
        has_active=active is not None,
        budget=data.get("budget"),
        community=data.get("community"),
        caps=tuple(data["caps"]),
        pos=data["pos"],
        implicit=data.get("implicit", False),
        settings_pos=tuple(data["where"]),
    )


def _statement_text(line: str, collapse: bool = True) -> str:
    """The statement without its comment (and, collapsed, without extra space)."""
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == "#" and not quoted:
            break
        out.append(ch)
    text = "".join(out)
    return " ".join(text.split()) if collapse else text


def _setting_word(name: str) -> str:
    return {
        "timezone": "timezone",
        "expire_days": "points expire",
        "expire_never": "points expire",
        "redeem_rate": "redeem rate",
        "deduct_at_most_percent": "deduct at most",
    }[name]


def _campaign_word(name: str) -> str:
    return {"cap": "max", "active": "active", "budget": "budget", "community": "community"}[name]
