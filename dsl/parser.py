"""Parse rule files into the syntax tree, one line at a time.

Each line is one statement, so each is parsed on its own: a broken line cannot hide the
next, one run reports every broken line, and error labels learned from example mistakes
(`match_examples`) stay reliable. Block structure (`program {`, `campaign {`, `}`) is
tracked here. No Lark exception leaves this module.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from lark import UnexpectedInput
from lark.exceptions import VisitError

from dsl import ast, levels
from dsl.errors import ERROR, Diagnostic
from dsl.grammar import BLANK, LARK
from dsl.syntax_errors import error_column, message
from dsl.text import statement_text
from dsl.transform import ToAst


def parse(text: str, file: str = "<rules>") -> tuple[ast.RuleFile, list[Diagnostic]]:
    """Parse one rules file; returns what could be read and every syntax problem."""
    lines = text.splitlines()
    builder = _FileBuilder(file, lines)
    for number, line in enumerate(lines, start=1):
        if BLANK.match(line):
            continue
        try:
            tree = LARK.parse(line)
        except UnexpectedInput as error:
            column = error_column(error, line)
            builder.error("SYNTAX", message(error, line), number, column)
            opener = _OPENER.match(line)
            if opener:  # the block is still there: its lines and `}` are not errors of it
                builder.open_broken(opener.group(1).lower(), ast.Pos(file, number, column))
            continue
        try:
            kind, value, pos = ToAst(file, number).transform(tree)
        except VisitError as error:  # a value the grammar admits but Python refuses
            reason = str(error.orig_exc).strip() or type(error.orig_exc).__name__
            column = len(line) - len(line.lstrip()) + 1
            builder.error(
                "INVALID_VALUE",
                f"invalid value in `{statement_text(line)}`: {reason}",
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


_OPENER = re.compile(r"^\s*(campaign|program|levels)\b", re.IGNORECASE)


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
        self.badges: list[ast.BadgeDecl] = []
        self.block: str | None = None  # None, "program" or "campaign"
        self.current: dict | None = None
        self.implicit: dict | None = None

    def error(self, code: str, message: str, line: int, column: int) -> None:
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        self.diagnostics.append(Diagnostic(ERROR, code, message, self.file, line, column, source))

    def add(self, kind: str, value, pos: ast.Pos, line: str) -> None:
        if kind in ("levels", "level_setting") or self.block == "levels":
            return levels.add(self, kind, value, pos)
        if kind == "program":
            if self.block:
                return self._nested("program", pos)
            duplicate = self.program is not None
            if duplicate:
                self.error(
                    "DUPLICATE_PROGRAM",
                    "a second `program` block in this file: keep the settings in one block",
                    pos.line,
                    pos.column,
                )
            # A duplicate is still a block: its settings and `}` are not errors of their own.
            self.block = "program"
            self.current = {
                "name": value,
                "pos": pos,
                "settings": {},
                "where": [],
                "duplicate": duplicate,
            }
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
        elif kind == "badge_decl":
            if self.block == "program":
                return self._misplaced("`badge` descriptions", "outside the program block", pos)
            self.badges.append(value)
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
                text = statement_text(line)
                target["rules"].append(replace(value, text=text))

    def open_broken(self, kind: str, pos: ast.Pos) -> None:
        """A block whose first line does not read (reported already): its statements are
        read for their own mistakes, then dropped with it."""
        if self.block:
            return self._nested(kind, pos)
        self.block = kind
        self.current = self._new_campaign("", None, pos)
        self.current.update(settings={}, duplicate=True, broken=True)

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
        if self.block == "levels":
            return levels.close(self)
        data, self.current = self.current, None
        if data.get("broken"):
            pass  # its first line was reported; what it would have been is unknown
        elif self.block == "program" and data["duplicate"]:
            pass  # reported where it opened; the first block's settings stand
        elif self.block == "program":
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
                streak_freeze=s.get("streak_freeze"),
                make_up=s.get("make_up"),
            )
        else:
            self.campaigns.append(_campaign(data))
        self.block = None

    def finish(self) -> tuple[ast.RuleFile, list[Diagnostic]]:
        if self.block and self.current.get("broken"):
            self._close()  # its first line was reported already
        elif self.block:
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
            self.file,
            self.program,
            tuple(self.campaigns),
            tuple(self.events),
            levels=tuple(getattr(self, "levels", ())),
            badges=tuple(self.badges),
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


def _setting_word(name: str) -> str:
    return {
        "timezone": "timezone",
        "expire_days": "points expire",
        "expire_never": "points expire",
        "redeem_rate": "redeem rate",
        "deduct_at_most_percent": "deduct at most",
        "streak_freeze": "streak freeze",
        "make_up": "make-up checkin",
    }[name]


def _campaign_word(name: str) -> str:
    return {"cap": "max", "active": "active", "budget": "budget", "community": "community"}[name]
